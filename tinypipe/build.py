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
                    core_dir: Path | None = None) -> dict[str, str]:
    """Write the board's PlatformIO support files into `project_dir`; return the [env] keys.

    Values are strings; list-valued keys (build_flags, lib_deps) hold one item per line.
    `runtime="tflm"` adds the board's TFLM library to lib_deps (real boards) and checks the
    board offers it. `core_dir` (emulated boards) defaults to `<project_dir>/.pio-core`.
    """
    if runtime is not None:
        board.require_runtime(runtime)
    project_dir = Path(project_dir)
    project_dir.mkdir(parents=True, exist_ok=True)
    if board.emulator is None:
        assert board.platformio is not None
        pio = board.platformio
        env = {"platform": pio.platform, "board": pio.board}
        if pio.framework:
            env["framework"] = pio.framework
        if pio.build_flags:
            env["build_flags"] = "\n".join(pio.build_flags)
        lib_deps = list(pio.lib_deps) + (list(board.tflm_lib_deps) if runtime == "tflm" else [])
        if lib_deps:
            env["lib_deps"] = "\n".join(lib_deps)
        if pio.upload_protocol:
            env["upload_protocol"] = pio.upload_protocol
        env["monitor_speed"] = str(pio.monitor_speed or board.serial.baud)
        env.update(pio.extra)
        return env

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


def _run_pio(pe: ProjectEnv, args: list[str], what: str, extra_env: Mapping[str, str] | None = None,
             echo: Callable[[str], None] | None = None) -> str:
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
