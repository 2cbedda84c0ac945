"""Shared fixtures: where the MLPerf Tiny models are, and a scratch directory per test."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tinypipe.aot.codegen import AotModel

ROOT = Path(__file__).resolve().parent.parent
MLPERF_DIR = ROOT.parent / "shared" / "models" / "mlperf-tiny"
TFLM_TREE = ROOT.parent / "shared" / "tflm" / "tree"  # TensorFlow Lite Micro 90b983c + CMSIS-NN
# The int8 operators the recipes may use: what every microcontroller runtime has.
MCU_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD",
           "RESHAPE", "SOFTMAX"}
MLPERF_MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "str_ww_ref_model"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PLATFORMIO_SETTING_ENABLE_TELEMETRY", "no")
if TFLM_TREE.is_dir():  # the tflm runtime builds from it (tinypipe.tflm.tree.find_tree)
    os.environ.setdefault("TINYPIPE_TFLM_DIR", str(TFLM_TREE))


def mlperf_model(name: str) -> Path:
    path = MLPERF_DIR / f"{name}.tflite"
    if not path.is_file():
        pytest.skip(f"MLPerf Tiny model {path} not found (../shared/models/mlperf-tiny is absent)")
    return path


def tflm_tree() -> Path:
    """The TFLite Micro tree the tflm tests build from; skip when ../shared/tflm is absent."""
    if not TFLM_TREE.is_dir():
        pytest.skip(f"TensorFlow Lite Micro tree {TFLM_TREE} not found (../shared/tflm is absent)")
    return TFLM_TREE


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """`tinypipe ARGS` in this process: (exit code, stdout, stderr)."""
    from tinypipe import cli

    monkeypatch.setattr(sys, "argv", ["tinypipe", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


# The files that take longest in a cold `make test` (--durations, 2 workers), longest first. The
# Makefile runs xdist with --dist loadfile --no-loadscope-reorder, so files are handed out in
# collection order: these start first, and the suite ends on short files instead of one worker
# training KWS alone for three minutes (xdist's own order puts one-test files last).
LONGEST_FIRST = ("test_tflm.py", "test_tflm_cores.py", "test_train_kws.py", "test_real_boards.py",
                 "test_kernels_optimized.py", "test_ops_more.py", "test_fuzz_slice.py", "test_targets.py",
                 "test_aot_models.py", "test_qat.py", "test_ops_16x8.py", "test_ops.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def dsp_variants(aot: AotModel, kernel: str = "tp_conv_s8") -> list[str]:
    """The DSP variant of each call of `kernel` in a generated model's code (its
    TP_VARIANT(portable, dsp, helium))."""
    return re.findall(rf"TP_VARIANT\({kernel}, (\w+),", aot.c_file.read_text())
