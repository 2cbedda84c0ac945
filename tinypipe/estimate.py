"""Cycle estimates from the exact instruction stream QEMU executes.

QEMU counts instructions, not cycles (README, "Figures"). This module turns the instructions a
model's firmware executes under QEMU into an *estimate* of the cycles the same code takes on a
real board: it runs the firmware once with a small QEMU TCG plugin (`estimate_plugin.c`, built on
demand with the host C compiler) that counts, for every executed instruction address, how often it
ran, how often control left it or reached it non-sequentially (taken branches), its data accesses
to flash and the misses of a simulated instruction/data cache; it disassembles the ELF with
`arm-none-eabi-objdump`; and it prices every instruction with a per-core cycle table taken from
Arm's Technical Reference Manuals (Cortex-M0/M0+/M3/M4 instruction timing tables; the Cortex-M7,
whose TRM publishes no table, with an approximate dual-issue model), plus the board's flash wait
states and caches from its YAML `estimate:` section. bench/README.md documents the tables, the
memory model and the error sources.

    est = estimate_model("kws_ref_model.tflite", "nucleo-l4r5zi")   # built and run on qemu-m4
    est.cycles, est.ms, est.assumptions                              # an estimate, not a measurement

Lower level, for any ELF that runs under QEMU:

    stream = run_stream(command, work_dir, entry=symbol_address(elf, "tp_m_invoke"), flash=(lo, hi))
    est = estimate_stream(stream, disassemble(elf), target=load_board("nucleo-l4r5zi"))

The model is deterministic: the same instruction stream always gives the same estimate, so tests
check its arithmetic against hand-counted TRM figures (tests/test_estimate.py).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from tinypipe import BOARDS_DIR
from tinypipe.aot.codegen import DEFAULT_OPTIMIZE
from tinypipe.boards import Board, EstimateParams, load_board
from tinypipe.errors import TinypipeError

PLUGIN_SOURCE = Path(__file__).with_name("estimate_plugin.c")
OBJDUMP = "arm-none-eabi-objdump"
NM = "arm-none-eabi-nm"

# --- the instruction stream (QEMU plugin) --------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """What the plugin counted for one instruction address (inside the measured region)."""

    pc: int
    size: int
    exec: int  # executions
    taken: int  # times control then went anywhere but pc + size
    jumped_in: int  # times it was reached other than from the instruction before it in memory
    mem: int = 0  # data accesses (one per register of LDM/STM)
    mem_flash: int = 0  # of which to flash
    dmiss: int = 0  # flash loads that missed the simulated data cache
    imiss_seq: int = 0  # instruction fetches from flash that missed the instruction cache, sequential
    imiss_jump: int = 0  # ... and after a jump

    @property
    def sequential(self) -> int:
        """Executions reached from the instruction before it in memory."""
        return self.exec - self.jumped_in


@dataclass
class Stream:
    """Per-address counts of one run: the region (calls of `entry`) or the whole program."""

    counts: dict[int, Counts]
    regions: int  # calls of the entry function counted (1 for one inference)
    call_pc: int | None  # address of the instruction that made the (last) call

    @property
    def instructions(self) -> int:
        return sum(c.exec for c in self.counts.values())


@cache
def plugin_path() -> Path:
    """The plugin shared object, compiled once per source version into the temp directory."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise TinypipeError("the cycle estimate needs a host C compiler (cc) to build its QEMU plugin",
                            "apt-get install gcc")
    version = _qemu_plugin_api()
    digest = hashlib.sha256(PLUGIN_SOURCE.read_bytes()).hexdigest()[:16]
    so = Path(tempfile.gettempdir()) / f"tinypipe-estimate-{digest}-v{version}-{os.getuid()}.so"
    if not so.is_file():
        tmp = so.with_suffix(f".{os.getpid()}.tmp")
        flags = ["-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror",
                 f"-DTP_PLUGIN_VERSION={version}"]
        proc = subprocess.run([cc, *flags, "-o", str(tmp), str(PLUGIN_SOURCE)], capture_output=True,
                              text=True)
        if proc.returncode:
            raise TinypipeError(f"building the estimate's QEMU plugin failed:\n{proc.stderr.strip()}",
                                "this is a tinypipe bug")
        tmp.replace(so)  # atomic: concurrent builds of the same source agree
    return so


def _qemu_plugin_api() -> int:
    """The plugin API version to declare: QEMU 9.0 dropped version 1 (our calls are in both)."""
    try:
        out = subprocess.run(["qemu-system-arm", "--version"], capture_output=True, text=True).stdout
    except OSError as exc:
        raise TinypipeError("qemu-system-arm is not installed", "make setup") from exc
    m = re.search(r"version (\d+)\.", out)
    return 2 if m and int(m.group(1)) >= 9 else 1


def plugin_args(out: Path, entry: int | None, flash: tuple[int, int] | None,
                params: EstimateParams | None) -> str:
    """The `-plugin` option value: counts file, region entry, flash range and cache geometry."""
    p = params or EstimateParams()
    line = p.line_bytes
    args = [f"file={plugin_path()}", f"out={out}", f"iline={line}", f"dline={line}"]
    if entry is not None:
        args.append(f"entry={entry:#x}")
    if flash is not None:
        args.append(f"flash={flash[0]:#x}:{flash[1]:#x}")
    if p.icache:
        args += [f"ilines={p.icache_bytes // line}", f"iways={p.icache_ways}"]
    if p.dcache:
        args += [f"dlines={p.dcache_bytes // line}", f"dways={p.dcache_ways}"]
    return ",".join(args)


def read_counts(path: Path) -> Stream:
    lines = path.read_text().splitlines()
    if not lines or not lines[0].startswith("regions "):
        raise TinypipeError(f"{path}: not the estimate plugin's output", "this is a tinypipe bug")
    head = lines[0].split()
    counts: dict[int, Counts] = {}
    for line in lines[1:]:
        v = [int(x) for x in line.split()]
        counts[v[0]] = Counts(*v)
    regions = int(head[1])
    return Stream(counts, regions, int(head[3]) if regions else None)


def run_stream(command: Sequence[str], work_dir: Path, entry: int | None = None,
               flash: tuple[int, int] | None = None, params: EstimateParams | None = None,
               timeout_s: float = 3600) -> Stream:
    """Run `command` (a qemu-system-arm command line) with the counting plugin.

    `entry`: count only inside calls of the function at this address (e.g. one model invoke);
    `flash`: the [lo, hi) address range whose accesses pay wait states; `params`: cache geometry.
    """
    out = Path(work_dir) / "estimate_counts.txt"
    out.unlink(missing_ok=True)
    proc = subprocess.run([*command, "-plugin", plugin_args(out, entry, flash, params)], capture_output=True,
                          text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    if proc.returncode or not out.is_file():
        raise TinypipeError(f"QEMU run with the estimate plugin failed (exit {proc.returncode}):\n"
                            + (proc.stdout + proc.stderr).strip()[-2000:])
    stream = read_counts(out)
    if entry is not None and stream.regions == 0:
        raise TinypipeError(f"the function at {entry:#x} was never called in the QEMU run",
                            "check the entry symbol (tp_<model>_invoke)")
    return stream


# --- the disassembly -----------------------------------------------------------------------------

CONDS = {"eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al"}
_KIND_NAMES: dict[str, str] = {
    "alu": "mov movw movt mvn add addw adc adr sub subw sbc rsb and orr orn eor bic cmp cmn tst teq lsl "
           "lsr asr ror rrx clz rbit rev rev16 revsh sxtb sxth uxtb uxth sxtab sxtah uxtab uxtah bfi bfc "
           "ubfx sbfx neg cpy asrl lsll lsrl sqrshr sqrshrl sqshl sqshll srshr srshrl uqrshl uqrshll uqshl "
           "uqshll urshr urshrl csel csinc csinv csneg cset csetm cinc cinv cneg",
    "dsp": "sadd16 sadd8 ssub16 ssub8 sasx ssax qadd16 qadd8 qsub16 qsub8 qasx qsax shadd16 shadd8 shsub16 "
           "shsub8 shasx shsax uadd16 uadd8 usub16 usub8 uasx usax uqadd16 uqadd8 uqsub16 uqsub8 uqasx uqsax "
           "uhadd16 uhadd8 uhsub16 uhsub8 uhasx uhsax qadd qsub qdadd qdsub ssat usat ssat16 usat16 sxtb16 "
           "uxtb16 sxtab16 uxtab16 pkhbt pkhtb sel usad8 usada8",
    "mul": "mul mla mls smulbb smulbt smultb smultt smulwb smulwt smlabb smlabt smlatb smlatt smlawb smlawt "
           "smuad smuadx smusd smusdx smlad smladx smlsd smlsdx smmul smmulr smmla smmlar smmls smmlsr",
    "mull": "umull smull umlal smlal umaal smlalbb smlalbt smlaltb smlaltt smlald smlaldx smlsld smlsldx",
    "div": "sdiv udiv",
    "load": "ldr ldrb ldrh ldrsb ldrsh ldrt ldrbt ldrht ldrsbt ldrsht ldrex ldrexb ldrexh lda ldab ldah "
            "ldaex ldaexb ldaexh",
    "store": "str strb strh strt strbt strht strex strexb strexh stl stlb stlh stlex stlexb stlexh",
    "loadd": "ldrd ldaexd",
    "stored": "strd stlexd",
    "ldm": "ldm ldmia ldmfd ldmdb ldmea pop",
    "stm": "stm stmia stmea stmdb stmfd push",
    "branch": "b bl bx blx cbz cbnz bxns blxns",
    "table": "tbb tbh",
    "nop": "nop yield sev pld pldw pli",
    "sys": "mrs msr cpsie cpsid dmb dsb isb svc bkpt udf clrex csdb ssbb pssbb sg tt tta ttt ttat wfi wfe",
    "fp": "vadd vsub vmul vnmul vabs vneg vcmp vcmpe vcvt vcvtr vcvta vcvtn vcvtp vcvtm vcvtb vcvtt vmov "
          "vmrs vmsr vseleq vselge vselgt vselvs vmaxnm vminnm vrinta vrintn vrintp vrintm vrintx vrintz "
          "vrintr vins vmovx",
    "fpmac": "vmla vmls vnmla vnmls vfma vfms vfnma vfnms",
    "fpdiv": "vdiv vsqrt",
    "fpload": "vldr",
    "fpstore": "vstr",
    "fpldm": "vldm vldmia vldmdb vpop",
    "fpstm": "vstm vstmia vstmdb vpush",
    "lob": "dls dlstp wls wlstp le letp lctp",
}
KIND = {name: kind for kind, names in _KIND_NAMES.items() for name in names.split()}
LOADS = {"load", "loadd", "ldm", "fpload", "fpldm", "mve_mem"}
STORES = {"store", "stored", "stm", "fpstore", "fpstm"}
DATA_PROCESSING = {"alu", "dsp", "mul", "mull", "div"}
NO_DEST = {"cmp", "cmn", "tst", "teq", "vcmp", "vcmpe", "bx", "b", "cbz", "cbnz", "tbb", "tbh", "msr",
           "vmsr", "it", "dls", "wls", "le", "letp"}
MOVE_LIKE = {"mov", "mvn", "movw", "movt", "adr", "clz", "rbit", "rev", "rev16", "revsh", "sxtb", "sxth",
             "uxtb", "uxth", "neg", "ubfx", "sbfx", "cpy", "sxtb16", "uxtb16", "ssat", "usat", "ssat16",
             "usat16"}
ACCUMULATING_LONG = {"umlal", "smlal", "umaal", "smlalbb", "smlalbt", "smlaltb", "smlaltt", "smlald",
                     "smlaldx", "smlsld", "smlsldx"}
SUB_WORD_LOADS = {"ldrb", "ldrh", "ldrsb", "ldrsh", "ldrbt", "ldrht", "ldrsbt", "ldrsht", "ldrexb", "ldrexh"}
_REG = re.compile(r"\b(r1[0-5]|r[0-9]|sb|sl|fp|ip|sp|lr|pc|[sdq][0-9]{1,2})\b")
_ALIAS = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12", "r13": "sp", "r14": "lr", "r15": "pc"}
_LINE = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f]{4}(?: [0-9a-f]{4})?)\s*\t(\S+)(?:\t(.*))?$")
_FUNC = re.compile(r"^([0-9a-f]+) <(.+)>:$")


def _regs(text: str) -> list[str]:
    out: list[str] = []
    for m in _REG.finditer(text):
        r = _ALIAS.get(m.group(1), m.group(1))
        out.append(r)
    return out


def _reg_list(text: str) -> list[str]:
    """Registers of a {...} list, with VFP ranges like s16-s31 expanded."""
    regs: list[str] = []
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"([sd])(\d+)-[sd](\d+)", part)
        if m:
            regs += [f"{m.group(1)}{k}" for k in range(int(m.group(2)), int(m.group(3)) + 1)]
        else:
            regs += _regs(part)
    return regs


def _base_mnemonic(raw: str) -> tuple[str, bool, bool]:
    """(base mnemonic, conditional, sets flags) of an objdump mnemonic like `addseq.w`, `bne.n`."""
    m = raw.lower().split(".")[0]
    if m in KIND:
        return m, False, False
    if re.fullmatch(r"it[te]{0,3}", m):
        return "it", False, False
    if re.fullmatch(r"vp(s)?t[te]{0,3}", m) or m in ("vctp", "vpnot"):
        return "vpt", False, False  # Helium predication: priced as one ALU cycle

    def flags(x: str) -> tuple[str, bool] | None:
        if x in KIND:
            return x, False
        if x.endswith("s") and x[:-1] in KIND:
            return x[:-1], True
        return None

    if m[-2:] in CONDS:
        found = flags(m[:-2])
        if found:
            return found[0], True, found[1]
    found = flags(m)
    if found:
        return found[0], False, found[1]
    return m, False, False


@dataclass(frozen=True)
class Insn:
    """One disassembled instruction, classified for the cycle tables."""

    pc: int
    size: int
    mnemonic: str  # as objdump prints it, e.g. "ldr.w"
    operands: str
    op: str  # base mnemonic: no condition, flag or width suffix
    kind: str  # alu dsp mul mull div load store loadd stored ldm stm branch table it nop sys fp fpmac ...
    func: str  # enclosing symbol
    cond: bool = False
    sets_flags: bool = False
    dests: frozenset[str] = frozenset()
    srcs: frozenset[str] = frozenset()
    addr: frozenset[str] = frozenset()  # registers that form a memory address
    loaded: frozenset[str] = frozenset()  # registers a load writes with memory data
    nregs: int = 0  # registers (32-bit words) an LDM/STM/VLDM/VSTM transfers
    reg_offset: bool = False  # [Rn, Rm] addressing
    writes_pc: bool = False
    shifted: bool = False  # a register operand goes through the shifter (M7 dual-issue)

    @property
    def redirects(self) -> bool:
        return self.writes_pc or self.kind in ("branch", "table") or self.op in ("wls", "wlstp", "le", "letp")


def classify(pc: int, size: int, mnemonic: str, operands: str, func: str = "?") -> Insn:
    """Parse an objdump instruction into an Insn (registers read/written, addressing, kind)."""
    op, cond, sets_flags = _base_mnemonic(mnemonic)
    text = re.sub(r"<[^>]*>", "", operands.split("@")[0].split(";")[0]).strip()
    kind = KIND.get(op, "it" if op == "it" else "alu" if op == "vpt" else "unknown")
    has_q = bool(re.search(r"\bq\d+\b", text))
    if op.startswith("v") and op != "vpt" and (has_q or kind == "unknown"):
        kind = "mve_mem" if re.match(r"v(ldr|str|ld[24]|st[24])", op) else "mve"
    if op in ("cbz", "cbnz"):
        cond = True
    mem = re.search(r"\[([^\]]*)\](!?)(.*)$", text)
    lst = re.search(r"\{([^}]*)\}", text)
    addr = _regs(mem.group(1)) if mem else []
    writeback = bool(mem and (mem.group(2) or mem.group(3).strip().startswith(",")))
    outside = text
    if mem:
        outside = text[:mem.start()]
    if lst:
        outside = outside.replace(lst.group(0), "")
    top = _regs(outside)
    dests: list[str] = []
    srcs: list[str] = []
    loaded: list[str] = []
    nregs = 0
    if kind in ("load", "loadd", "fpload", "mve_mem") and mem and op.startswith(("ld", "vld")):
        k = 2 if kind == "loadd" else 1
        loaded = top[:k]
        dests, srcs = list(loaded), list(addr)
        if writeback:
            dests.append(addr[0])
    elif kind in ("store", "stored", "fpstore", "mve_mem") and mem:
        if op.startswith(("strex", "stlex")):
            dests, srcs = top[:1], top[1:] + addr
        else:
            srcs = top + addr
        if writeback:
            dests.append(addr[0])
    elif kind in ("ldm", "stm", "fpldm", "fpstm"):
        regs = _reg_list(lst.group(1)) if lst else []
        nregs = sum(2 if r.startswith("d") else 1 for r in regs)
        base = top[:1] if top else ["sp"]
        addr = base
        wb = "!" in outside or op in ("push", "pop", "vpush", "vpop")
        if kind in ("ldm", "fpldm"):
            loaded = regs
            dests, srcs = regs + (base if wb else []), base
        else:
            dests, srcs = (base if wb else []), regs + base
    elif kind in ("branch", "table", "lob"):
        srcs = top + addr
        if op in ("bl", "blx"):
            dests = ["lr"]
        if op in ("dls", "dlstp", "wls", "wlstp"):
            dests = ["lr"]
        addr = addr if kind == "table" else []
    elif kind == "it" or op in NO_DEST:
        srcs = top
    elif kind == "mull":
        dests, srcs = top[:2], top[2:] + (top[:2] if op in ACCUMULATING_LONG else [])
    elif top:
        dests, srcs = top[:1], top[1:]
        if op not in MOVE_LIKE and (len(top) <= 2 if kind in ("alu", "dsp", "mul") else False):
            srcs = top  # two-operand Thumb form: `adds r3, #1`, `ands r0, r1`
        if op in ("bfi", "bfc", "movt"):
            srcs = top
    writes_pc = "pc" in dests or (kind in ("ldm",) and "pc" in loaded)
    reg_offset = len(addr) >= 2 and kind in ("load", "store", "loadd", "stored")
    shifted = bool(re.search(r"\b(lsl|lsr|asr|ror|rrx)\b", text)) or op in ("bfi", "bfc", "ubfx", "sbfx")
    return Insn(pc, size, mnemonic, operands, op, kind, func, cond, sets_flags, frozenset(dests),
                frozenset(srcs), frozenset(addr), frozenset(loaded), nregs, reg_offset, writes_pc, shifted)


def disassemble(elf: Path, arch: str | None = None) -> dict[int, Insn]:
    """Every instruction of the ELF's code sections (arm-none-eabi-objdump -d), by address.

    `arch` armv8.1-m.main makes objdump decode Helium (MVE) instead of coprocessor instructions."""
    if not shutil.which(OBJDUMP):
        raise TinypipeError(f"{OBJDUMP} is not installed", "apt-get install binutils-arm-none-eabi")
    machine = ["-m", arch] if arch == "armv8.1-m.main" else []
    out = subprocess.run([OBJDUMP, "-d", *machine, str(elf)], capture_output=True, text=True,
                         check=True).stdout
    insns: dict[int, Insn] = {}
    func = "?"
    for line in out.splitlines():
        f = _FUNC.match(line)
        if f:
            func = f.group(2)
            continue
        m = _LINE.match(line)
        if m is None or m.group(3).startswith("."):  # .word/.short: literal pools
            continue
        pc = int(m.group(1), 16)
        insns[pc] = classify(pc, 4 if " " in m.group(2) else 2, m.group(3), m.group(4) or "", func)
    return insns


def symbol_address(elf: Path, name: str) -> int:
    """Address of a symbol (the Thumb bit cleared)."""
    out = subprocess.run([NM, str(elf)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1
    raise TinypipeError(f"{elf.name} has no symbol {name}")


# --- the cycle model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CoreTable:
    """Per-core cycle figures at zero wait states (Arm TRMs; bench/README.md has the full table).

    `refill` is P, the pipeline refill of a taken branch (TRM: 1 to 3); branch costs of the
    in-order cores without it (M0/M0+) are given directly."""

    core: str
    source: str
    refill: int = 2  # P
    mla: int = 1
    mull: int = 1
    mlal: int = 1
    div: int = 7  # SDIV/UDIV: 2-12 data dependent; the midpoint
    load: int = 2
    store_imm: int = 1  # STR [Rn, #imm]: address phase, data phase overlaps the next instruction
    store_reg: int = 2
    pipelined_loads: bool = True  # LDR/STR after an LDR save a cycle (TRM "load/store timings")
    agu_stall: bool = True  # an address from the previous ALU result costs a cycle (no forwarding)
    it_fold: bool = True  # IT after a 16-bit instruction is folded (0 cycles)
    branch_taken: int | None = None  # fixed taken-branch cost (M0/M0+), else 1 + P
    bl: int | None = None
    bx: int | None = None
    pop_pc_extra: int | None = None  # extra over 1+N for POP {..., pc}, else P
    sys: int = 2
    fp: int = 1
    fpmac: int = 3
    fpdiv: int = 14
    fpload: int = 2
    mve: int = 2  # Helium: beats of a 128-bit vector op (M55: dual-beat -> 2 cycles)
    dual_issue: bool = False  # Cortex-M7
    mispredict: int = 4  # M7: branch mispredict penalty
    notes: tuple[str, ...] = ()


_M0_NOTE = "MULS 1 cycle (the fast multiplier option; the small one takes 32)"
CORES: dict[str, CoreTable] = {
    "cortex-m0": CoreTable(
        "cortex-m0", "Cortex-M0 TRM (DDI 0432) instruction timings", div=0, store_imm=2, store_reg=2,
        pipelined_loads=False, agu_stall=False, it_fold=False, branch_taken=3, bl=4, bx=3, pop_pc_extra=3,
        sys=4, notes=(_M0_NOTE,)),
    "cortex-m0plus": CoreTable(
        "cortex-m0plus", "Cortex-M0+ TRM (DDI 0484) instruction timings", refill=1, div=0, store_imm=2,
        store_reg=2, pipelined_loads=False, agu_stall=False, it_fold=False, branch_taken=2, bl=3, bx=2,
        pop_pc_extra=2, sys=3, notes=(_M0_NOTE,)),
    "cortex-m3": CoreTable(
        "cortex-m3", "Cortex-M3 TRM (DDI 0337) instruction timings", mla=2, mull=4, mlal=5,
        notes=("UMULL/SMULL 3-5 and UMLAL/SMLAL 4-7 cycles (early termination): 4 and 5 assumed",)),
    "cortex-m4": CoreTable("cortex-m4", "Cortex-M4 TRM (DDI 0439) table 3-1 and load/store timings"),
    "cortex-m7": CoreTable(
        "cortex-m7", "approximate dual-issue model (the Cortex-M7 TRM publishes no timing table); pipes "
        "and latencies as in LLVM's Cortex-M7 scheduling model", refill=0, load=1, store_reg=1,
        dual_issue=True, fpload=1,
        notes=("in-order dual issue of neighbouring instructions: 2 ALU, 2 load, 1 store, 1 MAC, "
               "1 branch pipe; DSP/SIMD only as the first of a pair; LDM/STM/LDRD/STRD/TBB/DIV/system "
               "single-issue (LDM/STM 1 + N/2)",
               "conditional branches mispredict min(taken, not taken) times (a bimodal predictor), "
               "indirect branches always, 4 cycles each; predicted branches cost nothing extra",
               "stalls of 1 cycle: a MUL/MAC result used by the next instruction (accumulator chaining "
               "free), a byte/halfword load result used next, a register used as an address right after "
               "the instruction that wrote it, a loaded register shifted right after the load")),
    "cortex-m33": CoreTable(
        "cortex-m33", "coarse: the Cortex-M4 table (the Cortex-M33 TRM publishes none); its limited "
        "dual issue of 16-bit pairs is ignored"),
    "cortex-m55": CoreTable(
        "cortex-m55", "coarse: scalar code with the Cortex-M4 table; Helium (MVE) vector instructions "
        "2 cycles (dual-beat), 1 when a vector load/store and a vector data-processing instruction "
        "overlap; low-overhead-loop LE/LETP 1 cycle"),
}


@dataclass
class Estimate:
    """Estimated cycles of a region of code on a real board: an estimate, never a measurement."""

    board: str  # the real board estimated for
    core: str
    emulated_board: str  # the QEMU board that executed the instruction stream
    clock_hz: int
    instructions: int  # executed instructions (exact, from QEMU)
    cycles: int  # estimated
    breakdown: dict[str, float]  # cycles by cause: issue, branch, pipeline, memory
    assumptions: list[str]
    per_pc: dict[int, float] = field(default_factory=dict, repr=False)
    regions: int = 1

    @property
    def ms(self) -> float:
        return 1e3 * self.cycles / self.clock_hz

    @property
    def cpi(self) -> float:
        return self.cycles / max(self.instructions, 1)

    def to_json(self) -> dict[str, Any]:
        """The bench.json `estimate` block."""
        return {"board": self.board, "core": self.core, "emulated_board": self.emulated_board,
                "instructions": self.instructions, "cycles": self.cycles, "ms": round(self.ms, 4),
                "clock_hz": self.clock_hz, "cycles_per_instruction": round(self.cpi, 4),
                "breakdown": {k: round(v) for k, v in self.breakdown.items()},
                "assumptions": "\n".join(self.assumptions), "is_estimate": True}

    def by_function(self, insns: dict[int, Insn]) -> dict[str, float]:
        """Estimated cycles per function (per region), hottest first."""
        out: dict[str, float] = {}
        for pc, cyc in self.per_pc.items():
            ins = insns.get(pc)
            key = ins.func if ins else "?"
            out[key] = out.get(key, 0.0) + cyc / self.regions
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _miss_cycles(p: EstimateParams) -> int:
    """Extra cycles of one cache-line (or, uncached, one flash read) fill from flash."""
    reads = max(1, p.line_bytes // p.flash_read_bytes)
    return (p.flash_wait_states + 1) * reads - 1


def _scalar_cost(ins: Insn, c: Counts, pred: Insn | None, t: CoreTable) -> tuple[float, float, float]:
    """(issue, branch, pipeline) cycles of all executions of one instruction on an in-order
    scalar core: M0/M0+/M3/M4/M33, and M55's scalar side."""
    n, taken, seq = c.exec, c.taken, c.sequential
    k = ins.kind
    branch = 0.0
    if k in ("alu", "nop", "unknown"):
        cost = 1.0
    elif k in ("mve", "mve_mem"):
        cost = float(t.mve)
    elif k == "dsp":
        cost = 1.0
    elif k == "mul":
        cost = float(t.mla if ins.op in ("mla", "mls") else 1)
    elif k == "mull":
        cost = float(t.mlal if ins.op in ACCUMULATING_LONG else t.mull)
    elif k == "div":
        cost = float(t.div)
    elif k == "load":
        cost = float(t.load)
    elif k == "store":
        cost = float(t.store_reg if ins.reg_offset else t.store_imm)
    elif k in ("loadd", "stored"):
        cost = 3.0  # 1 + N, N = 2
    elif k in ("ldm", "stm", "fpldm", "fpstm"):
        cost = 1.0 + ins.nregs
    elif k in ("fpload", "fpstore"):
        cost = float(t.fpload + (1 if any(r.startswith("d") for r in ins.dests | ins.srcs) else 0))
    elif k == "fp":
        cost = float(t.fp)
    elif k == "fpmac":
        cost = float(t.fpmac)
    elif k == "fpdiv":
        cost = float(t.fpdiv)
    elif k == "it":
        cost = 1.0
    elif k == "sys":
        cost = float(t.sys)
    elif k == "table":
        cost = 2.0  # TBB/TBH: 2 + P
        branch = float(t.refill if t.branch_taken is None else t.branch_taken - 1) * n
    elif k in ("branch", "lob"):
        cost = 1.0
    else:
        cost = 1.0
    issue = cost * n
    # branches and other writes to the PC: the refill is paid when control actually moved
    if ins.redirects and k != "table" and ins.op not in ("le", "letp"):
        if t.branch_taken is not None:  # M0/M0+: fixed costs
            fixed = {"bl": t.bl, "blx": t.bx, "bx": t.bx}.get(ins.op)
            if k == "ldm":
                branch = float(t.pop_pc_extra or 0) * taken
            elif k == "branch":
                branch = float((fixed or t.branch_taken) - 1) * taken
            else:
                branch = float(t.branch_taken - 1) * taken
        else:
            branch = float(t.refill) * taken
    pipeline = 0.0
    if pred is not None and seq:
        if (t.pipelined_loads and k in ("load", "store") and not ins.writes_pc and pred.kind == "load"
                and not pred.writes_pc and not (pred.loaded & ins.addr) and cost > 1):
            pipeline -= seq  # neighbouring LDR/STR pipeline their address and data phases
        if (t.agu_stall and k in LOADS | STORES and pred.kind in DATA_PROCESSING
                and pred.dests & ins.addr):
            pipeline += seq  # no forwarding from the ALU result to the address generation
        if t.it_fold and k == "it" and pred.size == 2 and not pred.redirects:
            pipeline -= seq  # IT folded onto the preceding 16-bit instruction
        if k in ("mve", "mve_mem") and pred.kind in ("mve", "mve_mem") and pred.kind != k:
            pipeline -= seq * (t.mve - 1)  # M55: beats of a load and an arithmetic op overlap
    return issue, branch, pipeline


_M7_SINGLE = {"div", "loadd", "stored", "ldm", "stm", "table", "sys", "fpldm", "fpstm", "fpdiv", "unknown"}
_M7_UNIT = {"alu": "alu", "dsp": "alu", "it": "alu", "nop": "alu", "mul": "mac", "mull": "mac",
            "load": "load", "store": "store", "branch": "branch", "fp": "fp", "fpmac": "fp", "fpload": "load",
            "fpstore": "store"}


def _m7_pairs(p: Insn, i: Insn) -> bool:
    """Can `i` issue in the same cycle as `p`, the instruction before it (approximate rules)?"""
    if p.kind in _M7_SINGLE or i.kind in _M7_SINGLE or p.redirects:
        return False
    if i.kind == "dsp":  # DSP/SIMD only from the first slot
        return False
    up, ui = _M7_UNIT.get(p.kind, "alu"), _M7_UNIT.get(i.kind, "alu")
    if up == ui and up not in ("alu", "load"):  # one MAC, one store, one branch, one FP pipe
        return False
    if p.shifted and i.shifted:  # one shifter for both slots
        return False
    return not (i.srcs & p.dests or i.dests & p.dests)  # no forwarding inside a pair; no double write


def _m7_stall(p: Insn, i: Insn) -> int:
    """Cycles `i` waits on the result of `p` issued in the previous cycle (approximate latencies)."""
    stall = 0
    if p.kind == "load" and p.loaded & i.srcs:
        if p.op in SUB_WORD_LOADS:
            stall = 1
        if p.loaded & i.addr or (i.shifted and p.loaded & i.srcs):
            stall = max(stall, 1)
    if p.kind in ("mul", "mull") and p.dests & i.srcs:
        accumulator_only = i.kind in ("mul", "mull") and not (p.dests & (i.srcs - _accumulators(i)))
        if not accumulator_only:
            stall = 1
    if p.kind in ("alu", "dsp") and p.dests & i.addr and i.kind in LOADS | STORES:
        stall = 1
    return stall


def _accumulators(i: Insn) -> frozenset[str]:
    regs = _regs(re.sub(r"<[^>]*>", "", i.operands))
    if i.op in ACCUMULATING_LONG:
        return frozenset(regs[:2])
    if i.kind == "mul" and len(regs) == 4:
        return frozenset(regs[3:])
    return frozenset()


def estimate_stream(stream: Stream, insns: dict[int, Insn], target: Board, emulated_board: str = "?",
                    table: CoreTable | None = None, wait_states: int | None = None) -> Estimate:
    """Price every counted instruction with the target core's table and the target board's memory.

    `table` replaces the core's table and `wait_states` the board's flash wait states (sensitivity
    studies: the same stream re-priced; cache geometry is fixed by the run)."""
    core = target.core
    if table is None and core not in CORES:
        raise TinypipeError(f"no cycle model for core {core}", f"cores with one: {', '.join(CORES)}")
    t = table or CORES[core]
    params = target.estimate
    if params is not None and wait_states is not None:
        params = replace(params, flash_wait_states=wait_states)
    unknown: Counter[str] = Counter()
    breakdown = {"issue": 0.0, "branch": 0.0, "pipeline": 0.0, "memory": 0.0}
    per_pc: dict[int, float] = {}
    first_slot: dict[int, float] = {}  # M7: executions in which the instruction issued first in its cycle
    for pc in sorted(stream.counts):
        c = stream.counts[pc]
        ins = insns.get(pc) or Insn(pc, c.size, "?", "", "?", "unknown", "?")
        if ins.kind == "unknown":
            unknown[ins.mnemonic] += c.exec
        prev_pc = pc - 2 if (pc - 2) in insns and insns[pc - 2].size == 2 else pc - 4
        pred = insns.get(prev_pc)
        if pred is not None and pred.pc + pred.size != pc:
            pred = None
        if t.dual_issue:
            issue, branch, pipeline = _m7_cost(ins, c, pred, t, stream, first_slot)
        else:
            issue, branch, pipeline = _scalar_cost(ins, c, pred, t)
        memory = 0.0
        if params is not None:
            miss = _miss_cycles(params)
            memory = miss * (c.dmiss + c.imiss_jump + (0 if params.art else c.imiss_seq))
        for key, value in (("issue", issue), ("branch", branch), ("pipeline", pipeline), ("memory", memory)):
            breakdown[key] += value
        per_pc[pc] = issue + branch + pipeline + memory
    total = sum(breakdown.values())
    regions = max(stream.regions, 1)
    instructions = stream.instructions // regions
    assumptions = _assumptions(t, target, params, unknown, emulated_board)
    return Estimate(board=target.id, core=core, emulated_board=emulated_board, clock_hz=target.clock_hz,
                    instructions=instructions, cycles=round(total / regions),
                    breakdown={k: v / regions for k, v in breakdown.items()}, assumptions=assumptions,
                    per_pc=per_pc, regions=regions)


def _m7_cost(ins: Insn, c: Counts, pred: Insn | None, t: CoreTable, stream: Stream,
             first_slot: dict[int, float]) -> tuple[float, float, float]:
    n, seq = c.exec, c.sequential
    second = 0.0
    if pred is not None and seq and _m7_pairs(pred, ins):
        pc_pred = stream.counts.get(pred.pc)
        share = first_slot.get(pred.pc, 0.0) / pc_pred.exec if pc_pred and pc_pred.exec else 0.0
        second = seq * share  # pred issued first and fell through: this one rides along
    first_slot[ins.pc] = n - second
    k = ins.kind
    extra = 0.0  # cycles beyond one issue slot
    if k == "div":
        extra = t.div - 1
    elif k in ("ldm", "stm", "fpldm", "fpstm"):
        extra = math.ceil(ins.nregs / 2)  # 64-bit load/store path: two registers a cycle
    elif k in ("loadd", "stored"):
        extra = 0
    elif k == "table":
        extra = 1
    elif k == "sys":
        extra = t.sys - 1
    elif k == "fpmac":
        extra = 0
    elif k == "fpdiv":
        extra = t.fpdiv - 1
    issue = n + extra * n  # one issue slot each, plus multi-cycle occupancy
    pipeline = -second  # what dual issue saved: the second of a pair takes no cycle of its own
    if pred is not None and seq:
        pipeline += _m7_stall(pred, ins) * (seq - second)
    branch = 0.0
    if ins.redirects:
        if (ins.op in ("bx", "blx") and ins.srcs) or ins.writes_pc or k == "table":  # indirect
            branch = t.mispredict * c.taken
        elif ins.cond:
            branch = t.mispredict * min(c.taken, n - c.taken)
    return issue, branch, pipeline


def _assumptions(t: CoreTable, target: Board, params: EstimateParams | None, unknown: Counter[str],
                 emulated_board: str) -> list[str]:
    lines = [
        f"Estimate, not a measurement: the exact instruction stream of one run on {emulated_board} (QEMU) "
        f"priced with a {t.core} cycle model at {target.clock_hz / 1e6:g} MHz ({target.id}).",
        f"Instruction timings: {t.source}.",
    ]
    if not t.dual_issue and t.branch_taken is None:
        lines.append(f"Taken branches and other writes to the PC cost 1+P with P = {t.refill} (TRM: 1-3); "
                     "not-taken conditional branches 1; SDIV/UDIV "
                     f"{t.div} cycles (TRM: 2-12, data dependent).")
        if t.pipelined_loads:
            lines.append("LDR/STR after a single LDR pipeline (1 cycle) unless its address uses the "
                         "loaded register; STR with an immediate offset 1 cycle; an address computed by the "
                         "previous data-processing instruction +1 cycle.")
    lines += list(t.notes)
    if params is None:
        lines.append("Memory: zero wait states everywhere (no `estimate:` section in the board file).")
    else:
        caches = []
        if params.icache:
            caches.append(f"{params.icache_bytes} B instruction cache")
        if params.dcache:
            caches.append(f"{params.dcache_bytes} B data cache (flash loads)")
        lines.append(
            f"Memory: flash with {params.flash_wait_states} wait states, "
            f"{params.flash_read_bytes}-byte reads; "
            + (", ".join(caches) + f", LRU, {params.line_bytes}-byte lines" if caches else "no caches")
            + f"; a miss costs {_miss_cycles(params)} cycles"
            + ("; ART prefetch hides sequential instruction fetches" if params.art else "")
            + "; RAM zero wait states; no bus contention or write-buffer stalls.")
    if unknown:
        names = ", ".join(f"{m} ({n:,})" for m, n in unknown.most_common(5))
        lines.append(f"Unclassified instructions priced at 1 cycle: {names}.")
    return lines


# --- models ---------------------------------------------------------------------------------------


ARMV6M = {"cortex-m0", "cortex-m0plus"}  # the same ARMv6-M code: an M0+ is traced on the M0 QEMU board


def _runs_code_of(emulated: Board, target: Board) -> bool:
    return emulated.core == target.core or {emulated.core, target.core} <= ARMV6M


def emulated_board_for(target: Board) -> Board:
    """The QEMU board whose core runs the same code as `target` (itself if emulated): the same
    core (Cortex-M0 for an M0+), an mps2/mps3 `qemu-m*` board preferred."""
    if target.emulated:
        return target
    boards = []
    for path in sorted(BOARDS_DIR.glob("*.yaml")):
        try:
            b = load_board(path.stem)
        except TinypipeError:  # a broken board file elsewhere does not stop the estimate
            continue
        if b.emulated and b.core.startswith("cortex-m"):
            boards.append(b)
    for match in (lambda b: b.core == target.core and b.id.startswith("qemu-m"),
                  lambda b: b.core == target.core, lambda b: _runs_code_of(b, target)):
        found = [b for b in boards if match(b)]
        if found:
            return found[0]
    raise TinypipeError(f"no emulated board runs {target.core} code for a cycle estimate of {target.id}",
                        "add a QEMU board with that core to boards/")


def check_pair(target: Board, emulated: Board) -> None:
    if not emulated.emulated:
        raise TinypipeError(f"{emulated.id} is not an emulated board: the estimate needs a QEMU run",
                            "use --board qemu-m4 (or another qemu-* board)")
    if target.core not in CORES:
        raise TinypipeError(f"no cycle model for {target.id}'s core {target.core}",
                            f"cores with one: {', '.join(CORES)}")
    if not _runs_code_of(emulated, target):
        raise TinypipeError(f"{emulated.id} ({emulated.core}) does not run {target.id}'s {target.core} code",
                            f"use --board {emulated_board_for(target).id}")


def estimate_model(model: str | Path, target: str, emulated: str | None = None, runtime: str = "aot",
                   extra_cflags: Sequence[str] = (), work_dir: str | Path | None = None,
                   seed: int = 0, optimize: str = DEFAULT_OPTIMIZE) -> Estimate:
    """Estimated cycles and ms of one inference of `model` (aot runtime) on the real board `target`.

    The model and kernels are built for the emulated board (default: the QEMU board with the
    target's core) exactly as the firmware is, one inference on random int8 input runs under QEMU
    with the counting plugin, and `tp_m_invoke` from entry to return is priced. `optimize`: the
    aot goal its kernel variants are chosen for (tinypipe.aot.codegen.OPTIMIZE_GOALS).
    """
    traced = trace_model(model, target, emulated, runtime, extra_cflags, work_dir, seed, optimize)
    return estimate_stream(traced.stream, traced.insns, traced.target, traced.emulated.id)


@dataclass
class Traced:
    """One traced inference: the counts, the disassembly, and the boards."""

    stream: Stream
    insns: dict[int, Insn]
    target: Board
    emulated: Board


def trace_model(model: str | Path, target: str, emulated: str | None = None, runtime: str = "aot",
                extra_cflags: Sequence[str] = (), work_dir: str | Path | None = None,
                seed: int = 0, optimize: str = DEFAULT_OPTIMIZE) -> Traced:
    """Build `model` for the emulated board and count one inference (see estimate_model)."""
    import numpy as np

    from tinypipe.aot.codegen import generate
    from tinypipe.device.host import pack_inputs
    from tinypipe.device.qemu import QemuRunner

    if runtime != "aot":
        return trace_firmware(model, target, emulated, runtime, extra_cflags, work_dir)
    tb = load_board(target)
    eb = load_board(emulated) if emulated else emulated_board_for(tb)
    check_pair(tb, eb)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(work_dir) if work_dir else Path(tmp)
        gen = generate(Path(model), work / "gen", name="m", optimize=optimize, kernels=eb.kernel_path)
        runner = QemuRunner([gen], work / "run", board=eb.id, extra_cflags=extra_cflags)
        rng = np.random.default_rng(seed)
        x = [rng.integers(-128, 128, size=(1, *i.shape), dtype=np.int8) for i in gen.inputs]
        _, packed = pack_inputs("m", gen, x)
        (runner.work_dir / "m.in").write_bytes(packed)
        (runner.work_dir / "job").write_text("m 1\n")
        elf = runner._binary_of["m"]
        return trace_elf(elf, runner.command(elf), tb, eb, "tp_m_invoke", runner.work_dir)


FIRMWARE_RUNS = 3  # timed inferences of the traced firmware (each one counted; the estimate is their mean)


def trace_firmware(model: str | Path, target: str, emulated: str | None = None, runtime: str = "tflm",
                   build_flags: Sequence[str] = (), work_dir: str | Path | None = None,
                   tflm_kernels: str | None = None) -> Traced:
    """Count the inferences of the real firmware (`tinypipe export` + PlatformIO) for `model` under
    `runtime` (e.g. tflm: TensorFlow Lite Micro's interpreter and kernels) on the emulated board:
    the entry is the harness's `tp_glue_invoke`, whichever runtime sits behind it. The harness is
    built to stop serving 1 ms after its timed runs, since no host talks to it."""
    from tinypipe.build import build
    from tinypipe.device.qemu import qemu_command
    from tinypipe.export import export

    tb = load_board(target)
    eb = load_board(emulated) if emulated else emulated_board_for(tb)
    check_pair(tb, eb)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(work_dir) if work_dir else Path(tmp)
        project = export(model, eb.id, work / "firmware", runtime=runtime, runs=FIRMWARE_RUNS,
                         build_flags=build_flags, tflm_kernels=tflm_kernels, serve_idle_ms=1)
        elf = build(project.dir).elf
        return trace_elf(elf, qemu_command(eb, elf, icount=True), tb, eb, "tp_glue_invoke", work)


def trace_elf(elf: Path, command: Sequence[str], target: Board, emulated: Board, entry: str | None,
              work_dir: Path) -> Traced:
    """Run `command` (QEMU on `elf`) with the plugin, counting the calls of `entry` (None: all)."""
    check_pair(target, emulated)
    mem = emulated.memory.flash
    assert mem.base is not None
    stream = run_stream(command, work_dir, symbol_address(elf, entry) if entry else None,
                        (mem.base, mem.base + mem.size), target.estimate)
    return Traced(stream, disassemble(elf, emulated.arch), target, emulated)


def estimate_elf(elf: Path, command: Sequence[str], target: Board, emulated: Board, entry: str | None,
                 work_dir: Path) -> Estimate:
    """Run `command` (QEMU on `elf`) with the plugin and price the calls of `entry` for `target`."""
    traced = trace_elf(elf, command, target, emulated, entry, work_dir)
    return estimate_stream(traced.stream, traced.insns, target, emulated.id)
