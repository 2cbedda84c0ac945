"""Estimated cycles of the MLPerf Tiny models (aot runtime) on the MLPerf Tiny reference board.

    .venv/bin/python bench/cycle_estimates.py [--models kws_ref_model,...] [--targets nucleo-l4r5zi,...]

Each model is built for the QEMU board with the target's core (nucleo-l4r5zi: qemu-m4, the same
DSP kernels the firmware gets), one inference on random int8 input runs under QEMU with
tinypipe's counting plugin, and the exact instruction stream is priced with the core's cycle
table and the board's flash wait states and caches (tinypipe.estimate; model and error sources in
bench/README.md). The same stream is re-priced with the pipeline refill P at the ends of the
TRM's range (1 and 3) and with zero wait states, to show how much rests on those assumptions.
Next to it: X-CUBE-AI 10.2's measured cycles on the board, a different implementation of the same
models, for context only. Writes bench/results/cycle_estimates-<date>.{json,md}. Estimates only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mlperf_tiny import MODELS_DIR, machine_info, write_results  # noqa: E402
from tinypipe.estimate import CORES, estimate_stream, trace_model  # noqa: E402

MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8"]
TARGETS = ["nucleo-l4r5zi", "nucleo-h7a3zi-q"]
# runtime -> how the tables name it: aot's optimized kernels, and TensorFlow Lite Micro with the
# board's kernel set (CMSIS-NN on these cores) built from the tree tinypipe finds, in its own firmware
RUNTIMES = {"aot": "aot", "tflm": "TFLM + CMSIS-NN"}
TARGET_RATIO = 0.8  # issue 15: aot <= 0.8x X-CUBE-AI's measured cycles on nucleo-l4r5zi
# X-CUBE-AI 10.2 on NUCLEO-L4R5ZI (120 MHz), measured cycles per inference (issue 15).
XCUBE_AI_CYCLES = {"kws_ref_model": 5_210_000, "vww_96_int8": 10_730_000,
                   "pretrainedResnet_quant": 19_880_000, "ad01_int8": 575_000}
XCUBE_AI_BOARD = "nucleo-l4r5zi"


def measure(model: str, target: str, runtime: str, work: Path) -> dict[str, Any]:
    traced = trace_model(MODELS_DIR / f"{model}.tflite", target, runtime=runtime,
                         work_dir=work / f"{target}-{model}-{runtime}")
    board = traced.target
    stream, insns, emulated, table = traced.stream, traced.insns, traced.emulated.id, CORES[board.core]
    est = estimate_stream(stream, insns, board, emulated)
    low = estimate_stream(stream, insns, board, emulated, table=replace(table, refill=1))
    high = estimate_stream(stream, insns, board, emulated, table=replace(table, refill=3))
    zero = estimate_stream(stream, insns, board, emulated, wait_states=0)
    row: dict[str, Any] = {
        "model": model, "runtime": RUNTIMES[runtime], **est.to_json(),
        "cycles_refill_1": low.cycles, "cycles_refill_3": high.cycles, "cycles_zero_wait_states": zero.cycles,
        "top_functions": [{"function": f, "cycles": round(c)} for f, c in
                          list(est.by_function(traced.insns).items())[:4]],
    }
    if target == XCUBE_AI_BOARD and model in XCUBE_AI_CYCLES:
        xc = XCUBE_AI_CYCLES[model]
        row.update(xcube_ai_cycles=xc, xcube_ai_ms=round(1e3 * xc / board.clock_hz, 3),
                   estimate_over_xcube_ai=round(est.cycles / xc, 3))
    print(f"  {target:16s} {model:24s} {runtime:5s} {est.instructions:>12,d} instr  "
          f"{est.cycles:>12,d} cycles (estimate)  {est.ms:8.2f} ms", flush=True)
    return row


def markdown(rows: list[dict[str, Any]], date: str) -> str:
    lines = [f"# Cycle estimates, MLPerf Tiny, aot and TFLite Micro, {date}", "",
             "**Estimates, not measurements.** Instructions: exact, one inference under QEMU (aot: "
             "random int8 input, the optimized DSP kernels; TFLM + CMSIS-NN: its own firmware, the "
             "harness's fixed input, the mean of its timed inferences). Cycles: that instruction stream "
             "priced with the core's cycle table (the core's TRM timings, taken-branch refill P = 2) plus "
             "the board's flash wait states, ART prefetch and caches (tinypipe/estimate.py; the model and "
             "its error sources are in bench/README.md). P=1 / P=3: the same stream with the refill at the "
             "ends of the TRM's range; 0 WS: without flash wait states. X-CUBE-AI 10.2: ST's measured "
             "cycles on the board, a different implementation of the same models (its own kernels and "
             "memory layout), for context "
             "only: the ratio is not the estimate's error.", "",
             *summary(rows), "",
             "| model | runtime | board | instructions (QEMU) | est. cycles | est. ms | cycles/instr "
             "| est. P=1 / P=3 | est. 0 WS | X-CUBE-AI 10.2 cycles (ms) | est. / X-CUBE-AI |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        xc = (f"{r['xcube_ai_cycles']:,} ({r['xcube_ai_ms']:.2f})" if "xcube_ai_cycles" in r else "-")
        ratio = f"{r['estimate_over_xcube_ai']:.2f}" if "estimate_over_xcube_ai" in r else "-"
        lines.append(f"| {r['model']} | {r['runtime']} | {r['board']} ({r['clock_hz'] / 1e6:g} MHz) | "
                     f"{r['instructions']:,} | "
                     f"{r['cycles']:,} | {r['ms']:.2f} | {r['cycles_per_instruction']:.2f} | "
                     f"{r['cycles_refill_1']:,} / {r['cycles_refill_3']:,} | "
                     f"{r['cycles_zero_wait_states']:,} | {xc} | {ratio} |")
    lines += ["", "## Where the estimated cycles come from", "",
              "| model | runtime | board | issue (table) | branches | pipeline (load pipelining, stalls) "
              "| flash wait states | hottest functions (est. cycles) |",
              "|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        b = r["breakdown"]
        top = ", ".join(f"{t['function']} {t['cycles']:,}" for t in r["top_functions"][:3])
        lines.append(f"| {r['model']} | {r['runtime']} | {r['board']} | {b['issue']:,} | {b['branch']:,} | "
                     f"{b['pipeline']:,} | "
                     f"{b['memory']:,} | {top} |")
    if rows:
        lines += ["", "## Assumptions", ""] + [f"- {a}" for a in rows[0]["assumptions"].splitlines()]
    return "\n".join(lines) + "\n"


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def summary(rows: list[dict[str, Any]]) -> list[str]:
    """aot next to TFLM + CMSIS-NN per model and board, against X-CUBE-AI and issue 15's target."""
    by = {(r["model"], r["board"], r["runtime"]): r for r in rows}
    lines = ["| model | board | aot est. cycles | TFLM + CMSIS-NN est. cycles | aot / TFLM | X-CUBE-AI 10.2 "
             f"measured | aot / X-CUBE-AI | target (<= {TARGET_RATIO}x X-CUBE-AI) |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for (model, board, runtime), r in by.items():
        if runtime != RUNTIMES["aot"]:
            continue
        tflm = by.get((model, board, RUNTIMES["tflm"]), {}).get("cycles")
        xc = r.get("xcube_ai_cycles")
        met = "-" if xc is None else ("met" if r["cycles"] <= TARGET_RATIO * xc
                                      else f"not met (needs <= {TARGET_RATIO * xc:,.0f})")
        lines.append(f"| {model} | {board} | {r['cycles']:,} | {_num(tflm)} | "
                     f"{_num(r['cycles'] / tflm if tflm else None, '.2f')} | {_num(xc)} | "
                     f"{_num(r['cycles'] / xc if xc else None, '.2f')} | {met} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--targets", default=",".join(TARGETS), help="real boards with a cycle model")
    ap.add_argument("--runtimes", default=",".join(RUNTIMES), help="aot, tflm")
    ap.add_argument("--work", type=Path, default=None, help="keep the builds here (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    date = dt.date.today().isoformat()
    with tempfile.TemporaryDirectory(prefix="cycle_estimates-") as tmp:
        work = args.work or Path(tmp)
        rows = [measure(m, t, rt, work) for t in args.targets.split(",") for m in args.models.split(",")
                for rt in args.runtimes.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"date": date, "machine": machine_info(), "is_estimate": True,
              "runtimes": list(RUNTIMES.values()),
              "unit": "estimated cycles per inference",
              "xcube_ai_10_2_measured_cycles": {"board": XCUBE_AI_BOARD, **XCUBE_AI_CYCLES}, "results": rows}
    write_results(args.out, f"cycle_estimates-{date}", result, markdown(rows, date))
    return 0


if __name__ == "__main__":
    sys.exit(main())
