"""Boards are data: one YAML file per board in `boards/`, loaded into typed dataclasses.

Adding a board means adding a YAML file; no Python changes. Your own boards live in your own
directories: $TINYPIPE_BOARDS (os.pathsep-separated) or the CLI's --boards-dir, searched first.
A board file names the core and
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

Real boards also carry: pinned PlatformIO packages (`platformio.platform`, `platform_packages`,
`lib_deps`: one exact version or commit each, pin_problem() says why not), `build:` (the
compiler flags when they differ from -O2 with the core's hard-float machine flags, and why),
`verified:` (build/link/run: ci, manual or none, and why), `clock_tree:` (stm32cube boards: what
the HAL glue sets up; the PLL must give clock_hz) and `memory.fast_ram` (a DTCM for data, arena
and stack when they fit; `memory.ram` is then the largest RAM region, the fit check's limit).

Preparing a PlatformIO project for a board is `tinypipe.build.prepare_project(board, dir)`:
it writes the board's support files into `dir` and returns the `[env:<board.id>]` key/values
for platformio.ini (see that module's docstring). Then `build()`, `flash()`, `emulate()`.
"""

from __future__ import annotations

import os
import re
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
    # Real boards: a faster RAM (Cortex-M7 DTCM) that takes the data, arena and stack when they fit.
    fast_ram: Region | None = None

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
    platform_packages: tuple[str, ...] = ()  # pinned framework/toolchain packages
    # A board manifest the project must carry (boards/<board>.json) when the platform lacks the board.
    board_manifest: dict[str, Any] | None = None


@dataclass(frozen=True)
class Emulator:
    machine: str
    cpu: str | None = None
    extra_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class EstimateParams:
    """`estimate:` - the memory system of a real board, for the cycle estimate (tinypipe.estimate).

    Flash reads take `flash_wait_states` extra cycles and return `flash_read_bytes`; `art` is a
    sequential instruction prefetch (ST's ART accelerator); the caches are LRU, `*_ways` 0 meaning
    fully associative, with lines of `cache_line_bytes` (0: one flash read)."""

    flash_wait_states: int = 0
    flash_read_bytes: int = 8
    art: bool = False
    icache: bool = False
    icache_bytes: int = 0
    icache_ways: int = 0
    dcache: bool = False
    dcache_bytes: int = 0
    dcache_ways: int = 0
    cache_line_bytes: int = 0

    @property
    def line_bytes(self) -> int:
        return self.cache_line_bytes or self.flash_read_bytes


VERIFIED_LEVELS = ("ci", "manual", "none")  # checked by the test suite / once by hand / not at all
FLOAT_ABIS = ("hard", "softfp", "soft")
CLOCK_SOURCES = ("hsi", "hse", "hse_bypass", "msi")
CACHES = ("icache", "dcache", "prefetch")


@dataclass(frozen=True)
class BuildPolicy:
    """`build:` - how a real board's firmware is compiled. The default is the emulated boards' own:
    -O2 and the core's machine flags (-mcpu, -mthumb, -mfpu, -mfloat-abi=hard with an FPU, soft
    without); a board that deviates says `why` (a prebuilt framework library's float ABI, a core
    that is not Arm)."""

    optimization: str = "-O2"
    float_abi: str | None = None  # None: hard with an FPU, soft without
    machine_flags: bool = True  # False: the framework's own (Xtensa)
    why: str | None = None

    def abi(self, fpu: str) -> str:
        return self.float_abi or ("soft" if fpu == "none" else "hard")


@dataclass(frozen=True)
class Verified:
    """`verified:` - what has been checked of a board's firmware: the build, the link, a run on
    the chip; each `ci` (by the test suite), `manual` (once, by hand) or `none`, with `why`."""

    build: str
    link: str
    run: str
    why: str | None = None

    def summary(self) -> str:
        return ", ".join(f"{what}: {getattr(self, what)}" for what in ("build", "link", "run"))


@dataclass(frozen=True)
class ClockTree:
    """`clock_tree:` - the clock the STM32Cube HAL glue (firmware_templates/hal/stm32cube_hal.c)
    configures: power supply and voltage scale, the PLL input, the PLL, the bus dividers, flash
    wait states and the caches. Values are the ST HAL's (constant names where the HAL has them);
    the PLL must give the board's `clock_hz`."""

    source: str  # hsi | hse | hse_bypass | msi
    source_hz: int
    pll: dict[str, int]  # m, n, p, q, r
    pll_output: str  # "p" (STM32H7) or "r" (STM32L4): the PLL output that drives SYSCLK
    dividers: dict[str, int]  # sys, ahb, apb1..apb4 (powers of two; the family's own subset)
    flash_latency: int  # wait states
    voltage_scale: str  # e.g. PWR_REGULATOR_VOLTAGE_SCALE0
    supply: str | None = None  # STM32H7 power supply, e.g. PWR_DIRECT_SMPS_SUPPLY
    pll_vci_range: str | None = None  # STM32H7 PLL input range, e.g. RCC_PLL1VCIRANGE_1
    pll_vco: str | None = None  # STM32H7 VCO range, e.g. RCC_PLL1VCOWIDE
    caches: tuple[str, ...] = ()  # icache, dcache (Cortex-M7 L1 or ST's ART), prefetch

    @property
    def sysclk_hz(self) -> int:
        return self.source_hz * self.pll["n"] // self.pll["m"] // self.pll[self.pll_output]


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
    tflm_source: str  # "tree": tinypipe builds its pinned TFLM tree; "vendor": a vendor library
    tflm_lib_deps: tuple[str, ...]  # the vendor's PlatformIO library (tflm.source: vendor)
    tflm_header: str | None  # the header the vendor library wants included first
    path: Path
    hal: dict[str, str] = field(default_factory=dict)  # framework HAL settings -> TP_HAL_<KEY> macros
    build: BuildPolicy = field(default_factory=lambda: BuildPolicy())  # compiler flags of real boards
    verified: Verified = field(default_factory=lambda: Verified("ci", "ci", "ci", "under QEMU, in CI"))
    clock_tree: ClockTree | None = None  # what the STM32Cube HAL glue sets up (stm32cube boards)
    estimate: EstimateParams | None = None  # memory-system parameters of the cycle estimate

    @property
    def emulated(self) -> bool:
        return self.emulator is not None

    @property
    def kernel_path(self) -> str:
        """The aot kernels this board's core runs (tp_common.h's TP_VARIANT): helium on Armv8.1-M
        with MVE, dsp on Arm cores with the DSP extension, else portable."""
        if not self.core.startswith("cortex-"):
            return "portable"
        return "helium" if self.mve else "dsp" if self.dsp else "portable"

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
                   "platformio", "runtimes", "unsupported", "tflm", "emulator", "hal", "estimate",
                   "build", "verified", "clock_tree"})
    board_id = f.get("id", str)
    if board_id != path.stem:
        f._fail("id", f"is {board_id!r} but the file is named {path.name}; they must match")

    feats = f.sub("features")
    assert feats is not None
    feats.check_known({"fpu", "dsp", "mve"})

    mem = f.sub("memory")
    assert mem is not None
    mem.check_known({"flash", "ram", "reserve", "fast_ram"})
    reserve = mem.sub("reserve")
    assert reserve is not None
    reserve.check_known({"flash", "ram"})
    memory = Memory(_region(mem, "flash"), _region(mem, "ram"),
                    reserve.get("flash", int), reserve.get("ram", int),
                    _region(mem, "fast_ram") if mem.data.get("fast_ram") is not None else None)
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
                       "monitor_speed", "extra", "platform_packages", "board_manifest"})
        extra = p.get("extra", dict, {})
        pio = PlatformIO(p.get("platform", str), p.get("board", str), p.get("framework", str, None),
                         p.strings("build_flags"), p.strings("lib_deps"), p.get("upload_protocol", str, None),
                         p.get("monitor_speed", int, None), {str(k): str(v) for k, v in extra.items()},
                         p.strings("platform_packages"), p.get("board_manifest", dict, None))
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
    tflm_source, lib_deps, header = _tflm_section(f)

    return Board(
        id=board_id, name=f.get("name", str), core=f.get("core", str), arch=f.get("arch", str),
        fpu=feats.get("fpu", str, "none", FPUS), dsp=feats.get("dsp", bool, False),
        mve=feats.get("mve", bool, False), clock_hz=f.get("clock_hz", int), memory=memory,
        serial=serial, timer=timer, runtimes=runtimes,
        unsupported={str(k): str(v) for k, v in unsupported.items()}, platformio=pio, emulator=emulator,
        tflm_source=tflm_source, tflm_lib_deps=lib_deps, tflm_header=header, path=path,
        hal={str(k).upper(): str(v) for k, v in f.get("hal", dict, {}).items()},
        estimate=_estimate_section(f),
        **_real_board_sections(f, pio, emulator is not None, feats.get("fpu", str, "none", FPUS), memory,
                               f.get("clock_hz", int)),
    )


def _estimate_section(f: _Fields) -> EstimateParams | None:
    """`estimate:` (optional) - flash wait states, prefetch and caches for tinypipe.estimate."""
    e = f.sub("estimate", optional=True)
    if e is None:
        return None
    e.check_known({"flash_wait_states", "flash_read_bytes", "art", "icache", "icache_bytes", "icache_ways",
                   "dcache", "dcache_bytes", "dcache_ways", "cache_line_bytes"})
    params = EstimateParams(
        flash_wait_states=e.get("flash_wait_states", int), flash_read_bytes=e.get("flash_read_bytes", int, 8),
        art=e.get("art", bool, False), icache=e.get("icache", bool, False),
        icache_bytes=e.get("icache_bytes", int, 0), icache_ways=e.get("icache_ways", int, 0),
        dcache=e.get("dcache", bool, False), dcache_bytes=e.get("dcache_bytes", int, 0),
        dcache_ways=e.get("dcache_ways", int, 0), cache_line_bytes=e.get("cache_line_bytes", int, 0))
    if params.line_bytes == 0:
        e._fail("estimate.flash_read_bytes", "must be positive")
    for kind in ("icache", "dcache"):
        size, ways = getattr(params, f"{kind}_bytes"), getattr(params, f"{kind}_ways")
        lines = size // params.line_bytes
        if getattr(params, kind) and (lines == 0 or size % params.line_bytes or (ways and lines % ways)):
            e._fail(f"estimate.{kind}_bytes", f"must be a positive number of {params.line_bytes}-byte lines "
                    f"(divisible by estimate.{kind}_ways) when estimate.{kind} is true")
    return params


def _tflm_section(f: _Fields) -> tuple[str, tuple[str, ...], str | None]:
    """`tflm:` - where TensorFlow Lite Micro comes from. `source: tree` (the default) builds the
    pinned tree tinypipe finds (tinypipe.tflm); `source: vendor` takes a vendor's own build from
    `lib_deps` (ESP32-S3: Espressif's esp-tflite-micro with ESP-NN), pinned, with a `why`."""
    tflm = f.sub("tflm", optional=True)
    if tflm is None:
        return "tree", (), None
    tflm.check_known({"source", "lib_deps", "header", "why"})
    source = tflm.get("source", str, "tree", ("tree", "vendor"))
    lib_deps, header = tflm.strings("lib_deps"), tflm.get("header", str, None)
    if source == "vendor" and not (lib_deps and tflm.get("why", str, "")):
        tflm._fail("tflm.lib_deps", "and tflm.why are required with tflm.source: vendor")
    for spec in lib_deps:
        problem = pin_problem(spec)
        if problem:
            tflm._fail("tflm.lib_deps", f"{spec!r} is not pinned: {problem}")
    if source == "tree" and lib_deps:
        tflm._fail("tflm.lib_deps", "belongs to tflm.source: vendor; the tree needs no library")
    return source, lib_deps, header


# --- real boards: pins, build flags, what was verified, the clock tree ---------------------------

_EXACT_VERSION = re.compile(r"^(?:[\w.-]+/)?[\w.-]+\s*@\s*\d+(?:\.\d+)+(?:[+-][\w.+-]*)?$")
_PINNED_URL = re.compile(r"^(?:(?:[\w.-]+/)?[\w.-]+\s*@\s*)?(?:https?|git\+https?|git)://\S+"
                         r"#(?:[0-9a-f]{40}|v?\d+(?:\.\d+)+)$")


def pin_problem(spec: str) -> str | None:
    """Why a PlatformIO package spec is not pinned to one version, or None when it is."""
    if _EXACT_VERSION.match(spec) or _PINNED_URL.match(spec):
        return None
    if "://" in spec:
        return "a git URL must end in #<40-digit commit> or #<version tag>"
    return "it must read owner/name@X.Y.Z (one exact version, not a range or the latest)"


def package_name(spec: str) -> str:
    """`platformio/framework-stm32cubel4@1.18.1` -> `framework-stm32cubel4`."""
    name = spec.split("@", 1)[0].strip()
    if "://" in name:  # a bare URL: the repository name
        name = name.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    return name.rsplit("/", 1)[-1]


def _real_board_sections(f: _Fields, pio: PlatformIO | None, emulated: bool, fpu: str, memory: Memory,
                         clock_hz: int) -> dict[str, Any]:
    """`build:`, `verified:` and `clock_tree:`, and the pins every real board's PlatformIO
    environment carries: the platform, the framework (platform_packages) and the libraries."""
    if emulated:
        for key in ("build", "verified", "clock_tree"):
            if f.data.get(key) is not None:
                f._fail(key, "is for real boards (emulated boards build with tinypipe's QEMU platform)")
        return {}
    assert pio is not None  # parse_board requires it for real boards
    for key, specs in (("platform", (pio.platform,)), ("platform_packages", pio.platform_packages),
                       ("lib_deps", pio.lib_deps)):
        for spec in specs:
            problem = pin_problem(spec)
            if problem:
                f._fail(f"platformio.{key}", f"has {spec!r}, which is not pinned: {problem}")
    if pio.framework and not any(package_name(s).startswith("framework-") for s in pio.platform_packages):
        f._fail("platformio.platform_packages",
                f"must pin the {pio.framework} framework package (e.g. platformio/framework-NAME@X.Y.Z)")
    build = _build_section(f, fpu)
    clock_tree = _clock_tree_section(f, clock_hz)
    if pio.framework == "stm32cube":
        if clock_tree is None:
            f._fail("clock_tree", "is required with framework stm32cube (tinypipe's HAL sets the clock up)")
        if memory.flash.base is None or memory.ram.base is None:
            f._fail("memory.flash.base", "and memory.ram.base are required with framework stm32cube "
                    "(tinypipe writes the linker script)")
    if memory.fast_ram is not None and memory.fast_ram.base is None:
        f._fail("memory.fast_ram.base", "is required (the linker script places data there)")
    return {"build": build, "verified": _verified_section(f), "clock_tree": clock_tree}


def _build_section(f: _Fields, fpu: str) -> BuildPolicy:
    b = f.sub("build", optional=True)
    if b is None:
        return BuildPolicy()
    b.check_known({"optimization", "float_abi", "machine_flags", "why"})
    policy = BuildPolicy(b.get("optimization", str, "-O2", ("-O1", "-O2", "-O3", "-Os")),
                         b.get("float_abi", str, None, FLOAT_ABIS), b.get("machine_flags", bool, True),
                         b.get("why", str, None))
    if policy.abi(fpu) == "hard" and fpu == "none":
        b._fail("build.float_abi", "is hard, but features.fpu is none")
    default = BuildPolicy(why=policy.why)
    if (policy.optimization, policy.abi(fpu), policy.machine_flags) != (
            default.optimization, default.abi(fpu), default.machine_flags) and not policy.why:
        b._fail("build.why", "is required: say why this board builds differently from -O2 with the core's "
                "hard-float machine flags")
    return policy


def _verified_section(f: _Fields) -> Verified:
    v = f.sub("verified", optional=True)
    if v is None:
        f._fail("verified", "is missing: say what has been checked of this board's firmware "
                f"(verified: {{build: ..., link: ..., run: ...}}, each one of {', '.join(VERIFIED_LEVELS)})")
    assert v is not None
    v.check_known({"build", "link", "run", "why"})
    verified = Verified(*(v.get(k, str, choices=VERIFIED_LEVELS) for k in ("build", "link", "run")),
                        why=v.get("why", str, None))
    if "none" in (verified.build, verified.link, verified.run) and not verified.why:
        v._fail("verified.why", "is required when something is not verified: say what stands in the way")
    return verified


def _clock_tree_section(f: _Fields, clock_hz: int) -> ClockTree | None:
    c = f.sub("clock_tree", optional=True)
    if c is None:
        return None
    c.check_known({"source", "source_hz", "pll", "dividers", "flash_latency", "voltage_scale", "supply",
                   "caches"})
    pll = c.sub("pll")
    assert pll is not None
    pll.check_known({"m", "n", "p", "q", "r", "output", "vci_range", "vco"})
    factors = {k: pll.get(k, int) for k in "mnpqr"}
    if 0 in factors.values():
        pll._fail("clock_tree.pll", "factors must be positive")
    dividers = {str(k): v for k, v in c.get("dividers", dict, {}).items()}
    for name, value in dividers.items():
        if name not in ("sys", "ahb", "apb1", "apb2", "apb3", "apb4"):
            c._fail(f"clock_tree.dividers.{name}", "is not a bus (sys, ahb, apb1, apb2, apb3, apb4)")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value & (value - 1):
            c._fail(f"clock_tree.dividers.{name}", f"must be a power of two, got {value!r}")
    caches = c.strings("caches")
    for cache_name in caches:
        if cache_name not in CACHES:
            c._fail("clock_tree.caches", f"lists {cache_name!r}; known: {', '.join(CACHES)}")
    tree = ClockTree(
        source=c.get("source", str, choices=CLOCK_SOURCES), source_hz=c.get("source_hz", int), pll=factors,
        pll_output=pll.get("output", str, choices=("p", "r")), dividers=dividers,
        flash_latency=c.get("flash_latency", int), voltage_scale=c.get("voltage_scale", str),
        supply=c.get("supply", str, None), pll_vci_range=pll.get("vci_range", str, None),
        pll_vco=pll.get("vco", str, None), caches=caches)
    out = factors[tree.pll_output]
    core_hz = tree.sysclk_hz // dividers.get("sys", 1)
    if tree.source_hz * factors["n"] % (factors["m"] * out * dividers.get("sys", 1)) or core_hz != clock_hz:
        pll._fail("clock_tree.pll", f"gives a {tree.source_hz * factors['n'] / factors['m'] / out:,.0f} Hz "
                  f"SYSCLK (source_hz / m * n / {tree.pll_output}), a {core_hz:,} Hz core clock; clock_hz is "
                  f"{clock_hz:,}")
    return tree


BOARDS_ENV = "TINYPIPE_BOARDS"  # the user's board directories, os.pathsep-separated, before boards/


def check_boards_dir(path: Path, what: str = "--boards-dir") -> Path:
    if not path.is_dir():
        raise TinypipeError(f"{what} {path}: not a directory",
                            "point it at a directory of BOARD.yaml files (one board each, like boards/)")
    return path


def boards_dirs() -> list[Path]:
    """Where board files are looked up, first match wins: the directories in $TINYPIPE_BOARDS (the
    CLI's --boards-dir adds to it), then tinypipe's own boards/."""
    extra = [Path(p).expanduser() for p in os.environ.get(BOARDS_ENV, "").split(os.pathsep) if p]
    return [*(check_boards_dir(d, f"${BOARDS_ENV} entry") for d in extra), BOARDS_DIR]


def _board_files(boards_dir: Path | None = None) -> dict[str, Path]:
    """{board id: file}; a user's board replaces a built-in one of the same id."""
    files: dict[str, Path] = {}
    for d in reversed([boards_dir] if boards_dir is not None else boards_dirs()):
        files.update({p.stem: p for p in sorted(d.glob("*.yaml"))})
    return dict(sorted(files.items()))


@cache
def _load_cached(path: Path, mtime: float) -> Board:
    return parse_board(path)


def load_board(board_id: str, boards_dir: Path | None = None) -> Board:
    """The board named `board_id`: a file <id>.yaml in `boards_dir`, else in boards_dirs()."""
    files = _board_files(boards_dir)
    if board_id not in files:
        raise TinypipeError(
            f"unknown board {board_id!r}; known boards: {', '.join(files) or '(none)'}",
            f"pick one from `tinypipe boards`, or write {board_id}.yaml (like boards/qemu-m4.yaml) into a "
            f"directory given with --boards-dir or ${BOARDS_ENV}",
        )
    path = files[board_id]
    return _load_cached(path, path.stat().st_mtime)


def list_boards(boards_dir: Path | None = None) -> list[Board]:
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
