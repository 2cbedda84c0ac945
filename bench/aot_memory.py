"""Memory of the aot runtime against TensorFlow Lite Micro, per MLPerf Tiny model.

    .venv/bin/python bench/aot_memory.py

For each model: TFLite Micro's tensor arena as its own allocation recorder measures it (the
`tflite-micro` interpreter on this host) next to the aot runtime's static arena (the offline
memory plan), and the generated code and weights compiled for Cortex-M4
(`arm-none-eabi-gcc -O2 -mcpu=cortex-m4 -mfloat-abi=hard`, sizes from `arm-none-eabi-size`).
Writes bench/results/aot_memory-<date>.{json,md}.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinypipe import RUNTIME_DIR  # noqa: E402
from tinypipe.aot.codegen import generate  # noqa: E402
from tinypipe.inspect import tflm_arena_bytes  # noqa: E402

MODELS_DIR = ROOT.parent / "shared" / "models" / "mlperf-tiny"
MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8", "str_ww_ref_model"]
# TFLite Micro + CMSIS-NN arena on the Cortex-M4 target (shared/README.md), for reference.
TFLM_TARGET_ARENA = {"kws_ref_model": 22_820, "vww_96_int8": 100_708, "pretrainedResnet_quant": 54_996,
                     "ad01_int8": 2_580}
CFLAGS = ["-std=c99", "-O2", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
          "-Wall", "-Wextra", "-Werror", "-ffunction-sections", "-fdata-sections", "-c"]


def object_sizes(obj: Path) -> tuple[int, int, int]:
    """(text, data, bss) of an object file; text includes read-only data (the weights)."""
    line = subprocess.run(["arm-none-eabi-size", "-B", "-d", str(obj)], capture_output=True, text=True,
                          check=True).stdout.splitlines()[1].split()
    return int(line[0]), int(line[1]), int(line[2])


def measure(name: str, work: Path) -> dict[str, Any]:
    model = MODELS_DIR / f"{name}.tflite"
    aot = generate(model, work / name, name="model")
    objects = {}
    sources = [work / name / "model.c", *sorted((RUNTIME_DIR / "kernels").glob("*.c"))]
    for src in sources:
        obj = work / name / f"{src.stem}.o"
        cmd = ["arm-none-eabi-gcc", *CFLAGS, f"-I{RUNTIME_DIR}", "-o", str(obj), str(src)]
        subprocess.run(cmd, check=True)
        objects[src.stem] = object_sizes(obj)
    model_text = objects.pop("model")[0]
    # the kernel files that define a function the model calls
    called = {layer.kernel for layer in aot.layers if layer.kernel}
    kernels_text = sum(objects[src.stem][0] for src in sources[1:]
                       if any(f"{kernel}(" in src.read_text() for kernel in called))
    return {
        "model": name, "tflm_arena_bytes_host": tflm_arena_bytes(model),
        "tflm_cmsis_nn_arena_bytes_m4": TFLM_TARGET_ARENA.get(name),
        "aot_arena_bytes": aot.arena_bytes, "aot_weights_bytes": aot.weights_bytes,
        "aot_model_c_text_bytes": model_text, "aot_model_code_bytes": model_text - aot.weights_bytes,
        "aot_kernels_text_bytes": kernels_text, "tflite_file_bytes": model.stat().st_size,
    }


def main() -> int:
    date = dt.date.today().isoformat()
    with tempfile.TemporaryDirectory(prefix="aot_memory-") as tmp:
        rows = [measure(name, Path(tmp)) for name in MODELS if (MODELS_DIR / f"{name}.tflite").is_file()]
    lines = [f"# aot memory vs TensorFlow Lite Micro, {date}", "",
             "TFLM arena: the tflite-micro interpreter's allocation recorder on this host (64-bit: its "
             "own structures are larger than on a Cortex-M) and, where published, TFLM + CMSIS-NN on "
             "Cortex-M4. aot: the offline memory plan; code and weights compiled for Cortex-M4 -O2.", "",
             "| model | TFLM arena (host) | TFLM arena (M4) | aot arena | aot/TFLM (M4) | weights | "
             "model code | kernels code |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        m4 = r["tflm_cmsis_nn_arena_bytes_m4"]
        ratio = f"{r['aot_arena_bytes'] / m4:.2f}" if m4 else "-"
        lines.append(f"| {r['model']} | {r['tflm_arena_bytes_host']:,} | {f'{m4:,}' if m4 else '-'} | "
                     f"{r['aot_arena_bytes']:,} | {ratio} | {r['aot_weights_bytes']:,} | "
                     f"{r['aot_model_code_bytes']:,} | {r['aot_kernels_text_bytes']:,} |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    meta = {"date": date, "machine": {"host": platform.node(), "platform": platform.platform()},
            "cflags": CFLAGS, "results": rows}
    (out / f"aot_memory-{date}.json").write_text(json.dumps(meta, indent=1) + "\n")
    (out / f"aot_memory-{date}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
