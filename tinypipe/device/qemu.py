"""Run generated models on an emulated Cortex-M core: HostRunner's API, QEMU instead of the host.

    runner = QemuRunner([generate(p, work / "gen", name="kws")], work / "m4", board="qemu-m4")
    outputs = runner.run("kws", [x])   # x: (N, *input shape); one QEMU run for all N samples

The models and the kernel library are compiled with arm-none-eabi-gcc for the board's core and
FPU (`tinypipe.build.cpu_flags`: the DSP / Helium kernel variants are the ones under test), linked
with the QEMU platform's own startup code, HAL and generated linker script (the same ones the
firmware uses), and run under `qemu-system-arm` in batch: inputs and outputs move through
semihosting file I/O in `work_dir`, no serial protocol. Models that do not fit the board's flash
or RAM together are split over several binaries automatically.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jinja2
import numpy as np

from tinypipe import RUNTIME_DIR, TEMPLATES_DIR
from tinypipe.aot.codegen import AotModel
from tinypipe.boards import Board, load_board
from tinypipe.build import PLATFORM_DIR, SETUP_HINT, board_manifest, cpu_flags
from tinypipe.device.host import kernel_sources, pack_inputs, unpack_outputs
from tinypipe.errors import TinypipeError

CC = "arm-none-eabi-gcc"
CFLAGS = ["-std=c99", "-O2", "-g", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-Werror"]
LDFLAGS = ["--specs=nano.specs", "-nostartfiles", "-Wl,--gc-sections"]
CODE_ALLOWANCE = 48 * 1024  # kernels + driver + newlib, per binary, when packing models into flash
HAL_DIR = PLATFORM_DIR / "hal"


def linker_script(board: Board) -> str:
    """The QEMU platform's linker script for `board` (the template lives in its SCons builder)."""
    tree = ast.parse((PLATFORM_DIR / "builder" / "main.py").read_text())
    template = next(node.value.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "LDSCRIPT" for t in node.targets)
                    and isinstance(node.value, ast.Constant))
    tp = board_manifest(board)["build"]["tinypipe"]  # type: ignore[index]
    return str(template).format(**tp["memory"], id=board.id)


ICOUNT = ["-icount", "shift=0,align=off,sleep=off"]  # one instruction per ns of guest time


def qemu_command(board: Board, elf: Path, icount: bool = False) -> list[str]:
    """qemu-system-arm for `elf` on the emulated `board`, semihosting on, no serial port (`icount`:
    guest time counts instructions, so the firmware's timer-driven waits pass without the host)."""
    emu = board.emulator
    assert emu is not None
    return ["qemu-system-arm", "-M", emu.machine, *(["-cpu", emu.cpu] if emu.cpu else []),
            "-nographic", "-monitor", "none", "-semihosting-config", "enable=on,target=native",
            *(ICOUNT if icount else []), "-kernel", str(elf), *emu.extra_args]


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise TinypipeError(f"{what} failed:\n{proc.stderr.strip()}", "this is a tinypipe bug")


class QemuRunner:
    """One or more QEMU firmware images holding every given model (distinct names) and all kernels."""

    def __init__(self, models: Sequence[AotModel], work_dir: str | Path, board: str = "qemu-m4",
                 extra_cflags: Sequence[str] = (), timeout_s: float = 600) -> None:
        for tool in (CC, "qemu-system-arm"):
            if not shutil.which(tool):
                raise TinypipeError(f"{tool} is not installed", SETUP_HINT)
        self.board = load_board(board)
        if self.board.emulator is None or not self.board.core.startswith("cortex-m"):
            raise TinypipeError(f"QemuRunner needs an emulated Cortex-M board, not {board}")
        self.models = {m.name: m for m in models}
        if len(self.models) != len(models):
            raise TinypipeError("QemuRunner: two models share a name", "generate each with a distinct name=")
        self.work_dir = Path(work_dir).resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        b = self.board
        machine = cpu_flags(b)
        flags = [*machine, *CFLAGS, *extra_cflags]
        includes = [f"-I{RUNTIME_DIR}", *(f"-I{d}" for d in sorted({str(m.c_file.parent) for m in models}))]
        hal_flags = [*machine, *CFLAGS, f"-I{HAL_DIR}", f"-I{TEMPLATES_DIR / 'common'}",
                     f"-DTP_UART_BASE={b.serial.base:#010x}u", f"-DTP_CLOCK_HZ={b.clock_hz}u",
                     f"-DTP_BAUD={b.serial.baud}u", f"-DTP_TICK_DIV={b.timer.divider}",
                     f"-DTP_UNITS_PER_TICK={b.timer.units_per_tick}u", "-DTP_QEMU"]
        hal = [HAL_DIR / "startup.c", HAL_DIR / "hal.c", HAL_DIR / f"uart_{b.serial.uart}.c"]
        lib = [(s, self.work_dir / f"k_{s.stem}.o", flags + includes) for s in kernel_sources()]
        lib += [(s, self.work_dir / f"hal_{s.stem}.o", hal_flags) for s in hal]
        lib += [(m.c_file, self.work_dir / f"m_{m.name}.o", flags + includes) for m in models]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(lambda job: _run([CC, *job[2], "-c", str(job[0]), "-o", str(job[1])],
                                           f"{CC} -c {job[0].name} for {b.id}"), lib))
        ld = self.work_dir / "tinypipe.ld"
        ld.write_text(linker_script(b))
        self._binary_of: dict[str, Path] = {}
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "aot"), trim_blocks=True,
                                 lstrip_blocks=True, keep_trailing_newline=True)
        common = [o for _, o, _ in lib if not o.name.startswith("m_")]
        for i, group in enumerate(self._groups(list(models))):
            driver = self.work_dir / f"driver{i}.c"
            driver.write_text(env.get_template("qemu_driver.c.j2").render(
                models=sorted(m.name for m in group), work_dir=str(self.work_dir)))
            driver_o = driver.with_suffix(".o")
            _run([CC, *flags, *includes, "-c", str(driver), "-o", str(driver_o)], f"{CC} -c {driver.name}")
            elf = self.work_dir / f"image{i}.elf"
            objs = [*map(str, common), str(driver_o), *(str(self.work_dir / f"m_{m.name}.o") for m in group)]
            _run([CC, *machine, *LDFLAGS, f"-T{ld}", *objs, "-lm", "-lc", "-lgcc", "-o", str(elf)],
                 f"link of {elf.name} for {b.id}")
            for m in group:
                self._binary_of[m.name] = elf

    def _groups(self, models: list[AotModel]) -> list[list[AotModel]]:
        """Pack the models into as few images as fit the board's flash and RAM."""
        mem = self.board.memory
        flash, ram = mem.flash.size - CODE_ALLOWANCE, mem.ram.size - mem.ram_reserve
        groups: list[list[AotModel]] = []
        used: list[tuple[int, int]] = []
        for m in sorted(models, key=lambda m: -m.weights_bytes):
            need = (m.weights_bytes + 8 * 1024, m.arena_bytes)
            for g, (f, r) in enumerate(used):
                if f + need[0] <= flash and r + need[1] <= ram:
                    groups[g].append(m)
                    used[g] = (f + need[0], r + need[1])
                    break
            else:
                groups.append([m])
                used.append(need)
        return groups

    def command(self, elf: Path) -> list[str]:
        return qemu_command(self.board, elf)

    def run(self, model: str, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """inputs[i] has shape (N, *shape of input i); returns outputs as (N, *shape of output j)."""
        m = self.models[model]
        n, packed = pack_inputs(model, m, inputs)
        (self.work_dir / f"{model}.in").write_bytes(packed)
        out_file = self.work_dir / f"{model}.out"
        out_file.unlink(missing_ok=True)
        (self.work_dir / "job").write_text(f"{model} {n}\n")
        proc = subprocess.run(self.command(self._binary_of[model]), capture_output=True, text=True,
                              timeout=self.timeout_s, stdin=subprocess.DEVNULL)
        if proc.returncode or not out_file.is_file():
            raise TinypipeError(f"QEMU run of '{model}' on {self.board.id} failed (exit {proc.returncode}):\n"
                                + (proc.stdout + proc.stderr).strip()[-2000:],
                                "a '*** FAULT' line above means a runtime bug")
        return unpack_outputs(model, m, out_file.read_bytes(), n, f"QEMU run on {self.board.id}")
