"""16x8 quantization (int16 activations, int8 weights) in the aot runtime, bit for bit against LiteRT.

* Random op configs (tests/op_models.py, with its extreme representative ranges: scales from ~1e-5
  to ~10) converted 16x8 by the real converter (tests/op_models_16x8.py), run through the sanitized
  host runner and LiteRT's built-in kernels on inputs over the whole int16 range. The default slice
  is small (a fixed seed, a few configs per op); TINYPIPE_16X8_CONFIGS=N runs N per op.
* `tinypipe quantize --activations int16` on a small conv net, then `validate` on the host and
  on qemu-m4 (firmware built with PlatformIO, int16 I/O over the serial protocol).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.op_models import sample_configs
from tests.op_models_16x8 import run_suite
from tests.op_suite import CONVERTER_FAILED, Result, report
from tinypipe.graph import load

OPS_16X8 = ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "SUB",
            "MUL", "RESHAPE", "QUANTIZE", "CONCATENATION", "MEAN"]
CONFIGS_PER_OP = int(os.environ.get("TINYPIPE_16X8_CONFIGS", "2"))
# Calibrations LiteRT's own int16 arithmetic is undefined for (an output scale ~2^15 times finer
# than the inputs'): the generator refuses them with this phrase; they are reported, not compared.
DEGENERATE = "which is undefined there"


def _refused(r: Result) -> bool:
    return r.error.startswith("aot generation failed") and DEGENERATE in r.error


def test_16x8_ops_are_bit_exact_with_litert(tmp_path: Path) -> None:
    configs = [c for op in OPS_16X8 for c in sample_configs(op, CONFIGS_PER_OP, seed=16)]
    results = run_suite(configs, tmp_path, n_inputs=40, seed=16)
    ran = [r for r in results.values() if r.error != CONVERTER_FAILED and not _refused(r)]
    failed = [r for r in ran if r.error]
    assert not failed, report(failed)
    covered = {r.config["op"] for r in ran}
    assert covered == set(OPS_16X8), f"no converted config for {set(OPS_16X8) - covered}"


def _conv_net(path: Path) -> None:
    """A small conv net with every 16x8 kernel family of a typical image model."""
    import keras

    keras.utils.set_random_seed(3)
    x = inp = keras.Input((10, 10, 2), batch_size=1)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    skip = x
    x = keras.layers.Conv2D(6, 1, activation="relu6")(x)
    x = keras.layers.Add()([x, skip])
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5)(x)
    keras.Model(inp, x).save(path)


@pytest.fixture(scope="module")
def model_16x8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("m16x8")
    _conv_net(work / "model.keras")
    rng = np.random.default_rng(0)
    np.savez(work / "calib.npz", x=rng.uniform(-1, 1, (40, 10, 10, 2)).astype(np.float32))
    from tinypipe.quantize import quantize

    r = quantize(work / "model.keras", work / "calib.npz", work / "model16.tflite", activations="int16")
    assert r.activations == "int16"
    return r.out


def test_quantize_int16_writes_a_16x8_model(model_16x8: Path) -> None:
    g = load(model_16x8)
    assert {g.tensor(i).dtype for i in (*g.inputs, *g.outputs)} == {"int16"}
    for op in g.operators:
        for t in g.op_outputs(op):
            assert t.dtype == "int16" and t.quant is not None and int(t.quant.zero_point[0]) == 0
    bias = [g.tensor(op.inputs[2]) for op in g.operators if op.opcode == "CONV_2D"]
    assert bias and all(b.dtype == "int64" for b in bias)


def test_16x8_model_validates_on_the_host(model_16x8: Path, tmp_path: Path) -> None:
    from tinypipe.validate import validate

    result = validate(model_16x8, board="host", samples=50, work_dir=tmp_path)
    assert result.bit_exact == result.samples == 50, result.summary()


@pytest.mark.qemu
def test_16x8_model_bit_exact_on_qemu_m4(model_16x8: Path, tmp_path: Path) -> None:
    from tinypipe.validate import validate

    result = validate(model_16x8, board="qemu-m4", samples=8, work_dir=tmp_path)
    assert result.bit_exact == result.samples == 8, result.summary()


def test_bad_activations_flag_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["quantize", str(tmp_path / "m.keras"), "--calib", str(tmp_path / "c.npz"),
            "--out", str(tmp_path / "m.tflite"), "--activations", "int4"]
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert code == 2 and "--activations int4" in err and "Traceback" not in err


def test_host_metric_scores_the_16x8_model(model_16x8: Path, tmp_path: Path) -> None:
    """What `tinypipe run` adds to a recipe's report: the 16x8 model's metric on the host, the
    same as scoring LiteRT's outputs by hand."""
    from tinypipe.quantize import host_metric
    from tinypipe.reference import Reference

    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (30, 10, 10, 2)).astype(np.float32)
    ref = Reference(model_16x8)
    in_scale, _ = ref.input_details[0]["quantization"]
    q = np.clip(np.round(x / in_scale), -32768, 32767).astype(np.int16)
    y = np.array([int(np.argmax(ref([row])[0])) for row in q])  # the labels the 16x8 model predicts
    np.savez(tmp_path / "test.npz", x=x, y=y)
    work = model_16x8.parent
    metric = host_metric(work / "model.keras", work / "calib.npz", tmp_path / "test.npz", "classification",
                         tmp_path / "m16.tflite")
    assert metric == 1.0
    g = load(tmp_path / "m16.tflite")
    assert g.tensor(g.inputs[0]).dtype == g.tensor(g.outputs[0]).dtype == "int16"
