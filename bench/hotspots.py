"""Where the instructions (and the estimated cycles) go: a profile of one aot inference under QEMU.

    .venv/bin/python bench/hotspots.py ../shared/models/mlperf-tiny/kws_ref_model.tflite --board qemu-m4
    .venv/bin/python bench/hotspots.py MODEL --board qemu-m4 --estimate-for nucleo-l4r5zi

Builds the model and the kernels for the board (QemuRunner: the same DSP / Helium variants the
firmware gets), runs one inference under QEMU with tinypipe's counting plugin (tinypipe.estimate:
every executed instruction address and how often it ran, inside tp_m_invoke only unless --all),
and prints the executed instructions per function and per source line (addr2line), hottest
first. The counts are exact instruction counts, the same unit as the benchmarks. With
--estimate-for the estimated cycles on that real board (an estimate: bench/README.md) are shown
beside them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinypipe.aot.codegen import generate  # noqa: E402
from tinypipe.boards import load_board  # noqa: E402
from tinypipe.device.qemu import QemuRunner  # noqa: E402
from tinypipe.estimate import estimate_stream, trace_elf  # noqa: E402


def symbols(elf: Path) -> list[tuple[int, int, str]]:
    """(start, end, name) of every function in the ELF, by address (its symbol table)."""
    out = subprocess.run(["arm-none-eabi-nm", "-S", "--defined-only", str(elf)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    fns = [(int(a, 16) & ~1, int(a, 16) + int(n, 16), name) for a, n, kind, name in
           (line.split() for line in out if len(line.split()) == 4) if kind in "tTW"]
    return sorted(fns)


def where(elf: Path, fns: list[tuple[int, int, str]], addr: int) -> tuple[str, str]:
    """(function, file:line) of an address. The function comes from the symbol table: with
    --gc-sections, the debug info of discarded functions still claims addresses from 0, so
    addr2line alone names them for code at low addresses. The line comes from addr2line (inlined
    code at the innermost line of a .c file, not the header helper it came from) when its
    outermost frame agrees with the symbol table, else it is unknown."""
    fn = next((name for lo, hi, name in fns if lo <= addr < hi), "?")
    out = subprocess.run(["arm-none-eabi-addr2line", "-f", "-i", "-s", "-e", str(elf), hex(addr)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    frames = list(zip(out[::2], out[1::2], strict=True))  # innermost first
    if frames[-1][0] != fn:
        return fn, "?"
    return fn, next((f"{f}:{loc}" for f, loc in frames if ".c:" in loc), frames[0][1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--board", default="qemu-m4")
    ap.add_argument("--estimate-for", default=None,
                    help="a real board, e.g. nucleo-l4r5zi: add the estimated cycles on it")
    ap.add_argument("--all", action="store_true",
                    help="count the whole run (start-up, I/O), not only the inference")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--cflags", default="", help="extra C flags, e.g. --cflags=-DTP_PORTABLE")
    args = ap.parse_args()
    board = load_board(args.board)
    target = load_board(args.estimate_for) if args.estimate_for else board
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = generate(args.model, work / "gen", name="m")
        # one .text section per object: --gc-sections then discards no function of a used object,
        # whose debug info would claim addresses from 0 and blur the line attribution
        runner = QemuRunner([model], work / "run", board=args.board,
                            extra_cflags=["-fno-function-sections", *args.cflags.split()])
        rng = np.random.default_rng(0)
        x = [rng.integers(-128, 128, size=(1, *i.shape), dtype=np.int8) for i in model.inputs]
        runner.run("m", x)  # writes the job and input files the counted run reads
        elf = runner._binary_of["m"]
        traced = trace_elf(elf, runner.command(elf), target, board, None if args.all else "tp_m_invoke",
                           runner.work_dir)
        per_pc = {pc: c.exec for pc, c in traced.stream.counts.items()}
        cycles = estimate_stream(traced.stream, traced.insns, target, board.id).per_pc \
            if args.estimate_for else {}
        by_fn: Counter[str] = Counter()
        by_line: Counter[str] = Counter()
        cyc_fn: dict[str, float] = {}
        cyc_line: dict[str, float] = {}
        fns = symbols(elf)
        for a in sorted(per_pc):  # one addr2line per address: -i prints the inline chain, the caller last
            fn, loc = where(elf, fns, a)
            by_fn[fn] += per_pc[a]
            by_line[f"{fn} {loc}"] += per_pc[a]
            cyc_fn[fn] = cyc_fn.get(fn, 0.0) + cycles.get(a, 0.0)
            cyc_line[f"{fn} {loc}"] = cyc_line.get(f"{fn} {loc}", 0.0) + cycles.get(a, 0.0)
        total = sum(per_pc.values())
        what = "the whole run" if args.all else "one inference"
        print(f"{args.model.name} on {args.board}: {total:,} instructions ({what})")
        if cycles:
            total_cycles = sum(cycles.values())
            print(f"estimated for {target.id} ({target.core}, {target.clock_hz / 1e6:g} MHz): "
                  f"{total_cycles:,.0f} cycles, an estimate (bench/README.md)")
        for title, counts, cyc in (("functions", by_fn, cyc_fn), ("source lines", by_line, cyc_line)):
            print(f"\n{title}:")
            for key, n in counts.most_common(args.top):
                est = f"  {cyc[key]:>13,.0f} cyc {100 * cyc[key] / total_cycles:5.1f}%" if cycles else ""
                print(f"  {n:>11,}  {100 * n / total:5.1f}%{est}  {key}")


if __name__ == "__main__":
    main()
