"""The generator picks each layer's kernel variant, and only those variants reach the firmware.

A generated call is `TP_VARIANT(portable, dsp, helium)(...)` (tp_common.h): the lowering names the
variants that fit the layer's shape, the compiler keeps the core's, the linker (--gc-sections)
drops the rest. Checked on the symbols of a real arm-none-eabi link per core. (That every variant
gives the same bytes is tests/test_kernels_optimized.py's job, on QEMU.)
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import dsp_variants, mlperf_model
from tinypipe import RUNTIME_DIR
from tinypipe.aot.codegen import generate
from tinypipe.device.qemu import QemuRunner
from tinypipe.reference import Reference, random_inputs

CORES = {  # core -> gcc flags (the qemu boards' own)
    "cortex-m0plus": ["-mcpu=cortex-m0plus"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m55": ["-mcpu=cortex-m55", "-mfloat-abi=hard"],
}


def _link(model_c: Path, prefix: str, flags: list[str], work: Path) -> set[str]:
    """Link the model and every kernel for one core, entry point the model's invoke; its symbols."""
    elf = work / f"{flags[0].split('=')[1]}.elf"
    cmd = ["arm-none-eabi-gcc", *flags, "-mthumb", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
           "-ffunction-sections", "-fdata-sections", f"-I{RUNTIME_DIR}", f"-I{model_c.parent}",
           str(model_c), *map(str, sorted((RUNTIME_DIR / "kernels").glob("*.c"))),
           "--specs=nano.specs", "-nostartfiles", "-Wl,--gc-sections", f"-Wl,-e,{prefix}_invoke",
           "-o", str(elf), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in nm.splitlines() if line.strip()}


def _kernels(symbols: set[str]) -> set[str]:
    return {s for s in symbols if re.match(r"tp_(conv|depthwise_conv|fully_connected)_s8", s)}


def test_each_core_links_only_the_chosen_variants(tmp_path: Path) -> None:
    model = mlperf_model("kws_ref_model")  # CONV_2D 10x4 and 1x1, DEPTHWISE 3x3 stride 1, FULLY_CONNECTED
    aot = generate(model, tmp_path / "gen", name="kws")
    source = aot.c_file.read_text()
    calls = set(re.findall(r"TP_VARIANT\((\w+), (\w+), (\w+)\)", source))
    assert ("tp_depthwise_conv_s8", "tp_depthwise_conv_s8_dsp_3x3", "tp_depthwise_conv_s8_mve_3x3") in calls
    assert ("tp_fully_connected_s8", "tp_fully_connected_s8_dsp", "tp_fully_connected_s8_mve") in calls
    # every KWS convolution requantizes with SMMLAR (proved offline): no general DSP path is called;
    # the first in 16-pixel blocks, the 1x1s in 8-pixel ones (their 16-pixel scratch would cost
    # 6% more arena)
    convs = {c for c in calls if c[0] == "tp_conv_s8"}
    assert convs == {("tp_conv_s8", "tp_conv_s8_dsp_doubled16", "tp_conv_s8_mve"),
                     ("tp_conv_s8", "tp_conv_s8_dsp_doubled", "tp_conv_s8_mve")}
    chosen = {"cortex-m0plus": {c[0] for c in calls}, "cortex-m4": {c[1] for c in calls},
              "cortex-m55": {c[2] for c in calls}}
    for core, flags in CORES.items():
        linked = _kernels(_link(aot.c_file, "tp_kws", flags, tmp_path))
        assert linked == chosen[core], f"{core}: linked {sorted(linked)}, calls {sorted(chosen[core])}"


DW3 = {"filter_h": 3, "filter_w": 3, "stride_h": 1, "stride_w": 1, "dilation_h": 1, "dilation_w": 1,
       "depth_multiplier": 1, "input_c": 8, "output_h": 12, "output_w": 9}  # a 3x3 depthwise layer's params
PLANAR = ("tp_depthwise_conv_s8_dsp_3x3", "tp_depthwise_conv_s8_mve_3x3")
ROWS = "tp_depthwise_conv_s8_dsp_rows"
PAIRS, GENERIC = ("tp_depthwise_conv_s8_dsp_pairs", "tp_depthwise_conv_s8_mve"), \
    ("tp_depthwise_conv_s8_dsp", "tp_depthwise_conv_s8_mve")


@pytest.mark.parametrize("depthwise", [
    (DW3, PLANAR),
    # outputs of at most 8 x 8, and stride 2 where it has scratch: the DSP's ring of rows
    ({**DW3, "output_h": 8, "output_w": 8}, (ROWS, PLANAR[1])),
    ({**DW3, "stride_h": 2, "stride_w": 2}, (ROWS, "tp_depthwise_conv_s8_mve_3x3_s2")),
    # stride 2 whose planes 16-bit offsets cannot reach; strides 2 and 1
    ({**DW3, "stride_h": 2, "stride_w": 2, "output_h": 100, "output_w": 100}, PAIRS),
    ({**DW3, "stride_h": 2}, PAIRS),
    ({**DW3, "input_c": 6}, GENERIC),
    ({**DW3, "filter_h": 7, "filter_w": 7}, GENERIC),
])
def test_depthwise_variant_follows_the_shape(depthwise: tuple[dict[str, int], tuple[str, str]]) -> None:
    from tinypipe.aot.ops.conv import depthwise_variants

    params, variants = depthwise
    assert depthwise_variants(params) == variants
    assert depthwise_variants({**params, "depth_multiplier": 2}) is None  # portable on every core


def test_wide_convolutions_cost_little_ram(tmp_path: Path) -> None:
    """The DSP's 16- and 8-pixel convolutions need 4 and 2 times the im2col scratch of its 4-pixel
    ones. --optimize time takes them everywhere, ram gives the smallest arena; balanced (the
    default): where they make the arena more than WIDE_ARENA_ALLOWANCE larger, the generator narrows
    the largest a step at a time (16 to 8 to 4 pixels), then widens back what the arena still
    allows: the digits recipe's model keeps its arena (2,064 B, not 5,520) and its first layer's
    16-pixel blocks (not at the arena's peak); MLPerf's KWS keeps its 10x4 layer on 16 pixels and
    its 1x1s on 8 (17,088 B against 16,768; 18,112 with all on 16)."""
    from tinypipe.aot.codegen import WIDE_ARENA_ALLOWANCE

    def build(model: Path, optimize: str) -> tuple[int, list[str]]:
        aot = generate(model, tmp_path / f"{model.stem}-{optimize}", name="m", optimize=optimize)
        # the SMMLAR paths read their weights in channel pairs: that layout, only for their layers
        source = aot.c_file.read_text()
        wide = set(re.findall(r"TP_VARIANT\(tp_conv_s8, tp_conv_s8_dsp_(?:doubled16|doubled|strips), \w+\)"
                              r"\(&(\w+)_params", source))
        paired = set(re.findall(r"#if defined\(TP_CONV_DSP_PAIRED_WEIGHTS\).*\n.* (\w+)_weights\[", source))
        assert paired == wide, (model.name, optimize, paired, wide)
        return aot.arena_bytes, dsp_variants(aot)

    digits, kws = Path(__file__).parent / "data" / "digits_int8.tflite", mlperf_model("kws_ref_model")
    chosen = {}
    for model in (digits, kws):
        fast, small, default = (build(model, goal) for goal in ("time", "ram", "balanced"))
        assert set(fast[1]) == {"tp_conv_s8_dsp_doubled16"} and fast[0] > small[0], model.name
        assert small[0] <= default[0] <= small[0] * (1 + WIDE_ARENA_ALLOWANCE), (model.name, default[0])
        chosen[model] = default[1]
    # each layer's call once per invoke function: the order of the first five
    assert chosen[digits][:2] == ["tp_conv_s8_dsp_doubled16", "tp_conv_s8_dsp"], chosen
    assert chosen[kws][:5] == ["tp_conv_s8_dsp_doubled16", *["tp_conv_s8_dsp_doubled"] * 4], chosen


@pytest.mark.qemu
def test_stride_2_planar_depthwise_costs_little_ram(tmp_path: Path) -> None:
    """Helium's stride-2 planar depthwise takes scratch for speed alone, under the same allowance:
    MLPerf's VWW keeps all four stride-2 layers planar (arena 55,888 B, 0.9% over the smallest
    plan); with --optimize ram the first, at the arena's peak, goes generic and the three whose
    planes fit beside smaller tensors stay planar. The generic one still reserves the DSP's ring
    of rows for the same call on a Cortex-M4 (before, it reserved nothing: the M4 wrote its ring
    through a NULL scratch pointer, over QEMU's code at address 0): that build is run bit-exact."""
    from tinypipe.aot.codegen import WIDE_ARENA_ALLOWANCE, plan_layers
    from tinypipe.graph import load

    graph = load(mlperf_model("vww_96_int8"))

    def planar_stride_2(optimize: str) -> tuple[int, int]:
        layers, plan = plan_layers(graph, optimize)
        stride_2 = [la for la in layers if la.kernel == "tp_depthwise_conv_s8" and la.params["stride_w"] == 2]
        for la in stride_2:  # the DSP's ring of rows: 3 rows of (output_w - 1) * 2 + 3 words at least
            assert la.variants[0] == "tp_depthwise_conv_s8_dsp_rows"
            assert la.scratch_bytes >= 4 * 3 * ((la.params["output_w"] - 1) * 2 + 3), la.name
        n = sum(1 for la in stride_2 if la.variants[1] == "tp_depthwise_conv_s8_mve_3x3_s2")
        return n, plan.arena_bytes

    (fast, fast_arena), (small, small_arena) = planar_stride_2("balanced"), planar_stride_2("ram")
    assert (fast, small) == (4, 3)
    assert small_arena < fast_arena <= small_arena * (1 + WIDE_ARENA_ALLOWANCE)
    vww = generate(mlperf_model("vww_96_int8"), tmp_path / "gen", name="vww", optimize="ram")
    assert vww.arena_bytes == small_arena
    ref = Reference(mlperf_model("vww_96_int8"))
    xs = random_inputs(ref.input_details, 2, seed=5)
    got = QemuRunner([vww], tmp_path / "m4", board="qemu-m4").run("vww", xs)
    for g, e in zip(got, ref.run_batch(xs), strict=True):
        np.testing.assert_array_equal(g, e.reshape(g.shape))


@pytest.mark.qemu
@pytest.mark.slow
def test_a_core_reserves_no_scratch_for_variants_it_never_runs(tmp_path: Path) -> None:
    """export plans for its board's core (Board.kernel_path): a layer narrows as far as that core's
    variant stays the same, so the arena holds no scratch the core never uses. MLPerf's KWS for
    Helium: the DSP's 16- and 8-pixel convolutions go, 16,768 B instead of 17,088, its Helium calls
    unchanged; VWW for the DSP: Helium's stride-2 planar depthwise goes, 55,568 B instead of
    55,888, its DSP calls unchanged. The code stays correct on every core: both run bit-exact on
    the DSP and on the Helium core."""
    kws, vww = mlperf_model("kws_ref_model"), mlperf_model("vww_96_int8")
    cases = {"kws": (kws, "helium", 17_088, 16_768), "vww": (vww, "dsp", 55_888, 55_568)}
    models = []
    for name, (path, kernels, any_core, one_core) in cases.items():
        anywhere = generate(path, tmp_path / "any", name=name)
        mine = generate(path, tmp_path / kernels, name=name, kernels=kernels)
        assert (anywhere.arena_bytes, mine.arena_bytes) == (any_core, one_core), name
        calls = {k: re.findall(r"TP_VARIANT\((\w+), (\w+), (\w+)\)", m.c_file.read_text())
                 for k, m in (("any", anywhere), ("mine", mine))}
        column = 2 if kernels == "helium" else 1
        assert [c[column] for c in calls["mine"]] == [c[column] for c in calls["any"]], name
        assert calls["mine"] != calls["any"], name  # the other core's variants were narrowed
        assert f"for a core running the {kernels} kernels" in mine.c_file.read_text()
        models.append(mine)
    for board in ("qemu-m4", "qemu-m55"):
        runner = QemuRunner(models, tmp_path / board, board=board)
        for name, m in zip(cases, models, strict=True):
            ref = Reference(cases[name][0])
            xs = random_inputs(ref.input_details, 2, seed=9)
            for g, e in zip(runner.run(m.name, xs), ref.run_batch(xs), strict=True):
                np.testing.assert_array_equal(g, e.reshape(g.shape), err_msg=f"{name} on {board}")
