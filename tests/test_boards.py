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
        if "tflm" in b.runtimes and not b.emulated:
            assert b.tflm_lib_deps, b.id
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


def test_runtime_not_offered_says_why() -> None:
    with pytest.raises(TinypipeError, match="pico does not offer the tflm runtime: no TensorFlow Lite Micro"):
        load_board("pico").require_runtime("tflm")


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
    env = prepare_project(load_board("nano33ble"), tmp_path, runtime="tflm")
    assert env["platform"] == "nordicnrf52" and env["board"] == "nano33ble" and env["framework"] == "arduino"
    assert "spaziochirale/Chirale_TensorFLowLite" in env["lib_deps"].split("\n")
    assert "lib_deps" not in prepare_project(load_board("nano33ble"), tmp_path, runtime="aot")
    with pytest.raises(TinypipeError, match="does not offer the tflm runtime"):
        prepare_project(load_board("teensy41"), tmp_path, runtime="tflm")


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
    table = CliRunner().invoke(app, ["boards"])
    assert "qemu-stm32f405" in table.output and "nucleo-h7a3zi-q" in table.output
