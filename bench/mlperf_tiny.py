"""MLPerf Tiny models on emulated Cortex-M4 / M7 / M55: the aot runtime's portable C kernels and
optimized (DSP / Helium) variants, next to TensorFlow Lite Micro with CMSIS-NN and with its
reference kernels, all measured live in the same run.

    .venv/bin/python bench/mlperf_tiny.py [--models kws_ref_model,...] [--cores qemu-m4,...] [--jobs 2]

Each model x core x {portable, optimized, tflm, tflm-ref} is one `tinypipe.bench.bench()` run
(export, PlatformIO build, QEMU -icount shift=0 so units are instructions, serial records, a few
inputs validated bit for bit against the runtime's own reference, memory breakdown from the
linker map). "portable" is the same generated aot code built with -DTP_PORTABLE; "tflm" is
TFLite Micro built from the tree tinypipe finds (TINYPIPE_TFLM_DIR; ../shared/tflm/tree by
default) with CMSIS-NN, "tflm-ref" with its reference kernels. This script only aggregates:
bench/results/mlperf_tiny-<date>.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinypipe.bench import bench  # noqa: E402

MODELS_DIR = ROOT.parent / "shared" / "models" / "mlperf-tiny"
MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "str_ww_ref_model"]
CORES = ["qemu-m4", "qemu-m7", "qemu-m55"]
TFLM_TREE = ROOT.parent / "shared" / "tflm" / "tree"
TARGET_RATIO = {"kws_ref_model": 0.6, "vww_96_int8": 0.6, "pretrainedResnet_quant": 0.6, "ad01_int8": 0.8}
VARIANTS = ("portable", "optimized", "tflm", "tflm-ref")
# variant -> (runtime, aot build flags, TFLite Micro kernel set)
SETUP: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "portable": ("aot", ("-DTP_PORTABLE",), None), "optimized": ("aot", (), None),
    "tflm": ("tflm", (), "cmsis-nn"), "tflm-ref": ("tflm", (), "reference")}
VALIDATE = 2  # random inputs checked bit for bit on the device per run (tests do the thorough checks)


def measure(model: str, core: str, variant: str, work: Path) -> dict[str, Any]:
    """One bench() run (both aot variants profiled, so their code sizes compare like for like)."""
    runtime, flags, kernels = SETUP[variant]
    r = bench(MODELS_DIR / f"{model}.tflite", core, work / f"{core}-{model}-{variant}", runtime=runtime,
              runs=3, validate=VALIDATE, profile=runtime == "aot", build_flags=flags, tflm_kernels=kernels)
    median, mem = r["latency"]["median"], r["memory"]
    macs = int(r["model"]["macs"])
    val = r["validation"] or {}
    row: dict[str, Any] = {
        "model": model, "core": core, "variant": variant, "instructions": median,
        "unit": r["latency"]["unit"],
        "macs": macs, "macs_per_instruction": round(macs / median, 3), "arena_bytes": mem["arena_bytes"],
        "arena_used_bytes": mem.get("arena_used_bytes"), "reference": val.get("reference", ""),
        "weights_bytes": mem.get("weights_bytes", 0), "code_bytes": mem.get("code_bytes", 0),
        "flash_bytes": mem["flash_bytes"], "ram_bytes": mem["ram_bytes"],
        "validated": f"{val.get('bit_exact', 0)}/{val.get('samples', 0)}",
        "layers": [{"name": la["name"], "opcode": la["opcode"], "instructions": la["units"],
                    "macs": la["macs"],
                    "macs_per_instruction": round(la["macs"] / la["units"], 3) if la["units"] else None}
                   for la in r["layers"]],
    }
    print(f"  {core:9s} {model:24s} {variant:9s} {median:>12,d} instr  "
          f"{row['macs_per_instruction']:.3f} MAC/instr  {row['validated']} bit-exact", flush=True)
    return row


def write_results(out: Path, stem: str, result: dict[str, Any], md: str) -> None:
    """out/STEM.json and out/STEM.md, and the Markdown on stdout."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{stem}.md").write_text(md)
    print(md)


def machine_info() -> dict[str, str]:
    def version(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "?"
    return {"host": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
            "cpus": str(os.cpu_count()), "gcc": version(["arm-none-eabi-gcc", "--version"]),
            "qemu": version(["qemu-system-arm", "--version"])}


def markdown(rows: list[dict[str, Any]], date: str) -> str:
    by = {(r["model"], r["core"], r["variant"]): r for r in rows}
    lines = [f"# MLPerf Tiny, aot runtime, {date}", "",
             "Instructions per inference (QEMU -icount shift=0, median of 3); TFLM = TFLite Micro + CMSIS-NN "
             "built and run in this same run. Code = kernels + model code from the linker map (both aot "
             "builds profiled); flash/RAM = whole firmware. Every run validated bit for bit on the device "
             "(aot against LiteRT, tflm against the tflite_micro interpreter).", "",
             "| model | core | portable | optimized | MAC/instr port/opt | TFLM | opt/TFLM | target | arena "
             "| code port/opt | weights | flash | RAM | M55/M4 speedup |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (model, core, variant), r in by.items():
        p = by.get((model, core, "portable"))
        if variant != "optimized" or p is None:
            continue
        tflm = (by.get((model, core, "tflm")) or {}).get("instructions")
        ratio = f"{r['ratio_to_tflm']:.2f}" if tflm else "-"
        target = f"{TARGET_RATIO[model]:.1f}" if tflm and model in TARGET_RATIO else "-"
        speedup = f"{r['speedup_vs_m4_dsp']:.2f}x" if "speedup_vs_m4_dsp" in r else "-"
        lines.append(f"| {model} | {core} | {p['instructions']:,} | {r['instructions']:,} | "
                     f"{p['macs_per_instruction']:.2f} / {r['macs_per_instruction']:.2f} | "
                     f"{f'{tflm:,}' if tflm else '-'} | {ratio} | {target} | {r['arena_bytes']:,} | "
                     f"{p['code_bytes']:,} / {r['code_bytes']:,} | {r['weights_bytes']:,} | "
                     f"{r['flash_bytes']:,} | {r['ram_bytes']:,} | {speedup} |")
    lines += ["", "## TensorFlow Lite Micro, measured in the same run", "",
              "| model | core | CMSIS-NN | reference kernels | arena reserved (used) | code | weights | "
              "validated |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for (model, core, variant), r in by.items():
        ref = by.get((model, core, "tflm-ref"))
        if variant != "tflm":
            continue
        ref_instructions = f"{ref['instructions']:,}" if ref else "-"
        lines.append(f"| {model} | {core} | {r['instructions']:,} | {ref_instructions} | "
                     f"{r['arena_bytes']:,} ({r['arena_used_bytes'] or 0:,}) | {r['code_bytes']:,} | "
                     f"{r['weights_bytes']:,} | {r['validated']} |")
    lines += ["", "## Dominant layers (optimized build, >= 5% of the model's instructions)", "",
              "| model | core | layer | MACs | instructions | MAC/instr |", "|---|---|---|---:|---:|---:|"]
    for r in rows:
        if r["variant"] != "optimized":
            continue
        for la in r.get("layers", []):
            if la["instructions"] >= 0.05 * r["instructions"]:
                lines.append(f"| {r['model']} | {r['core']} | {la['name']} ({la['opcode']}) | "
                             f"{la['macs']:,} | {la['instructions']:,} | {la['macs_per_instruction']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--cores", default=",".join(CORES))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", type=Path, default=None, help="keep the projects here (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    date = dt.date.today().isoformat()
    if TFLM_TREE.is_dir():
        os.environ.setdefault("TINYPIPE_TFLM_DIR", str(TFLM_TREE))
    with tempfile.TemporaryDirectory(prefix="mlperf_tiny-") as tmp:
        work = args.work or Path(tmp)
        jobs = [(m, c, v) for c in args.cores.split(",") for m in args.models.split(",") for v in VARIANTS]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            rows = list(pool.map(lambda j: measure(*j, work), jobs))
    live = {(r["core"], r["model"]): r["instructions"] for r in rows if r["variant"] == "tflm"}
    for r in rows:
        tflm = live.get((r["core"], r["model"]))
        if tflm and r["variant"] in ("portable", "optimized"):
            r["tflm_cmsis_nn_instructions"] = tflm
            r["ratio_to_tflm"] = round(r["instructions"] / tflm, 3)
    for r in rows:  # Helium vs DSP: the same model's optimized build on the M4
        if r["core"] == "qemu-m55" and r["variant"] == "optimized":
            m4 = next((x for x in rows if x["core"] == "qemu-m4" and x["model"] == r["model"]
                       and x["variant"] == "optimized"), None)
            if m4:
                r["speedup_vs_m4_dsp"] = round(m4["instructions"] / r["instructions"], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"date": date, "machine": machine_info(), "unit": "instructions per inference (median)",
              "targets_ratio_to_tflm": TARGET_RATIO, "results": rows}
    write_results(args.out, f"mlperf_tiny-{date}", result, markdown(rows, date))
    return 0


if __name__ == "__main__":
    sys.exit(main())
