"""How long a TensorFlow Lite Micro firmware takes to build, with and without the precompiled schema.

    .venv/bin/python bench/tflm_build.py [--board qemu-m4] [--model kws_ref_model]

Exports the MLPerf Tiny model for the board with `--runtime tflm` and builds it three times, each
with an empty PlatformIO build cache and a fresh project (so every TFLite Micro source compiles):
without the precompiled flatbuffers schema (TINYPIPE_TFLM_PCH=0), with it when it must first be
made (an empty folder for it), and with it already made (the usual case: one per compiler and
flag set per machine). Wall-clock seconds on this machine (2 cores; run it alone), plus the
compiler's CPU seconds, and each firmware's size and hash: the two builds with the precompiled
schema must be byte-identical; against the build without it GCC may emit the same template
functions and assertion strings in another order (same code, other addresses), which the
firmware's size and the tests' bit-exact runs on the emulator cover.
Writes bench/results/tflm_build-<date>.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinypipe.export import export  # noqa: E402

MODELS_DIR = ROOT.parent / "shared" / "models" / "mlperf-tiny"
CASES = (("no precompiled schema", "0", False), ("precompiled schema, made first", "1", False),
         ("precompiled schema, already made", "1", True))


def build_once(model: Path, board: str, work: Path, pch: str, keep_pch: bool) -> dict[str, Any]:
    cache = work / "cache"  # XDG_CACHE_HOME: TFLM library manifests, precompiled header, build cache
    if not keep_pch:
        shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(cache / "tinypipe" / "pio-build-cache", ignore_errors=True)
    out = work / f"fw-{time.monotonic_ns()}"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "TINYPIPE_TFLM_PCH": pch}
    os.environ.update(env)  # export() writes the manifests under XDG_CACHE_HOME
    export(model, board, out, runtime="tflm")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tinypipe.cli", "build", str(out)], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
    elf = next(out.glob(".pio/build/*/firmware.elf"))
    firmware = subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), "/dev/stdout"],
                              capture_output=True, check=True).stdout  # the bytes flashed
    return {"seconds": round(seconds, 1), "cpu_seconds": round(after.ru_utime + after.ru_stime -
                                                                before.ru_utime - before.ru_stime, 1),
            "firmware_bytes": len(firmware), "firmware_sha256": hashlib.sha256(firmware).hexdigest()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", default="qemu-m4")
    ap.add_argument("--model", default="kws_ref_model")
    args = ap.parse_args()
    if not os.environ.get("TINYPIPE_TFLM_DIR"):
        os.environ["TINYPIPE_TFLM_DIR"] = str(ROOT.parent / "shared" / "tflm" / "tree")
    model = MODELS_DIR / f"{args.model}.tflite"
    date = dt.date.today().isoformat()
    rows = []
    with tempfile.TemporaryDirectory(prefix="tflm_build-") as tmp:
        for label, pch, keep in CASES:
            r = build_once(model, args.board, Path(tmp), pch, keep)
            rows.append({"case": label, **r})
            print(f"  {label:34s} {r['seconds']:7.1f} s  ({r['cpu_seconds']:.1f} CPU s)", flush=True)
    same = rows[1]["firmware_sha256"] == rows[2]["firmware_sha256"]  # both with the precompiled schema
    lines = [f"# TensorFlow Lite Micro build time, {args.model} on {args.board}, {date}", "",
             f"`pio run` of a fresh `tinypipe export --runtime tflm` project with an empty build cache "
             f"(every TFLite Micro source compiles), {os.cpu_count()} cores. The two builds with the "
             f"precompiled schema byte-identical: {'yes' if same else 'NO'}.", "",
             "| build | wall s | CPU s | firmware bytes | sha256 |", "|---|---:|---:|---:|---|"]
    lines += [f"| {r['case']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['firmware_bytes']:,} | "
              f"{r['firmware_sha256'][:12]} |" for r in rows]
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    meta = {"date": date, "board": args.board, "model": args.model, "pch_builds_identical": same,
            "machine": {"host": platform.node(), "platform": platform.platform(), "cores": os.cpu_count()},
            "results": rows}
    (out / f"tflm_build-{date}.json").write_text(json.dumps(meta, indent=1) + "\n")
    (out / f"tflm_build-{date}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
