"""Boards are data: one YAML file per board in `boards/`, loaded into typed dataclasses.

Adding a board means adding a YAML file; no Python changes. A board file names the core and
its features, clock, flash/RAM (with base addresses for the bare-metal QEMU targets), the
serial port, the timer used for measurements, the PlatformIO environment (real boards), the
runtimes it supports and, for emulated boards, the QEMU machine.

Python API (what the other stages call):

    load_board(board_id) -> Board             # unknown id -> TinypipeError listing the boards
    list_boards() -> list[Board]
    check_fit(board, flash_bytes, ram_bytes, what)   # TinypipeError before any build if too big

Board fields the firmware side uses: `board.id`, `board.emulated`, `board.runtimes`
(("aot", "tflm")), `board.tflm_lib_deps`, `board.tflm_header`, `board.serial.baud`,
`board.timer` (kind/unit/units_per_tick), `board.memory`.

Preparing a PlatformIO project for a board is `tinypipe.build.prepare_project(board, dir)`:
it writes the board's support files into `dir` and returns the `[env:<board.id>]` key/values
for platformio.ini (see that module's docstring). Then `build()`, `flash()`, `emulate()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tinypipe import BOARDS_DIR
from tinypipe.errors import TinypipeError

RUNTIMES = ("aot", "tflm")
UART_KINDS = ("cmsdk", "pl011", "stm32", "nrf51")
TIMER_KINDS = ("dwt", "systick", "ccount")
TIMER_UNITS = ("cycles", "instructions")
FPUS = ("none", "auto", "single", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16")


@dataclass(frozen=True)
class Region:
    size: int
    base: int | None = None  # known for bare-metal targets (used by the linker script)


@dataclass(frozen=True)
class Memory:
    flash: Region
    ram: Region
    flash_reserve: int  # the firmware's own code (harness, HAL, libc)
    ram_reserve: int  # the firmware's own data, stack and heap

    @property
    def flash_for_model(self) -> int:
        return self.flash.size - self.flash_reserve

    @property
    def ram_for_model(self) -> int:
        return self.ram.size - self.ram_reserve


@dataclass(frozen=True)
class Serial:
    baud: int
    uart: str | None = None  # emulated boards: the UART model and its base address
    base: int | None = None


@dataclass(frozen=True)
class Timer:
    kind: str  # dwt | systick | ccount
    unit: str  # cycles (real cores) | instructions (QEMU -icount shift=0)
    clock_hz: int  # the counter's input clock
    units_per_tick: int  # what one tick of tp_hal_ticks() is worth, in `unit`
    divider: int = 1  # software prescaler: tp_hal_ticks() = raw counts / divider

    @property
    def tick_hz(self) -> int:
        return self.clock_hz // self.divider


@dataclass(frozen=True)
class PlatformIO:
    platform: str
    board: str
    framework: str | None = None
    build_flags: tuple[str, ...] = ()
    lib_deps: tuple[str, ...] = ()
    upload_protocol: str | None = None
    monitor_speed: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Emulator:
    machine: str
    cpu: str | None = None
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    core: str
    arch: str
    fpu: str
    dsp: bool
    mve: bool
    clock_hz: int
    memory: Memory
    serial: Serial
    timer: Timer
    runtimes: tuple[str, ...]
    unsupported: dict[str, str]  # runtime -> why it is not offered
    platformio: PlatformIO | None  # None for emulated boards (tinypipe's own QEMU platform)
    emulator: Emulator | None
    tflm_lib_deps: tuple[str, ...]  # PlatformIO-registry library for the tflm runtime
    tflm_header: str | None
    path: Path
    hal: dict[str, str] = field(default_factory=dict)  # framework HAL settings -> TP_HAL_<KEY> macros

    @property
    def emulated(self) -> bool:
        return self.emulator is not None

    def supports(self, runtime: str) -> bool:
        return runtime in self.runtimes

    def require_runtime(self, runtime: str) -> None:
        """Raise a TinypipeError if `runtime` is not offered on this board, saying why."""
        if runtime in self.runtimes:
            return
        why = self.unsupported.get(runtime, f"{self.path.name} does not list it under `runtimes`")
        raise TinypipeError(
            f"board {self.id} does not offer the {runtime} runtime: {why}",
            f"use --runtime {' or '.join(self.runtimes)}",
        )


# --- loading and validation --------------------------------------------------------------------


class _Fields:
    """Typed access to one YAML mapping; every error names the file and the dotted field."""

    def __init__(self, data: Any, path: Path, prefix: str = "") -> None:
        self.path, self.prefix = path, prefix
        if not isinstance(data, dict):
            self._fail(prefix.rstrip(".") or "(top level)", "must be a mapping")
        self.data: dict[str, Any] = data

    def _fail(self, key: str, problem: str) -> None:
        raise TinypipeError(
            f"{self.path}: field `{key}` {problem}",
            "see boards/qemu-m4.yaml for a complete example of the board schema",
        )

    def get(self, key: str, typ: type | tuple[type, ...], default: Any = ..., choices: Any = None) -> Any:
        name = self.prefix + key
        if key not in self.data or self.data[key] is None:
            if default is ...:
                self._fail(name, "is missing")
            return default
        value = self.data[key]
        if typ is int and (isinstance(value, bool) or not isinstance(value, int)):
            self._fail(name, f"must be an integer, got {value!r}")
        elif not isinstance(value, typ):
            tname = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
            self._fail(name, f"must be of type {tname}, got {value!r}")
        if choices is not None and value not in choices:
            self._fail(name, f"is {value!r}; expected one of: {', '.join(map(str, choices))}")
        if typ is int and value < 0:
            self._fail(name, f"must not be negative, got {value}")
        return value

    def sub(self, key: str, optional: bool = False) -> _Fields | None:
        if optional and self.data.get(key) is None:
            return None
        return _Fields(self.get(key, dict), self.path, f"{self.prefix}{key}.")

    def strings(self, key: str) -> tuple[str, ...]:
        items = self.get(key, list, [])
        if not all(isinstance(s, str) for s in items):
            self._fail(self.prefix + key, "must be a list of strings")
        return tuple(items)

    def check_known(self, known: set[str]) -> None:
        unknown = sorted(set(self.data) - known)
        if unknown:
            self._fail(self.prefix + unknown[0], f"is not a known field (known: {', '.join(sorted(known))})")


def _region(f: _Fields, key: str) -> Region:
    r = f.sub(key)
    assert r is not None
    r.check_known({"base", "size"})
    size = r.get("size", int)
    if size == 0:
        r._fail(r.prefix + "size", "must be positive")
    return Region(size=size, base=r.get("base", int, None))


def parse_board(path: Path) -> Board:
    """Parse and validate one board YAML file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TinypipeError(f"cannot read board file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise TinypipeError(f"{path} is not valid YAML: {exc}", "fix the syntax error above") from exc
    f = _Fields(data, path)
    f.check_known({"id", "name", "core", "arch", "features", "clock_hz", "memory", "serial", "timer",
                   "platformio", "runtimes", "unsupported", "tflm", "emulator", "hal"})
    board_id = f.get("id", str)
    if board_id != path.stem:
        f._fail("id", f"is {board_id!r} but the file is named {path.name}; they must match")

    feats = f.sub("features")
    assert feats is not None
    feats.check_known({"fpu", "dsp", "mve"})

    mem = f.sub("memory")
    assert mem is not None
    mem.check_known({"flash", "ram", "reserve"})
    reserve = mem.sub("reserve")
    assert reserve is not None
    reserve.check_known({"flash", "ram"})
    memory = Memory(_region(mem, "flash"), _region(mem, "ram"),
                    reserve.get("flash", int), reserve.get("ram", int))
    for kind in ("flash", "ram"):
        region: Region = getattr(memory, kind)
        if getattr(memory, f"{kind}_reserve") >= region.size:
            reserve._fail(f"memory.reserve.{kind}", f"must be below memory.{kind}.size ({region.size})")

    ser = f.sub("serial")
    assert ser is not None
    ser.check_known({"baud", "uart", "base"})
    serial = Serial(ser.get("baud", int), ser.get("uart", str, None, UART_KINDS), ser.get("base", int, None))

    tim = f.sub("timer")
    assert tim is not None
    tim.check_known({"kind", "unit", "clock_hz", "divider", "units_per_tick"})
    timer = Timer(tim.get("kind", str, choices=TIMER_KINDS), tim.get("unit", str, choices=TIMER_UNITS),
                  tim.get("clock_hz", int), tim.get("units_per_tick", int), tim.get("divider", int, 1))
    if timer.divider == 0 or timer.units_per_tick == 0 or timer.clock_hz % timer.divider:
        tim._fail("timer.divider", "must be positive and divide timer.clock_hz (units_per_tick positive)")

    emulator = None
    emu = f.sub("emulator", optional=True)
    if emu is not None:
        emu.check_known({"machine", "cpu", "extra_args"})
        emulator = Emulator(emu.get("machine", str), emu.get("cpu", str, None), emu.strings("extra_args"))
        if memory.flash.base is None or memory.ram.base is None:
            mem._fail("memory.flash.base", "and memory.ram.base are required for an emulated board")
        if serial.uart is None or serial.base is None:
            ser._fail("serial.uart", "and serial.base are required for an emulated board")

    pio = None
    p = f.sub("platformio", optional=True)
    if p is not None:
        p.check_known({"platform", "board", "framework", "build_flags", "lib_deps", "upload_protocol",
                       "monitor_speed", "extra"})
        extra = p.get("extra", dict, {})
        pio = PlatformIO(p.get("platform", str), p.get("board", str), p.get("framework", str, None),
                         p.strings("build_flags"), p.strings("lib_deps"), p.get("upload_protocol", str, None),
                         p.get("monitor_speed", int, None), {str(k): str(v) for k, v in extra.items()})
    elif emulator is None:
        f._fail("platformio", "is missing (a real board needs its PlatformIO platform/board/framework)")

    runtimes = f.strings("runtimes")
    for rt in runtimes:
        if rt not in RUNTIMES:
            f._fail("runtimes", f"lists {rt!r}; known runtimes: {', '.join(RUNTIMES)}")
    if not runtimes:
        f._fail("runtimes", "must list at least one runtime")
    unsupported = f.get("unsupported", dict, {})
    for rt in RUNTIMES:
        if rt not in runtimes and not isinstance(unsupported.get(rt), str):
            f._fail("unsupported", f"must say why the {rt} runtime is not offered (unsupported.{rt}: reason)")
    tflm = f.sub("tflm", optional=True)
    lib_deps: tuple[str, ...] = ()
    header = None
    if tflm is not None:
        tflm.check_known({"lib_deps", "header"})
        lib_deps, header = tflm.strings("lib_deps"), tflm.get("header", str, None)
    if "tflm" in runtimes and not emulator and not lib_deps:
        f._fail("tflm.lib_deps", "is required for a real board offering tflm (a PlatformIO-registry library)")

    return Board(
        id=board_id, name=f.get("name", str), core=f.get("core", str), arch=f.get("arch", str),
        fpu=feats.get("fpu", str, "none", FPUS), dsp=feats.get("dsp", bool, False),
        mve=feats.get("mve", bool, False), clock_hz=f.get("clock_hz", int), memory=memory,
        serial=serial, timer=timer, runtimes=runtimes,
        unsupported={str(k): str(v) for k, v in unsupported.items()}, platformio=pio, emulator=emulator,
        tflm_lib_deps=lib_deps, tflm_header=header, path=path,
        hal={str(k).upper(): str(v) for k, v in f.get("hal", dict, {}).items()},
    )


def _board_files(boards_dir: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(boards_dir.glob("*.yaml"))}


@cache
def _load_cached(path: Path, mtime: float) -> Board:
    return parse_board(path)


def load_board(board_id: str, boards_dir: Path = BOARDS_DIR) -> Board:
    """The board named `board_id` (a file boards/<id>.yaml)."""
    files = _board_files(boards_dir)
    if board_id not in files:
        raise TinypipeError(
            f"unknown board {board_id!r}; known boards: {', '.join(files) or '(none)'}",
            f"add {boards_dir}/{board_id}.yaml or pick one from `tinypipe boards`",
        )
    path = files[board_id]
    return _load_cached(path, path.stat().st_mtime)


def list_boards(boards_dir: Path = BOARDS_DIR) -> list[Board]:
    """All boards, emulated ones first, each group sorted by id."""
    boards = [load_board(b, boards_dir) for b in _board_files(boards_dir)]
    return sorted(boards, key=lambda b: (not b.emulated, b.id))


def _kb(n: int) -> str:
    return f"{n / 1024:,.0f} KB" if n >= 10 * 1024 else f"{n:,} B"


def check_fit(board: Board, flash_bytes: int, ram_bytes: int, what: str) -> None:
    """Raise a TinypipeError when a model (flash: weights + code; RAM: arena + buffers) does not fit.

    The board's reserve for the firmware's own code, data and stack is added to the model's need.
    """
    m = board.memory
    for kind, need, reserve, limit in (("flash", flash_bytes, m.flash_reserve, m.flash.size),
                                       ("RAM", ram_bytes, m.ram_reserve, m.ram.size)):
        total = need + reserve
        if total > limit:
            part = "the weights + firmware" if kind == "flash" else "the arena + firmware"
            raise TinypipeError(
                f"{what}: needs {total:,} B of {kind} for {part} ({need:,} B + {reserve:,} B reserve), "
                f"{board.id} has {limit:,} B: {_kb(total - limit)} over",
                "pick a board with more memory (`tinypipe boards`), or a smaller model/input",
            )
