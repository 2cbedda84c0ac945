"""The aot firmware on every emulated board: PlatformIO build, `pio run -t upload` starts QEMU,
records over the TCP serial port with pyserial, and on-target validation bit for bit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, mlperf_model
from tinypipe.validate import validate

# Every emulated board runs KWS but qemu-microbit (16 KB RAM), which runs a recipe model.
BOARDS_KWS = ["qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55", "qemu-stm32f405"]
DIGITS = ROOT / "tests" / "data" / "digits_int8.tflite"  # `tinypipe train digits` + quantize


@pytest.mark.qemu
@pytest.mark.parametrize("board", BOARDS_KWS)
def test_kws_bit_exact_on_emulated_board(board: str, tmp_path: Path) -> None:
    result = validate(mlperf_model("kws_ref_model"), board=board, samples=4, work_dir=tmp_path)
    assert result.samples == 4
    assert result.bit_exact == 4, result.summary()


@pytest.mark.qemu
@pytest.mark.parametrize("board", ["qemu-microbit", "qemu-m4"])
def test_recipe_model_bit_exact_on_small_board(board: str, tmp_path: Path) -> None:
    result = validate(DIGITS, board=board, samples=20, work_dir=tmp_path)
    assert result.bit_exact == result.samples == 20, result.summary()


@pytest.mark.qemu
def test_make_emulate_runs_the_benchmark_to_the_end(tmp_path: Path) -> None:
    """`make emulate` exports, builds, starts QEMU through PlatformIO and shows the records; the
    harness's validation session is closed with BYE, so the firmware exits 0 by itself."""
    cmd = ["make", "-s", "emulate", "BOARD=qemu-m33", f"MODEL={DIGITS}", f"OUT={tmp_path / 'fw'}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("TP ")]
    assert lines[0].startswith("TP BOOT board=qemu-m33 runtime=aot")
    assert sum(line.startswith("TP RUN ") for line in lines) == 10
    assert "unit=instructions" in next(line for line in lines if line.startswith("TP RESULT"))
    assert lines[-2:] == ["TP READY protocol=1", "TP DONE reason=bye"]
