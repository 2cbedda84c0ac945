"""RAM against speed: the MLPerf Tiny models built for each `--optimize` goal of the aot runtime.

    .venv/bin/python bench/optimize_goals.py [--models kws_ref_model,...] [--cores qemu-m4,...]

`ram` gives the smallest arena, `balanced` (the default) lets it grow by 1/32 for the faster kernel
variants, `time` takes the fastest variant of every layer whatever its scratch. Each model x core x
goal is one `tinypipe.bench.bench()` run (PlatformIO build, QEMU -icount shift=0 so units are
instructions, a few inputs validated bit for bit against LiteRT). Writes
bench/results/optimize_goals-<date>.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mlperf_tiny import MODELS, MODELS_DIR, VALIDATE, machine_info, write_results  # noqa: E402
from tinypipe.aot.codegen import OPTIMIZE_GOALS  # noqa: E402
from tinypipe.bench import bench  # noqa: E402

CORES = ["qemu-m4", "qemu-m55"]  # the DSP kernels, the Helium kernels


def measure(model: str, core: str, goal: str, work: Path) -> dict[str, Any]:
    r = bench(MODELS_DIR / f"{model}.tflite", core, work / f"{core}-{model}-{goal}", runs=1,
              validate=VALIDATE, optimize=goal)
    median, mem, val = r["latency"]["median"], r["memory"], r["validation"] or {}
    row = {"model": model, "core": core, "optimize": goal, "instructions": median,
           "macs_per_instruction": round(int(r["model"]["macs"]) / median, 3),
           "arena_bytes": mem["arena_bytes"], "code_bytes": mem.get("code_bytes", 0),
           "validated": f"{val.get('bit_exact', 0)}/{val.get('samples', 0)}"}
    print(f"  {core:9s} {model:24s} {goal:9s} {median:>12,d} instr  arena {row['arena_bytes']:>7,d} B  "
          f"{row['validated']} bit-exact", flush=True)
    return row


def markdown(rows: list[dict[str, Any]], date: str) -> str:
    lines = [f"# aot --optimize goals, {date}", "",
             "Instructions per inference (QEMU, exact), the arena and the code, per goal; every build "
             "validated bit for bit against LiteRT on the device. Change: against balanced.", "",
             "| model | core | goal | instructions | change | MAC/instr | arena B | change | code B | "
             "bit-exact |", "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    base = {(r["model"], r["core"]): r for r in rows if r["optimize"] == "balanced"}
    for r in rows:
        b = base.get((r["model"], r["core"]))

        def change(key: str, row: dict[str, Any] = r, ref: dict[str, Any] | None = b) -> str:
            return f"{row[key] / ref[key] - 1:+.1%}" if ref and ref[key] else "-"

        lines.append(f"| {r['model']} | {r['core']} | {r['optimize']} | {r['instructions']:,} | "
                     f"{change('instructions')} | {r['macs_per_instruction']:.3f} | {r['arena_bytes']:,} | "
                     f"{change('arena_bytes')} | {r['code_bytes']:,} | {r['validated']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--cores", default=",".join(CORES))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    date = dt.date.today().isoformat()
    with tempfile.TemporaryDirectory(prefix="optimize_goals-") as tmp:
        rows = [measure(m, c, g, Path(tmp)) for c in args.cores.split(",") for m in args.models.split(",")
                for g in OPTIMIZE_GOALS]
    result = {"date": date, "machine": machine_info(), "unit": "instructions per inference",
              "goals": {g: str(a) for g, a in OPTIMIZE_GOALS.items()}, "results": rows}
    write_results(args.out, f"optimize_goals-{date}", result, markdown(rows, date))
    return 0


if __name__ == "__main__":
    sys.exit(main())
