"""One number per quantity (tinypipe.figures): weights, arena, MACs and layer numbering read the same
in `inspect` (API and --json), `export`, the generated C (header macros, the compiled object's
constant arrays), the library, `bench` (bench.json, with and without --profile), `compare`'s table
and the reports, for tests/data/digits_int8.tflite and the MLPerf Tiny models."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MLPERF_MODELS, ROOT, mlperf_model
from tinypipe import RUNTIME_DIR, figures
from tinypipe import graph as graph_mod
from tinypipe.aot.codegen import generate
from tinypipe.export import export
from tinypipe.inspect import inspect_model
from tinypipe.library import write_library

DIGITS = ROOT / "tests" / "data" / "digits_int8.tflite"
MODELS = ["digits", *MLPERF_MODELS]


def model_path(name: str) -> Path:
    return DIGITS if name == "digits" else mlperf_model(name)


def header_macros(header: Path, prefix: str) -> dict[str, int]:
    return {m: int(v) for m, v in re.findall(rf"^#define {prefix}_(\w+) (\d+)$", header.read_text(), re.M)}


@pytest.mark.parametrize("name", MODELS)
def test_offline_figures_agree_everywhere(name: str, tmp_path: Path) -> None:
    path = model_path(name)
    g = graph_mod.load(path)
    weights, macs = figures.weights_bytes(g), figures.model_macs(g)
    report = inspect_model(path)
    on_board = inspect_model(path, board="qemu-m4")
    project = export(path, "qemu-m4", tmp_path / "fw", runs=1)
    aot = generate(path, tmp_path / "gen", "m")
    aot_m4 = generate(path, tmp_path / "gen-m4", "m", kernels="dsp")
    lib = write_library(path, tmp_path / "lib", "mdl")
    model_h = header_macros(project.dir / "src" / "model.h", "TP_MODEL")
    lib_h = header_macros(lib.header, "MDL")
    sidecar = json.loads((project.dir / "src" / "model.json").read_text())

    assert report.weights_runtime == "aot"
    assert (report.weight_bytes == project.model_flash_bytes == aot.weights_bytes == lib.model.weights_bytes
            == model_h["WEIGHTS_BYTES"] == lib_h["WEIGHTS_BYTES"] == sidecar["weights_bytes"] == weights)
    # the arena: for any core (inspect, the library), and for the board's core (export plans for it)
    assert report.aot_arena_bytes == aot.arena_bytes == lib.model.arena_bytes == lib_h["ARENA_BYTES"]
    assert (on_board.aot_arena_bytes == project.arena_bytes == aot_m4.arena_bytes == model_h["ARENA_BYTES"]
            == sidecar["arena_bytes"] <= report.aot_arena_bytes)
    assert (report.macs == aot.macs == model_h["MACS"] == lib_h["MACS"] == sidecar["macs"] == macs
            == sum(o.macs for o in report.ops))
    # layers: numbered by the TFLite operator index; the same MACs per operator everywhere
    by_index = {o.index: o for o in report.ops}
    assert [o.index for o in report.ops] == list(range(len(g.operators)))
    for layer in aot.layers:
        op = by_index[layer.op_index]
        assert layer.opcode == op.opcode and layer.macs == op.macs
        assert figures.layer_index(layer.name) == layer.op_index
    rows = figures.layer_rows(g)
    assert [(r.index, r.opcode, r.macs) for r in rows] == [(o.index, o.opcode, o.macs) for o in report.ops]


@pytest.mark.parametrize("name", ["digits", "kws_ref_model", "ad01_int8"])
def test_weights_are_the_constant_arrays_of_the_compiled_model(name: str, tmp_path: Path) -> None:
    """weights = the bytes of the const arrays the compiler places (not params, not padding)."""
    cc, nm = shutil.which("gcc"), shutil.which("nm")
    if cc is None or nm is None:
        pytest.skip("no host gcc/nm")
    aot = generate(model_path(name), tmp_path, "m")
    obj = tmp_path / "m.o"
    subprocess.run([cc, "-std=c99", "-O2", "-c", f"-I{RUNTIME_DIR}", str(aot.c_file), "-o", str(obj)],
                   check=True)
    symbols = subprocess.run([nm, "-S", str(obj)], capture_output=True, text=True, check=True).stdout
    layers = tuple(f"{la.name}_" for la in aot.layers)
    arrays = sum(int(size, 16) for size, kind, sym in re.findall(r"^\S+ (\S+) (\w) (\w+)$", symbols, re.M)
                 if kind in "rR" and sym.startswith(layers) and not sym.endswith("_params"))
    assert arrays == aot.weights_bytes


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits", "kws_ref_model"])
def test_bench_compare_and_report_use_the_same_figures(name: str, tmp_path: Path) -> None:
    from tinypipe.bench import bench
    from tinypipe.compare import Comparison, _row, table_rows

    path = model_path(name)
    g = graph_mod.load(path)
    report = inspect_model(path)
    # --profile (aot) was the path whose weights read differently: it builds the same firmware now
    result = bench(path, "qemu-m4", tmp_path / "bench", runs=3, validate=2, profile=True)
    saved = json.loads((tmp_path / "bench" / "bench.json").read_text())
    mem = saved["memory"]
    assert saved["model"]["macs"] == report.macs == figures.model_macs(g)
    assert saved["model"]["params"] == report.params
    assert mem["weights_bytes"] == report.weight_bytes and mem["arena_bytes"] == report.aot_arena_bytes
    assert mem["arena_used_bytes"] == mem["arena_bytes"] and mem["stack_bytes"] > 0
    assert saved["efficiency"]["macs_per_unit"] == pytest.approx(report.macs / saved["latency"]["median"])
    # the same layers, numbered alike, with the operator's MACs; timed in one profiled inference
    assert [(la["index"], la["opcode"], la["macs"]) for la in saved["layers"]] == \
        [(o.index, o.opcode, o.macs) for o in report.ops]
    assert all(figures.layer_index(la["layer"]) == la["index"] for la in saved["layers"] if la["layer"])
    # compare reads bench.json: its table shows the same weights and code
    row = _row("aot", result)
    assert (row.weights_bytes, row.code_bytes, row.arena_bytes) == (
        mem["weights_bytes"], mem["code_bytes"], mem["arena_bytes"])
    cells = table_rows(Comparison(str(path), "qemu-m4", [row]))[1]
    assert f"{mem['weights_bytes']:,}" in cells and f"{mem['code_bytes']:,}" in cells
    # ...and so do the reports
    text = (tmp_path / "bench" / "report.md").read_text()
    assert f"| weights | {report.weight_bytes:,} |" in text
    assert f"| MACs / params | {report.macs:,} / {report.params:,} |" in text
    fc = next(o for o in report.ops if o.opcode == "FULLY_CONNECTED")
    assert re.search(rf"^\| {fc.index} \| FULLY_CONNECTED \|", text, re.M)
    html = (tmp_path / "bench" / "report.html").read_text()
    assert f"<td>weights</td><td class=\"n\">{report.weight_bytes:,}</td>" in html


def test_inspect_json_cli_reads_the_same_weights() -> None:
    proc = subprocess.run([sys.executable, "-m", "tinypipe.cli", "inspect", str(DIGITS), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    g = graph_mod.load(DIGITS)
    assert data["weight_bytes"] == figures.weights_bytes(g) and data["macs"] == figures.model_macs(g)
    assert [o["index"] for o in data["ops"]][5] == 5 and data["ops"][5]["opcode"] == "FULLY_CONNECTED"
