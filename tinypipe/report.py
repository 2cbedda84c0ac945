"""Report stage: turn a bench result (the `bench.json` dict) into `report.md` and `report.html`.

Both come from one list of blocks (headings, paragraphs, tables, images), so they say the same:
the Markdown escapes what would break it (`|` in a cell, `*`, `<`), the HTML is one self-contained
file with its plots inlined as base64 PNGs, for a browser or a CI artifact.

Plots: per-layer latency (with MACs per unit), memory against the board's limits, and with a
test set the float vs int8 (host) vs on-device accuracy on an axis zoomed to their differences.
Every quantity is defined in tinypipe.figures; the unit is the one the board measures in.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tinypipe.figures import MEMORY_KEYS, MEMORY_LABELS  # noqa: E402

UNIT_NOTE = {
    "instructions": "instructions counted by QEMU (-icount shift=0); QEMU does not model cycles",
    "cycles": "CPU cycles (DWT cycle counter)",
}
OFF_SCALE = 3  # draw the board's limit only when it is within 3x of the use


# --- blocks, rendered as Markdown and as HTML ------------------------------------------------------


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str
    strong: bool = False


@dataclass
class Table:
    header: list[str] | None
    rows: list[list[str]]
    right: set[int] = field(default_factory=set)  # right-aligned columns (numbers)


@dataclass
class Image:
    alt: str
    path: Path


@dataclass
class Items:
    items: list[str]


Block = Heading | Para | Table | Image | Items

_MD_SPECIAL = re.compile(r"([\\`*|<>])")
_MD_LONE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def md_escape(text: str) -> str:
    """Text that Markdown (GitHub's, CommonMark) shows as written, also inside a table cell."""
    text = " ".join(str(text).split("\n"))
    return _MD_LONE_UNDERSCORE.sub(r"\\_", _MD_SPECIAL.sub(r"\\\1", text))


def to_markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + md_escape(b.text), ""]
        elif isinstance(b, Para):
            lines += [f"**{md_escape(b.text)}**" if b.strong else md_escape(b.text), ""]
        elif isinstance(b, Items):
            lines += [f"- {md_escape(item)}" for item in b.items] + [""]
        elif isinstance(b, Image):
            lines += [f"![{md_escape(b.alt)}]({b.path.name})", ""]
        else:
            width = len(b.header or b.rows[0])
            lines.append("| " + " | ".join(md_escape(c) for c in (b.header or [""] * width)) + " |")
            lines.append("|" + "".join("---:|" if i in b.right else "---|" for i in range(width)))
            lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in b.rows]
            lines.append("")
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:70em;margin:2em auto;
padding:0 1em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;
padding:.25em .6em;vertical-align:top}th{background:#f3f3f3}td.n{text-align:right;
font-variant-numeric:tabular-nums}p.strong{font-weight:bold;color:#a00}img{max-width:100%}"""


def to_html(blocks: list[Block], title: str) -> str:
    """One self-contained HTML page: inline CSS, plots as data: URIs."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f'<p class="strong">{html.escape(b.text)}</p>' if b.strong else
                       f"<p>{html.escape(b.text)}</p>")
        elif isinstance(b, Items):
            out.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Image):
            data = base64.b64encode(b.path.read_bytes()).decode("ascii")
            out.append(f'<p><img alt="{html.escape(b.alt)}" src="data:image/png;base64,{data}"></p>')
        else:
            out.append("<table>")
            if b.header:
                out.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in b.header) + "</tr>")
            for row in b.rows:
                out.append("<tr>" + "".join(f'<td class="n">{html.escape(c)}</td>' if i in b.right
                                            else f"<td>{html.escape(c)}</td>" for i, c in enumerate(row))
                           + "</tr>")
            out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --- plots -------------------------------------------------------------------------------------


def _per(unit: str) -> str:
    """'instructions' -> 'instruction': one of the unit."""
    return unit[:-1] if unit.endswith("s") else unit


def plot_layers(layers: list[dict[str, Any]], unit: str, path: Path) -> Path:
    timed = [la for la in layers if la.get("units") is not None]
    names = [f"#{la['index']} {la['opcode']}" for la in timed]
    units = [la["units"] for la in timed]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(timed) + 1.5))
    bars = ax.barh(range(len(timed)), units, color="#3b7dd8")
    for bar, la in zip(bars, timed, strict=True):
        if la.get("macs") and la["units"]:
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                    f" {la['macs'] / la['units']:.2f} MACs/{_per(unit)}", va="center", fontsize=7)
    ax.set_yticks(range(len(timed)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"{unit} per inference (TFLite operator index on the left)")
    ax.set_title("Per-layer latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_memory(memory: dict[str, Any], limits: dict[str, int | None], path: Path) -> Path:
    def part(key: str) -> int:
        return int(memory.get(key) or 0)

    flash_parts = {"weights": part("weights_bytes"), "code": part("code_bytes"),
                   "harness + libc": part("harness_bytes")}
    ram_parts = {"tensor arena": part("arena_bytes"),
                 "other data + bss": max(part("ram_bytes") - part("arena_bytes"), 0)}
    if memory.get("stack_bytes"):
        ram_parts["stack (measured)"] = part("stack_bytes")
    fig, axes = plt.subplots(2, 1, figsize=(9, 3.2))
    for ax, (title, parts, limit) in zip(axes, (("flash", flash_parts, limits.get("flash_bytes")),
                                                 ("RAM", ram_parts, limits.get("ram_bytes"))), strict=True):
        left = 0
        for (label, size), color in zip(parts.items(), ("#3b7dd8", "#f0a030", "#7fbf7f"), strict=False):
            ax.barh(0, size / 1024, left=left / 1024, color=color, label=f"{label} {size / 1024:.1f} KiB")
            left += size
        if limit and limit <= OFF_SCALE * max(left, 1):
            ax.axvline(limit / 1024, color="red", linestyle="--", label=f"board limit {limit / 1024:.0f} KiB")
        elif limit:  # a limit far beyond the use would squash the bars to nothing: say it instead
            ax.set_xlim(0, OFF_SCALE * max(left, 1) / 1024)
            ax.plot([], [], " ", label=f"board limit {limit / 1024:.0f} KiB ({100 * left / limit:.1f}% used)")
        ax.set_yticks([])
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_xlabel("KiB")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


ACCURACY_RUNS = (("float", "float (host)"), ("int8_host", "int8 (host)"), ("int16_host", "16x8 (host)"),
                 ("device", "int8 (device)"))


def accuracy_limits(values: list[float]) -> tuple[float, float]:
    """The accuracy plot's y range: the values' spread with a margin, never the whole 0..1 scale
    (a 0.3 % drop from quantization would be invisible on it)."""
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.6, abs(hi) * 0.002, 1e-4)
    return lo - pad, hi + pad


def plot_accuracy(accuracy: dict[str, Any], path: Path) -> Path:
    """The metric of each run as points on an axis zoomed to their spread (not 0..1, which would
    hide every difference), each labelled with its value and its difference to the float model."""
    shown = [(label, float(accuracy[k])) for k, label in ACCURACY_RUNS if accuracy.get(k) is not None]
    values = [v for _, v in shown]
    fig, ax = plt.subplots(figsize=(6, 3))
    colors = ["#888", "#3b7dd8", "#2a9d4a"]
    base = values[0] if shown and shown[0][0] == "float (host)" else None
    for i, (_, v) in enumerate(shown):
        ax.plot([i], [v], "o", markersize=9, color=colors[i % 3])
        delta = "" if base is None or i == 0 else f" ({v - base:+.4f})"
        ax.annotate(f"{v:.4f}{delta}", (i, v), textcoords="offset points", xytext=(0, 8), ha="center",
                    fontsize=8)
    if base is not None:
        ax.axhline(base, color="#888", linewidth=0.8, linestyle=":")
    ax.set_xticks(range(len(shown)), [label for label, _ in shown])
    ax.set_xlim(-0.5, len(shown) - 0.5)
    ax.set_ylim(*accuracy_limits(values))
    ax.set_ylabel(str(accuracy.get("metric") or "metric") + " (axis zoomed)")
    ax.set_title("Accuracy: float vs int8 vs on-device")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- sections ----------------------------------------------------------------------------------


def _n(v: Any, fmt: str = ",") -> str:
    return "-" if v is None else format(v, fmt)


def _bytes(n: int | None) -> str:
    return "-" if n is None else f"{n:,} B ({n / 1024:.1f} KiB)"


def report_unit(bench: dict[str, Any]) -> str:
    """The unit latency is (or would have been) measured in: the run's, else the board's timer's."""
    latency, board = bench.get("latency") or {}, bench.get("board") or {}
    return latency.get("unit") or board.get("unit") or ("instructions" if board.get("emulated") else "cycles")


def clock_text(board: dict[str, Any], latency: dict[str, Any]) -> str:
    """The core clock for the report: the one a real board reported (its HAL reads SystemCoreClock,
    F_CPU_ACTUAL, ...), else the board file's."""
    if latency.get("clock_from") != "device" or not latency.get("clock_hz"):
        return f"{board['clock_hz'] / 1e6:g} MHz"
    text = f"{latency['clock_hz'] / 1e6:g} MHz as the device reported"
    if latency["clock_hz"] != board["clock_hz"]:
        text += f"; the board file says {board['clock_hz'] / 1e6:g} MHz"
    return text


def estimate_section(bench: dict[str, Any]) -> list[Block]:
    """Instructions (exact, QEMU) and estimated cycles side by side, from bench.json's `estimate`."""
    est = bench.get("estimate")
    if not est:
        return []
    latency = bench.get("latency") or {}
    bench_instr = latency.get("median") if latency.get("unit") == "instructions" else None
    blocks: list[Block] = [
        Heading(f"Cycle estimate: {est['board']} ({est['core']}, {est['clock_hz'] / 1e6:g} MHz)"),
        Table(["one inference", "instructions (QEMU, exact)", "cycles (estimate)", "ms (estimate)",
               "cycles per instruction"],
              [[f"{est.get('emulated_board', '?')} → {est['board']}", f"{est['instructions']:,}",
                f"{est['cycles']:,}", f"{est['ms']:,.3f}", f"{est.get('cycles_per_instruction', 0):.2f}"]],
              right={1, 2, 3, 4})]
    if est.get("breakdown"):
        blocks.append(Para("Estimated cycles by cause: "
                           + ", ".join(f"{k} {v:,}" for k, v in est["breakdown"].items()) + "."))
    if bench_instr is not None:
        blocks.append(Para(f"The benchmark's median was {bench_instr:,} instructions (the estimate traces "
                           "its own run of the same code: one inference on random input)."))
    assumptions = [a for a in str(est.get("assumptions", "")).splitlines() if a]
    if assumptions:
        blocks += [Para("Assumptions of the estimate:"), Items(assumptions)]
    return blocks


def _summary(bench: dict[str, Any], unit: str) -> list[Block]:
    model, board, latency = bench["model"], bench["board"], bench.get("latency") or {}
    memory, validation = bench.get("memory") or {}, bench.get("validation") or {}
    macs_per_unit = (bench.get("efficiency") or {}).get("macs_per_unit")
    us = latency.get("us_median")
    us_text = "-" if us is None else f"{us:,.1f} µs"
    if us is not None and board.get("emulated"):
        us_text += " (estimate: instructions at the board clock)"
    median = latency.get("median")
    flash = _bytes(memory.get("flash_bytes"))
    if memory.get("weights_bytes") is not None and memory.get("code_bytes") is not None:
        flash += (f": weights {memory['weights_bytes']:,}, code {memory['code_bytes']:,}, harness "
                  f"{_n(memory.get('harness_bytes'))}")
    ram = _bytes(memory.get("ram_bytes"))
    if memory:
        ram += f": arena {_n(memory.get('arena_bytes'))}"
        if bench.get("optimize"):
            ram += f" (--optimize {bench['optimize']})"
        if memory.get("arena_used_bytes") not in (None, memory.get("arena_bytes")):
            ram += f" reserved, {memory['arena_used_bytes']:,} used (as the device reported)"
        if memory.get("stack_bytes") is not None:
            ram += f"; stack high-water mark {memory['stack_bytes']:,} (measured, on top)"
    exact = (f"{validation['bit_exact']}/{validation['samples']} bit-exact, max |diff| "
             f"{validation.get('max_abs_diff', '-')}" if validation else "-")
    if validation.get("reference"):
        exact += f" (against {validation['reference']})"
    rows = [
        ["model", f"{model['path']} (sha256 {model['sha256'][:12]})"],
        ["MACs / params", f"{model['macs']:,} / {model['params']:,}"],
        ["board", f"{board['id']} ({board['core']}, {clock_text(board, latency)}"
                  f"{', emulated' if board.get('emulated') else ''})"],
        [f"latency (median of {latency.get('runs', 0)})", "-" if median is None else f"{median:,} {unit}"],
        ["latency, µs", us_text],
        ["efficiency", "-" if macs_per_unit is None else f"{macs_per_unit:.3f} MACs per {_per(unit)}"],
        ["flash", flash],
        ["RAM", ram],
        ["validation", exact],
    ]
    if median is None:
        note = (f"Latency was not measured (the run stopped before the timed runs); {board['id']} measures "
                f"in {UNIT_NOTE.get(unit, unit)}.")
    else:
        note = f"Latency unit: {UNIT_NOTE.get(unit, unit)}."
    return [Table(None, rows), Para(note)]


def _accuracy(acc: dict[str, Any], out_dir: Path) -> list[Block]:
    metric = str(acc.get("metric") or "metric")
    shown = [(k, label) for k, label in ACCURACY_RUNS if acc.get(k) is not None]
    blocks: list[Block] = [Heading("Accuracy")]
    if acc.get("samples") is not None or acc.get("device_samples") is not None:
        n = acc.get("samples", acc.get("device_samples"))
        data = f" of {acc['data']}" if acc.get("data") else ""
        blocks.append(Para(f"{metric} on {n} samples{data}."))
    # the 16x8 column only where a recipe run measured it
    runs = [(k, label) for k, label in ACCURACY_RUNS if k != "int16_host" or acc.get(k) is not None]
    blocks.append(Table([metric, *[label for _, label in runs]],
                        [["", *("-" if acc.get(k) is None else f"{acc[k]:.4f}" for k, _ in runs)]],
                        right=set(range(1, len(runs) + 1))))
    details = acc.get("details") or {}
    extra = sorted({m for d in details.values() for m, v in d.items()
                    if isinstance(v, float) and m != metric})
    if extra:
        rows = [[run, *(_n(d.get(m), ".4f") for m in extra)] for run, d in details.items()]
        blocks.append(Table(["run", *extra], rows, right=set(range(1, len(extra) + 1))))
    if shown:
        blocks.append(Image("accuracy", plot_accuracy(acc, out_dir / "accuracy.png")))
    return blocks


def _memory(bench: dict[str, Any], out_dir: Path) -> list[Block]:
    memory, board = bench.get("memory") or {}, bench["board"]
    if not memory:
        return []
    keys = [k for k in MEMORY_KEYS if isinstance(memory.get(k), int)]
    keys += [k for k, v in memory.items() if isinstance(v, int) and k not in keys]
    rows = [[MEMORY_LABELS.get(k, k.removesuffix("_bytes")), f"{memory[k]:,}", f"{memory[k] / 1024:.1f}"]
            for k in keys]
    limits = {"flash_bytes": board.get("flash_bytes"), "ram_bytes": board.get("ram_bytes")}
    return [Heading("Memory"), Table(["part", "bytes", "KiB"], rows, right={1, 2}),
            Para("Definitions: README.md, \"Figures\" (tinypipe.figures). Weights are the model's constant "
                 "arrays; code the kernels, model code and tables; the stack is the high-water mark the "
                 "firmware measured after the timed runs, not part of static RAM."),
            Image("memory", plot_memory(memory, limits, out_dir / "memory.png"))]


def _layers(bench: dict[str, Any], unit: str, out_dir: Path) -> list[Block]:
    layers = bench.get("layers") or []
    if not layers:
        return []
    timed = any(la.get("units") is not None for la in layers)
    total = sum(la.get("units") or 0 for la in layers) or 1
    header = ["#", "op", "name", "input → output", "MACs", unit if timed else f"{unit} (not timed)",
              f"MACs/{_per(unit)}", "share"]
    rows = []
    for la in layers:
        units = la.get("units")
        shapes = f"{' '.join(la.get('inputs') or []) or '-'} → {' '.join(la.get('outputs') or []) or '-'}"
        rows.append([str(la["index"]), la["opcode"], la.get("name") or la.get("layer", ""), shapes,
                     f"{la.get('macs', 0):,}", _n(units),
                     f"{la['macs'] / units:.2f}" if units and la.get("macs") else "-",
                     f"{100 * units / total:.1f}%" if units is not None and timed else "-"])
    blocks: list[Block] = [Heading("Per layer"), Table(header, rows, right={0, 4, 5, 6, 7})]
    if timed:
        blocks.append(Para(f"Layers are numbered by their TFLite operator index. Times come from one "
                           f"profiled inference after the timed runs (whose median is the latency above); "
                           f"together {total:,} {unit}."))
        blocks.append(Image("layers", plot_layers(layers, unit, out_dir / "layers.png")))
    else:
        blocks.append(Para("Layers are numbered by their TFLite operator index; per-layer time is measured "
                           "with the aot runtime, once the firmware has run."))
    return blocks


def report_blocks(bench: dict[str, Any], out_dir: Path) -> list[Block]:
    """The report of one bench result, as blocks (plots are written into out_dir)."""
    board, latency = bench["board"], bench.get("latency") or {}
    unit = report_unit(bench)
    title = f"{Path(bench['model']['path']).name} on {board['id']} ({bench['runtime']})"
    blocks: list[Block] = [Heading(title, 1)]
    if bench.get("error"):
        blocks.append(Para(f"Incomplete: {bench['error']}", strong=True))
    if latency.get("clock_warning"):
        blocks.append(Para(f"Warning: {latency['clock_warning']}.", strong=True))
    blocks += _summary(bench, unit)
    blocks += estimate_section(bench)
    if bench.get("accuracy"):
        blocks += _accuracy(bench["accuracy"], out_dir)
    blocks += _memory(bench, out_dir)
    blocks += _layers(bench, unit, out_dir)
    return blocks


def write_report(bench: dict[str, Any], out_dir: Path) -> Path:
    """Write out_dir/report.md and out_dir/report.html (plots inlined) and the PNG plots; returns
    the Markdown report's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks = report_blocks(bench, out_dir)
    title = blocks[0].text if isinstance(blocks[0], Heading) else "tinypipe report"
    path = out_dir / "report.md"
    path.write_text(to_markdown(blocks))
    (out_dir / "report.html").write_text(to_html(blocks, title))
    return path
