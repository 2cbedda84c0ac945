"""MLPerf Tiny models with the aot runtime on emulated Cortex-M4 / M7 / M55: portable C kernels
versus the optimized (DSP / Helium) variants, next to TFLite Micro + CMSIS-NN.

    .venv/bin/python bench/mlperf_tiny.py [--models kws_ref_model,...] [--cores qemu-m4,...] [--jobs 2]

For each model x core x {portable, optimized}: `tinypipe export` (the optimized build with
--profile for per-layer figures), PlatformIO build, QEMU run (-icount shift=0: units are
instructions), serial records. "portable" is the same generated code built with -DTP_PORTABLE
(forces every kernel's portable C path). Writes bench/results/mlperf_tiny-<date>.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinypipe.build import build, emulate  # noqa: E402
from tinypipe.export import export  # noqa: E402
from tinypipe.monitor import read_results  # noqa: E402
from tinypipe.protocol import Device  # noqa: E402

MODELS_DIR = ROOT.parent / "shared" / "models" / "mlperf-tiny"
MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "str_ww_ref_model"]
CORES = ["qemu-m4", "qemu-m7", "qemu-m55"]
# TFLite Micro + CMSIS-NN, instructions per inference under the same QEMU setup (issue text).
TFLM = {
    "qemu-m4": {"kws_ref_model": 7_697_440, "vww_96_int8": 24_101_960, "pretrainedResnet_quant": 29_863_720,
                "ad01_int8": 582_920},
    "qemu-m7": {"kws_ref_model": 7_643_200, "vww_96_int8": 24_025_560, "pretrainedResnet_quant": 30_026_760,
                "ad01_int8": 583_280},
}
TARGET_RATIO = {"kws_ref_model": 0.6, "vww_96_int8": 0.6, "pretrainedResnet_quant": 0.6, "ad01_int8": 0.8}
VARIANTS = ("portable", "optimized")


def code_bytes(map_file: Path) -> dict[str, int]:
    """.text (+ kernels' .rodata) of the kernels and of model.c, from the linker map (kept sections)."""
    text = map_file.read_text(errors="replace")
    text = text[text.find("Linker script and memory map"):]
    sizes = {"kernels": 0, "model": 0}
    for m in re.finditer(r"^ (\.\w[\w.]*)\s*\n?\s+0x[0-9a-f]+\s+0x([0-9a-f]+) (\S+)$", text, re.M):
        section, size, obj = m.group(1), int(m.group(2), 16), m.group(3)
        if "/src/kernels/" in obj and section.startswith((".text", ".rodata")):
            sizes["kernels"] += size
        elif obj.endswith("/src/model.o") and section.startswith(".text"):
            sizes["model"] += size
    return sizes


def measure(model: str, core: str, variant: str, work: Path) -> dict[str, Any]:
    out = work / f"{core}-{model}-{variant}"
    project = export(MODELS_DIR / f"{model}.tflite", core, out, runtime="aot", runs=3,
                     profile=variant == "optimized")
    if variant == "portable":
        ini = out / "platformio.ini"
        text = ini.read_text()
        if "build_flags =" in text:
            text = re.sub(r"^build_flags = ?(.*)$", r"build_flags =\n    \1\n    -DTP_PORTABLE", text,
                          count=1, flags=re.M)
        else:
            text = text.replace(f"[env:{core}]\n", f"[env:{core}]\nbuild_flags = -DTP_PORTABLE\n")
        ini.write_text(text)
    b = build(out)
    with emulate(out, timeout_s=600) as session, Device(session.url, timeout_s=300, open_timeout_s=10) as dev:
        res = read_results(dev, timeout_s=300)
    assert res.result is not None
    gen = json.loads((out / "src" / "model.json").read_text())
    macs = int(gen["macs"])
    layers = {la["name"]: la for la in gen["layers"]}
    sizes = code_bytes(b.map_file) if b.map_file else {"kernels": 0, "model": 0}
    row: dict[str, Any] = {
        "model": model, "core": core, "variant": variant, "instructions": res.result.median,
        "unit": res.result.unit, "macs": macs, "macs_per_instruction": round(macs / res.result.median, 3),
        "arena_bytes": project.arena_bytes, "weights_bytes": int(gen["weights_bytes"]),
        "code_bytes": sizes["kernels"] + sizes["model"], "kernel_code_bytes": sizes["kernels"],
        "model_code_bytes": sizes["model"], "flash_bytes": b.flash_used, "ram_bytes": b.ram_used,
    }
    if variant == "optimized":
        row["layers"] = []
        for la in res.layers:
            layer_macs = int(layers[la.name]["macs"])
            ratio = round(layer_macs / la.units, 3) if la.units else None
            row["layers"].append({"name": la.name, "opcode": layers[la.name]["opcode"],
                                  "instructions": la.units, "macs": layer_macs,
                                  "macs_per_instruction": ratio})
    print(f"  {core:9s} {model:24s} {variant:9s} {res.result.median:>12,d} instr  "
          f"{row['macs_per_instruction']:.3f} MAC/instr", flush=True)
    return row


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
             "Instructions per inference (QEMU -icount shift=0, median); TFLM = TFLite Micro + CMSIS-NN.", "",
             "| model | core | portable | optimized | MAC/instr | TFLM | opt/TFLM | target | arena "
             "| code port/opt |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (model, core, variant), r in by.items():
        if variant != "optimized":
            continue
        p = by.get((model, core, "portable"))
        tflm = TFLM.get(core, {}).get(model)
        ratio = f"{r['instructions'] / tflm:.2f}" if tflm else "-"
        target = f"{TARGET_RATIO[model]:.1f}" if tflm and model in TARGET_RATIO else "-"
        if p is None:
            continue
        tflm_text = f"{tflm:,}" if tflm else "-"
        lines.append(f"| {model} | {core} | {p['instructions']:,} | {r['instructions']:,} | "
                     f"{r['macs_per_instruction']:.2f} | {tflm_text} | {ratio} | {target} | "
                     f"{r['arena_bytes']:,} | {p['code_bytes']:,} / {r['code_bytes']:,} |")
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
    with tempfile.TemporaryDirectory(prefix="mlperf_tiny-") as tmp:
        work = args.work or Path(tmp)
        jobs = [(m, c, v) for c in args.cores.split(",") for m in args.models.split(",") for v in VARIANTS]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            rows = list(pool.map(lambda j: measure(*j, work), jobs))
    for r in rows:
        tflm = TFLM.get(r["core"], {}).get(r["model"])
        if tflm:
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
              "tflm_cmsis_nn": TFLM, "targets_ratio_to_tflm": TARGET_RATIO, "results": rows}
    (args.out / f"mlperf_tiny-{date}.json").write_text(json.dumps(result, indent=1) + "\n")
    md = markdown(rows, date)
    (args.out / f"mlperf_tiny-{date}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
