"""Reports people read: report.md renders (escaped cells), report.html is one self-contained file,
units are right on every path (a failed emulated run is not "CPU cycles"), the stack high-water
mark is measured on the device, the per-layer table has names, shapes, MACs and time by default,
the accuracy plot's axis shows the differences; and the console: full tables in logs, one line per
stage, `--version`, `--help` examples that run anywhere, user boards from --boards-dir."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tinypipe.bench import bench
from tinypipe.errors import TinypipeError
from tinypipe.progress import LineReporter
from tinypipe.report import accuracy_limits, md_escape, to_markdown, write_report

DIGITS = ROOT / "tests" / "data" / "digits_int8.tflite"


def tinypipe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinypipe.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)


def _table_rows(markdown: str) -> list[list[str]]:
    """The cells of every table row, split as a Markdown renderer does (escaped pipes kept)."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|(-+:?\|)+", line):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows


def _check_tables(markdown: str) -> None:
    """Every table of the report has as many cells in each row as in its header."""
    for block in re.split(r"\n\n", markdown):
        lines = [ln for ln in block.splitlines() if ln.startswith("|")]
        if lines:
            widths = {len(r) for r in _table_rows("\n".join(lines))}
            assert len(widths) == 1, block


def _check_html(page: str, images: int) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count('src="data:image/png;base64,') == images  # plots inlined: one file
    assert not re.search(r'src="(?!data:)', page)


def test_markdown_escapes_what_would_break_a_table(tmp_path: Path) -> None:
    assert md_escape("max |diff| 0.0") == "max \\|diff\\| 0.0"
    assert md_escape("a*b <x> _lead and tail_ mid_word") == "a\\*b \\<x\\> \\_lead and tail\\_ mid_word"
    from tinypipe.report import Table

    text = to_markdown([Table(["a", "b"], [["x | y", "1"]])])
    assert _table_rows(text) == [["a", "b"], ["x \\| y", "1"]]


def test_accuracy_axis_is_zoomed_to_the_differences() -> None:
    lo, hi = accuracy_limits([0.9861, 0.9833, 0.9833])
    assert 0.97 < lo < 0.9833 and 0.9861 < hi < 0.995  # not 0..1: a 0.003 drop is visible
    lo, hi = accuracy_limits([0.5, 0.5])
    assert lo < 0.5 < hi


def _bench_dict(**extra: object) -> dict:
    return {"model": {"path": "m.tflite", "sha256": "0" * 64, "macs": 100, "params": 10},
            "board": {"id": "qemu-m4", "core": "cortex-m4", "clock_hz": 25_000_000, "emulated": True,
                      "flash_bytes": 4 << 20, "ram_bytes": 4 << 20, "unit": "instructions"},
            "runtime": "aot", "latency": None, "memory": None, "validation": None, "layers": [], **extra}


def test_failed_emulated_run_reports_instructions_not_cycles(tmp_path: Path) -> None:
    text = write_report(_bench_dict(error="build: the compiler failed"), tmp_path).read_text()
    assert "**Incomplete: build: the compiler failed**" in text
    assert "instructions counted by QEMU" in text and "CPU cycles" not in text
    _check_html((tmp_path / "report.html").read_text(), images=0)


def test_accuracy_section_renders_both_ways(tmp_path: Path) -> None:
    acc = {"metric": "accuracy", "float": 0.9861, "int8_host": 0.9833, "device": 0.9833, "samples": 360,
           "details": {"float": {"accuracy": 0.9861, "macro_f1": 0.9859}}}
    text = write_report(_bench_dict(accuracy=acc), tmp_path).read_text()
    assert "| accuracy | float (host) | int8 (host) | int8 (device) |" in text
    assert "| run | macro\\_f1 |" in text or "| run | macro_f1 |" in text
    _check_tables(text)
    _check_html((tmp_path / "report.html").read_text(), images=1)


@pytest.mark.qemu
@pytest.mark.slow
def test_bench_good_run_report_md_and_html(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    proc = tinypipe("bench", str(DIGITS), "--board", "qemu-m4", "--runs", "3", "--validate", "6", "--out",
                    str(out))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    # a log, not a terminal: one timestamped line per stage, step counts, the whole summary table
    assert re.search(r"^\[\s*[\d.]+ s\] build \(pio run\)$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^\[\s*[\d.]+ s\] validate on the device: 6/6$", proc.stdout, re.M)
    assert "6/6 bit-exact on the device" in proc.stdout and "…" not in proc.stdout
    result = json.loads((out / "bench.json").read_text())
    mem = result["memory"]
    # the stack high-water mark, measured by the firmware (painted at reset, scanned after the runs)
    assert 64 <= mem["stack_bytes"] < load_stack_size("qemu-m4")
    assert mem["weights_bytes"] + mem["code_bytes"] + mem["harness_bytes"] <= mem["flash_bytes"]
    # per layer, by default: every TFLite operator, numbered by its index, with shapes, MACs and time
    layers = result["layers"]
    assert [la["index"] for la in layers] == list(range(7))
    fc = layers[5]
    assert (fc["opcode"], fc["layer"], fc["inputs"], fc["outputs"]) == (
        "FULLY_CONNECTED", "fc_5", ["[1,128]"], ["[1,10]"])
    assert all(la["units"] is not None for la in layers) and layers[4]["units"] == 0  # RESHAPE: no code
    assert sum(la["units"] for la in layers) == pytest.approx(result["latency"]["median"], rel=0.05)

    text = (out / "report.md").read_text()
    _check_tables(text)
    assert "6/6 bit-exact, max \\|diff\\| 0.0" in text  # escaped: the table keeps its two columns
    assert "instructions counted by QEMU" in text and "CPU cycles" not in text
    assert f"stack high-water mark {mem['stack_bytes']:,}" in text
    assert "| 5 | FULLY_CONNECTED | functional_1_1/dense_1_1/MatMul | [1,128] → [1,10] | 1,280 |" in text
    for png in ("layers.png", "memory.png"):
        assert f"({png})" in text and (out / png).stat().st_size > 5000
    page = (out / "report.html").read_text()
    _check_html(page, images=2)
    assert "6/6 bit-exact, max |diff| 0.0" in page and "<td>FULLY_CONNECTED</td>" in page


def load_stack_size(board_id: str) -> int:
    from tinypipe.boards import load_board
    from tinypipe.build import board_manifest

    tp = board_manifest(load_board(board_id))["build"]["tinypipe"]  # type: ignore[index]
    return int(tp["memory"]["stack_size"])


def test_bench_failed_run_report_md_and_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real compiler failure: PlatformIO passes PLATFORMIO_BUILD_FLAGS to gcc, which rejects it.
    monkeypatch.setenv("PLATFORMIO_BUILD_FLAGS", "-fno-such-option-for-tinypipe")
    with pytest.raises(TinypipeError, match="bench stopped at build"):
        bench(DIGITS, "qemu-m4", tmp_path, validate=1)
    text = (tmp_path / "report.md").read_text()
    _check_tables(text)
    assert text.startswith("# digits_int8.tflite on qemu-m4 (aot)\n")
    assert "**Incomplete: build:" in text
    assert "qemu-m4 measures in instructions counted by QEMU" in text and "CPU cycles" not in text
    # the per-layer table is there before anything ran: names, shapes, MACs
    assert "| 2 | CONV_2D | functional_1_1/conv2d_3_1/Relu | [1,4,4,16] → [1,4,4,32] | 73,728 | - |" in text
    page = (tmp_path / "report.html").read_text()
    _check_html(page, images=0)
    assert "Incomplete: build:" in page


def test_line_reporter_prints_stages_and_a_few_step_counts() -> None:
    lines: list[str] = []
    clock = iter(float(t) for t in range(1000))
    reporter = LineReporter(lines.append, lambda: next(clock))
    reporter.stage("build (pio run)")
    for k in range(1, 101):
        reporter.step("validate on the device", k, 100)
    assert lines[0].endswith("] build (pio run)")
    counts = [int(m.group(1)) for ln in lines if (m := re.search(r": (\d+)/100$", ln))]
    assert counts == [1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]


def test_cli_version_and_wide_tables_in_logs() -> None:
    from tinypipe import __version__

    proc = tinypipe("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"tinypipe {__version__}"
    proc = tinypipe("boards")  # piped: no terminal, yet no cell is cut or wrapped
    assert proc.returncode == 0
    assert "…" not in proc.stdout and re.search(r"qemu-m4 .*mps2-an386", proc.stdout)


def test_help_examples_need_no_dev_checkout() -> None:
    text = "\n".join(tinypipe(cmd, "--help").stdout for cmd in ("inspect", "bench", "export", "run"))
    assert "shared/" not in text and "Example" in text


def test_user_boards_from_boards_dir_and_env(tmp_path: Path) -> None:
    from tinypipe import BOARDS_DIR

    mine = tmp_path / "boards"
    mine.mkdir()
    (mine / "my-m4.yaml").write_text((BOARDS_DIR / "qemu-m4.yaml").read_text()
                                     .replace("id: qemu-m4", "id: my-m4").replace("name: ", "name: My ", 1))
    proc = tinypipe("--boards-dir", str(mine), "boards", "--json")
    assert proc.returncode == 0, proc.stderr
    ids = [b["id"] for b in json.loads(proc.stdout)]
    assert "my-m4" in ids and "qemu-m4" in ids
    env = {**os.environ, "TINYPIPE_BOARDS": str(mine)}
    proc = tinypipe("export", str(DIGITS), "--board", "my-m4", "--out", str(tmp_path / "fw"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "[env:my-m4]" in (tmp_path / "fw" / "platformio.ini").read_text()
    proc = tinypipe("--boards-dir", str(tmp_path / "nope"), "boards")
    assert proc.returncode == 2 and "--boards-dir" in proc.stderr


STACK_C = r"""
#include <stdio.h>
#include <string.h>
#include "tp_hal.h"

static void say(const char *s) { tp_hal_write(s, (uint32_t)strlen(s)); }

__attribute__((noinline)) static uint32_t deep(uint32_t n)
{
    volatile uint8_t block[DEPTH];
    for (uint32_t i = 0; i < sizeof block; i++) {
        block[i] = (uint8_t)(i + n);
    }
    return block[n % sizeof block];
}

int main(void)
{
    char line[64];
    tp_hal_init();
    const uint32_t before = tp_hal_stack_used();
    (void)deep(3);
    snprintf(line, sizeof line, "before=%lu after=%lu\r\n", (unsigned long)before,
             (unsigned long)tp_hal_stack_used());
    say(line);
    return 0;
}
"""


@pytest.mark.qemu
@pytest.mark.parametrize("board_id", ["qemu-m4", "qemu-microbit"])
def test_stack_high_water_mark_is_measured_on_the_device(board_id: str, tmp_path: Path) -> None:
    """The startup code paints the stack; a function with a 2,000-byte local raises the mark past it."""
    from tinypipe.boards import load_board
    from tinypipe.build import build, emulate, prepare_project, write_platformio_ini

    board = load_board(board_id)
    project = tmp_path / "p"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.c").write_text(STACK_C.replace("DEPTH", "2000"))
    env = prepare_project(board, project, core_dir=tmp_path / "core")
    write_platformio_ini(project, board, env, core_dir=tmp_path / "core")
    build(project)
    with emulate(project, timeout_s=60) as session:
        text = session.read_until_exit().decode()
        assert session.wait() == 0, text
    m = re.search(r"before=(\d+) after=(\d+)", text)
    assert m, text
    before, after = int(m.group(1)), int(m.group(2))
    assert 0 < before < 1000 and 2000 < after < 2000 + 512, (before, after)  # the block, plus frames
