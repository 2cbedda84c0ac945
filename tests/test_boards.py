"""Boards are data: every YAML loads and is consistent; bad files, unknown boards and models
that do not fit fail with one clear sentence. No builds here (see test_platform.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinypipe import BOARDS_DIR
from tinypipe.boards import check_fit, list_boards, load_board
from tinypipe.build import prepare_project, write_platformio_ini
from tinypipe.cli import app
from tinypipe.errors import TinypipeError

EMULATED = {"qemu-m3", "qemu-m4", "qemu-m7", "qemu-m33", "qemu-m55", "qemu-stm32f405", "qemu-microbit"}
REAL = {"nano33ble", "esp32s3", "pico", "nucleo-l4r5zi", "nucleo-h7a3zi-q", "teensy41"}


def test_all_boards_load_and_are_consistent() -> None:
    boards = {b.id: b for b in list_boards()}
    assert {b for b, v in boards.items() if v.emulated} == EMULATED
    assert {b for b, v in boards.items() if not v.emulated} >= REAL
    for b in boards.values():
        assert b.memory.flash_for_model > 0 and b.memory.ram_for_model > 0
        if b.emulated:  # one tick is a whole number of instructions under -icount shift=0
            assert b.timer.unit == "instructions"
            assert b.timer.units_per_tick * b.timer.tick_hz == 1_000_000_000, b.id
        else:
            assert b.platformio is not None and b.timer.unit == "cycles"
        if "tflm" in b.runtimes:  # the pinned tree, or a vendor's pinned library
            assert bool(b.tflm_lib_deps) == (b.tflm_source == "vendor"), b.id
        for missing in {"aot", "tflm"} - set(b.runtimes):
            assert b.unsupported[missing], b.id


def test_realistic_small_memories() -> None:
    microbit, f405 = load_board("qemu-microbit"), load_board("qemu-stm32f405")
    assert (microbit.memory.flash.size, microbit.memory.ram.size) == (256 * 1024, 16 * 1024)
    assert (f405.memory.flash.size, f405.memory.ram.size) == (1024 * 1024, 128 * 1024)
    assert microbit.core == "cortex-m0" and microbit.fpu == "none" and microbit.serial.uart == "nrf51"


def test_unknown_board_lists_the_known_ones() -> None:
    with pytest.raises(TinypipeError, match="unknown board 'qemu-m99'; known boards: .*qemu-m4"):
        load_board("qemu-m99")


def test_check_fit_says_need_limit_and_overshoot() -> None:
    board = load_board("qemu-microbit")
    with pytest.raises(TinypipeError) as err:
        check_fit(board, flash_bytes=50_000, ram_bytes=100_708, what="vww_96_int8")
    msg = str(err.value)
    assert msg.startswith("vww_96_int8: needs 104,804 B of RAM")
    assert "qemu-microbit has 16,384 B: 86 KB over" in msg
    with pytest.raises(TinypipeError, match="of flash .* qemu-microbit has 262,144 B"):
        check_fit(board, flash_bytes=300_000, ram_bytes=1000, what="big")
    check_fit(board, flash_bytes=200_000, ram_bytes=10_000, what="small")  # fits: no error


def test_runtime_not_offered_says_why(tmp_path: Path) -> None:
    text = (BOARDS_DIR / "qemu-m4.yaml").read_text().replace("id: qemu-m4", "id: aot-only").replace(
        "runtimes: [aot, tflm]", 'runtimes: [aot]\nunsupported: {tflm: "the vendor says no"}')
    (tmp_path / "aot-only.yaml").write_text(text)
    with pytest.raises(TinypipeError, match="aot-only does not offer the tflm runtime: the vendor says no"):
        load_board("aot-only", tmp_path).require_runtime("tflm")
    with pytest.raises(TinypipeError, match="qemu-m4 does not offer the tvm runtime"):
        load_board("qemu-m4").require_runtime("tvm")


def _write(tmp: Path, board_id: str, text: str) -> Path:
    path = tmp / f"{board_id}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("edit", "field", "problem"), [
    (("clock_hz: 25000000", "clock_hz: fast"), "timer.clock_hz", "must be an integer"),
    (("uart: cmsdk", "uart: usb"), "serial.uart", "expected one of: cmsdk"),
    (("  reserve: {flash: 24576, ram: 12288}\n", ""), "memory.reserve", "is missing"),
    (("runtimes: [aot, tflm]", "runtimes: [aot, tvm]"), "runtimes", "lists 'tvm'"),
    (("id: qemu-m4", "id: qemu-m4\nflavour: mint"), "flavour", "is not a known field"),
    (("id: qemu-m4", "id: other"), "id", "they must match"),
])
def test_schema_errors_name_the_file_and_field(tmp_path: Path, edit: tuple[str, str], field: str,
                                              problem: str) -> None:
    text = (BOARDS_DIR / "qemu-m4.yaml").read_text()
    assert edit[0] in text
    path = _write(tmp_path, "qemu-m4", text.replace(edit[0], edit[1]))
    with pytest.raises(TinypipeError) as err:
        load_board("qemu-m4", tmp_path)
    assert str(path) in str(err.value) and f"field `{field}`" in str(err.value), str(err.value)
    assert problem in str(err.value)


def test_invalid_yaml_is_one_error(tmp_path: Path) -> None:
    _write(tmp_path, "bad", "id: bad\nname: [unclosed\n")
    with pytest.raises(TinypipeError, match="bad.yaml is not valid YAML"):
        load_board("bad", tmp_path)


def test_prepare_project_for_a_real_board(tmp_path: Path) -> None:
    board = load_board("nano33ble")
    env = prepare_project(board, tmp_path, runtime="aot")
    assert env["platform"] == "platformio/nordicnrf52@10.4.0" and env["board"] == "nano33ble"
    assert env["framework"] == "arduino"
    assert env["platform_packages"] == "platformio/framework-arduino-mbed@4.1.1"
    flags = env["build_flags"].split("\n")
    assert flags[:5] == ["-O2", "-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=softfp"]
    assert env["build_unflags"] == "-Os" and env["extra_scripts"] == "pre:tp_machine_flags.py"
    assert "lib_deps" not in env and "board_build.ldscript" not in env
    if board.tflm_lib_deps:  # a vendor TFLM library joins lib_deps for the tflm runtime only
        tflm = prepare_project(board, tmp_path, "tflm")
        assert set(board.tflm_lib_deps) <= set(tflm["lib_deps"].split("\n"))
    with pytest.raises(TinypipeError, match="does not offer the tvm runtime"):
        prepare_project(load_board("teensy41"), tmp_path, runtime="tvm")


def test_prepare_project_for_a_nucleo(tmp_path: Path) -> None:
    """Pins, -O2 hard float, the HAL's clock tree header, the linker script, the missing manifest."""
    board = load_board("nucleo-h7a3zi-q")
    env = prepare_project(board, tmp_path, runtime="aot", arena_bytes=16_768)
    assert env["platform"] == "platformio/ststm32@19.6.0" and env["framework"] == "stm32cube"
    assert env["platform_packages"].split("\n") == ["platformio/framework-stm32cubeh7@1.12.1",
                                                     "platformio/toolchain-gccarmnoneeabi@1.70201.0"]
    assert env["build_flags"].split("\n") == ["-O2", "-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16",
                                              "-mfloat-abi=hard", "-Wl,-Map,${BUILD_DIR}/firmware.map"]
    assert env["build_unflags"] == "-Os" and env["board_build.ldscript"] == "tinypipe.ld"
    script = (tmp_path / "tp_machine_flags.py").read_text()
    assert '["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"]' in script
    assert "env.Append(LINKFLAGS=MACHINE_FLAGS" in script
    assert 'BOARD_DEFINES = [["HSE_VALUE", "8000000U"]]' in script  # not build_flags: TFLM stays the core's
    manifest = json.loads((tmp_path / "boards" / "nucleo_h7a3zi_q.json").read_text())
    build = manifest["build"]
    assert build["f_cpu"] == "280000000L" and build["product_line"] == "STM32H7A3xxQ"
    assert build["mcu"] == "stm32h7a3zit6q" and "-DSTM32H7A3xxQ" in build["extra_flags"]
    assert manifest["upload"]["maximum_size"] == 2 * 1024 * 1024 and manifest["debug"]["jlink_device"]
    header = (tmp_path / "include" / "tp_board.h").read_text()
    for line in ("TP_CLOCK_SUPPLY PWR_DIRECT_SMPS_SUPPLY", "TP_CLOCK_SOURCE_HSE_BYPASS 1",
                 "TP_CLOCK_PLL_N 280", "TP_CLOCK_FLASH_LATENCY 6", "TP_CACHE_ICACHE 1", "TP_CACHE_DCACHE 1",
                 "TP_CLOCK_APB4_DIV 2", "TP_CLOCK_VOLTAGE_SCALE PWR_REGULATOR_VOLTAGE_SCALE0"):
        assert f"#define {line}" in header, line
    ld = (tmp_path / "tinypipe.ld").read_text()
    assert "RAM (xrw)   : ORIGIN = 0x20000000, LENGTH = 131072" in ld  # DTCM: 16,768 + 16,384 B fit
    assert "_Min_Stack_Size = 0x2000;" in ld and "ORIGIN = 0x08000000, LENGTH = 2097152" in ld
    for arena in (200_000, None):  # too big for DTCM, or unknown: the 1 MB AXI SRAM
        prepare_project(board, tmp_path, arena_bytes=arena)
        assert "RAM (xrw)   : ORIGIN = 0x24000000, LENGTH = 1048576" in (tmp_path / "tinypipe.ld").read_text()
    l4 = prepare_project(load_board("nucleo-l4r5zi"), tmp_path / "l4", arena_bytes=16_768)
    assert "-mfpu=fpv4-sp-d16" in l4["build_flags"] and "HSE_VALUE" not in l4["build_flags"]
    assert not (tmp_path / "l4" / "boards").exists()  # platform-ststm32 19.6.0 has nucleo_l4r5zi
    l4_header = (tmp_path / "l4" / "include" / "tp_board.h").read_text()
    assert "PWR_REGULATOR_VOLTAGE_SCALE1_BOOST" in l4_header and "#define TP_CACHE_PREFETCH 1" in l4_header
    assert "TP_CLOCK_SUPPLY" not in l4_header and "#define TP_CLOCK_SOURCE_HSI 1" in l4_header


def test_prepare_project_for_an_emulated_board(tmp_path: Path) -> None:
    board = load_board("qemu-stm32f405")
    env = prepare_project(board, tmp_path)
    assert env["board"] == "tinypipe-qemu-stm32f405" and env["platform"].startswith("symlink:///")
    assert (Path(env["platform"].removeprefix("symlink://")) / "platform.json").is_file()
    manifest = json.loads((tmp_path / "boards" / "tinypipe-qemu-stm32f405.json").read_text())
    tp = manifest["build"]["tinypipe"]
    assert tp["memory"]["flash_base"] == 0x08000000 and tp["memory"]["ram_size"] == 131072
    assert tp["uart"] == "stm32" and tp["tick_div"] == 21 and tp["machine"] == "netduinoplus2"
    assert "-mfpu=fpv4-sp-d16" in tp["cpu_flags"] and "-mfloat-abi=hard" in tp["cpu_flags"]
    assert (tmp_path / "include" / "tp_hal.h").is_file()
    piopm = json.loads((tmp_path / ".pio-core" / "packages" / "tool-scons" / ".piopm").read_text())
    assert piopm["spec"]["owner"] == "platformio" and piopm["version"].startswith("4.")
    ini = write_platformio_ini(tmp_path, board, {**env, "build_flags": "-DA=1\n-DB=2"}).read_text()
    assert "core_dir = .pio-core" in ini and "[env:qemu-stm32f405]" in ini
    assert "build_flags =\n    -DA=1\n    -DB=2" in ini


def test_cli_boards_lists_every_board() -> None:
    result = CliRunner().invoke(app, ["boards", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in json.loads(result.output)}
    assert set(rows) >= EMULATED | REAL
    assert rows["qemu-microbit"]["ram"] == 16384 and rows["qemu-microbit"]["emulated"] is True
    assert rows["nucleo-h7a3zi-q"]["verified"] == {"build": "ci", "link": "ci", "run": "none",
                                                  "why": load_board("nucleo-h7a3zi-q").verified.why}
    assert rows["esp32s3"]["verified"]["build"] == "none" and "Xtensa" in rows["esp32s3"]["verified"]["why"]
    assert rows["qemu-m4"]["verified"]["run"] == "ci" and rows["nucleo-h7a3zi-q"]["fast_ram"] == 131072
    table = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["boards"])
    assert "qemu-stm32f405" in table.output and "nucleo-h7a3zi-q" in table.output
    assert "verified (build, link, run)" in table.output and "ci, ci, none" in table.output
    assert "none = not at all" in table.output and "teensy41: framework-arduinoteensy" in table.output


# --- real boards: pins, build flags, what was verified, fail-fast checks -----------------------------

NUCLEOS = {"nucleo-l4r5zi", "nucleo-h7a3zi-q"}
DIGITS = Path(__file__).parent / "data" / "digits_int8.tflite"


@pytest.mark.parametrize("board_id", sorted(REAL))
def test_real_boards_are_pinned_and_say_what_was_verified(board_id: str) -> None:
    from tinypipe.boards import package_name, pin_problem

    board = load_board(board_id)
    pio = board.platformio
    assert pio is not None and pin_problem(pio.platform) is None, pio.platform
    assert all(pin_problem(spec) is None for spec in (*pio.platform_packages, *pio.lib_deps))
    assert any(package_name(spec).startswith("framework-") for spec in pio.platform_packages)
    verified = board.verified
    if board_id in NUCLEOS:  # tests/test_real_boards.py builds and links them offline
        assert (verified.build, verified.link, verified.run) == ("ci", "ci", "none") and verified.why
        assert pio.framework == "stm32cube" and board.clock_tree is not None
        assert board.clock_tree.sysclk_hz // board.clock_tree.dividers.get("sys", 1) == board.clock_hz
    else:  # their cores are not in the offline cache: nothing is claimed
        assert (verified.build, verified.link, verified.run) == ("none", "none", "none") and verified.why
    assert board.build.optimization == "-O2"


def test_pico_uses_earlephilhowers_core_pinned() -> None:
    pico = load_board("pico")
    assert pico.platformio is not None and pico.platformio.extra["board_build.core"] == "earlephilhower"
    assert pico.platformio.platform.startswith("https://github.com/maxgerhardt/platform-raspberrypi.git#")
    core = [s for s in pico.platformio.platform_packages if s.startswith("framework-arduinopico@")]
    assert len(core) == 1 and len(core[0].rsplit("#", 1)[1]) == 40  # a commit, not a branch
    assert pico.timer.kind == "systick" and pico.timer.clock_hz == pico.clock_hz


@pytest.mark.parametrize(("spec", "pinned"), [
    ("platformio/ststm32@19.6.0", True), ("platformio/framework-stm32cubel4 @ 1.18.1", True),
    ("earlephilhower/toolchain-rp2040-earlephilhower@5.100300.230216", True),
    ("https://github.com/maxgerhardt/platform-raspberrypi.git#" + "c932802d" * 5, True),
    ("framework-arduinopico@https://github.com/earlephilhower/arduino-pico.git#4.4.0", True),
    ("ststm32", False), ("platformio/ststm32@^19.6.0", False), ("platformio/ststm32@~19.6", False),
    ("https://github.com/maxgerhardt/platform-raspberrypi.git", False),
    ("framework-arduinopico@https://github.com/earlephilhower/arduino-pico.git#master", False),
])
def test_pin_problem(spec: str, pinned: bool) -> None:
    from tinypipe.boards import pin_problem

    assert (pin_problem(spec) is None) == pinned


@pytest.mark.parametrize(("board_id", "machine"), [
    ("nucleo-l4r5zi", ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]),
    ("nucleo-h7a3zi-q", ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"]),
    ("teensy41", ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"]),
    ("nano33ble", ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=softfp"]),
    ("pico", ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"]),
    ("esp32s3", []),
])
def test_real_boards_build_like_the_emulated_ones(board_id: str, machine: list[str]) -> None:
    from tinypipe.build import cpu_flags, machine_flags, real_build_flags

    board = load_board(board_id)
    assert machine_flags(board) == machine
    flags, unflags = real_build_flags(board)
    assert flags[0] == "-O2" and flags[1:1 + len(machine)] == machine and unflags == ["-Os"]
    twin = {"nucleo-l4r5zi": "qemu-m4", "nucleo-h7a3zi-q": "qemu-m7", "teensy41": "qemu-m7"}.get(board_id)
    if twin:  # the emulated board of the same core compiles with the same machine flags
        assert cpu_flags(load_board(twin)) == machine


@pytest.mark.parametrize(("edit", "field", "problem"), [
    (("platform: platformio/ststm32@19.6.0", "platform: ststm32"), "platformio.platform", "not pinned"),
    (("- platformio/framework-stm32cubel4@1.18.1", "- platformio/framework-stm32cubel4@^1.18"),
     "platformio.platform_packages", "not pinned"),
    (("    - platformio/framework-stm32cubel4@1.18.1\n", ""), "platformio.platform_packages",
     "must pin the stm32cube framework package"),
    (("pll: {m: 1, n: 15,", "pll: {m: 1, n: 16,"), "clock_tree.pll",
     "a 128,000,000 Hz core clock; clock_hz is 120,000,000"),
    (("dividers: {ahb: 1, apb1: 1,", "dividers: {ahb: 3, apb1: 1,"), "clock_tree.dividers.ahb",
     "power of two"),
    (("caches: [icache, dcache, prefetch]", "caches: [l2]"), "clock_tree.caches", "lists 'l2'"),
    (("  run: none\n", "  run: maybe\n"), "verified.run", "expected one of: ci, manual, none"),
    (("verified:\n", "checked:\n"), "checked", "is not a known field"),
    (("verified:\n", "build: {float_abi: soft}\nverified:\n"), "build.why", "is required"),
])
def test_real_board_schema_errors(tmp_path: Path, edit: tuple[str, str], field: str, problem: str) -> None:
    text = (BOARDS_DIR / "nucleo-l4r5zi.yaml").read_text()
    assert edit[0] in text
    _write(tmp_path, "nucleo-l4r5zi", text.replace(edit[0], edit[1], 1))
    with pytest.raises(TinypipeError) as err:
        load_board("nucleo-l4r5zi", tmp_path)
    assert f"field `{field}`" in str(err.value) and problem in str(err.value), str(err.value)


def test_h7a3_fit_is_checked_against_its_largest_ram() -> None:
    """1.4 MB of SRAM in five regions: an arena must fit the 1 MB AXI SRAM, the largest of them."""
    board = load_board("nucleo-h7a3zi-q")
    assert board.memory.ram.size == 1024 * 1024 and board.memory.fast_ram is not None
    check_fit(board, 100_000, 1024 * 1024 - board.memory.ram_reserve, "just fits")
    with pytest.raises(TinypipeError, match="needs 1,200,000 B of RAM .* nucleo-h7a3zi-q has 1,048,576 B"):
        check_fit(board, 100_000, 1_200_000 - board.memory.ram_reserve, "big")


def test_real_board_without_port_fails_before_anything_is_built(tmp_path: Path) -> None:
    from tinypipe.bench import bench
    from tinypipe.build import check_serial_port, flash
    from tinypipe.device.target import board_device
    from tinypipe.export import export

    with pytest.raises(TinypipeError, match="nucleo-l4r5zi is a real board: bench needs its serial port"):
        bench(DIGITS, "nucleo-l4r5zi", tmp_path / "bench")
    with pytest.raises(TinypipeError, match="serial port /dev/tp-no-such-port does not exist"):
        bench(DIGITS, "nano33ble", tmp_path / "bench", port="/dev/tp-no-such-port")
    assert not (tmp_path / "bench" / "firmware").exists()
    with pytest.raises(TinypipeError, match="pico is a real board: validate needs its serial port"):
        board_device("pico", None)
    project = export(DIGITS, "nucleo-h7a3zi-q", tmp_path / "fw")
    with pytest.raises(TinypipeError, match="serial port /dev/tp-no-such-port does not exist") as err:
        flash(project.dir, port="/dev/tp-no-such-port")
    assert "nothing was built" in err.value.what and not (project.dir / ".pio").exists()
    port = tmp_path / "ttyFAKE"
    port.touch()
    check_serial_port("pico", str(port))  # exists
    check_serial_port("pico", "socket://127.0.0.1:9")  # a pyserial URL: checked when opened
    check_serial_port("pico", None, required=False)  # flash may leave the upload port to PlatformIO


def _core_with(tmp_path: Path, *packages: tuple[str, str, str]) -> Path:
    core = tmp_path / "core"
    for kind, name, version in packages:
        (core / kind / name).mkdir(parents=True)
        (core / kind / name / ".piopm").write_text(json.dumps(
            {"type": kind[:-1], "name": name, "version": version,
             "spec": {"owner": "platformio", "id": None, "name": name, "requirements": None, "uri": None}}))
    return core


def test_missing_package_without_registry_fails_at_once(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """No network and a core dir without the pinned framework: one line naming package and version,
    before PlatformIO spends a minute retrying its registry."""
    from tinypipe import build as build_mod
    from tinypipe.export import export

    project = export(DIGITS, "nucleo-l4r5zi", tmp_path / "fw")
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(_core_with(tmp_path, ("platforms", "ststm32", "19.6.0"))))
    monkeypatch.setattr(build_mod, "registry_reachable", lambda timeout_s=0: False)
    with pytest.raises(TinypipeError) as err:
        build_mod.build(project.dir)
    what = err.value.what
    assert what.startswith("PlatformIO package platformio/framework-stm32cubel4@1.18.1 is missing: not "
                           f"installed in {tmp_path / 'core'} and PlatformIO's registry")
    assert "\n" not in what and "(and 1 more: platformio/toolchain-gccarmnoneeabi@1.70201.0)" in what
    assert "export PLATFORMIO_CORE_DIR" in err.value.hint and "pio pkg install" in err.value.hint
    assert not (project.dir / ".pio").exists()  # PlatformIO never ran
    pe = build_mod.project_env(project.dir)
    monkeypatch.setattr(build_mod, "registry_reachable", lambda timeout_s=0: True)
    build_mod.check_packages(pe)  # with a registry PlatformIO installs what is missing itself
    full = _core_with(tmp_path / "full", ("platforms", "ststm32", "19.6.0"),
                      ("packages", "framework-stm32cubel4", "1.18.1"),
                      ("packages", "toolchain-gccarmnoneeabi", "1.70201.0"))
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(full))
    assert build_mod.missing_packages(pe) == []


def test_platformio_install_failures_are_one_line(tmp_path: Path) -> None:
    from tinypipe import build as build_mod
    from tinypipe.export import export

    pe = build_mod.project_env(export(DIGITS, "nucleo-l4r5zi", tmp_path / "fw").dir)
    offline = ["Processing nucleo-l4r5zi (platform: platformio/ststm32@19.6.0)\n", "-" * 20 + "\n",
               "Tool Manager: Installing platformio/framework-stm32cubel4 @ 1.18.1\n", "HTTPClientError: \n"]
    err = build_mod._install_failure(pe, offline)
    assert err is not None and err.what == ("PlatformIO package platformio/framework-stm32cubel4@1.18.1 is "
                                            "missing: PlatformIO could not download it (HTTPClientError:)")
    unknown = ["Platform Manager: Installing platformio/nordicnrf52 @ 99.0.0\n",
               "UnknownPackageError: Could not find the package with 'platformio/nordicnrf52 @ 99.0.0' "
               "requirements for your system 'linux_x86_64'\n"]
    err = build_mod._install_failure(pe, unknown)
    assert err is not None
    assert err.what == "PlatformIO's registry has no package platformio/nordicnrf52 @ 99.0.0"
    assert build_mod._install_failure(pe, ["src/main.c:1: error: expected ';'\n"]) is None


def test_report_uses_the_clock_the_device_reported(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from tinypipe.bench import _latency
    from tinypipe.report import write_report

    board = load_board("nucleo-h7a3zi-q")
    result = SimpleNamespace(median=6_400_000, min=6_400_000, max=6_500_000, runs=10, unit="cycles")

    def device(tick_hz: int) -> SimpleNamespace:
        boot = SimpleNamespace(tick_hz=tick_hz, units_per_tick=1, timer="dwt")
        return SimpleNamespace(result=result, boot=boot)

    slow = device(64_000_000)
    latency = _latency(slow, board)  # the PLL did not start: the chip stayed at its 64 MHz reset clock
    assert latency["clock_hz"] == 64_000_000 and latency["clock_from"] == "device"
    assert latency["us_median"] == pytest.approx(100_000.0)
    assert "64 MHz core clock, nucleo-h7a3zi-q.yaml says 280 MHz" in latency["clock_warning"]
    bench = {"model": {"path": "kws.tflite", "sha256": "0" * 64, "macs": 1, "params": 1},
             "board": {"id": board.id, "core": board.core, "clock_hz": board.clock_hz, "emulated": False,
                       "flash_bytes": 1, "ram_bytes": 1}, "runtime": "aot", "latency": latency}
    text = write_report(bench, tmp_path).read_text()
    assert "(cortex-m7, 64 MHz as the device reported; the board file says 280 MHz)" in text
    assert "**Warning: the device reported a 64 MHz core clock" in text
    assert _latency(device(280_000_000), board)["clock_warning"] is None
