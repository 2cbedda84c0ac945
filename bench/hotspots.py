"""Where the instructions go: an instruction-level profile of one aot model under QEMU.

    .venv/bin/python bench/hotspots.py ../shared/models/mlperf-tiny/kws_ref_model.tflite --board qemu-m4

Builds the model and the kernels for the board (QemuRunner: the same DSP / Helium variants the
firmware gets), runs one inference under QEMU with translation-block tracing (`-d in_asm,exec,nochain`:
every executed block is logged, each block's instructions are known from its translation), and
prints the executed instructions per function and per source line (addr2line), hottest first. A
tool for kernel work: the counts are exact instruction counts, the same unit as the benchmarks.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinypipe.aot.codegen import generate  # noqa: E402
from tinypipe.device.qemu import QemuRunner  # noqa: E402

TRACE = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
INSN = re.compile(r"^0x([0-9a-f]+):\s")


def profile(elf: Path, command: list[str], log: Path) -> Counter[int]:
    """Executed instructions per instruction address, from QEMU's block trace."""
    subprocess.run([*command, "-d", "in_asm,exec,nochain", "-D", str(log)], check=True, timeout=3600,
                   capture_output=True, stdin=subprocess.DEVNULL)
    blocks: dict[int, list[int]] = {}
    runs: Counter[int] = Counter()
    current: list[int] | None = None
    with open(log, errors="replace") as fp:
        for line in fp:
            if line.startswith("IN:"):
                current = []
                continue
            m = INSN.match(line)
            if m and current is not None:
                current.append(int(m.group(1), 16))
                continue
            if current:
                blocks[current[0]] = current
                current = None
            t = TRACE.match(line)
            if t:
                runs[int(t.group(1), 16)] += 1
    per_pc: Counter[int] = Counter()
    for start, n in runs.items():
        for pc in blocks.get(start, [start]):
            per_pc[pc] += n
    return per_pc


def where(elf: Path, addr: int) -> tuple[str, str]:
    """(function, file:line) of an address: inlined code is counted in the function it was inlined
    into, at the innermost line of a .c file (not the header helper it came from)."""
    out = subprocess.run(["arm-none-eabi-addr2line", "-f", "-i", "-s", "-e", str(elf), hex(addr)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    frames = list(zip(out[::2], out[1::2], strict=True))  # innermost first
    loc = next((f"{fn}:{loc}" for fn, loc in frames if ".c:" in loc), frames[0][1])
    return frames[-1][0], loc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--board", default="qemu-m4")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--cflags", default="", help="extra C flags, e.g. -DTP_PORTABLE")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = generate(args.model, work / "gen", name="m")
        runner = QemuRunner([model], work / "run", board=args.board, extra_cflags=args.cflags.split())
        rng = np.random.default_rng(0)
        x = [rng.integers(-128, 128, size=(1, *i.shape), dtype=np.int8) for i in model.inputs]
        runner.run("m", x)  # writes the job and input files the traced run reads
        elf = runner._binary_of["m"]
        per_pc = profile(elf, runner.command(elf), work / "trace.log")
        addrs = sorted(per_pc)
        by_fn: Counter[str] = Counter()
        by_line: Counter[str] = Counter()
        for a in addrs:  # one addr2line per address: -i prints the inline chain, the caller last
            fn, loc = where(elf, a)
            by_fn[fn] += per_pc[a]
            by_line[f"{fn} {loc}"] += per_pc[a]
        total = sum(per_pc.values())
        print(f"{args.model.name} on {args.board}: {total:,} instructions traced (one inference + start-up)")
        for title, counts in (("functions", by_fn), ("source lines", by_line)):
            print(f"\n{title}:")
            for key, n in counts.most_common(args.top):
                print(f"  {n:>11,}  {100 * n / total:5.1f}%  {key}")


if __name__ == "__main__":
    main()
