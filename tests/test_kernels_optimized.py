"""The optimized kernel variants (DSP on Cortex-M4/M7, Helium on Cortex-M55) are bit-exact with
LiteRT, checked by the same inputs and oracle as the portable build's tests, but compiled for the
real core and run under QEMU (tinypipe.device.qemu.QemuRunner: many models per binary, few
samples each; the host suites run the full counts):

  - the randomized one-op models of tests/op_models.py for the kernels with optimized variants,
  - fixed configs for the shape-specialized paths (op_models.kernel_path_configs: planar 3x3
    depthwise, small / unaligned-K convolutions, all-zero output channels, TRANSPOSE_CONV's vector
    tails), also on the host, and again as --optimize ram narrows them (less scratch),
  - the five MLPerf Tiny models,
  - one model through the real firmware path (export -> PlatformIO -> QEMU -> serial) on the
    DSP and the Helium core,
  - the TP_PORTABLE switch really selects the portable path (same bytes).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.op_models import build_models, describe, kernel_path_configs, sample_configs
from tests.test_ops import SEED, _inputs, _mismatch
from tinypipe.aot.codegen import AotModel, generate
from tinypipe.device.host import HostRunner
from tinypipe.device.qemu import QemuRunner
from tinypipe.reference import Reference, random_inputs
from tinypipe.validate import validate

from .conftest import MLPERF_MODELS, dsp_variants, mlperf_model

BOARDS = ["qemu-m4", "qemu-m55"]  # DSP, Helium (qemu-m7 runs the DSP code too: MLPerf)
# ops with optimized variants -> configs converted (one TensorFlow conversion each, in two worker
# processes; the host op tests cover many more configs of every op)
OPT_OPS = {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 2, "ADD": 2, "AVERAGE_POOL_2D": 1,
           "MAX_POOL_2D": 1, "TRANSPOSE_CONV": 2}
INPUTS_PER_CONFIG = 20
MLPERF_SAMPLES = 3


@pytest.fixture(scope="module")
def op_models(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict, bytes, AotModel]]:
    work = tmp_path_factory.mktemp("opt_ops")
    configs = [c for op, n in OPT_OPS.items() for c in sample_configs(op, n, SEED)] + kernel_path_configs()
    out = []
    for i, (config, model) in enumerate(zip(configs, build_models(configs), strict=True)):
        if model is None:  # the converter rejected this random config; the others still run
            continue
        path = work / f"{config['id']}.tflite"
        path.write_bytes(model)
        # the fastest code whatever its scratch costs: the DSP's 16- and 8-pixel convolutions under test too
        fast = generate(path, work / "gen", name=f"op{i}", optimize="time")
        out.append((config, model, fast))
        if config["id"].startswith("path-"):  # and the variants --optimize ram narrows them to
            small = generate(path, work / "gen", name=f"op{i}_ram", optimize="ram")
            if small.arena_bytes < fast.arena_bytes:
                out.append(({**config, "id": "ram-" + config["id"]}, model, small))
    assert {c["op"] for c, _, _ in out} == set(OPT_OPS), [c["op"] for c, _, _ in out]
    return out


@pytest.fixture(scope="module")
def mlperf(tmp_path_factory: pytest.TempPathFactory) -> list[AotModel]:
    work = tmp_path_factory.mktemp("opt_mlperf")
    return [generate(mlperf_model(name), work / "gen", name=name.lower()) for name in MLPERF_MODELS]


# Unoptimized builds (-O0: no __OPTIMIZE__) take the C twins of the kernels' inline assembly: the
# same configs through them, -Wshadow catching a macro's local hiding its caller's (as one did).
UNOPTIMIZED = ["-O0", "-Wshadow"]


@pytest.mark.slow
@pytest.mark.parametrize("board, flags", [*((b, []) for b in BOARDS), *((b, UNOPTIMIZED) for b in BOARDS)],
                         ids=[*BOARDS, *(f"{b}-O0" for b in BOARDS)])
def test_optimized_ops_bit_exact_under_qemu(board: str, flags: list[str],
                                           op_models: list[tuple[dict, bytes, AotModel]],
                                           tmp_path: Path) -> None:
    runner = QemuRunner([m for _, _, m in op_models], tmp_path, board=board, extra_cflags=flags)
    for k, (config, model, aot) in enumerate(op_models):
        reference = Reference(model)
        x = _inputs(reference, config, INPUTS_PER_CONFIG, seed=SEED + k)
        want = reference.run_batch(x)
        for j, (g, w) in enumerate(zip(runner.run(aot.name, x), want, strict=True)):
            assert g.shape == w.shape, f"{board}: {describe(config)}"
            assert np.array_equal(g, w), f"{board}: " + _mismatch(config, j, g, w)


@pytest.mark.slow
@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m7", "qemu-m55"])
def test_mlperf_bit_exact_under_qemu(board: str, mlperf: list[AotModel], tmp_path: Path) -> None:
    runner = QemuRunner(mlperf, tmp_path, board=board)
    for name, aot in zip(MLPERF_MODELS, mlperf, strict=True):
        ref = Reference(mlperf_model(name))
        xs = random_inputs(ref.input_details, MLPERF_SAMPLES, seed=11)
        for g, e in zip(runner.run(aot.name, xs), ref.run_batch(xs), strict=True):
            np.testing.assert_array_equal(g, e.reshape(g.shape), err_msg=f"{name} on {board}")


@pytest.mark.slow
def test_portable_switch_gives_the_same_bytes(mlperf: list[AotModel], tmp_path: Path) -> None:
    """-DTP_PORTABLE (what bench/mlperf_tiny.py builds as 'portable') on a DSP core: same outputs."""
    kws = next(m for m in mlperf if m.name == "kws_ref_model")
    ref = Reference(mlperf_model("kws_ref_model"))
    xs = random_inputs(ref.input_details, 5, seed=3)
    portable = QemuRunner([kws], tmp_path / "p", board="qemu-m4", extra_cflags=["-DTP_PORTABLE"])
    optimized = QemuRunner([kws], tmp_path / "o", board="qemu-m4")
    assert portable._binary_of != optimized._binary_of
    for p, o in zip(portable.run(kws.name, xs), optimized.run(kws.name, xs), strict=True):
        np.testing.assert_array_equal(p, o)


@pytest.mark.slow
@pytest.mark.parametrize("board", BOARDS)
def test_firmware_bit_exact_on_emulated_core(board: str, tmp_path: Path) -> None:
    """The real firmware (PlatformIO build, serial protocol) with the optimized kernels."""
    result = validate(mlperf_model("kws_ref_model"), board=board, samples=3, work_dir=tmp_path)
    assert result.ok, result.summary()


@pytest.mark.slow
def test_kernel_path_configs_portable_and_elided_channels(op_models: list[tuple[dict, bytes, AotModel]],
                                                          tmp_path: Path) -> None:
    """The shape-specialized configs on the host (portable build, sanitizers); the all-zero output
    channels are really elided from the generated code (fewer computed channels, same bytes); the
    DSP convolution's 8-pixel path is chosen only for layers of 8 pixels or more, its 16-pixel
    one for 16 or more; the DSP FULLY_CONNECTED's SMMLAR requantization only for layers proved for it."""
    paths = [case for case in op_models if case[0]["id"].startswith("path-")]
    assert len(paths) == len(kernel_path_configs())
    runner = HostRunner([aot for _, _, aot in paths], tmp_path)
    for k, (config, model, aot) in enumerate(paths):
        reference = Reference(model)
        x = _inputs(reference, config, INPUTS_PER_CONFIG, seed=SEED + k)
        for j, (g, w) in enumerate(zip(runner.run(aot.name, x), reference.run_batch(x), strict=True)):
            assert np.array_equal(g, w), "host: " + _mismatch(config, j, g, w)
        if config.get("zero_filters"):
            live = re.search(r"\.live_c = (\d+)", aot.c_file.read_text())
            # elided unless the channel's constant is a rounding tie (kept live for TP_TFLM_ROUNDING)
            n = config["filters"]
            assert live and n - len(config["zero_filters"]) <= int(live.group(1)) < n
    # the DSP convolution's 8- and 16-pixel SMMLAR paths are really taken where there is a block, not below,
    # and down strips where a filter taller than the stride shares rows with the block below
    dsp = {tuple(c["shape"]): set(dsp_variants(aot)) for c, _, aot in paths if c["op"] == "CONV_2D"}
    assert dsp[(6, 6, 16)] == {"tp_conv_s8_dsp_doubled"} and dsp[(2, 3, 4)] == {"tp_conv_s8_dsp"}, dsp
    assert dsp[(7, 6, 6)] == dsp[(5, 7, 16)] == {"tp_conv_s8_dsp_doubled16"}, dsp
    strips = [(7, 9, 8), (10, 17, 4), (7, 12, 8), (9, 20, 4)]
    assert all(dsp[s] == {"tp_conv_s8_dsp_strips"} for s in strips), dsp
    # RGB first layers on an SMMLAR block path (whose im2col widens their 9-byte patch rows in place)
    blocks = {"tp_conv_s8_dsp_doubled", "tp_conv_s8_dsp_doubled16"}
    assert all(dsp[s] and dsp[s] <= blocks for s in [(12, 13, 3), (7, 14, 3)]), dsp
    # the DSP depthwise 3x3: planar on larger outputs, its ring of rows on small ones and at stride 2
    dw = {(tuple(c["shape"]), tuple(c["stride"])): set(dsp_variants(aot, "tp_depthwise_conv_s8"))
          for c, _, aot in paths if c["op"] == "DEPTHWISE_CONV_2D" and c["kernel"] == [3, 3]}
    rows = [((6, 6, 16), (1, 1)), ((7, 5, 12), (1, 1)), ((5, 6, 8), (1, 1)), ((9, 11, 12), (2, 2)),
            ((8, 10, 8), (2, 2)), ((10, 9, 4), (2, 2))]
    assert all(dw[r] == {"tp_depthwise_conv_s8_dsp_rows"} for r in rows), dw
    assert dw[((11, 5, 8), (1, 1))] == dw[((7, 40, 4), (1, 1))] == {"tp_depthwise_conv_s8_dsp_3x3"}, dw
    # the DSP FULLY_CONNECTED's two requantizations: SMMLAR (`doubled`), and the general one where a
    # right shift is past 22
    fc = {c["shape"][0]: re.search(r"\.doubled = (\d)", aot.c_file.read_text()) for c, _, aot in paths
          if c["op"] == "FULLY_CONNECTED"}
    assert {k: m and m.group(1) for k, m in fc.items()} == {45: "1", 40: "0"}, fc
    # a column image runs as a row: 9 outputs of the 11 x 1 input's valid 3 x 1 filter, along x
    column = next(aot for c, _, aot in paths if c.get("shape") == [11, 1, 4])
    assert re.search(r"\.output_h = 1,\s*\.output_w = 9", column.c_file.read_text())
