"""Report stage: turn a bench result (the `bench.json` dict) into Markdown with PNG plots.

Plots: per-layer latency (with MACs per unit), memory against the board's limits, and for
`tinypipe run` the float vs int8 (host) vs on-device accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

UNIT_NOTE = {
    "instructions": "instructions counted by QEMU (-icount shift=0); QEMU does not model cycles",
    "cycles": "CPU cycles (DWT cycle counter)",
}


OFF_SCALE = 3  # draw the board's limit only when it is within 3x of the use


def _kb(n: int | None) -> str:
    return "-" if n is None else f"{n:,} B ({n / 1024:.1f} KiB)"


def plot_layers(layers: list[dict[str, Any]], unit: str, path: Path) -> Path:
    names = [f"{la['index']}: {la['opcode']}" for la in layers]
    units = [la["units"] for la in layers]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(layers) + 1.5))
    bars = ax.barh(range(len(layers)), units, color="#3b7dd8")
    for bar, la in zip(bars, layers, strict=True):
        if la.get("macs"):
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                    f" {la['macs'] / max(la['units'], 1):.2f} MAC/{unit[:-1]}", va="center", fontsize=7)
    ax.set_yticks(range(len(layers)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"{unit} per inference")
    ax.set_title("Per-layer latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_memory(memory: dict[str, Any], limits: dict[str, int], path: Path) -> Path:
    def part(key: str) -> int:
        return int(memory.get(key) or 0)

    flash_parts = {"weights": part("weights_bytes"), "kernels + runtime": part("code_bytes"),
                   "harness + libc": part("harness_bytes")}
    ram_parts = {"tensor arena": part("arena_bytes"),
                 "other data/bss/stack": max(part("ram_bytes") - part("arena_bytes"), 0)}
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
            ax.set_xlim(0, OFF_SCALE * left / 1024)
            ax.plot([], [], " ", label=f"board limit {limit / 1024:.0f} KiB ({100 * left / limit:.1f}% used)")
        ax.set_yticks([])
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_xlabel("KiB")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_accuracy(accuracy: dict[str, Any], path: Path) -> Path:
    labels = ["float (host)", "int8 (host)", "int8 (device)"]
    values = [accuracy.get("float"), accuracy.get("int8_host"), accuracy.get("device")]
    fig, ax = plt.subplots(figsize=(5, 3))
    shown = [(label, v) for label, v in zip(labels, values, strict=True) if v is not None]
    ax.bar([s[0] for s in shown], [s[1] for s in shown], color=["#888", "#3b7dd8", "#2a9d4a"][: len(shown)])
    for i, (_, v) in enumerate(shown):
        ax.text(i, v, f"{v:.4g}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(accuracy.get("metric", "metric"))
    ax.set_title("Accuracy: float vs int8 vs on-device")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def estimate_section(bench: dict[str, Any]) -> list[str]:
    """Instructions (exact, QEMU) and estimated cycles side by side, from bench.json's `estimate`."""
    est = bench.get("estimate")
    if not est:
        return []
    latency = bench.get("latency") or {}
    bench_instr = latency.get("median") if latency.get("unit") == "instructions" else None
    lines = [f"## Cycle estimate: {est['board']} ({est['core']}, {est['clock_hz'] / 1e6:g} MHz)", "",
             "| one inference | instructions (QEMU, exact) | cycles (estimate) | ms (estimate) "
             "| cycles per instruction |", "|---|---:|---:|---:|---:|",
             f"| {est.get('emulated_board', '?')} → {est['board']} | {est['instructions']:,} | "
             f"{est['cycles']:,} | {est['ms']:,.3f} | {est.get('cycles_per_instruction', 0):.2f} |", ""]
    if est.get("breakdown"):
        lines += ["Estimated cycles by cause: " + ", ".join(f"{k} {v:,}" for k, v in est["breakdown"].items())
                  + ".", ""]
    if bench_instr is not None:
        lines += [f"The benchmark's median was {bench_instr:,} instructions (the estimate traces its own "
                  "run of the same code: one inference on random input).", ""]
    lines += ["Assumptions of the estimate:", ""]
    lines += [f"- {a}" for a in str(est.get("assumptions", "")).splitlines() if a]
    return [*lines, ""]


def clock_text(board: dict[str, Any], latency: dict[str, Any]) -> str:
    """The core clock for the report: the one a real board reported (its HAL reads SystemCoreClock,
    F_CPU_ACTUAL, ...), else the board file's."""
    if latency.get("clock_from") != "device" or not latency.get("clock_hz"):
        return f"{board['clock_hz'] / 1e6:g} MHz"
    text = f"{latency['clock_hz'] / 1e6:g} MHz as the device reported"
    if latency["clock_hz"] != board["clock_hz"]:
        text += f"; the board file says {board['clock_hz'] / 1e6:g} MHz"
    return text


def write_report(bench: dict[str, Any], out_dir: Path) -> Path:
    """Write out_dir/report.md and its plots; returns the report path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model, board, latency = bench["model"], bench["board"], bench.get("latency") or {}
    memory, validation = bench.get("memory") or {}, bench.get("validation") or {}
    unit = latency.get("unit", "cycles")
    macs_per_unit = (bench.get("efficiency") or {}).get("macs_per_unit") or 0.0
    lines = [f"# {Path(model['path']).name} on {board['id']} ({bench['runtime']})", ""]
    if bench.get("error"):
        lines += [f"**Incomplete: {bench['error']}**", ""]
    if latency.get("clock_warning"):
        lines += [f"**Warning: {latency['clock_warning']}.**", ""]
    us = latency.get("us_median")
    us_text = "-" if us is None else f"{us:,.1f} µs"
    if us is not None and board.get("emulated"):
        us_text += " (estimate: instructions at the board clock)"
    lines += [
        "| | |", "|---|---|",
        f"| model | `{model['path']}` (sha256 {model['sha256'][:12]}) |",
        f"| MACs / params | {model['macs']:,} / {model['params']:,} |",
        f"| board | {board['id']} ({board['core']}, {clock_text(board, latency)}"
        f"{', emulated' if board.get('emulated') else ''}) |",
        f"| latency (median of {latency.get('runs', 0)}) | "
        + (f"{latency['median']:,} {unit}" if latency.get("median") is not None else "-") + " |",
        f"| latency, µs | {us_text} |",
        f"| efficiency | {macs_per_unit:.3f} MACs per {unit[:-1]} |",
        f"| flash | {_kb(memory.get('flash_bytes'))} |",
        f"| RAM | {_kb(memory.get('ram_bytes'))} (arena {_kb(memory.get('arena_bytes'))}) |",
        f"| validation | {validation.get('bit_exact', 0)}/{validation.get('samples', 0)} bit-exact, "
        f"max |diff| {validation.get('max_abs_diff', '-')} |",
        "", f"Latency unit: {UNIT_NOTE.get(unit, unit)}.", "",
    ]
    lines += estimate_section(bench)
    if bench.get("accuracy"):
        acc = bench["accuracy"]
        lines += ["## Accuracy", "",
                  f"| {acc.get('metric', 'metric')} | float (host) | int8 (host) | int8 (device) |",
                  "|---|---|---|---|",
                  "| | " + " | ".join("-" if acc.get(k) is None else f"{acc[k]:.4f}"
                                     for k in ("float", "int8_host", "device")) + " |", "",
                  f"![accuracy]({plot_accuracy(acc, out_dir / 'accuracy.png').name})", ""]
    limits = {"flash_bytes": board.get("flash_bytes"), "ram_bytes": board.get("ram_bytes")}
    if memory:
        lines += ["## Memory", "", "| part | bytes |", "|---|---|"]
        lines += [f"| {k.removesuffix('_bytes')} | {v:,} |" for k, v in memory.items() if isinstance(v, int)]
        lines += ["", f"![memory]({plot_memory(memory, limits, out_dir / 'memory.png').name})", ""]
    layers = bench.get("layers") or []
    if layers:
        lines += ["## Per-layer profile", "",
                  f"| # | op | MACs | {unit} | MACs/{unit[:-1]} | share |",
                  "|---|---|---|---|---|---|"]
        total = sum(la["units"] for la in layers) or 1
        for la in layers:
            per = la["macs"] / la["units"] if la.get("units") else 0
            lines.append(f"| {la['index']} | {la['opcode']} | {la['macs']:,} | {la['units']:,} | {per:.2f} | "
                         f"{100 * la['units'] / total:.1f}% |")
        lines += ["", f"![layers]({plot_layers(layers, unit, out_dir / 'layers.png').name})", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
