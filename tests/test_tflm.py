"""The tflm runtime for real: TensorFlow Lite Micro built from ../shared/tflm/tree through the
project's own library manifests, run under QEMU, and validated over the serial protocol bit for
bit against TensorFlow Lite Micro's own interpreter (the `tflite_micro` package)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from tests.conftest import MLPERF_MODELS, ROOT, mlperf_model, tflm_tree
from tinypipe import graph
from tinypipe.bench import bench
from tinypipe.boards import load_board
from tinypipe.compare import compare
from tinypipe.errors import TinypipeError
from tinypipe.export import export, resolve_runtime
from tinypipe.tflm.arena import arena_reserve
from tinypipe.tflm.library import plan_library, supported_ops
from tinypipe.tflm.tree import ENV_VAR, find_tree

DIGITS = ROOT / "tests" / "data" / "digits_int8.tflite"
KWS_OPS = ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
TFLM_LABEL = "tflite_micro"


# --- finding the tree, planning the library ------------------------------------------------------


def test_find_tree_order_and_the_message_when_there_is_none(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tflm_tree()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv(ENV_VAR, str(tree))
    assert find_tree() == tree.resolve()
    with pytest.raises(TinypipeError, match=r"from --tflm-dir\) is not a TensorFlow Lite Micro tree"):
        find_tree(tmp_path)  # --tflm-dir wins over the environment
    monkeypatch.delenv(ENV_VAR)
    with pytest.raises(TinypipeError, match="no TensorFlow Lite Micro source tree") as exc:
        find_tree()
    assert "create_tflm_tree.py" in exc.value.hint and "90b983c" in exc.value.hint
    assert str(tmp_path / "cache" / "tinypipe") in exc.value.hint
    (tmp_path / "cache" / "tinypipe").mkdir(parents=True)
    os.symlink(tree, tmp_path / "cache" / "tinypipe" / "tflm-90b983c")
    assert find_tree() == tree.resolve()  # the user cache comes last


def test_library_plan_compiles_exactly_the_models_kernels() -> None:
    tree = tflm_tree()
    cmsis = plan_library(tree, KWS_OPS, "cmsis-nn", set(KWS_OPS))
    ref = plan_library(tree, KWS_OPS, "reference")
    kernels = "tensorflow/lite/micro/kernels/"
    assert f"{kernels}cmsis_nn/conv.cc" in cmsis.kernel_sources and f"{kernels}conv.cc" not in cmsis.sources
    assert f"{kernels}conv.cc" in ref.kernel_sources and not any("cmsis_nn" in s for s in ref.sources)
    assert f"{kernels}reshape.cc" in cmsis.kernel_sources  # CMSIS-NN has no reshape: the reference one
    assert f"{kernels}transpose_conv.cc" not in ref.sources  # an operator the model does not use
    cmsis_nn = "third_party/cmsis_nn/Source/"
    assert any(s.startswith(cmsis_nn) for s in cmsis.sources)
    # the CMSIS-NN functions the kernels call (with the kernels), not those of other operators
    assert f"{cmsis_nn}ConvolutionFunctions/arm_convolve_s8.c" in cmsis.kernel_sources
    called = f"{cmsis_nn}ConvolutionFunctions/arm_nn_mat_mult_kernel_s8_s16.c"  # by arm_convolve_s8
    assert called in cmsis.kernel_sources
    assert not any("LSTM" in s or "SVD" in s or "/BasicMathFunctions/" in s for s in cmsis.sources)
    # framework sources no header of the glue or of the kernels reaches are left out
    micro = "tensorflow/lite/micro/"
    for plan in (cmsis, ref):
        assert f"{micro}micro_interpreter.cc" in plan.sources and f"{micro}micro_allocator.cc" in plan.sources
        assert f"{micro}kernels/kernel_util.cc" in plan.sources
        assert f"{micro}recording_micro_allocator.cc" not in plan.sources
        assert f"{micro}kernels/lstm_eval.cc" not in plan.sources
    lstm = plan_library(tree, ["UNIDIRECTIONAL_SEQUENCE_LSTM"], "cmsis-nn")
    assert {f"{micro}kernels/lstm_eval.cc", f"{micro}kernels/lstm_eval_common.cc"} <= set(lstm.sources)
    assert f"{cmsis_nn}LSTMFunctions/arm_lstm_unidirectional_s8.c" in lstm.kernel_sources
    assert "-DTF_LITE_STATIC_MEMORY" in cmsis.flags() and "-DCMSIS_NN" in cmsis.flags()
    assert "-DCMSIS_NN" not in ref.flags()
    assert "AddConv2D(tflite::Register_CONV_2D_INT8())" in cmsis.resolver_calls
    assert "AddConv2D()" in ref.resolver_calls and "AddReshape()" in cmsis.resolver_calls
    assert {"CONV_2D", "SOFTMAX", "UNIDIRECTIONAL_SEQUENCE_LSTM"} <= supported_ops(tree)
    # a resolver method without a registration parameter (AddResizeNearestNeighbor()) is found too
    nearest = plan_library(tree, ["RESIZE_NEAREST_NEIGHBOR"], "reference")
    assert f"{kernels}resize_nearest_neighbor.cc" in nearest.kernel_sources
    assert "AddResizeNearestNeighbor()" in nearest.resolver_calls
    with pytest.raises(TinypipeError, match="operator NOT_AN_OP has no TensorFlow Lite Micro kernel"):
        plan_library(tree, ["NOT_AN_OP"], "reference")


def test_arena_reserve_covers_the_host_measurement_and_cmsis_nn_scratch() -> None:
    g = graph.load(mlperf_model("kws_ref_model"))
    measured = 24_272  # TFLite Micro's recorder on the host
    ref, dsp, mve = (arena_reserve(g, measured, k, m) for k, m in
                     (("reference", False), ("cmsis-nn", False), ("cmsis-nn", True)))
    assert measured < ref < dsp < mve and all(x % 16 == 0 for x in (ref, dsp, mve))


def test_runtime_auto_picks_aot_and_says_which_operator_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    model = mlperf_model("kws_ref_model")
    assert resolve_runtime(model, "qemu-m4", "auto")[0] == "aot"
    assert resolve_runtime(model, "qemu-m4", "tflm") == ("tflm", "tflm (as asked)")
    import tinypipe.aot.lowering as lowering

    everything = lowering.supported_ops()
    monkeypatch.setattr(lowering, "supported_ops", lambda: [op for op in everything if op != "SOFTMAX"])
    assert resolve_runtime(model, "qemu-m4", "auto") == ("tflm", "tflm: aot does not run SOFTMAX")
    aot_only = dataclasses.replace(load_board("qemu-m4"), runtimes=("aot",), unsupported={"tflm": "no"})
    with pytest.raises(TinypipeError, match="SOFTMAX, and qemu-m4 does not offer tflm"):
        resolve_runtime(model, aot_only, "auto")


# --- built, run and validated on the emulator ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_model_with_cmsis_nn_on_qemu_m4(name: str, tmp_path: Path) -> None:
    """Every MLPerf Tiny model with TFLite Micro + CMSIS-NN, over the serial protocol, bit-exact
    with the tflite_micro interpreter; the arena the device used fits the reserve."""
    tflm_tree()
    result = bench(mlperf_model(name), "qemu-m4", tmp_path, runtime="tflm", runs=2, validate=3)
    val, mem = result["validation"], result["memory"]
    assert val["bit_exact"] == val["samples"] == 3, val
    assert TFLM_LABEL in val["reference"]
    assert 0 < mem["arena_used_bytes"] <= mem["arena_bytes"], mem
    assert result["latency"]["unit"] == "instructions" and result["runtime"] == "tflm"
    assert mem["code_bytes"] > 0 and mem["weights_bytes"] >= graph.load(mlperf_model(name)).size_bytes


KERNEL_SETS = [("qemu-m3", False), ("qemu-microbit", False), ("qemu-m4", True), ("qemu-m55", True),
               ("nucleo-l4r5zi", True)]


@pytest.mark.parametrize(("board", "cmsis_nn"), KERNEL_SETS)
def test_kernel_set_follows_the_core(board: str, cmsis_nn: bool, tmp_path: Path) -> None:
    """CMSIS-NN where the core has DSP or Helium instructions, TFLite Micro's reference kernels
    elsewhere (the reference kernels run bit-exact on the micro:bit's Cortex-M0: test_tflm_cores)."""
    tflm_tree()
    project = export(DIGITS, board, tmp_path / "fw", runtime="tflm")
    ini = (project.dir / "platformio.ini").read_text()
    assert ("-DCMSIS_NN" in ini) == cmsis_nn
    assert ("tflite-micro-cmsis-nn-" in ini) == cmsis_nn and ("tflite-micro-reference-" in ini) != cmsis_nn


@pytest.mark.slow
@pytest.mark.qemu
def test_compare_kws_aot_and_tflm_on_qemu_m4(tmp_path: Path) -> None:
    tflm_tree()
    result = compare(mlperf_model("kws_ref_model"), "qemu-m4", tmp_path, ["aot", "tflm"], runs=2, validate=2)
    assert result.ok, result.to_json()
    aot, tflm = result.rows
    assert (aot.runtime, tflm.runtime) == ("aot", "tflm")
    assert aot.unit == tflm.unit == "instructions" and aot.latency and tflm.latency
    assert aot.weights_bytes and tflm.weights_bytes and aot.code_bytes and tflm.code_bytes
    assert aot.arena_used_bytes == aot.arena_bytes  # aot's arena is its static plan
    assert tflm.arena_used_bytes is not None and tflm.arena_bytes is not None
    assert tflm.arena_used_bytes <= tflm.arena_bytes
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert [r["runtime"] for r in saved["rows"]] == ["aot", "tflm"]
    table = (tmp_path / "compare.md").read_text()
    assert "| aot |" in table and "| tflm |" in table and "tflite_micro" in table


def test_ops_table_lists_both_runtimes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinypipe.ops import operator_table

    tflm_tree()
    rows, source = operator_table()
    by_op = {r.op: r for r in rows}
    assert by_op["CONV_2D"].aot and by_op["CONV_2D"].tflm and "90b983c" in source
    assert by_op["UNIDIRECTIONAL_SEQUENCE_LSTM"].tflm and not by_op["UNIDIRECTIONAL_SEQUENCE_LSTM"].aot
    assert all(r.tflm is not None for r in rows) and len(rows) >= 90
    # int16 (16x8): aot's own list; TFLite Micro's from its kernel sources
    assert by_op["SOFTMAX"].aot_int16 and by_op["SOFTMAX"].tflm_int16 and not by_op["PAD"].aot_int16
    assert by_op["MEAN"].tflm_int16 and by_op["RESHAPE"].tflm_int16 and not by_op["ARG_MAX"].tflm_int16
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    rows, source = operator_table()
    assert all(r.tflm is None for r in rows) and "tflm column unknown" in source
