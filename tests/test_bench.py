"""`tinypipe bench`: bench.json schema, the per-layer profile against the total, the report,
and a failing build / a silent board ending with a clear message and a partial report."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, mlperf_model
from tinypipe.bench import bench
from tinypipe.errors import TinypipeError

DIGITS = ROOT / "tests" / "data" / "digits_int8.tflite"
SCHEMA = {
    "model": {"path", "sha256", "macs", "params"},
    "board": {"id", "core", "clock_hz", "emulated"},
    "latency": {"unit", "runs", "median", "min", "max", "us_median"},
    "memory": {"flash_bytes", "ram_bytes", "arena_bytes", "weights_bytes", "code_bytes"},
    "validation": {"samples", "bit_exact", "max_abs_diff"},
    "efficiency": {"macs_per_unit"},
}


@pytest.mark.qemu
def test_bench_cli_schema_profile_and_report(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "-m", "tinypipe.cli", "bench", str(DIGITS), "--board", "qemu-m4", "--runs", "5",
         "--validate", "8", "--profile", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert f"report: {out / 'report.md'}" in proc.stdout
    assert "8/8 bit-exact" in proc.stdout  # the summary table
    result = json.loads((out / "bench.json").read_text())
    for key, fields in SCHEMA.items():
        assert fields <= set(result[key]), f"{key} lacks {fields - set(result[key])}"
    assert result["runtime"] == "aot"
    lat = result["latency"]
    assert lat["unit"] == "instructions" and lat["runs"] == 5 and lat["us_is_estimate"] is True
    assert lat["min"] <= lat["median"] <= lat["max"] and lat["median"] > result["model"]["macs"] / 4
    assert result["validation"] == {"samples": 8, "bit_exact": 8, "max_abs_diff": 0.0,
                                    "reference": "LiteRT's built-in kernels (no delegates)"}
    assert result["memory"]["arena_used_bytes"] == result["memory"]["arena_bytes"]  # aot: the plan
    mem = result["memory"]
    assert mem["weights_bytes"] + mem["code_bytes"] + mem["harness_bytes"] <= mem["flash_bytes"]
    assert mem["weights_bytes"] >= 6000 and mem["arena_bytes"] <= mem["ram_bytes"]
    # the per-layer profile (timed in the firmware) adds up to the whole inference within 5%
    layers = result["layers"]
    assert [la["opcode"] for la in layers][:2] == ["CONV_2D", "MAX_POOL_2D"]
    assert sum(la["units"] for la in layers) == pytest.approx(lat["median"], rel=0.05)
    assert sum(la["macs"] for la in layers) >= result["model"]["macs"]
    report = (out / "report.md").read_text()
    for png in ("layers.png", "memory.png"):
        assert f"({png})" in report and (out / png).stat().st_size > 5000
    assert "QEMU does not model cycles" in report


@pytest.mark.qemu
def test_bench_optimize_time_takes_the_arena_inspect_predicts(tmp_path: Path) -> None:
    """`--optimize time`: every convolution on its fastest DSP path whatever its scratch. The
    firmware's arena is the one `inspect --optimize time` predicts (larger than balanced's), the
    layers run faster than balanced's, and every output stays bit-exact under QEMU."""
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "tinypipe.cli", *args], capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        return proc

    inspected = json.loads(cli("inspect", str(DIGITS), "--json", "--optimize", "time").stdout)
    assert inspected["aot_optimize"] == "time" and inspected["aot_arena_bytes"] > 0
    arenas = inspected["aot_arena_by_goal"]
    results = {}
    for goal in ("time", "balanced"):
        out = tmp_path / goal
        proc = cli("bench", str(DIGITS), "--board", "qemu-m4", "--runs", "2", "--validate", "6",
                   "--optimize", goal, "--out", str(out))
        assert f"--optimize {goal}" in proc.stdout and "6/6 bit-exact" in proc.stdout
        results[goal] = json.loads((out / "bench.json").read_text())
        assert results[goal]["optimize"] == goal
        assert results[goal]["memory"]["arena_bytes"] == arenas[goal]
        assert results[goal]["validation"]["bit_exact"] == 6
    assert arenas["time"] > arenas["balanced"]
    assert results["time"]["latency"]["median"] < results["balanced"]["latency"]["median"]

def test_bench_tflm_without_a_tflm_tree_fails_before_building(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TINYPIPE_TFLM_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(TinypipeError, match="no TensorFlow Lite Micro source tree") as exc:
        bench(DIGITS, "qemu-m4", tmp_path / "out", runtime="tflm")
    assert "create_tflm_tree.py" in exc.value.hint
    assert not (tmp_path / "out" / "firmware").exists()


def test_bench_failing_build_writes_partial_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real compiler failure: PlatformIO passes PLATFORMIO_BUILD_FLAGS to gcc, which rejects it.
    monkeypatch.setenv("PLATFORMIO_BUILD_FLAGS", "-fno-such-option-for-tinypipe")
    with pytest.raises(TinypipeError, match="bench stopped at build") as exc:
        bench(DIGITS, "qemu-m4", tmp_path, validate=1)
    assert "no-such-option" in exc.value.what
    partial = json.loads((tmp_path / "bench.json").read_text())
    assert partial["error"].startswith("build:") and partial["memory"] is None
    assert partial["model"]["sha256"] and (tmp_path / "report.md").is_file()


@pytest.mark.qemu
def test_bench_silent_board_ends_with_clear_message(tmp_path: Path) -> None:
    # One VWW inference is ~17 M instructions, tens of milliseconds of QEMU even on a fast host:
    # far longer than the 5 ms of silence allowed between two records. The host must give up
    # with a message and keep what it measured before (the build's memory figures).
    with pytest.raises(TinypipeError, match="bench stopped at run") as exc:
        bench(mlperf_model("vww_96_int8"), "qemu-m4", tmp_path, runs=3, validate=1, timeout_s=0.005)
    assert "timed out" in exc.value.what
    partial = json.loads((tmp_path / "bench.json").read_text())
    assert partial["error"].startswith("run:") and partial["memory"]["flash_bytes"] > 0
    assert partial["latency"] is None
    # ...and QEMU is gone with the session: no emulator of this project outlives the error
    time.sleep(1)
    leftover = subprocess.run(["pgrep", "-f", f"qemu-system-arm.*{tmp_path}"], capture_output=True, text=True)
    assert leftover.stdout == "", f"QEMU still running: {leftover.stdout}"
