"""inspect on every MLPerf Tiny model, the model-as-C array, and bad model files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MLPERF_MODELS, mlperf_model
from tinypipe import graph
from tinypipe.export_c import export_c
from tinypipe.inspect import inspect_model

# MACs published with the MLPerf Tiny models (shared/README.md), rounded to 2-3 significant digits.
PUBLISHED_MACS = {"kws_ref_model": 2.66e6, "vww_96_int8": 7.49e6, "pretrainedResnet_quant": 12.5e6,
                  "ad01_int8": 0.26e6, "str_ww_ref_model": 0.83e6}


def tinypipe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinypipe.cli", *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_inspect_mlperf(name: str) -> None:
    report = inspect_model(mlperf_model(name))
    assert report.macs == pytest.approx(PUBLISHED_MACS[name], rel=0.02)
    assert report.tflm_arena_bytes is not None and report.tflm_arena_bytes > 1000
    # weights: the aot runtime's const arrays (tinypipe.figures); all-zero channels are elided (VWW)
    assert report.params > 0 and report.weights_runtime == "aot" and report.weight_bytes > 0
    assert {o.opcode for o in report.ops} == set(report.opcodes)
    # every op's output shape is a concrete static shape
    assert all(all(d > 0 for d in t.shape) for o in report.ops for t in o.outputs)


def test_inspect_cli_json() -> None:
    path = mlperf_model("ad01_int8")
    result = tinypipe("inspect", str(path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["opcodes"] == ["FULLY_CONNECTED"]
    assert len(data["ops"]) == 10 and data["macs"] == sum(o["macs"] for o in data["ops"])


def test_export_c_is_deterministic_aligned_and_exact(tmp_path: Path) -> None:
    model = mlperf_model("kws_ref_model")
    first = [p.read_bytes() for p in export_c(model, tmp_path / "a", "kws_model")]
    second = [p.read_bytes() for p in export_c(model, tmp_path / "b", "kws_model")]
    assert first == second
    header = first[0].decode()
    assert graph.load(model).sha256 in header and "int8[1,49,10,1]" in header
    # Compile the array with a checker: the bytes equal the file and the address is 16-aligned.
    (tmp_path / "a" / "check.c").write_text(
        '#include <stdio.h>\n#include <stdint.h>\n#include <string.h>\n#include "kws_model.h"\n'
        "int main(int argc, char **argv) {\n"
        "  static unsigned char file[KWS_MODEL_LEN + 1];\n"
        "  FILE *f = fopen(argv[argc - 1], \"rb\");\n"
        "  size_t n = fread(file, 1, sizeof file, f);\n"
        "  if (n != kws_model_len || memcmp(file, kws_model, n) != 0) return 1;\n"
        "  return ((uintptr_t)kws_model % KWS_MODEL_ALIGNMENT) ? 2 : 0;\n}\n")
    exe = tmp_path / "check"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-o", str(exe),
                    str(tmp_path / "a" / "check.c"), str(tmp_path / "a" / "kws_model.c")], check=True)
    assert subprocess.run([str(exe), str(model)]).returncode == 0
    subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-mcpu=cortex-m4", "-mthumb", "-Wall", "-Wextra",
                    "-Werror", "-c", "-o", str(tmp_path / "m.o"), str(tmp_path / "a" / "kws_model.c")],
                   check=True)


@pytest.mark.parametrize("case", ["not_tflite", "truncated", "missing", "empty"])
def test_bad_model_files(tmp_path: Path, case: str) -> None:
    bad = tmp_path / f"{case}.tflite"
    if case == "not_tflite":
        bad.write_text("this is a text file, not a model\n" * 10)
    elif case == "truncated":
        data = mlperf_model("kws_ref_model").read_bytes()
        bad.write_bytes(data[: len(data) // 3])
    elif case == "empty":
        bad.write_bytes(b"")
    for cmd in (["inspect", str(bad)], ["export-c", str(bad), "--out", str(tmp_path / "c")]):
        result = tinypipe(*cmd)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        first = result.stderr.strip().splitlines()[0]
        assert first.startswith("error: ") and str(bad) in first


def test_export_c_rejects_bad_name(tmp_path: Path) -> None:
    result = tinypipe("export-c", str(mlperf_model("ad01_int8")), "--out", str(tmp_path), "--name", "1-bad")
    assert result.returncode == 2 and "not a C identifier" in result.stderr


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_inspect_reports_aot_plan_smaller_than_tflm(name: str) -> None:
    report = inspect_model(mlperf_model(name))
    assert report.aot_unsupported == [] and report.aot_error == ""
    assert report.aot_arena_bytes is not None and report.tflm_arena_bytes is not None
    assert report.aot_arena_bytes < report.tflm_arena_bytes
    # every planned tensor lies inside the arena
    assert all(p["offset"] + p["size"] <= report.aot_arena_bytes for p in report.aot_plan)


def test_inspect_flags_each_operator_per_runtime(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator TFLite Micro runs and aot lacks: aot "no" with the generator's own refusal,
    tflm "yes" (from the TFLM tree's op resolver); printed as one line under the table."""
    from tests.conftest import run_cli, tflm_tree
    from tests.tflite_builder import Io, one_op_model

    tflm_tree()
    model = tmp_path / "space_to_depth.tflite"
    model.write_bytes(one_op_model("SPACE_TO_DEPTH", [Io((1, 4, 4, 4), 0.5, 1)], [Io((1, 4, 4, 4), 0.5, 1)]))
    (op,) = inspect_model(model).ops
    assert (op.aot_supported, op.tflm_supported) == (False, True)
    assert "no aot kernel for SPACE_TO_DEPTH" in op.aot_refusal and "--runtime tflm" in op.aot_refusal
    code, out, _ = run_cli(["inspect", str(model)], capsys, monkeypatch)
    assert code == 0 and "aot: operator SPACE_TO_DEPTH #0" in out and "`--runtime tflm` runs it" in out
