"""`tinypipe export`: generated PlatformIO projects, run under QEMU (aot) or checked for structure.

tflm projects are checked here for what matters: the TFLite Micro flags reaching every
translation unit, the library manifests naming exactly the model's kernels, a resolver
registering exactly the model's operators, the arena rule and the aligned model array; they are
built and run in tests/test_tflm.py.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MLPERF_MODELS, ROOT, mlperf_model, tflm_tree
from tinypipe import graph
from tinypipe.boards import list_boards, parse_board
from tinypipe.device.monitor import read_results
from tinypipe.device.protocol import Device, bench_input, output_checksum
from tinypipe.errors import TinypipeError
from tinypipe.export import (
    ARENA_ALIGNMENT,
    FRAMEWORK_HALS,
    _framework_hal,
    export,
    int8_only_ops,
)
from tinypipe.inspect import tflm_arena_bytes
from tinypipe.reference import Reference, random_inputs

EMULATED_BOARDS = ["qemu-m4"]  # boards whose aot firmware is built and validated under QEMU
VALIDATION_INPUTS = 10
BENCH_RUNS = 2
RECORD_TIMEOUT_S = 120


def tinypipe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinypipe.cli", *args], capture_output=True, text=True,
                          cwd=ROOT)


def env_section(project: Path) -> configparser.SectionProxy:
    ini = configparser.ConfigParser()
    ini.read(project / "platformio.ini")
    (name,) = [s for s in ini.sections() if s.startswith("env:")]
    return ini[name]


def lines(value: str) -> list[str]:
    return [v.strip() for v in value.strip().splitlines() if v.strip()]


# --- on the emulator -----------------------------------------------------------------------------


def validate_on_emulator(model: Path, board: str, work: Path, runtime: str = "aot") -> None:
    """Export, build, run under QEMU: records complete, checksum and outputs bit-exact."""
    from tinypipe.build import build, emulate

    project = export(model, board, work / board, runtime=runtime, runs=BENCH_RUNS, profile=True)
    build(project.dir)
    reference = Reference(model)
    with emulate(project.dir, timeout_s=RECORD_TIMEOUT_S) as session:
        with Device(session.url, timeout_s=RECORD_TIMEOUT_S, open_timeout_s=10) as device:
            results = read_results(device, RECORD_TIMEOUT_S)
            assert results.boot is not None and results.result is not None
            assert (results.boot.board, results.boot.runtime) == (board, runtime)
            assert results.boot.model == project.model_sha256[:8]
            assert results.boot.unit == "instructions"  # emulated figures are never cycles
            assert len(results.runs) == results.result.runs == BENCH_RUNS
            assert results.result.min <= results.result.median <= results.result.max
            assert len(results.layers) > 0 and all(layer.units > 0 for layer in results.layers)

            bench = bench_input(project.input_bytes)
            shaped = [x.reshape(d["shape"]) for x, d in zip(bench, reference.input_details, strict=True)]
            assert results.result.checksum == output_checksum(reference(shaped))

            samples = random_inputs(reference.input_details, VALIDATION_INPUTS, seed=11)
            for k in range(VALIDATION_INPUTS):
                inputs = [x[k] for x in samples]
                outputs, ticks = device.infer(inputs)
                for got, want in zip(outputs, reference(inputs), strict=True):
                    np.testing.assert_array_equal(got, want.ravel())
                assert ticks > 0
            device.bye()
            assert device.read_record().fields == {"reason": "bye"}
        assert session.wait() == 0


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("board", EMULATED_BOARDS)
def test_kws_aot_on_emulated_board_is_bit_exact(board: str, tmp_path: Path) -> None:
    validate_on_emulator(mlperf_model("kws_ref_model"), board, tmp_path)


# --- TFLite Micro projects -----------------------------------------------------------------------


def check_tflm_project(model: Path, board_id: str, out: Path) -> None:
    tree = tflm_tree()
    project = export(model, board_id, out, runtime="tflm")
    board = next(b for b in list_boards() if b.id == board_id)
    env = env_section(out)
    if board.platformio is not None:
        assert (env["platform"], env["board"], env["framework"]) == (
            board.platformio.platform, board.platformio.board, board.platformio.framework)
    glue = (out / "src" / "tp_glue.cpp").read_text()
    g = graph.load(model)
    registered = re.findall(r"resolver\.(Add\w+)\(", glue)
    assert len(registered) == len(g.opcodes) == len(set(registered))  # exactly the model's ops
    assert re.search(r"MicroMutableOpResolver<kNumOperatorTypes>", glue)
    assert f"constexpr int kNumOperatorTypes = {len(g.opcodes)};" in glue
    if board.tflm_source == "vendor":
        assert set(board.tflm_lib_deps) <= set(lines(env["lib_deps"]))
    else:
        # The flags reach every translation unit (build_flags), the glue included, and the
        # library manifests name exactly the model's kernels in the board's kernel set.
        flags = lines(env["build_flags"])
        assert "-DTF_LITE_STATIC_MEMORY" in flags and f"-isystem {tree}" in flags
        assert ("-DCMSIS_NN" in flags) == (board.dsp or board.mve)
        assert "#error" in glue and "TF_LITE_STATIC_MEMORY" in glue
        manifests = [json.loads((Path(dep.removeprefix("symlink://")) / "library.json").read_text())
                     for dep in lines(env["lib_deps"])]
        kernels = next(m for m in manifests if m["name"].endswith("-kernels"))
        files = [f[2:-1] for f in kernels["build"]["srcFilter"][1:]]
        # the kernels, and with CMSIS-NN the CMSIS-NN functions they call
        cmsis_nn = [f for f in files if f.startswith("third_party/cmsis_nn/Source/")]
        assert all(f.startswith("tensorflow/lite/micro/kernels/") for f in files if f not in cmsis_nn)
        cmsis_kernels = any(f.startswith("tensorflow/lite/micro/kernels/cmsis_nn/") for f in files)
        assert cmsis_kernels == bool(cmsis_nn) == (board.dsp or board.mve)
        for op in int8_only_ops(g) & {"CONV_2D", "FULLY_CONNECTED"}:  # int8-only registrations
            assert f"Register_{op}_INT8()" in glue

    measured = tflm_arena_bytes(model)
    arena = int(re.search(r"constexpr size_t kArenaBytes = (\d+);", glue).group(1))  # type: ignore[union-attr]
    assert arena == project.arena_bytes
    assert arena % ARENA_ALIGNMENT == 0 and arena >= measured
    assert "alignas(kArenaAlignment) uint8_t tensor_arena[kArenaBytes];" in glue
    assert f"constexpr size_t kArenaAlignment = {ARENA_ALIGNMENT};" in glue

    array = (out / "src" / "tp_model_data.c").read_text()
    assert "__attribute__((aligned(16)))" in array
    header = (out / "src" / "tp_model_data.h").read_text()
    assert f"#define TP_MODEL_DATA_LEN {model.stat().st_size}u" in header


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_tflm_project_for_each_mlperf_model(name: str, tmp_path: Path) -> None:
    check_tflm_project(mlperf_model(name), "nucleo-l4r5zi", tmp_path / name)


def test_one_model_on_every_real_board(tmp_path: Path) -> None:
    model = mlperf_model("kws_ref_model")
    for board in (b for b in list_boards() if not b.emulated):
        assert board.platformio is not None
        out = tmp_path / board.id
        if board.supports("tflm"):
            check_tflm_project(model, board.id, out / "tflm")
        export(model, board.id, out / "aot")
        env = env_section(out / "aot")
        assert (env["platform"], env["board"], env["framework"]) == (
            board.platformio.platform, board.platformio.board, board.platformio.framework)
        src = out / "aot" / "src"
        hal = FRAMEWORK_HALS[board.platformio.framework or ""]
        assert (src / "model.c").is_file() and (src / hal).is_file()
        assert (out / "aot" / "include" / "tp_cycle_counter.h").is_file()
        config = (out / "aot" / "include" / "tp_config.h").read_text()
        assert f'#define TP_BOARD_NAME "{board.id}"' in config
        assert f"#define TP_TIMER_{board.timer.kind.upper()} 1" in config
        for key, value in board.hal.items():  # the board file's HAL settings reach the HAL
            assert f"#define TP_HAL_{key} {value}\n" in config
        if hal == "stm32cube_hal.c":
            used = set(re.findall(r"TP_HAL_(\w+)", (src / hal).read_text()))
            keys = {key.removesuffix("()") for key in board.hal}  # function-like macros end in ()
            optional = {"IO_SUPPLY_ENABLE"}  # only for a UART on a separately powered port (L4R5: PG)
            assert used - optional <= keys, f"{board.id}: hal: lacks {used - optional - keys}"


def test_board_with_a_framework_without_hal_fails_before_writing(tmp_path: Path) -> None:
    text = (ROOT / "boards" / "nucleo-h7a3zi-q.yaml").read_text().replace("framework: stm32cube",
                                                                          "framework: zephyr")
    (tmp_path / "nucleo-h7a3zi-q.yaml").write_text(text)
    board = parse_board(tmp_path / "nucleo-h7a3zi-q.yaml")
    with pytest.raises(TinypipeError, match="zephyr framework, for which tinypipe has no HAL"):
        _framework_hal(board)


def test_aot_project_for_an_emulated_board(tmp_path: Path) -> None:
    model = mlperf_model("kws_ref_model")
    project = export(model, "qemu-m4", tmp_path / "p", runs=7, profile=True)
    env = env_section(project.dir)
    assert lines(env["build_flags"]) == ["-DTP_PROFILE"]
    assert "-Werror" in lines(env["build_src_flags"])
    config = (project.dir / "include" / "tp_config.h").read_text()
    assert "#define TP_BENCH_RUNS 7" in config
    assert f'#define TP_MODEL_ID "{graph.load(model).sha256[:8]}"' in config
    # Re-exporting into the same directory replaces the sources.
    export(model, "qemu-m4", project.dir, runs=3)
    assert "#define TP_BENCH_RUNS 3" in (project.dir / "include" / "tp_config.h").read_text()


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--board", "no-such-board"], "unknown board 'no-such-board'"),
    (["--board", "qemu-m4", "--runtime", "tvm"], "unknown runtime 'tvm'"),
    (["--board", "qemu-m4", "--runtime", "tflm", "--profile"], "available with the aot runtime only"),
    (["--board", "qemu-m4", "--runs", "0"], "--runs 0 is out of range"),
    (["--board", "qemu-m4", "--optimize", "speed"], "--optimize 'speed' is not a goal tinypipe knows"),
])
def test_cli_errors_are_one_line_and_write_nothing(args: list[str], message: str, tmp_path: Path) -> None:
    out = tmp_path / "project"
    result = tinypipe("export", str(mlperf_model("kws_ref_model")), "--out", str(out), *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert not out.exists()


def test_model_too_big_for_the_board(tmp_path: Path) -> None:
    out = tmp_path / "project"
    model = mlperf_model("vww_96_int8")
    result = tinypipe("export", str(model), "--board", "qemu-microbit", "--out", str(out))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "vww_96_int8.tflite (aot runtime, --optimize balanced): needs" in result.stderr
    assert "qemu-microbit has" in result.stderr and "--optimize ram fits" not in result.stderr
    assert not out.exists()


def test_a_model_that_fits_only_with_optimize_ram_says_so(tmp_path: Path) -> None:
    """--optimize time gives the digits model's convolutions 16-pixel blocks for 5,520 B of arena
    against --optimize ram's 2,064: on a board (a user's, from TINYPIPE_BOARDS) whose RAM holds the
    second but not the first, export refuses in one line that names the goal that fits."""
    from tinypipe import BOARDS_DIR
    from tinypipe.aot.codegen import OPTIMIZE_GOALS, plan_layers

    model = ROOT / "tests" / "data" / "digits_int8.tflite"
    arenas = {goal: plan_layers(graph.load(model), goal)[1].arena_bytes for goal in OPTIMIZE_GOALS}
    assert arenas["ram"] == arenas["balanced"] < arenas["time"], arenas
    mine = tmp_path / "boards"
    mine.mkdir()
    reserve = 12288  # qemu-m4's RAM reserve
    ram = reserve + (arenas["ram"] + arenas["time"]) // 2
    (mine / "small-m4.yaml").write_text((BOARDS_DIR / "qemu-m4.yaml").read_text()
                                        .replace("id: qemu-m4", "id: small-m4")
                                        .replace("ram: {base: 0x20000000, size: 4194304}",
                                                 f"ram: {{base: 0x20000000, size: {ram}}}"))
    env = {**os.environ, "TINYPIPE_BOARDS": str(mine)}
    out = tmp_path / "fw"
    run = partial(subprocess.run, capture_output=True, text=True, cwd=ROOT, env=env)
    cli = [sys.executable, "-m", "tinypipe.cli", "export", str(model), "--board", "small-m4",
           "--out", str(out)]
    result = run([*cli, "--optimize", "time"])
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "(aot runtime, --optimize time): needs" in result.stderr, result.stderr
    assert f"--optimize ram fits: its arena is {arenas['ram']:,} B" in result.stderr
    assert not out.exists()
    result = run([*cli, "--optimize", "ram"])
    assert result.returncode == 0, result.stderr
    assert f"arena {arenas['ram']:,} B" in result.stdout
    header = (out / "src" / "model.h").read_text()
    assert f"#define TP_MODEL_ARENA_BYTES {arenas['ram']}" in header
    assert "Kernel variants chosen for --optimize ram, for a core running the dsp kernels" in (
        out / "src" / "model.c").read_text()
    assert "--optimize ram`" in (out / "platformio.ini").read_text()
