"""Compare stage: the same model on the same board under several runtimes, in one table.

    compare(model, board, out, runtimes=("aot", "tflm", "tflm-ref")) -> Comparison

Each runtime is benchmarked by tinypipe.bench (export, build, run, validate against that
runtime's own reference), into out/<runtime>/; the table goes to out/compare.json and
out/compare.md. A runtime that fails is a row with its error, not the end of the comparison.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tinypipe.aot.codegen import DEFAULT_OPTIMIZE
from tinypipe.errors import TinypipeError

# What --runtime names in compare: the runtime, and the TFLite Micro kernel set it forces.
VARIANTS: dict[str, tuple[str, str | None]] = {
    "aot": ("aot", None),
    "tflm": ("tflm", None),  # the board's kernel set: CMSIS-NN on DSP/MVE cores
    "tflm-ref": ("tflm", "reference"),
    "tflm-cmsis-nn": ("tflm", "cmsis-nn"),
}
DEFAULT_VARIANTS = ("aot", "tflm")


@dataclass
class Row:
    runtime: str
    latency: int | None = None  # median per inference, in `unit`
    unit: str = ""
    macs_per_unit: float | None = None
    code_bytes: int | None = None  # the runtime's code: kernels, interpreter, model code
    weights_bytes: int | None = None
    harness_bytes: int | None = None  # harness, HAL, libc
    arena_bytes: int | None = None  # reserved
    arena_used_bytes: int | None = None  # reported by the device
    other_ram_bytes: int | None = None  # .data + .bss beyond the arena (stack not included)
    stack_bytes: int | None = None  # the painted stack's high-water mark, measured on the device
    accuracy: float | None = None  # on the device, with --test (the task's metric)
    metric: str = ""
    bit_exact: int | None = None
    samples: int | None = None
    reference: str = ""
    error: str = ""


@dataclass
class Comparison:
    model: str
    board: str
    rows: list[Row] = field(default_factory=list)
    markdown: Path | None = None

    @property
    def ok(self) -> bool:
        return all(not r.error and r.bit_exact == r.samples for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "board": self.board, "ok": self.ok,
                "rows": [asdict(r) for r in self.rows]}


def _row(name: str, result: dict[str, Any]) -> Row:
    lat, mem, val = result.get("latency") or {}, result.get("memory") or {}, result.get("validation") or {}
    goal = result.get("optimize")
    row = Row(f"{name} (--optimize {goal})" if goal and goal != DEFAULT_OPTIMIZE else name,
              error=result.get("error", ""))
    if lat:
        row.latency, row.unit = lat["median"], lat["unit"]
        row.macs_per_unit = (result.get("efficiency") or {}).get("macs_per_unit")
    if mem:
        row.code_bytes, row.weights_bytes = mem.get("code_bytes"), mem.get("weights_bytes")
        row.harness_bytes = mem.get("harness_bytes")
        row.arena_bytes, row.arena_used_bytes = mem.get("arena_bytes"), mem.get("arena_used_bytes")
        row.other_ram_bytes = max(int(mem.get("ram_bytes", 0)) - int(mem.get("arena_bytes", 0)), 0)
        row.stack_bytes = mem.get("stack_bytes")
    if val:
        row.bit_exact, row.samples, row.reference = val["bit_exact"], val["samples"], val.get("reference", "")
    acc = result.get("accuracy") or {}
    row.accuracy, row.metric = acc.get("device"), acc.get("metric") or ""
    return row


def check_variants(runtimes: Sequence[str]) -> list[str]:
    names = [r.strip() for r in runtimes if r.strip()]
    unknown = [r for r in names if r not in VARIANTS]
    if unknown or not names:
        raise TinypipeError(f"unknown runtime {unknown[0] if unknown else '(none)'} for compare",
                            f"use a comma-separated list of {', '.join(VARIANTS)}")
    return names


def compare(model: str | Path, board: str, out: str | Path, runtimes: Sequence[str] = DEFAULT_VARIANTS,
            runs: int = 10, validate: int = 10, port: str | None = None,
            tflm_dir: str | Path | None = None, echo: Any = None, test: str | Path | None = None,
            preprocess: str | Path | None = None, optimize: str = DEFAULT_OPTIMIZE) -> Comparison:
    """Benchmark `model` on `board` under each runtime; write out/compare.{json,md}. With `test`
    (tinypipe.dataset's formats), each row also carries the accuracy measured on the device.
    `optimize`: the aot row's goal (ram, balanced or time)."""
    from tinypipe.bench import bench
    from tinypipe.boards import load_board

    names = check_variants(runtimes)
    b = load_board(board)
    for name in names:  # every runtime must be possible before the first build
        b.require_runtime(VARIANTS[name][0])
    out = Path(out)
    result = Comparison(str(model), b.id)
    for name in names:
        runtime, kernels = VARIANTS[name]
        if echo:
            echo(f"{name}: export, build, run and validate on {b.id}")
        try:
            bench_result = bench(model, b.id, out / name, runtime=runtime, runs=runs, validate=validate,
                                 port=port, tflm_dir=tflm_dir, tflm_kernels=kernels, echo=echo,
                                 test=test, preprocess=preprocess, optimize=optimize)
        except TinypipeError as exc:
            partial = out / name / "bench.json"
            bench_result = json.loads(partial.read_text()) if partial.is_file() else {}
            bench_result["error"] = exc.what
        result.rows.append(_row(name, bench_result))
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    result.markdown = out / "compare.md"
    result.markdown.write_text(markdown(result))
    return result


def _n(v: int | float | None, fmt: str = ",") -> str:
    return "-" if v is None else format(v, fmt)


def table_rows(c: Comparison) -> list[list[str]]:
    """The comparison as rows of cells (header first), for the console and Markdown alike."""
    metric = next((r.metric for r in c.rows if r.metric), "")
    rows = [["runtime", "latency", "MACs/unit", "code B", "weights B", "arena B (used)", "other RAM B",
             "stack B", "bit-exact", *([f"device {metric}"] if metric else [])]]
    for r in c.rows:
        arena = f"{_n(r.arena_bytes)} ({_n(r.arena_used_bytes)})" if r.arena_bytes is not None else "-"
        exact = f"{r.bit_exact}/{r.samples}" if r.samples is not None else "-"
        exact = f"error: {r.error}" if r.error else exact
        latency = f"{_n(r.latency)} {r.unit}" if r.latency is not None else "-"
        rows.append([r.runtime, latency, _n(r.macs_per_unit, ".3f"), _n(r.code_bytes), _n(r.weights_bytes),
                     arena, _n(r.other_ram_bytes), _n(r.stack_bytes), exact,
                     *([_n(r.accuracy, ".4f")] if metric else [])])
    return rows


def markdown(c: Comparison) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    rows = table_rows(c)
    lines = [f"# {Path(c.model).name} on {c.board}: runtimes side by side", "",
             "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows[1:]]
    refs = sorted({f"{r.runtime}: {r.reference}" for r in c.rows if r.reference})
    lines += ["", "Latency is the median of the timed runs, in the unit the board reports (QEMU: "
              "instructions, not cycles). Code is the runtime's own (kernels, interpreter, model "
              "code), weights the model's constant data, from the linker map; the arena is reserved "
              "(used as the device reported it); the stack is the painted stack's high-water mark on the "
              "device. Each runtime is validated against its own reference: "
              + "; ".join(refs) + "."]
    return "\n".join(lines) + "\n"
