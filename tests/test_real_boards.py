"""Real boards, built in CI: the NUCLEO-L4R5ZI and NUCLEO-H7A3ZI-Q projects `tinypipe export`
writes are built and linked unmodified with `pio run`, offline, from a copy of the PlatformIO
package cache in ../shared/pio/core (platform-ststm32 19.6.0 and the STM32Cube L4/H7 frameworks).
Checked: the size report, the link map's breakdown, the fit against the chips' real memory
regions, and that the clock tree, caches and compiler flags of the board files are what gets
compiled. The Arduino HAL (boards whose cores are not in the cache) is compiled against stub
headers, one timer/clock branch per core."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, mlperf_model, tflm_tree
from tinypipe import TEMPLATES_DIR
from tinypipe.bench import memory_breakdown
from tinypipe.boards import Board, check_fit, load_board
from tinypipe.build import LDSCRIPT
from tinypipe.export import FirmwareProject, export, tflm_build_cache
from tinypipe.tflm.library import CODE_BYTES_ALLOWANCE as TFLM_CODE_BYTES

SHARED_PIO_CORE = ROOT.parent / "shared" / "pio" / "core"
NUCLEOS = ["nucleo-l4r5zi", "nucleo-h7a3zi-q"]
PIO = str(Path(sys.executable).parent / "pio")
SIZE_LINE = re.compile(r"(RAM|Flash):.*used (\d+) bytes from (\d+) bytes")
# readelf -S -W: [Nr] Name Type Addr Off Size ES Flg ...; allocated sections have A among the flags.
SECTION_LINE = re.compile(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]{8})\s+[0-9a-f]+\s+([0-9a-f]+)"
                          r"\s+\S+\s+(\S*A\S*)")


def _writable_copy(src: Path, dst: Path) -> Path:
    """A copy of the read-only package cache that builds may write into (the stm32cube builder
    renames startup files and writes *_hal_conf.h; PlatformIO writes appstate.json and .cache)."""
    shutil.copytree(src, dst, symlinks=True)
    for path in [dst, *dst.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR | (stat.S_IXUSR if path.is_dir() else 0))
    return dst


@pytest.fixture(scope="module")
def pio_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One writable copy of ../shared/pio/core for this module's builds (they run one after the
    other), and tinypipe's own build cache, the one the emulated boards' tflm builds use: a
    NUCLEO-L4R5ZI takes TFLite Micro's objects from a qemu-m4 build (or gives them to it)."""
    if not (SHARED_PIO_CORE / "platforms" / "ststm32").is_dir():
        pytest.skip(f"no offline PlatformIO package cache at {SHARED_PIO_CORE} (../shared/pio is absent): "
                    "the NUCLEO builds need platform-ststm32 19.6.0 and the STM32Cube frameworks from it")
    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc is not installed (make setup)")
    core = _writable_copy(SHARED_PIO_CORE, tmp_path_factory.mktemp("pio") / "core")
    cache = tflm_build_cache()
    cache.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "PLATFORMIO_CORE_DIR": str(core), "PLATFORMIO_BUILD_CACHE_DIR": str(cache),
            "PLATFORMIO_SETTING_ENABLE_TELEMETRY": "no", "PLATFORMIO_DISABLE_UPGRADE_CHECK": "true"}


class Built:
    """One board's KWS firmware: the exported project, `pio run`'s log, the ELF and the map."""

    def __init__(self, board: Board, project: FirmwareProject, log: str, env: dict[str, str]) -> None:
        self.board, self.project, self.log, self.env = board, project, log, env
        self.build_dir = project.dir / ".pio" / "build" / board.id
        self.elf, self.map = self.build_dir / "firmware.elf", self.build_dir / "firmware.map"


class Builds:
    """board id -> Built: exported and built on first use with a plain `pio run`, as a user would."""

    def __init__(self, env: dict[str, str], tmp: pytest.TempPathFactory) -> None:
        self.env, self.tmp = env, tmp
        self.done: dict[str, Built] = {}

    def __getitem__(self, key: str | tuple[str, str]) -> Built:
        """`board_id` (the aot runtime) or `(board_id, runtime)`; tflm builds TensorFlow Lite Micro
        from ../shared/tflm/tree through the project's own library manifests."""
        board_id, runtime = (key, "aot") if isinstance(key, str) else key
        if runtime == "tflm":
            tflm_tree()
        key = f"{board_id}-{runtime}"
        if key not in self.done:
            out = self.tmp.mktemp(key) / "fw"
            project = export(mlperf_model("kws_ref_model"), board_id, out, runtime=runtime)
            proc = subprocess.run([PIO, "run", "-d", str(out)], env=self.env, capture_output=True, text=True,
                                  timeout=1800)
            log = proc.stdout + proc.stderr
            assert proc.returncode == 0, log[-4000:]
            self.done[key] = Built(load_board(board_id), project, log, self.env)
        return self.done[key]


@pytest.fixture(scope="module")
def built(pio_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Builds:
    return Builds(pio_env, tmp_path_factory)


def _sections(elf: Path) -> dict[str, tuple[int, int]]:
    """Allocated ELF sections: name -> (address, size)."""
    out = subprocess.run(["arm-none-eabi-readelf", "-S", "-W", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    found = {}
    for line in out.splitlines():
        m = SECTION_LINE.match(line)
        if m and int(m.group(3), 16):
            found[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16))
    return found


def _symbols(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    rows = (line.split() for line in out.splitlines())
    return {parts[2]: int(parts[0], 16) for parts in rows if len(parts) == 3}


def _package_ldscript_regions(board: Board) -> dict[str, tuple[int, int]]:
    """MEMORY regions of the linker script in the cache's tool-ldscripts-ststm32 (written from the
    device headers): an independent record of the chip's memory map to hold the board file to."""
    family = "stm32h7" if "h7" in board.id else "stm32l4"
    script = next((SHARED_PIO_CORE / "packages" / "tool-ldscripts-ststm32" / family).glob("*_FLASH.ld"))
    regions = {}
    for name, origin, length in re.findall(r"^\s*(\w+)\s*\([rwx]+\)\s*:\s*ORIGIN\s*=\s*(0x[0-9A-Fa-f]+),\s*"
                                           r"LENGTH\s*=\s*(\d+)K", script.read_text(), re.M):
        regions[name] = (int(origin, 16), int(length) * 1024)
    return regions


@pytest.mark.slow
@pytest.mark.parametrize(("board_id", "runtime"), [
    ("nucleo-l4r5zi", "aot"), ("nucleo-l4r5zi", "tflm"), ("nucleo-h7a3zi-q", "aot"),
    # make mlperf: it has just compiled the same TFLite Micro objects for qemu-m7, which
    # test_tflm_compiles_as_on_the_emulated_core holds the H7's commands to in make test
    pytest.param("nucleo-h7a3zi-q", "tflm", marks=pytest.mark.mlperf)])
def test_nucleo_builds_offline_and_fits_the_chip(board_id: str, runtime: str, built: Builds) -> None:
    b = built[board_id, runtime]
    board = b.board
    # Pinned versions, resolved from the cache: nothing was downloaded.
    # (tflm: PlatformIO links the two TFLite Micro manifests tinypipe wrote, symlink://, no download)
    installs = [line for line in b.log.splitlines() if "Installing" in line and "symlink://" not in line]
    assert not installs and "framework-stm32cube" in b.log, installs
    assert re.search(r"framework-stm32cube(l4 @ 1\.18\.1|h7 @ 1\.12\.1)", b.log), b.log[-3000:]
    assert re.search(r"warning:", b.log) is None, "tinypipe's sources, the HAL and the framework build clean"

    # The size report PlatformIO prints agrees with the ELF, and the link map's breakdown adds up.
    size = subprocess.run(["arm-none-eabi-size", "-B", "-d", str(b.elf)], capture_output=True, text=True,
                          check=True).stdout.splitlines()[1].split()
    text, data, bss = int(size[0]), int(size[1]), int(size[2])
    report = {kind: (int(used), int(limit)) for kind, used, limit in SIZE_LINE.findall(b.log)}
    sections = _sections(b.elf)
    counted = sum(sections[name][1] for name in (".text", ".rodata", ".data"))  # what ststm32 sums
    assert report["Flash"] == (counted, board.memory.flash.size)
    assert 0 < text + data - counted < 1024  # the vector table and init/unwind tables it leaves out
    assert report["RAM"] == (sections[".data"][1] + sections[".bss"][1], board.memory.ram.size)
    assert bss == sections[".bss"][1] + sections["._user_heap_stack"][1]  # size -B counts heap and stack
    parts = memory_breakdown(b.map)
    assert parts["weights_bytes"] >= b.project.model_flash_bytes  # the model's const arrays
    assert parts["code_bytes"] > 5_000 and parts["harness_bytes"] > 5_000
    assert sum(parts.values()) <= text + data
    # The firmware's own code fits the flash the board file reserves for it (plus, for tflm, the
    # allowance export plans for TensorFlow Lite Micro's code); the whole build fits.
    allowance = TFLM_CODE_BYTES if runtime == "tflm" else 0
    assert text + data - parts["weights_bytes"] <= board.memory.flash_reserve + allowance
    if runtime == "tflm":
        assert "-DTF_LITE_STATIC_MEMORY" in b.log or "tflite-micro-cmsis-nn" in b.log
    check_fit(board, text + data, data + bss, "the KWS firmware")
    # A fault reports itself over the UART: the HAL's HardFault_Handler, not the startup's weak loop.
    nm = subprocess.run(["arm-none-eabi-nm", str(b.elf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^[0-9a-f]+ T HardFault_Handler$", nm, re.M) and " T tp_stm32_fault_report" in nm

    # The board file's memory map is the chip's (the cache's device-header linker script) ...
    chip = _package_ldscript_regions(board)
    assert chip["FLASH"] == (board.memory.flash.base, board.memory.flash.size)
    assert chip["RAM"] == (board.memory.ram.base, board.memory.ram.size)
    if board.memory.fast_ram is not None:
        assert chip["DTCMRAM"] == (board.memory.fast_ram.base, board.memory.fast_ram.size)
    # ... and every allocated section lies in it: code and weights in flash, data in the RAM chosen.
    regions = [(r.base, r.size) for r in (board.memory.flash, board.memory.ram, board.memory.fast_ram) if r]
    for name, (addr, length) in _sections(b.elf).items():
        assert any(base <= addr and addr + length <= base + size for base, size in regions), (name, hex(addr))


def _tflm_commands(project: Path, env: dict[str, str]) -> list[dict[str, str]]:
    """TFLite Micro's C++ compile commands, from PlatformIO's compile database of `project`."""
    subprocess.run([PIO, "run", "-d", str(project), "-t", "compiledb"], env=env, check=True,
                   capture_output=True)
    commands = json.loads((project / "compile_commands.json").read_text())
    return [c for c in commands if c["file"].endswith(".cc") and "tensorflow/lite/micro/" in c["file"]]


def _assert_schema_precompiled(tflm: list[dict[str, str]], env: dict[str, str]) -> None:
    """TFLite Micro's C++ files that read the flatbuffers schema are compiled with it precompiled,
    the others without it (loading it would cost them 2.5 s), and GCC takes it for the exact
    command PlatformIO runs with the framework's own toolchain (`-H` marks a precompiled header it
    uses with `!`; an invalid one would be parsed from source, silently)."""
    with_schema = {Path(c["file"]).name: "tflm_schema.h" in c["command"] for c in tflm}
    assert len(tflm) > 30 and sum(with_schema.values()) > 20
    assert with_schema["micro_interpreter.cc"] and with_schema["micro_allocator.cc"]
    assert not with_schema["micro_log.cc"] and not with_schema["micro_time.cc"]
    command = next(c for c in tflm if c["file"].endswith("/micro_interpreter.cc"))
    args = [*shlex.split(command["command"]), "-H", "-fsyntax-only"]
    args[0] = shutil.which(Path(args[0]).name) or args[0]  # the cache's toolchain entries name Debian's
    proc = subprocess.run(args, cwd=command["directory"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"^! \S+tflm_schema\.h\.gch$", proc.stderr, re.M), proc.stderr[:2000]


@pytest.mark.parametrize("board_id", NUCLEOS)
def test_tflm_compiles_as_on_the_emulated_core(board_id: str, pio_env: dict[str, str],
                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    """The NUCLEO compiles TFLite Micro exactly as the emulated board with its core does (the same
    commands into the same object paths, none of the STM32Cube framework's defines or includes),
    so PlatformIO's build cache gives one build the other's objects, and what make mlperf measures
    and validates on QEMU is the code the chip runs. From the compile databases PlatformIO makes of
    both exported projects, with the real framework's builder (nothing is compiled but the
    precompiled schema, which GCC must accept for those commands)."""
    board = load_board(board_id)
    twin = load_board({"cortex-m4": "qemu-m4", "cortex-m7": "qemu-m7"}[board.core])
    assert (twin.fpu, twin.dsp, twin.mve) == (board.fpu, board.dsp, board.mve)
    tflm_tree()
    projects = {b.id: export(mlperf_model("kws_ref_model"), b.id, tmp_path_factory.mktemp(b.id) / "fw",
                             runtime="tflm").dir for b in (board, twin)}
    real = _tflm_commands(projects[board.id], pio_env)
    own_core = {k: v for k, v in os.environ.items() if k != "PLATFORMIO_CORE_DIR"}  # the project's .pio-core
    emulated = _tflm_commands(projects[twin.id], own_core)

    def normalized(commands: list[dict[str, str]]) -> dict[str, list[str]]:
        return {c["file"]: shlex.split(c["command"])[1:] for c in commands}  # without the compiler's path

    assert normalized(real) == normalized(emulated)
    assert all(re.search(r"\.pio/build/tflm-[0-9a-f]{16}/", c["command"]) for c in real)
    assert not any(flag.startswith(("-DSTM32", "-DUSE_HAL", "-DF_CPU", "-DHSE", "-DTP_"))
                   for c in real for flag in shlex.split(c["command"]))
    _assert_schema_precompiled(real, pio_env)


@pytest.mark.slow
def test_h7a3_puts_arena_and_stack_in_dtcm(built: Builds) -> None:
    b = built["nucleo-h7a3zi-q"]
    dtcm = b.board.memory.fast_ram
    assert dtcm is not None and dtcm.base is not None
    sym = _symbols(b.elf)
    assert dtcm.base <= sym["arena"] < dtcm.base + dtcm.size  # the aot arena
    assert sym["_estack"] == dtcm.base + dtcm.size  # the stack grows down from the top of DTCM
    ldscript = (b.project.dir / LDSCRIPT).read_text()
    assert "ORIGIN = 0x20000000, LENGTH = 131072" in ldscript and "fit there" in ldscript
    # The L4R5's one SRAM holds the same.
    l4 = built["nucleo-l4r5zi"]
    assert _symbols(l4.elf)["_estack"] == 0x20000000 + 640 * 1024


def _compile_command(b: Built, source: str) -> list[str]:
    """The exact compile command PlatformIO uses for `source` (pio run -t compiledb)."""
    subprocess.run([PIO, "run", "-d", str(b.project.dir), "-t", "compiledb"], env=b.env, check=True,
                   capture_output=True, timeout=600)
    db = json.loads((b.project.dir / "compile_commands.json").read_text())
    entry = next(e for e in db if e["file"].endswith(source))
    argv = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    # The cache's toolchain package points at Debian's compiler; call it by name.
    argv[0] = shutil.which(Path(argv[0]).name) or argv[0]
    i = argv.index("-o")
    del argv[i:i + 2]
    argv.remove("-c")
    return argv


def _preprocess(b: Built, argv: list[str], *flags: str) -> str:
    return subprocess.run([*argv, *flags, "-o", "-"], cwd=b.project.dir, capture_output=True, text=True,
                          check=True).stdout


def _body(code: str, function: str) -> str:
    start = code.index(f" {function}(void)\n{{")
    return code[start:code.index("\n}\n", start)]


@pytest.mark.slow
@pytest.mark.parametrize("board_id", NUCLEOS)
def test_clock_caches_and_flags_are_what_gets_compiled(board_id: str, built: Builds) -> None:
    b = built[board_id]
    board, tree = b.board, b.board.clock_tree
    assert tree is not None
    argv = _compile_command(b, "src/stm32cube_hal.c")
    # Flags: -O2 and hard float like the emulated boards, PlatformIO's -Os gone, warnings are errors.
    assert "-O2" in argv and "-Os" not in argv and "-Werror" in argv
    assert "-mfloat-abi=hard" in argv and f"-mfpu={board.fpu}" in argv and f"-mcpu={board.core}" in argv
    macros = dict(re.findall(r"#define (\w+) ?(.*)", _preprocess(b, argv, "-E", "-dM")))
    assert "__OPTIMIZE__" in macros and "__OPTIMIZE_SIZE__" not in macros
    assert "__ARM_PCS_VFP" in macros  # the hard-float calling convention
    assert macros["TP_CLOCK_HZ"] == f"{board.clock_hz}u"
    for k in "MNPQR":
        assert int(macros[f"TP_CLOCK_PLL_{k}"]) == tree.pll[k.lower()]
    assert int(macros["TP_CLOCK_FLASH_LATENCY"].split()[0]) == tree.flash_latency
    assert macros["TP_CLOCK_VOLTAGE_SCALE"] == tree.voltage_scale
    # The code compiled in: with directives resolved and macros left as written.
    code = _preprocess(b, argv, "-E", "-fdirectives-only")
    power, osc, caches = _body(code, "power_init"), _body(code, "oscillator_init"), _body(code, "cache_init")
    if board_id == "nucleo-h7a3zi-q":
        assert "SMPS" in macros and "STM32H7A3xxQ" in macros and macros["HSE_VALUE"] == "8000000U"
        assert macros["TP_CLOCK_SUPPLY"] == "PWR_DIRECT_SMPS_SUPPLY"
        assert "HAL_PWREx_ConfigSupply(TP_CLOCK_SUPPLY)" in power
        assert "__HAL_PWR_VOLTAGESCALING_CONFIG(TP_CLOCK_VOLTAGE_SCALE)" in power
        assert "RCC_HSE_BYPASS" in osc and "RCC_PLLSOURCE_HSE" in osc and "PLLVCOSEL" in osc
        assert "SCB_EnableICache();" in caches and "SCB_EnableDCache();" in caches
        assert "PREFETCH" not in caches
    else:
        assert macros["TP_CLOCK_VOLTAGE_SCALE"] == "PWR_REGULATOR_VOLTAGE_SCALE1_BOOST"
        assert "HAL_PWREx_ControlVoltageScaling(TP_CLOCK_VOLTAGE_SCALE)" in power and "Supply" not in power
        assert "RCC_PLLSOURCE_HSI" in osc and "HSE" not in osc
        for art in ("INSTRUCTION_CACHE", "DATA_CACHE", "PREFETCH_BUFFER"):
            assert f"__HAL_FLASH_{art}_ENABLE();" in caches
        assert "SCB_Enable" not in caches
    # The ELF: hard-float calling convention, and the functions that set the clock up are linked.
    attributes = subprocess.run(["arm-none-eabi-readelf", "-A", str(b.elf)], capture_output=True, text=True,
                                check=True).stdout
    assert "Tag_ABI_VFP_args: VFP registers" in attributes
    symbols = _symbols(b.elf)
    clock_setup = {"HAL_RCC_OscConfig", "HAL_RCC_ClockConfig", "SystemCoreClockUpdate", "tp_hal_init"}
    assert clock_setup <= symbols.keys()
    assert ("HAL_PWREx_ConfigSupply" in symbols) == (board_id == "nucleo-h7a3zi-q")


# --- the Arduino HAL, against stub cores ----------------------------------------------------------

STUB_ARDUINO = """
#pragma once
#include <stdint.h>
#include <stddef.h>
#define F_CPU 133000000L
struct SerialStub {
    void begin(unsigned long) {}
    size_t write(const uint8_t *, size_t n) { return n; }
    int available() { return 0; }
    int read() { return -1; }
    void flush() {}
    explicit operator bool() const { return true; }
};
extern SerialStub Serial;
unsigned long millis(void);
void delay(unsigned long);
#if defined(ARDUINO_ARCH_ESP32)
struct EspStub { uint32_t getCycleCount(); uint32_t getCpuFreqMHz(); };
extern EspStub ESP;
#endif
#if defined(__IMXRT1062__)
extern volatile uint32_t F_CPU_ACTUAL;
#endif
"""
STUB_PICO = {
    "hardware/clocks.h": "#pragma once\n#include <stdint.h>\nenum clock_index { clk_sys = 5 };\n"
                         "uint32_t clock_get_hz(enum clock_index);\n",
    "hardware/exception.h": "#pragma once\nenum exception_number { SYSTICK_EXCEPTION = -1 };\n"
                            "typedef void (*exception_handler_t)(void);\n"
                            "exception_handler_t exception_set_exclusive_handler(enum exception_number, "
                            "exception_handler_t);\n",
}


@pytest.mark.parametrize(("core", "defines", "timer"), [
    ("teensy41", ["-D__IMXRT1062__"], "DWT"),
    ("nano33ble", ["-DARDUINO_ARCH_MBED"], "DWT"),
    ("esp32s3", ["-DARDUINO_ARCH_ESP32"], "CCOUNT"),
    ("pico", ["-DARDUINO_ARCH_RP2040"], "SYSTICK"),
])
def test_arduino_hal_compiles_for_each_core(core: str, defines: list[str], timer: str,
                                            tmp_path: Path) -> None:
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no host C++ compiler")
    (tmp_path / "Arduino.h").write_text(STUB_ARDUINO)
    for name, text in STUB_PICO.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "tp_config.h").write_text(f"#define TP_SERIAL_BAUD 115200\n#define TP_TIMER_{timer} 1\n")
    for header in ("tp_hal.h", "tp_harness.h"):
        shutil.copy(TEMPLATES_DIR / "common" / header, tmp_path)
    shutil.copy(TEMPLATES_DIR / "hal" / "tp_cycle_counter.h", tmp_path)
    proc = subprocess.run([cxx, "-std=gnu++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", *defines,
                           "-I", str(tmp_path), str(TEMPLATES_DIR / "hal" / "arduino_hal.cpp")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert load_board(core).timer.kind == timer.lower()


def test_dwt_is_never_written() -> None:
    """Teensy's micros() is computed from CYCCNT: tinypipe enables the counter, never resets it."""
    header = (TEMPLATES_DIR / "hal" / "tp_cycle_counter.h").read_text()
    assert re.search(r"TP_DWT_CYCCNT\s*=", header) is None
    hal = (TEMPLATES_DIR / "hal" / "arduino_hal.cpp").read_text()
    code = re.sub(r"/\*.*?\*/", "", hal, flags=re.S)  # without comments
    assert "micros()" not in code and "TP_TIMER_HZ" not in code  # no microseconds; the clock from the core
