"""The cycle estimate (tinypipe.estimate) against kernels whose cycle counts the TRM fixes exactly.

Hand-written Thumb-2 functions run under QEMU (mps2-an386, Cortex-M4; one M7 case on mps2-an500)
with the counting plugin; each function is priced from its first instruction to its return. The
expected figures are summed here by hand from the Cortex-M4 TRM instruction timings (table 3-1
and "load/store timings"), with the model's one free constant, the pipeline refill P = 2 (the TRM
gives 1-3). The model is deterministic, so the estimate must equal these sums exactly: the tests
check the arithmetic of the model, not a timing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tinypipe.boards import load_board
from tinypipe.errors import TinypipeError
from tinypipe.estimate import (
    CORES,
    check_pair,
    classify,
    disassemble,
    emulated_board_for,
    estimate_model,
    estimate_stream,
    run_stream,
    symbol_address,
)

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm", "cc")),
    reason="needs arm-none-eabi-gcc, qemu-system-arm and a host C compiler")

P = CORES["cortex-m4"].refill  # pipeline refill of a taken branch: 2
BX_LR = 1 + P  # BX: 1 + P
N = 100

# name: (setup of r0-r5 by the caller, body, TRM-derived cycles of the whole function)
M4_KERNELS: dict[str, tuple[dict[str, str], str, int]] = {
    # the TRM's load/store timing examples: two independent LDRs take 3 cycles together
    "trm_ldr_ldr": ({"r1": "data", "r2": "data"}, "ldr r0, [r1]\nldr r1, [r2]", 3 + BX_LR),
    # LDR with a register offset, then an STR of its result: 3 cycles
    "trm_ldr_str": ({"r1": "data", "r2": "0", "r3": "data"}, "ldr r0, [r1, r2]\nstr r0, [r3, #20]",
                    3 + BX_LR),
    # ... and an STR with a register offset after it: 3 cycles
    "trm_ldr_str_reg": ({"r1": "data", "r2": "0", "r3": "data"}, "ldr r0, [r1, r2]\nstr r1, [r3, r2]",
                        3 + BX_LR),
    # three pipelined LDRs: 4 cycles
    "trm_three_ldr": ({"r1": "data", "r5": "0", "r2": "data", "r3": "data"},
                      "ldr r0, [r1, r5]\nldr r1, [r2]\nldr r2, [r3, #4]", 4 + BX_LR),
    # the second address is the first load's result: no pipelining, LDR 2 + LDR 2
    "dependent_ldr": ({"r1": "data"}, "ldr r0, [r1]\nldr r1, [r0]", 2 + 2 + BX_LR),
    # an address from the previous ALU result: ADD 1, LDR 2 + 1 (no forwarding to the AGU)
    "agu_stall": ({"r1": "data"}, "adds r1, r1, #4\nldr r0, [r1]", 1 + 3 + BX_LR),
    # LDRD: 1 + N, N = 2
    "ldrd": ({"r0": "data"}, "ldrd r2, r3, [r0]", 3 + BX_LR),
    # MUL 1, a dependent chain of 16
    "mul_chain": ({"r0": "3", "r1": "5"}, ".rept 16\nmul r0, r0, r1\n.endr", 16 + BX_LR),
    # UMULL, SMLAL (M4: 1), SMLAD 1, MLA 1
    "mac_mix": ({"r0": "3", "r1": "5", "r2": "7"},
                "umull r2, r3, r0, r1\nsmlal r2, r3, r0, r1\nsmlad r0, r0, r1, r2\nmla r0, r0, r1, r2",
                4 + BX_LR),
    # PUSH 1 + N, LDM of 8 registers 1 + N, POP 1 + N (N = 8)
    "ldm8": ({"r0": "data"}, "push {r4-r11}\nldm r0, {r4-r11}\npop {r4-r11}", 9 + 9 + 9 + BX_LR),
    # PUSH {r4, lr} 1 + 2, POP {r4, pc} 1 + N + P
    "pop_pc": ({}, "push {r4, lr}\npop {r4, pc}", 3 + (1 + 2 + P)),
    # IT folded onto the preceding 16-bit CMP: CMP 1, IT 0, MOV 1
    "it_fold": ({"r0": "0"}, "cmp r0, #0\nit eq\nmoveq r1, #1", 2 + BX_LR),
    # MOVS 1; N x (SUBS 1 + BNE): taken N-1 times 1 + P, falls through once 1
    "branch_loop": ({}, f"movs r0, #{N}\n1: subs r0, #1\nbne 1b", 1 + N + (N - 1) * (1 + P) + 1 + BX_LR),
    # MOVS 1; N x (LDR 2, LDR 1 (pipelined), SMLAD 1, SUBS 1, BNE)
    "ldr_ldr_smlad": ({"r0": "data", "r1": "data", "r2": "0"},
                      f"movs r3, #{N}\n1: ldr r4, [r0], #4\nldr r5, [r1], #4\nsmlad r2, r4, r5, r2\n"
                      "subs r3, #1\nbne 1b", 1 + N * 5 + (N - 1) * (1 + P) + 1 + BX_LR),
}

# twice over a 64-byte table in flash: MOVS 1; 2 x (MOV 1, MOVS 1, 16 x (LDR 2, SUBS 1, BNE), SUBS 1,
# BNE); BX LR. The inner BNE is taken 15 times a pass, the outer once.
FLASH_LOOP = ("movs r3, #2\n2: mov r1, r0\nmovs r2, #16\n1: ldr r4, [r1], #4\nsubs r2, #1\nbne 1b\n"
              "subs r3, #1\nbne 2b")
FLASH_LOOP_CYCLES = 1 + 2 * (2 + 16 * 3 + 15 * (1 + P) + 1 + 1) + (1 + P) + 1 + BX_LR

# Cortex-M7 (approximate dual-issue model, not a TRM figure): 16 independent ADD pairs issue as
# pairs and BX LR alone; 16 SMLADs share the one MAC pipe, BX LR pairs with the last one. BX LR,
# an indirect branch, pays the assumed misprediction.
M7_KERNELS: dict[str, tuple[dict[str, str], str, int]] = {
    "m7_add_pairs": ({}, ".rept 16\nadd r0, r0, #1\nadd r1, r1, #1\n.endr",
                     16 + 1 + CORES["cortex-m7"].mispredict),
    "m7_mac_pipe": ({}, ".rept 8\nsmlad r0, r2, r3, r0\nsmlad r1, r2, r3, r1\n.endr",
                    16 + 0 + CORES["cortex-m7"].mispredict),
}

LINKER_SCRIPT = """\
ENTRY(reset)
MEMORY { FLASH (rx) : ORIGIN = 0x0, LENGTH = 4M
         RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 4M }
SECTIONS {
  .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > FLASH
  .bss (NOLOAD) : { *(.bss*) } > RAM
}
"""


def build(tmp: Path, cpu: str, kernels: dict[str, tuple[dict[str, str], str, int]]) -> Path:
    """One ELF: a reset handler calls each kernel once (after setting its registers), then exits."""
    calls, bodies = [], []
    for name, (setup, body, _) in kernels.items():
        calls += [f"ldr {reg}, ={value}" for reg, value in setup.items()] + [f"bl {name}"]
        bodies.append(f".balign 64\n.thumb_func\n.global {name}\n{name}:\n{body}\n"
                      + ("" if "pc}" in body else "bx lr\n"))
    source = "\n".join([
        ".syntax unified", ".thumb",
        '.section .vectors, "a"', ".word 0x20010000", ".word reset + 1",
        ".text", ".thumb_func", ".global reset", "reset:",
        "ldr r0, =data", "str r0, [r0]",  # data[0] = &data: the dependent load's pointer
        *calls,
        "movs r0, #0x18", "ldr r1, =0x20026", "bkpt 0xab", "b .", ".ltorg",
        *bodies,
        ".section .rodata", ".balign 64", "flashtab: .fill 16, 4, 0x01020304", ".balign 64", ".word 0",
        ".bss", ".balign 64", "data: .space 256",
    ]) + "\n"
    (tmp / "k.S").write_text(source)
    (tmp / "k.ld").write_text(LINKER_SCRIPT)
    elf = tmp / "k.elf"
    subprocess.run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-nostdlib", "-T", str(tmp / "k.ld"),
                    str(tmp / "k.S"), "-o", str(elf)], check=True, capture_output=True, text=True)
    return elf


def command(machine: str, elf: Path) -> list[str]:
    return ["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none",
            "-semihosting-config", "enable=on,target=native", "-kernel", str(elf)]


def estimate_of(elf: Path, machine: str, name: str, target: str, tmp: Path) -> tuple[int, int]:
    board = load_board(target)
    stream = run_stream(command(machine, elf), tmp, symbol_address(elf, name), (0, 0x400000), board.estimate)
    assert stream.regions == 1
    est = estimate_stream(stream, disassemble(elf), board, machine)
    return est.cycles, est.instructions


@pytest.fixture(scope="module")
def m4_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("m4")
    return build(tmp, "cortex-m4", {**M4_KERNELS, "flash_loop": ({"r0": "flashtab"}, FLASH_LOOP, 0)})


@pytest.mark.qemu
@pytest.mark.parametrize("name", list(M4_KERNELS))
def test_m4_trm_kernels(name: str, m4_elf: Path, tmp_path: Path) -> None:
    cycles, instructions = estimate_of(m4_elf, "mps2-an386", name, "qemu-m4", tmp_path)
    assert instructions > 0
    assert cycles == M4_KERNELS[name][2]


@pytest.mark.qemu
def test_m4_flash_wait_states_and_caches(m4_elf: Path, tmp_path: Path) -> None:
    """nucleo-l4r5zi: 5 wait states, 8-byte flash reads, ART prefetch and caches. The first pass over
    the 64-byte table misses the data cache once per 8-byte read (8 x 5 cycles), the second pass
    hits; the jump into the function misses the instruction cache once (5), sequential fetches are
    prefetched and the loops run from the cache."""
    params = load_board("nucleo-l4r5zi").estimate
    assert params is not None and params.flash_wait_states == 5
    zero_ws, _ = estimate_of(m4_elf, "mps2-an386", "flash_loop", "qemu-m4", tmp_path)
    assert zero_ws == FLASH_LOOP_CYCLES
    cycles, _ = estimate_of(m4_elf, "mps2-an386", "flash_loop", "nucleo-l4r5zi", tmp_path)
    assert cycles == FLASH_LOOP_CYCLES + 8 * 5 + 1 * 5


@pytest.mark.qemu
@pytest.mark.parametrize("name", list(M7_KERNELS))
def test_m7_dual_issue_model(name: str, tmp_path: Path) -> None:
    elf = build(tmp_path, "cortex-m7", M7_KERNELS)
    cycles, _ = estimate_of(elf, "mps2-an500", name, "qemu-m7", tmp_path)
    assert cycles == M7_KERNELS[name][2]


def test_classify_operands() -> None:
    ldr = classify(0, 4, "ldr.w", "r4, [r0], #4")
    assert (ldr.kind, ldr.loaded, ldr.addr, ldr.dests) == ("load", {"r4"}, {"r0"}, {"r4", "r0"})
    str_reg = classify(0, 4, "strb.w", "r4, [lr, r2, lsl #1]")
    assert str_reg.kind == "store" and str_reg.reg_offset and str_reg.addr == {"lr", "r2"}
    pop = classify(0, 2, "pop", "{r4, r5, pc}")
    assert pop.kind == "ldm" and pop.nregs == 3 and pop.writes_pc and pop.redirects
    assert classify(0, 2, "bne.n", "1c <k+0x2>").cond
    assert classify(0, 2, "bics", "r0, r1").op == "bic"
    assert classify(0, 2, "blt.n", "10 <x>").op == "b"
    assert classify(0, 4, "smlad", "r2, r4, r5, r2").srcs == {"r2", "r4", "r5"}
    assert classify(0, 4, "vpush", "{d8-d9}").nregs == 4
    assert classify(0, 2, "adds", "r3, #1").srcs == {"r3"}


def test_board_estimate_section(tmp_path: Path) -> None:
    h7 = load_board("nucleo-h7a3zi-q").estimate
    assert h7 is not None and h7.icache and h7.line_bytes == 32 and h7.dcache_ways == 4
    assert load_board("qemu-m4").estimate is None
    text = load_board("nucleo-l4r5zi").path.read_text()
    bad = tmp_path / "nucleo-l4r5zi.yaml"
    bad.write_text(text.replace("icache_bytes: 1024", "icache_bytes: 1020"))
    with pytest.raises(TinypipeError, match="estimate.icache_bytes"):
        load_board("nucleo-l4r5zi", tmp_path)


def test_pairing_of_boards() -> None:
    assert emulated_board_for(load_board("nucleo-l4r5zi")).id == "qemu-m4"
    assert emulated_board_for(load_board("nucleo-h7a3zi-q")).id == "qemu-m7"
    assert emulated_board_for(load_board("pico")).core == "cortex-m0"  # ARMv6-M code for the M0+
    with pytest.raises(TinypipeError, match="does not run nucleo-l4r5zi's cortex-m4 code"):
        check_pair(load_board("nucleo-l4r5zi"), load_board("qemu-m7"))


def test_estimate_in_report_and_summary(tmp_path: Path) -> None:
    """bench.json's estimate block shows in the terminal summary and beside the instructions."""
    from tinypipe.bench import summary_rows
    from tinypipe.report import estimate_section, to_markdown

    est = {"board": "nucleo-l4r5zi", "core": "cortex-m4", "emulated_board": "qemu-m4", "instructions": 1000,
           "cycles": 1600, "ms": 0.0133, "clock_hz": 120_000_000, "cycles_per_instruction": 1.6,
           "breakdown": {"issue": 1500, "branch": 100, "pipeline": -20, "memory": 20},
           "assumptions": "Estimate, not a measurement.\nP = 2.", "is_estimate": True}
    bench = {"latency": {"unit": "instructions", "median": 1010}, "estimate": est}
    text = to_markdown(estimate_section(bench))
    assert "| qemu-m4 → nucleo-l4r5zi | 1,000 | 1,600 | 0.013 | 1.60 |" in text
    assert "- P = 2." in text and "1,010 instructions" in text
    assert estimate_section({}) == []
    assert ("estimate", "≈ 1,600 cycles ≈ 0.01 ms on nucleo-l4r5zi (cortex-m4, 120 MHz; an estimate)") \
        in summary_rows({"estimate": est})


@pytest.mark.slow
@pytest.mark.qemu
def test_estimate_model_end_to_end() -> None:
    """A real model: the aot build for qemu-m4, one inference counted, priced for nucleo-l4r5zi."""
    est = estimate_model(Path(__file__).parent / "data" / "digits_int8.tflite", "nucleo-l4r5zi")
    block = est.to_json()
    assert block["is_estimate"] is True and block["emulated_board"] == "qemu-m4"
    assert block["instructions"] > 100_000 and block["clock_hz"] == 120_000_000
    assert block["cycles"] == round(sum(est.breakdown.values()))
    assert block["cycles"] > block["instructions"] and block["breakdown"]["memory"] > 0
    assert "wait states" in block["assumptions"]
