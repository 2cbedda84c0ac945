"""Whole models through the aot compiler: bit-exact with the reference under ASan/UBSan,
warning-free for Cortex-M4, deterministic, and clear one-line errors for what is unsupported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinypipe import RUNTIME_DIR
from tinypipe.aot.codegen import AotModel, generate, lower_graph
from tinypipe.device.host import HostRunner, kernel_sources
from tinypipe.device.qemu import QemuRunner
from tinypipe.errors import TinypipeError
from tinypipe.graph import load
from tinypipe.reference import Reference, random_inputs
from tinypipe.validate import validate

from .conftest import MLPERF_DIR, MLPERF_MODELS, ROOT, mlperf_model

SAMPLES = 100
ARM_FLAGS = ["-std=c99", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2",
             "-Wall", "-Wextra", "-Werror"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AotModel]:
    out = tmp_path_factory.mktemp("aot")
    return {name: generate(mlperf_model(name), out / "gen", name=name.lower()) for name in MLPERF_MODELS}


@pytest.fixture(scope="module")
def runner(generated: dict[str, AotModel], tmp_path_factory: pytest.TempPathFactory) -> HostRunner:
    """All five models in ONE sanitized binary (distinct names must link together)."""
    return HostRunner(list(generated.values()), tmp_path_factory.mktemp("host"))


@pytest.mark.slow
@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_bit_exact_under_sanitizers(name: str, runner: HostRunner) -> None:
    ref = Reference(mlperf_model(name))
    xs = random_inputs(ref.input_details, SAMPLES, seed=7)
    got = runner.run(name.lower(), xs)
    expected = ref.run_batch(xs)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == np.int8
        np.testing.assert_array_equal(g, e.reshape(g.shape))


@pytest.mark.slow
def test_generated_c_compiles_for_cortex_m4(generated: dict[str, AotModel], tmp_path: Path) -> None:
    sources = [*kernel_sources(), *(m.c_file for m in generated.values())]
    for src in sources:
        cmd = ["arm-none-eabi-gcc", *ARM_FLAGS, f"-I{RUNTIME_DIR}", f"-I{src.parent}", "-c", str(src),
               "-o", str(tmp_path / f"{src.stem}.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""  # no warnings either


@pytest.mark.parametrize(("board", "name"), [("host", "ad01_int8"), ("qemu-m4", "kws_ref_model"),
                                             ("qemu-m55", "kws_ref_model"), ("qemu-m4", "vww_96_int8")])
def test_tflm_rounding_build_matches_tflite_micro(board: str, name: str, tmp_path: Path) -> None:
    """-DTP_TFLM_ROUNDING reproduces TFLite Micro (it rounds GEMM ties away from zero, LiteRT upward):
    the portable kernels on the host (AD), the DSP and Helium variants on their cores (KWS: the
    planar 3x3 depthwise, pointwise convolutions, FULLY_CONNECTED; VWW: the DSP depthwise's ring
    of rows, a 3-channel convolution). Nothing else builds the variants with it: until this test,
    two of them failed -Werror under it."""
    from tflite_micro.python.tflite_micro import runtime

    path = mlperf_model(name)
    model = generate(path, tmp_path / "gen", name="m")
    samples = 20 if board == "host" else 3
    xs = random_inputs(Reference(path).input_details, samples, seed=1)
    runner = (HostRunner([model], tmp_path / "host", extra_cflags=["-DTP_TFLM_ROUNDING"]) if board == "host"
              else QemuRunner([model], tmp_path / board, board=board, extra_cflags=["-DTP_TFLM_ROUNDING"]))
    got = runner.run("m", xs)[0]
    tflm = runtime.Interpreter.from_file(str(path))
    for x, g in zip(xs[0], got, strict=True):
        tflm.set_input(x, 0)
        tflm.invoke()
        np.testing.assert_array_equal(g.reshape(-1), tflm.get_output(0).reshape(-1))


def test_generation_is_deterministic_and_readable(tmp_path: Path) -> None:
    path = mlperf_model("kws_ref_model")
    a = generate(path, tmp_path / "a", name="kws")
    b = generate(path, tmp_path / "b", name="kws")
    for fa, fb in zip(a.files, b.files, strict=True):
        assert fa.read_bytes() == fb.read_bytes()
    c = a.c_file.read_text()
    h = a.files[1].read_text()
    assert "static const int8_t conv_0_weights[" in c and "static const tp_conv_params_t conv_0_params" in c
    assert ".stride_h = 2," in c and "TP_LAYER_BEGIN(0);" in c
    for api in ("void tp_kws_init(void);", "int8_t *tp_kws_input(int i);", "int tp_kws_invoke(void);",
                f"#define TP_KWS_ARENA_BYTES {a.arena_bytes}", "tp_kws_layer_names"):
        assert api in h
    assert [la.macs for la in a.layers][:2] == [25 * 5 * 64 * 10 * 4, 25 * 5 * 64 * 9]
    assert a.macs == sum(la.macs for la in a.layers)


def test_validate_api_with_float_npz_inputs(tmp_path: Path) -> None:
    path = mlperf_model("str_ww_ref_model")
    ref = Reference(path)
    scale, _ = ref.input_details[0]["quantization"]
    floats = np.random.default_rng(3).standard_normal((5, 30, 1, 40)).astype(np.float32) * 40 * scale
    np.savez(tmp_path / "x.npz", floats)
    result = validate(path, inputs=tmp_path / "x.npz", json_out=tmp_path / "r.json")
    assert result.samples == 5 and result.ok and result.max_abs_diff == 0
    assert '"ok": true' in (tmp_path / "r.json").read_text()


def test_unsupported_operator_names_op_and_supported_list() -> None:
    graph = load(mlperf_model("kws_ref_model"))
    graph.operators[3].opcode = "BATCH_MATMUL"
    with pytest.raises(TinypipeError) as err:
        lower_graph(graph)
    msg = str(err.value)
    assert "BATCH_MATMUL #3" in msg and "CONV_2D" in msg and "supported operators" in msg


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinypipe.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_cli_validate_float_model_is_a_clear_error(tmp_path: Path) -> None:
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
    float_model = tmp_path / "float.tflite"
    float_model.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    proc = _cli("validate", str(float_model), "--samples", "2")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "float32" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_validate_bad_inputs_exit_2(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a model at all")
    for args in (["validate", str(tmp_path / "missing.tflite")], ["validate", str(garbage)],
                 ["validate", str(MLPERF_DIR / "ad01_int8.tflite"), "--board", "nucleo_f446re"]):
        proc = _cli(*args)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_cli_validate_ok_exit_0() -> None:
    proc = _cli("validate", str(mlperf_model("ad01_int8")), "--samples", "10")
    assert proc.returncode == 0, proc.stderr
    assert "10/10 samples bit-exact" in proc.stdout


@pytest.mark.slow
def test_trained_digits_recipe_validates_bit_exact(tmp_path: Path) -> None:
    """train (fast) -> int8 quantize -> aot on the host: bit-exact on random and on real test inputs."""
    from tinypipe.quantize import quantize
    from tinypipe.train import train

    trained = train("digits", tmp_path / "train", epochs=1)
    q = quantize(trained.model, trained.calib, tmp_path / "digits.tflite")
    assert validate(q.out, samples=50).ok
    real = validate(q.out, inputs=trained.test)  # float test images, quantized with the input's params
    assert real.ok and real.samples > 50
