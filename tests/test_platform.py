"""The offline QEMU PlatformIO platform: real builds (arm-none-eabi-gcc via `pio run`) and real
runs (`pio run -t upload` starting qemu-system-arm, serial read over TCP with pyserial)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tinypipe.boards import Board, list_boards, load_board
from tinypipe.build import FAULT_EXIT_CODE, build, emulate, prepare_project, write_platformio_ini
from tinypipe.errors import TinypipeError

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

LOOP = 1_000_000  # iterations of a 2-instruction loop (subs + bne)
HELLO_C = r"""
#include <stdio.h>
#include <string.h>
#include "tp_hal.h"

static void say(const char *s) { tp_hal_write(s, (uint32_t)strlen(s)); }

int main(void)
{
    char line[128];
    tp_hal_init();
    say("hello from tinypipe\r\n");
#ifdef HANG
    for (;;) {
    }
#endif
#if FAULT == 1
    return (int)*(volatile uint32_t *)0x30000000u; /* unmapped on qemu-m4 and qemu-microbit */
#elif FAULT == 2
    *(volatile uint32_t *)0 = 1u; /* RAM at address 0 on the MPS2/MPS3 boards: the MPU forbids it */
#elif FAULT == 3
    static const uint32_t constant = 1u; /* in flash, which QEMU's boards map as RAM */
    *(volatile uint32_t *)(uintptr_t)&constant = 2u;
    say(constant == 1u ? "constant kept\r\n" : "constant overwritten\r\n");
#endif
    uint32_t n = LOOP_ITERATIONS;
    uint64_t t0 = tp_hal_ticks();
    __asm__ volatile(".syntax unified\n1: subs %0, %0, #1\n\tbne 1b" : "+l"(n) : : "cc");
    uint64_t t1 = tp_hal_ticks();
    snprintf(line, sizeof line, "ticks=%lu hz=%lu upt=%lu unit=%s timer=%s\r\n",
             (unsigned long)(t1 - t0), (unsigned long)tp_hal_tick_hz(),
             (unsigned long)tp_hal_units_per_tick(), tp_hal_unit(), tp_hal_timer());
    say(line);
    return 3;
}
""".replace("LOOP_ITERATIONS", str(LOOP))

EMULATED = [b.id for b in list_boards() if b.emulated]


@pytest.fixture(scope="session")
def core_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pio-core")  # one per xdist worker, shared by its projects


def make_project(root: Path, board: Board, core_dir: Path, source: str = HELLO_C,
                 flags: tuple[str, ...] = ()) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.c").write_text(source)
    env = prepare_project(board, root, core_dir=core_dir)
    if flags:
        env["build_flags"] = "\n".join(flags)
    write_platformio_ini(root, board, env, core_dir=core_dir)
    return root


def run(project: Path, timeout_s: float = 20) -> tuple[str, int]:
    with emulate(project, timeout_s=timeout_s) as session:
        out = session.read_until_exit().decode()
        return out, session.wait()


@pytest.mark.parametrize("board_id", EMULATED)
def test_hello_runs_on_every_emulated_board(board_id: str, tmp_path: Path, core_dir: Path) -> None:
    board = load_board(board_id)
    project = make_project(tmp_path / board_id, board, core_dir)
    result = build(project)
    assert result.elf.is_file() and result.map_file is not None and result.map_file.is_file()
    assert 1000 < result.flash_used < board.memory.flash_reserve
    assert result.ram_used < board.memory.ram_reserve
    ld = (result.elf.parent / "tinypipe.ld").read_text()  # generated from the board's memory map
    assert f"ORIGIN = {board.memory.flash.base:#010x}, LENGTH = {board.memory.flash.size}" in ld

    first, code = run(project)
    assert code == 3, first
    assert first.startswith("hello from tinypipe\r\n"), first  # nothing lost before the host read
    m = re.search(r"ticks=(\d+) hz=(\d+) upt=(\d+) unit=instructions timer=systick", first)
    assert m, first
    ticks, hz, upt = map(int, m.groups())
    assert (hz, upt) == (board.timer.tick_hz, board.timer.units_per_tick)
    # -icount shift=0: one instruction per ns, so ticks * units_per_tick counts the loop's
    # instructions (plus the few around the two tp_hal_ticks() reads).
    assert 2 * LOOP - upt <= ticks * upt <= 2 * LOOP + 300 + upt, (ticks, upt)
    second, code2 = run(project)
    assert (second, code2) == (first, 3)  # deterministic under -icount


@pytest.mark.parametrize(("board_id", "fault", "kind"), [
    ("qemu-m4", 1, "MemManage"),      # an unmapped read
    ("qemu-microbit", 1, "HardFault"),  # Cortex-M0: no MPU, the bus faults
    ("qemu-m4", 2, "MemManage"),      # a NULL write (flash at 0: read-only)
    ("qemu-m55", 2, "MemManage"),     # a NULL write (ITCM at 0: outside every region)
    ("qemu-m33", 3, "MemManage"),     # a write to a const object in flash
])
def test_fault_prints_pc_and_exits_nonzero(board_id: str, fault: int, kind: str, tmp_path: Path,
                                           core_dir: Path) -> None:
    """A fault prints its kind, PC and LR and exits QEMU with FAULT_EXIT_CODE. The QEMU boards put
    RAM where a microcontroller has flash, and at address 0: the platform's MPU set-up makes
    writes there fault as on a real part (a kernel once wrote through a NULL pointer unnoticed)."""
    board = load_board(board_id)
    project = make_project(tmp_path / "fault", board, core_dir, flags=(f"-DFAULT={fault}",))
    build(project)
    proc = subprocess.run([sys.executable, "-m", "tinypipe.cli", "emulate", str(project), "--timeout", "20"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == FAULT_EXIT_CODE, proc.stdout + proc.stderr
    m = re.search(rf"\*\*\* FAULT: {kind} pc=0x([0-9a-f]{{8}}) lr=0x[0-9a-f]{{8}}", proc.stdout)
    assert m, proc.stdout
    if kind == "MemManage":  # the address it touched: the constant's is in flash
        mmfar = re.search(r"mmfar=0x([0-9a-f]{8})", proc.stdout)
        assert mmfar, proc.stdout
        flash = board.memory.flash
        address = int(mmfar.group(1), 16)
        assert (address == {1: 0x30000000, 2: 0}[fault] if fault != 3
                else flash.base <= address < flash.base + flash.size), proc.stdout
    pc = int(m.group(1), 16)
    assert board.memory.flash.base is not None
    assert board.memory.flash.base <= pc < board.memory.flash.base + 8192  # inside main()'s code


def test_a_fault_reaches_the_serial_host_as_one_clear_error(tmp_path: Path, core_dir: Path) -> None:
    """A host reading records (bench, validate, monitor) from firmware that crashes gets the fault
    report, not "the serial connection went away"."""
    from tinypipe.device.protocol import Device

    project = make_project(tmp_path / "fault", load_board("qemu-m4"), core_dir, flags=("-DFAULT=2",))
    build(project)
    fault = r"the firmware faulted: \*\*\* FAULT: MemManage pc=.* mmfar=0x0{8}"
    with (emulate(project, timeout_s=20) as session,
          Device(session.url, timeout_s=20, open_timeout_s=10) as device):
        with pytest.raises(TinypipeError, match=fault):
            device.read_record()
        assert device.skipped_lines >= 2  # the greeting and the fault line


def test_watchdog_kills_a_hung_firmware(tmp_path: Path, core_dir: Path) -> None:
    project = make_project(tmp_path / "hang", load_board("qemu-m3"), core_dir, flags=("-DHANG",))
    with emulate(project, timeout_s=2) as session:
        out = session.read_until_exit()
        with pytest.raises(TinypipeError, match="watchdog"):
            session.wait()
    assert out.startswith(b"hello from tinypipe")


def test_compiler_errors_are_reported(tmp_path: Path, core_dir: Path) -> None:
    source = HELLO_C.replace("tp_hal_init();", "tp_hal_init() oops;")
    project = make_project(tmp_path / "broken", load_board("qemu-m4"), core_dir, source=source)
    with pytest.raises(TinypipeError, match=r"main\.c:\d+:\d+: error"):
        build(project)


def test_missing_toolchain_is_one_clear_error(tmp_path: Path, core_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path / "p", load_board("qemu-m4"), core_dir)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TinypipeError, match="arm-none-eabi-gcc is not installed") as err:
        build(project)
    assert "make setup" in str(err.value)
