"""Build, flash and emulate PlatformIO firmware projects for tinypipe's boards.

Emulated boards use tinypipe's own offline PlatformIO platform (tinypipe/platform/qemu-arm):
the system arm-none-eabi toolchain, a linker script generated from the board YAML, startup
code, UART drivers and the tp_hal.h implementation, and `pio run -t upload` starting QEMU.
Nothing is downloaded: the project's PlatformIO core dir holds a local `tool-scons` package
that runs the SCons from the Python environment.

How the firmware/export stage uses this module:

    env = prepare_project(board, project_dir, runtime="aot")   # support files + [env] keys
    env["build_flags"] = ...                                    # add your own keys if needed
    write_platformio_ini(project_dir, board, env)               # or render it yourself (below)
    result = build(project_dir)                                  # BuildResult (sizes, elf, map)
    with emulate(project_dir, timeout_s=60) as session:         # emulated boards
        ser = session.serial()                                  # pyserial over TCP
        ...                                                     # talk to the harness
        code = session.wait()                                   # the firmware's exit code
    flash(project_dir, port="/dev/ttyACM0")                      # real boards

For an emulated board, prepare_project writes `boards/tinypipe-<id>.json` (the PlatformIO board
manifest generated from the YAML), `include/tp_hal.h`, and the core dir (default
`<project>/.pio-core`). A platformio.ini rendered by hand must contain, for emulated boards,

    [platformio]
    core_dir = .pio-core
    [env:qemu-m4]
    platform = symlink:///abs/path/to/tinypipe/platform/qemu-arm
    board = tinypipe-qemu-m4
    monitor_speed = 115200

with the [env] keys exactly as prepare_project returns them. The firmware's main() return
value (or tp_hal_exit(code)) is QEMU's exit code; a fault prints "*** FAULT: HardFault pc=..."
and exits with 70.

For a real board, prepare_project returns the YAML's pinned platform, platform_packages and
lib_deps, and the flags every board builds with (-O2 and the core's machine flags, -Os unflagged,
a link map; `build:` in the YAML may say otherwise), and writes tp_machine_flags.py (which gives
the linker the float ABI too). stm32cube boards also get include/tp_board.h (the `clock_tree:`
for firmware_templates/hal/stm32cube_hal.c) and tinypipe.ld (data, arena and stack in the fast
RAM when they fit); a board its platform lacks gets boards/<board>.json. Before `pio run`, a
pinned package missing from the core dir while PlatformIO's registry is unreachable fails in one
line (check_packages), and flash/bench/validate check the serial port (check_serial_port).
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import serial

from tinypipe import PACKAGE_DIR, TEMPLATES_DIR
from tinypipe.boards import Board
from tinypipe.device.protocol import open_port
from tinypipe.errors import TinypipeError

PLATFORM_DIR = PACKAGE_DIR / "platform" / "qemu-arm"
SCONS_PACKAGE_VERSION = "4.41101.0"  # what PlatformIO 6.1/6.2 requires of tool-scons
FAULT_EXIT_CODE = 70
WATCHDOG_EXIT_CODES = (124, 137)  # coreutils `timeout`: TERM sent / KILL sent
SETUP_HINT = "run `make setup` (installs gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm)"


# --- project preparation ----------------------------------------------------------------------


def cpu_flags(board: Board) -> list[str]:
    """GCC machine flags for the board's core and FPU."""
    flags = [f"-mcpu={board.core}", "-mthumb"]
    if board.fpu == "none":
        return [*flags, "-mfloat-abi=soft"]
    if board.fpu != "auto":
        flags.append(f"-mfpu={board.fpu}")
    return [*flags, "-mfloat-abi=hard"]


def board_manifest(board: Board) -> dict[str, object]:
    """The PlatformIO board manifest (JSON) of an emulated board, generated from its YAML."""
    assert board.emulator is not None and board.serial.uart is not None
    m = board.memory
    return {
        "name": board.name,
        "vendor": "QEMU",
        "url": "https://www.qemu.org/docs/master/system/target-arm.html",
        "frameworks": [],
        "build": {
            "cpu": board.core,
            "mcu": board.id,
            "f_cpu": f"{board.clock_hz}L",
            "tinypipe": {
                "id": board.id,
                "cpu_flags": cpu_flags(board),
                "memory": {
                    "flash_base": m.flash.base, "flash_size": m.flash.size,
                    "ram_base": m.ram.base, "ram_size": m.ram.size,
                    "stack_size": min(16384, m.ram_reserve // 2) // 8 * 8,
                },
                "uart": board.serial.uart,
                "uart_base": board.serial.base,
                "baud": board.serial.baud,
                "clock_hz": board.timer.clock_hz,
                "tick_div": board.timer.divider,
                "units_per_tick": board.timer.units_per_tick,
                "machine": board.emulator.machine,
                "qemu_cpu": board.emulator.cpu,
                "qemu_extra_args": list(board.emulator.extra_args),
            },
        },
        "upload": {"maximum_size": m.flash.size, "maximum_ram_size": m.ram.size, "protocol": "qemu"},
    }


def prepare_core_dir(core_dir: Path) -> None:
    """A PlatformIO core dir that never needs the network: a local `tool-scons` package."""
    pkg = core_dir / "packages" / "tool-scons"
    pkg.mkdir(parents=True, exist_ok=True)
    files = {
        ".piopm": json.dumps({"type": "tool", "name": "tool-scons", "version": SCONS_PACKAGE_VERSION,
                              "spec": {"owner": "platformio", "id": None, "name": "tool-scons",
                                       "requirements": None, "uri": None}}),
        "package.json": json.dumps({"name": "tool-scons", "version": SCONS_PACKAGE_VERSION,
                                    "description": "SCons from tinypipe's Python environment"}),
        "scons.py": "import sys\n\nfrom SCons.Script import main\n\nsys.exit(main())\n",
    }
    for name, text in files.items():
        path = pkg / name
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)


def prepare_project(board: Board, project_dir: Path, runtime: str | None = None,
                    core_dir: Path | None = None, arena_bytes: int | None = None) -> dict[str, str]:
    """Write the board's PlatformIO support files into `project_dir`; return the [env] keys.

    Values are strings; list-valued keys (build_flags, lib_deps) hold one item per line.
    `runtime="tflm"` adds the board's TFLM library to lib_deps (real boards) and checks the
    board offers it. `core_dir` (emulated boards) defaults to `<project_dir>/.pio-core`.
    `arena_bytes` (real boards with a fast RAM) decides whether data, arena and stack fit there.
    """
    if runtime is not None:
        board.require_runtime(runtime)
    project_dir = Path(project_dir)
    project_dir.mkdir(parents=True, exist_ok=True)
    if board.emulator is None:
        return _prepare_real_project(board, project_dir, runtime, arena_bytes)

    prepare_core_dir(Path(core_dir) if core_dir else project_dir / ".pio-core")
    boards_dir = project_dir / "boards"
    boards_dir.mkdir(exist_ok=True)
    (boards_dir / f"tinypipe-{board.id}.json").write_text(json.dumps(board_manifest(board), indent=2) + "\n")
    include = project_dir / "include"
    include.mkdir(exist_ok=True)
    shutil.copyfile(TEMPLATES_DIR / "common" / "tp_hal.h", include / "tp_hal.h")
    return {
        "platform": f"symlink://{PLATFORM_DIR}",
        "board": f"tinypipe-{board.id}",
        "monitor_speed": str(board.serial.baud),
    }


# --- real boards ------------------------------------------------------------------------------
#
# A real board's project pins what its YAML pins (platform, platform_packages, libraries) and is
# compiled like the emulated boards: -O2 and the core's machine flags (build.machine_flags), unless
# the YAML's `build:` says otherwise. stm32cube boards also get tinypipe's HAL glue, driven by
# include/tp_board.h (the clock tree) and a linker script placing data, arena and stack in the
# fastest RAM that holds them; a board the platform lacks gets its manifest in boards/.

LDSCRIPT = "tinypipe.ld"
MACHINE_FLAGS_SCRIPT = "tp_machine_flags.py"
MAP_FLAG = "-Wl,-Map,${BUILD_DIR}/firmware.map"  # bench.memory_breakdown reads it
FRAMEWORK_UNFLAGS = ("-Os",)  # PlatformIO's framework builders' own optimisation level
HEAP_BYTES = 0x200
MAX_STACK_BYTES = 16384


def machine_flags(board: Board) -> list[str]:
    """A real board's machine flags: the emulated boards' cpu_flags(), with the YAML's float ABI."""
    if not board.build.machine_flags:
        return []
    abi = board.build.abi(board.fpu)
    flags = [f"-mcpu={board.core}", "-mthumb"]
    if abi != "soft" and board.fpu not in ("none", "auto"):
        flags.append(f"-mfpu={board.fpu}")
    return [*flags, f"-mfloat-abi={abi}"]


def real_build_flags(board: Board) -> tuple[list[str], list[str]]:
    """(build_flags, build_unflags) tinypipe adds for a real board, before the YAML's own flags."""
    flags = [board.build.optimization, *machine_flags(board), MAP_FLAG]
    return flags, [f for f in FRAMEWORK_UNFLAGS if f != board.build.optimization]


def board_defines(board: Board) -> dict[str, str]:
    """Defines for the board's framework and tinypipe's sources, given by tp_machine_flags.py rather
    than build_flags, whose defines also reach TensorFlow Lite Micro's library (tflm/lib_script.py):
    TFLite Micro's objects then stay those of the core, shared by every board with it."""
    tree = board.clock_tree
    if tree is not None and tree.source.startswith("hse"):
        return {"HSE_VALUE": f"{tree.source_hz}U"}  # the HAL's and system_stm32*.c's HSE frequency
    return {}


def data_region(board: Board, arena_bytes: int | None) -> tuple[str, int, int]:
    """Where .data, .bss (with the arena), heap and stack go: (name, base, size). The fast RAM
    when the arena plus the firmware's own RAM reserve fit there, else the main RAM."""
    m = board.memory
    if m.fast_ram is not None and arena_bytes is not None and arena_bytes + m.ram_reserve <= m.fast_ram.size:
        assert m.fast_ram.base is not None
        return "fast_ram", m.fast_ram.base, m.fast_ram.size
    assert m.ram.base is not None
    return "ram", m.ram.base, m.ram.size


def _render(template: str, **values: object) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template(template).render(**values)


def real_board_manifest(board: Board) -> dict[str, object]:
    """The board manifest a real board's project carries when its platform lacks the board: the
    YAML's `platformio.board_manifest`, with f_cpu and the memory sizes taken from the board."""
    assert board.platformio is not None and board.platformio.board_manifest is not None
    manifest = json.loads(json.dumps(board.platformio.board_manifest))
    manifest.setdefault("build", {})["f_cpu"] = f"{board.clock_hz}L"
    manifest.setdefault("upload", {}).update(maximum_size=board.memory.flash.size,
                                             maximum_ram_size=board.memory.ram.size)
    return dict(manifest)


def _write_stm32cube_files(board: Board, project_dir: Path, arena_bytes: int | None) -> None:
    tree = board.clock_tree
    assert tree is not None and board.memory.flash.base is not None  # parse_board checks both
    include = project_dir / "include"
    include.mkdir(exist_ok=True)
    dividers = {"sys": 1, "ahb": 1, "apb1": 1, "apb2": 1, "apb3": 1, "apb4": 1, **tree.dividers}
    (include / "tp_board.h").write_text(_render(
        "hal/tp_board.h.j2", board=board.id, clock_hz=board.clock_hz, sysclk_hz=tree.sysclk_hz,
        **{**vars(tree), "dividers": dividers}))
    name, base, size = data_region(board, arena_bytes)
    m = board.memory
    need = f"the arena ({arena_bytes or 0:,} B) plus the firmware's {m.ram_reserve:,} B"
    if name == "fast_ram":
        placement = f"The fast RAM: {need} fit there."
    elif m.fast_ram is None:
        placement = "The board has one kind of RAM."
    elif arena_bytes is None:
        placement = "The main RAM: the arena size was not given to tinypipe.build.prepare_project."
    else:
        placement = f"The main RAM: {need} exceed the {m.fast_ram.size:,} B fast RAM."
    stack = min(MAX_STACK_BYTES, m.ram_reserve // 2) // 8 * 8
    (project_dir / LDSCRIPT).write_text(_render(
        "hal/stm32cube.ld.j2", board=board.id, flash_base=m.flash.base, flash_size=m.flash.size,
        data_name="fast RAM" if name == "fast_ram" else "main RAM", data_base=base, data_size=size,
        placement=placement, heap_size=HEAP_BYTES, stack_size=stack))


def _prepare_real_project(board: Board, project_dir: Path, runtime: str | None,
                          arena_bytes: int | None) -> dict[str, str]:
    assert board.platformio is not None
    pio = board.platformio
    env = {"platform": pio.platform, "board": pio.board}
    if pio.framework:
        env["framework"] = pio.framework
    if pio.platform_packages:
        env["platform_packages"] = "\n".join(pio.platform_packages)
    flags, unflags = real_build_flags(board)
    env["build_flags"] = "\n".join([*flags, *pio.build_flags])
    if unflags:
        env["build_unflags"] = "\n".join(unflags)
    machine, defines = machine_flags(board), board_defines(board)
    if machine or defines:
        (project_dir / MACHINE_FLAGS_SCRIPT).write_text(_render(
            "hal/tp_machine_flags.py.j2", board=board.id, flags=json.dumps(machine),
            defines=json.dumps(sorted(defines.items()))))
        env["extra_scripts"] = f"pre:{MACHINE_FLAGS_SCRIPT}"
    if pio.board_manifest is not None:
        boards_dir = project_dir / "boards"
        boards_dir.mkdir(exist_ok=True)
        (boards_dir / f"{pio.board}.json").write_text(json.dumps(real_board_manifest(board), indent=2) + "\n")
    if pio.framework == "stm32cube":
        _write_stm32cube_files(board, project_dir, arena_bytes)
        env["board_build.ldscript"] = LDSCRIPT
    lib_deps = list(pio.lib_deps) + (list(board.tflm_lib_deps) if runtime == "tflm" else [])
    if lib_deps:
        env["lib_deps"] = "\n".join(lib_deps)
    if pio.upload_protocol:
        env["upload_protocol"] = pio.upload_protocol
    env["monitor_speed"] = str(pio.monitor_speed or board.serial.baud)
    env.update(pio.extra)
    return env


def write_platformio_ini(project_dir: Path, board: Board, env: Mapping[str, str],
                         core_dir: Path | None = None) -> Path:
    """Write platformio.ini with one [env:<board id>] section from `env` (prepare_project's keys)."""
    lines = ["; Generated by tinypipe.", "[platformio]", f"default_envs = {board.id}"]
    if board.emulated:
        lines.append(f"core_dir = {core_dir or '.pio-core'}")
    lines += ["", f"[env:{board.id}]"]
    for key, value in env.items():
        items = str(value).split("\n")
        lines.append(f"{key} = {items[0]}" if len(items) == 1 else f"{key} =" + "".join(
            f"\n    {item}" for item in items))
    path = Path(project_dir) / "platformio.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


# --- real boards: fail fast --------------------------------------------------------------------


def serial_ports() -> list[str]:
    """The serial ports this machine has now (pyserial's list)."""
    from serial.tools import list_ports

    return sorted(p.device for p in list_ports.comports())


def check_serial_port(board_id: str, port: str | None, required: bool = True, what: str = "this") -> None:
    """Before anything is built for a real board: its serial port is given (if `required`) and exists.

    A pyserial URL (socket://, rfc2217://, loop://) is accepted as given: it is checked when opened."""
    if port and ("://" in port or Path(port).exists() or port in serial_ports()):
        return
    if not port and not required:
        return
    seen = serial_ports()
    present = f"ports present: {', '.join(seen)}" if seen else "no serial port is present: is it plugged in?"
    if not port:
        raise TinypipeError(f"{board_id} is a real board: {what} needs its serial port, and none was given",
                            f"pass --port PORT ({present})")
    raise TinypipeError(f"serial port {port} does not exist (board {board_id}); nothing was built",
                        f"connect the board, or pass the port it is on ({present})")


# --- running PlatformIO -----------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectEnv:
    project_dir: Path
    name: str
    board: str
    emulated: bool

    @property
    def build_dir(self) -> Path:
        return self.project_dir / ".pio" / "build" / self.name

    def state(self, ext: str) -> Path:
        """QEMU state files written by the platform's upload target: pid, port, log, rc."""
        return self.project_dir / ".pio" / "qemu" / f"{self.name}.{ext}"


def project_env(project_dir: Path, env_name: str | None = None) -> ProjectEnv:
    """The PlatformIO environment `env_name` (default: default_envs, else the first) of a project."""
    project_dir = Path(project_dir).resolve()
    ini = project_dir / "platformio.ini"
    if not ini.is_file():
        raise TinypipeError(f"{project_dir} has no platformio.ini",
                            "create the project with `tinypipe export MODEL --board B --out DIR`")
    cfg = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        cfg.read(ini, encoding="utf-8")
    except configparser.Error as exc:
        raise TinypipeError(f"{ini} cannot be parsed: {exc}") from exc
    envs = [s.split(":", 1)[1] for s in cfg.sections() if s.startswith("env:")]
    if not envs:
        raise TinypipeError(f"{ini} has no [env:...] section", "regenerate it with `tinypipe export`")
    default = cfg.get("platformio", "default_envs", fallback="").split(",")[0].strip()
    name = env_name or default or envs[0]
    if name not in envs:
        raise TinypipeError(f"{ini} has no [env:{name}]; it has: {', '.join(envs)}")
    section = cfg[f"env:{name}"]
    board = section.get("board", "")
    emulated = board.startswith("tinypipe-") or "qemu-arm" in section.get("platform", "")
    return ProjectEnv(project_dir, name, board, emulated)


def _pio() -> str:
    local = Path(sys.executable).parent / "pio"
    found = str(local) if local.is_file() else shutil.which("pio")
    if not found:
        raise TinypipeError("PlatformIO (`pio`) is not installed in this Python environment", SETUP_HINT)
    return found


def _require_tool(name: str) -> None:
    if not shutil.which(name):
        raise TinypipeError(f"{name} is not installed", SETUP_HINT)


def _pio_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PLATFORMIO_SETTING_ENABLE_TELEMETRY": "no", "PLATFORMIO_DISABLE_UPGRADE_CHECK": "true",
                "PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL": "3650", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


_ERROR_LINE = re.compile(r"error|Error|undefined reference|overflow|not found|\*\*\*|FAILED|No such")

# --- PlatformIO packages a real board's project pins, and an unreachable registry ----------------

REGISTRY = ("api.registry.platformio.org", 443)
REGISTRY_PROBE_S = 3.0
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
SHARED_CORE_DIR = PACKAGE_DIR.parent.parent / "shared" / "pio" / "core"  # CI's offline package cache
_INSTALLING = re.compile(r"(?:Platform|Tool|Library|Package) Manager: Installing (.+?)\s*$")
_NO_SUCH_PACKAGE = re.compile(r"Could not find the package with '(.+?)' requirements")
_UNREACHABLE = re.compile(r"HTTPClientError|InternetConnectionError|ConnectionError|Max retries exceeded|"
                          r"Name or service not known|Temporary failure in name resolution|timed out")


def core_dir(project_dir: Path) -> Path:
    """The PlatformIO core dir a `pio run` in `project_dir` uses: $PLATFORMIO_CORE_DIR, else the
    project's [platformio] core_dir, else ~/.platformio."""
    if os.environ.get("PLATFORMIO_CORE_DIR"):
        return Path(os.environ["PLATFORMIO_CORE_DIR"]).expanduser()
    cfg = configparser.ConfigParser(interpolation=None, strict=False)
    cfg.read(Path(project_dir) / "platformio.ini", encoding="utf-8")
    configured = cfg.get("platformio", "core_dir", fallback="").strip()
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else Path(project_dir) / path
    return Path.home() / ".platformio"


def _installed(core: Path, name: str) -> list[dict[str, object]]:
    """The .piopm metadata of every installed version of platform/package `name` in `core`."""
    found = []
    for kind in ("platforms", "packages"):
        for meta in sorted((core / kind).glob(f"{name}*/.piopm")):
            try:
                data = json.loads(meta.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("name") == name:
                found.append(data)
    return found


def _is_installed(core: Path, spec: str) -> bool:
    from tinypipe.boards import package_name

    name, _, want = spec.partition("@")
    want = want.strip()
    for data in _installed(core, package_name(spec)):
        uri = (data.get("spec") or {}).get("uri") if isinstance(data.get("spec"), dict) else None
        if (uri and want and str(uri) in (want, name.strip())) or str(data.get("version")) == want:
            return True
    return False


def missing_packages(pe: ProjectEnv) -> list[str]:
    """The pinned platform and platform_packages of the env that the core dir does not hold."""
    cfg = configparser.ConfigParser(interpolation=None, strict=False)
    cfg.read(pe.project_dir / "platformio.ini", encoding="utf-8")
    section = cfg[f"env:{pe.name}"]
    specs = [section.get("platform", "").strip(),
             *(s.strip() for s in section.get("platform_packages", "").splitlines())]
    core = core_dir(pe.project_dir)
    return [spec for spec in specs if "@" in spec and not _is_installed(core, spec)]


def registry_reachable(timeout_s: float = REGISTRY_PROBE_S) -> bool:
    """Whether PlatformIO's registry answers (True behind a proxy: PlatformIO may get through it)."""
    if any(os.environ.get(v) for v in PROXY_VARIABLES):
        return True
    try:
        socket.create_connection(REGISTRY, timeout=timeout_s).close()
    except OSError:
        return False
    return True


def _package_hint(pe: ProjectEnv, spec: str) -> str:
    from tinypipe.boards import package_name

    core = core_dir(pe.project_dir)
    shared = ""
    if _installed(SHARED_CORE_DIR, package_name(spec)):
        shared = (f"{SHARED_CORE_DIR} has it: cp -a {SHARED_CORE_DIR} /tmp/pio-core && "
                  "export PLATFORMIO_CORE_DIR=/tmp/pio-core; or ")
    return (f"{shared}on a machine with network: PLATFORMIO_CORE_DIR=DIR pio pkg install -d "
            f"{pe.project_dir}, then copy DIR here and export PLATFORMIO_CORE_DIR=<the copy> (now: {core})")


def _package_error(pe: ProjectEnv, spec: str, why: str) -> TinypipeError:
    return TinypipeError(f"PlatformIO package {spec} is missing: {why}", _package_hint(pe, spec))


def check_packages(pe: ProjectEnv) -> None:
    """Before `pio run` on a real board: a pinned package the core dir lacks while PlatformIO's
    registry cannot be reached fails now, in one line, instead of after a minute of retries."""
    missing = missing_packages(pe)
    if missing and not registry_reachable():
        more = f" (and {len(missing) - 1} more: {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise _package_error(pe, missing[0], f"not installed in {core_dir(pe.project_dir)} and PlatformIO's "
                             f"registry ({REGISTRY[0]}) cannot be reached{more}")


def _install_failure(pe: ProjectEnv, lines: list[str]) -> TinypipeError | None:
    """PlatformIO's output of a failed install, as one line: which package and version, and why."""
    text = "".join(lines)
    match = _NO_SUCH_PACKAGE.search(text)
    if match:
        return TinypipeError(f"PlatformIO's registry has no package {match.group(1)}",
                             f"the pin in the board file is wrong: check it with `pio pkg search`; project "
                             f"{pe.project_dir}")
    installing = [m.group(1) for ln in lines if (m := _INSTALLING.search(ln))]
    if installing and _UNREACHABLE.search(text):
        spec = installing[-1].replace(" @ ", "@")
        error = next((ln.strip() for ln in reversed(lines) if _UNREACHABLE.search(ln)), "")
        return _package_error(pe, spec, f"PlatformIO could not download it ({error or 'no network'})")
    return None


def _run_pio(pe: ProjectEnv, args: list[str], what: str, extra_env: Mapping[str, str] | None = None,
             echo: Callable[[str], None] | None = None) -> str:
    if not pe.emulated:
        check_packages(pe)
    cmd = [_pio(), "run", "-d", str(pe.project_dir), "-e", pe.name, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_pio_env(extra_env))
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if echo:
            echo(line.rstrip("\n"))
    proc.wait()
    out = "".join(lines)
    if proc.returncode != 0:
        install_failure = _install_failure(pe, lines)
        if install_failure is not None:
            raise install_failure
        relevant = [ln.rstrip() for ln in lines if _ERROR_LINE.search(ln)] or [ln.rstrip() for ln in lines]
        raise TinypipeError(
            f"{what} of {pe.project_dir} (env {pe.name}) failed:\n    " + "\n    ".join(relevant[-12:]),
            f"full log: {' '.join(cmd)}",
        )
    return out


@dataclass(frozen=True)
class BuildResult:
    elf: Path
    map_file: Path | None
    text: int  # arm-none-eabi-size: code + read-only data
    data: int  # initialised data (in flash and in RAM)
    bss: int
    flash_used: int  # text + data
    ram_used: int  # data + bss (static; the stack and heap come on top)
    log: str


def _size(elf: Path, log: str) -> tuple[int, int, int]:
    try:
        out = subprocess.run(["arm-none-eabi-size", "-B", "-d", str(elf)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[1].split()
        return int(out[0]), int(out[1]), int(out[2])
    except (OSError, subprocess.CalledProcessError, IndexError, ValueError):
        # Not an Arm ELF (ESP32) or no binutils: PlatformIO's own summary.
        ram = re.search(r"RAM:.*used (\d+) bytes", log)
        flash = re.search(r"Flash:.*used (\d+) bytes", log)
        return (int(flash.group(1)) if flash else 0), 0, (int(ram.group(1)) if ram else 0)


def build(project_dir: Path, env_name: str | None = None,
          echo: Callable[[str], None] | None = None) -> BuildResult:
    """`pio run` the project; sizes from arm-none-eabi-size. Failures: TinypipeError with the errors."""
    pe = project_env(project_dir, env_name)
    if pe.emulated:
        _require_tool("arm-none-eabi-gcc")
    log = _run_pio(pe, [], "build", echo=echo)
    elf = pe.build_dir / "firmware.elf"
    if not elf.is_file():
        raise TinypipeError(f"the build of {pe.project_dir} produced no {elf}")
    text, data, bss = _size(elf, log)
    map_file = pe.build_dir / "firmware.map"
    return BuildResult(elf, map_file if map_file.is_file() else None, text, data, bss, text + data,
                       data + bss, log)


def flash(project_dir: Path, port: str | None = None, env_name: str | None = None,
          echo: Callable[[str], None] | None = None) -> None:
    """Build and upload to a real board (`pio run -t upload [--upload-port PORT]`)."""
    pe = project_env(project_dir, env_name)
    if pe.emulated:
        raise TinypipeError(f"{pe.project_dir} targets the emulated board {pe.board}: nothing to flash",
                            f"run it with `tinypipe emulate {project_dir}`")
    check_serial_port(pe.name, port, required=False, what="flash")  # before the build
    _run_pio(pe, ["-t", "upload", *(["--upload-port", port] if port else [])], "upload", echo=echo)


# --- emulation --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmulatorSession:
    """A firmware running under QEMU (started by `pio run -t upload`), serial port on TCP.

    QEMU waits for the serial connection before it runs the firmware; `serial()` connects.
    Always use as a context manager (or call close()): QEMU is killed on exit.
    """

    def __init__(self, pe: ProjectEnv, url: str, pid: int, timeout_s: float) -> None:
        self.env, self.url, self.pid, self.timeout_s = pe, url, pid, timeout_s
        self._serial: serial.Serial | None = None
        self._exit_code: int | None = None

    def serial(self, timeout: float = 1.0) -> serial.Serial:
        """The firmware's serial port (a pyserial Serial on socket://), connected on first call.

        Opened with protocol.open_port: serial.serial_for_url(url) would flush the input on open
        and lose the firmware's first bytes.
        """
        if self._serial is None:
            self._serial = open_port(self.url, timeout=timeout)
        return self._serial

    def read_until_exit(self, sink: Callable[[bytes], None] | None = None) -> bytes:
        """Everything the firmware writes until it exits (QEMU closes the socket)."""
        ser, chunks = self.serial(), []
        deadline = time.monotonic() + self.timeout_s + 5
        while time.monotonic() < deadline:
            try:
                chunk = ser.read(ser.in_waiting or 1)
            except serial.SerialException:
                break  # socket closed: QEMU exited
            if chunk:
                chunks.append(chunk)
                if sink:
                    sink(chunk)
            elif self.exit_code is not None:
                break
        return b"".join(chunks)

    @property
    def exit_code(self) -> int | None:
        """QEMU's (= the firmware's) exit code once it has exited, else None."""
        if self._exit_code is None:
            rc = self.env.state("rc")
            if rc.is_file() and rc.read_text().strip():
                self._exit_code = int(rc.read_text().strip())
        return self._exit_code

    def wait(self, timeout_s: float | None = None) -> int:
        """Wait for the firmware to exit; its exit code. The watchdog firing is a TinypipeError."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.timeout_s + 5)
        while self.exit_code is None:
            if time.monotonic() > deadline:
                self.close()
                raise TinypipeError(f"the firmware in {self.env.project_dir} did not exit within the wait",
                                    "raise the timeout, or check it does not wait for input")
            time.sleep(0.02)
        code = self._exit_code
        assert code is not None
        if code in WATCHDOG_EXIT_CODES:
            log = self.env.state("log")
            detail = log.read_text().strip() if log.is_file() else ""
            raise TinypipeError(
                f"the firmware in {self.env.project_dir} ran longer than the {self.timeout_s:g} s watchdog"
                + (f" ({detail.splitlines()[-1]})" if detail else ""),
                "raise --timeout, or look for an endless loop (the serial output so far is above)")
        return code

    def close(self) -> None:
        if self._serial is not None:
            self._serial.close()
            self._serial = None
        if self.exit_code is None:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)

    def __enter__(self) -> EmulatorSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def emulate(project_dir: Path, timeout_s: float = 120, env_name: str | None = None,
            port: int | None = None, echo: Callable[[str], None] | None = None) -> EmulatorSession:
    """Build if needed and start the firmware under QEMU (`pio run -t upload`); see EmulatorSession."""
    pe = project_env(project_dir, env_name)
    if not pe.emulated:
        raise TinypipeError(f"{pe.project_dir} targets the real board {pe.board}, not an emulated one",
                            f"use `tinypipe flash {project_dir} --port PORT`")
    _require_tool("arm-none-eabi-gcc")
    _require_tool("qemu-system-arm")
    port = port or _free_port()
    url = f"socket://127.0.0.1:{port}"
    _run_pio(pe, ["-t", "upload", "--upload-port", url], "build and QEMU start",
             {"TINYPIPE_QEMU_TIMEOUT": str(timeout_s)}, echo=echo)
    pid = int(pe.state("pid").read_text())
    return EmulatorSession(pe, url, pid, timeout_s)
