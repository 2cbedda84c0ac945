"""Quantization: int8 in/out and kernels, the JSON report, SavedModel input, and bad input via the CLI."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MCU_OPS
from tinypipe import cli, graph
from tinypipe.quantize import quantize
from tinypipe.reference import Reference
from tinypipe.train import TrainResult, train


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train("digits", tmp_path_factory.mktemp("digits"), epochs=6, seed=0)


def run_cli(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    """Run the real `tinypipe` entry point in-process; (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["tinypipe", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    return int(exit_info.value.code or 0), capsys.readouterr().err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith("error: ")
    for needle in needles:
        assert needle in first, (needle, first)


def test_int8_model_report_and_reference_metric(digits: TrainResult, tmp_path: Path) -> None:
    r = quantize(digits.model, digits.calib, tmp_path / "digits.tflite", test=digits.test)
    g = graph.load(r.out)
    assert [g.tensor(i).dtype for i in g.inputs + g.outputs] == ["int8", "int8"]
    assert g.tensor(g.inputs[0]).shape == (1, 8, 8, 1)
    assert set(g.opcodes) <= MCU_OPS and "QUANTIZE" not in g.opcodes
    assert all(t.dtype != "float32" for t in g.tensors)
    assert r.task == "classification" and r.metric == "accuracy"
    assert r.int8_bytes == r.out.stat().st_size < r.float_bytes
    report = json.loads((tmp_path / "digits.quant.json").read_text())
    assert report["int8_metric"] == r.int8_metric and report["float_bytes"] == r.float_bytes
    assert report["input"]["zero_point"] == r.input["zero_point"]
    # the reported int8 accuracy is what the reference interpreter computes sample by sample
    test = np.load(digits.test)
    ref = Reference(r.out)
    scale, zp = r.input["scale"], r.input["zero_point"]
    q = np.clip(np.round(test["x"] / scale) + zp, -128, 127).astype(np.int8)
    predictions = np.array([np.argmax(ref([s])[0]) for s in q])
    assert np.mean(predictions == test["y"]) == pytest.approx(r.int8_metric)
    assert abs(r.int8_metric - r.float_metric) < 0.03


def test_saved_model_with_dynamic_batch(digits: TrainResult, tmp_path: Path) -> None:
    import keras

    m = keras.models.load_model(digits.model)
    inp = keras.Input((8, 8, 1))  # batch None: tinypipe must still fix it to 1
    keras.Model(inp, m(inp)).export(str(tmp_path / "sm"), verbose=False)
    r = quantize(tmp_path / "sm", digits.calib, tmp_path / "sm.tflite", test=digits.test)
    assert "SHAPE" not in r.opcodes and "STRIDED_SLICE" not in r.opcodes
    assert r.input["shape"] == [1, 8, 8, 1]
    assert r.task == "classification"  # inferred from labels and output shape, no train.json beside it
    assert r.int8_metric > 0.85


def test_without_labels_compares_int8_with_float(digits: TrainResult, tmp_path: Path) -> None:
    np.savez(tmp_path / "x_only.npz", x=np.load(digits.test)["x"][:50])
    r = quantize(digits.model, digits.calib, tmp_path / "m.tflite", test=tmp_path / "x_only.npz")
    assert r.metric == "cosine_similarity" and r.task is None
    assert r.float_metric is None  # float against itself would be a trivially perfect 1.0
    assert r.int8_metric is not None and 0.95 <= r.int8_metric <= 1.0
    assert r.accuracy is not None and 0.9 <= r.accuracy["details"]["int8_host"]["top1_agreement"] <= 1.0


def test_cli_quantize_writes_files(
    digits: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "cli.tflite"
    code, _ = run_cli(
        ["quantize", str(digits.model), "--calib", str(digits.calib), "--out", str(out)], capsys, monkeypatch
    )
    assert code == 0 and out.is_file() and (tmp_path / "cli.quant.json").is_file()


def test_cli_missing_calibration(
    digits: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.npz"
    code, err = run_cli(
        ["quantize", str(digits.model), "--calib", str(missing), "--out", str(tmp_path / "m.tflite")],
        capsys,
        monkeypatch,
    )
    assert_one_line_error(code, err, str(missing), "calibration set not found")


def test_cli_calibration_wrong_shape(
    digits: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "flat.npz"
    np.savez(bad, x=np.zeros((10, 64), np.float32))
    code, err = run_cli(
        ["quantize", str(digits.model), "--calib", str(bad), "--out", str(tmp_path / "m.tflite")],
        capsys,
        monkeypatch,
    )
    assert_one_line_error(code, err, str(bad), "(10, 64)", "(1, 8, 8, 1)", "expected (N, 8, 8, 1)")
    assert not (tmp_path / "m.tflite").exists()


def test_cli_calibration_not_npz(
    digits: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = tmp_path / "calib.npz"
    wrong.write_text("x,y\n1,2\n")
    code, err = run_cli(
        ["quantize", str(digits.model), "--calib", str(wrong), "--out", str(tmp_path / "m.tflite")],
        capsys,
        monkeypatch,
    )
    assert_one_line_error(code, err, str(wrong), "not a NumPy .npz")


def test_cli_test_labels_mismatched(
    digits: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "test.npz"
    np.savez(bad, x=np.zeros((10, 8, 8, 1), np.float32), y=np.zeros(7))
    code, err = run_cli(
        [
            "quantize",
            str(digits.model),
            "--calib",
            str(digits.calib),
            "--test",
            str(bad),
            "--out",
            "m.tflite",
        ],
        capsys,
        monkeypatch,
    )
    assert_one_line_error(code, err, str(bad), "7", "10 inputs")


def test_cli_float_only_op_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras
    import tensorflow as tf
    from keras import layers

    inp = keras.Input((8, 8, 1), batch_size=1)
    h = layers.Conv2D(4, 3)(inp)
    h = layers.Lambda(keras.ops.sin, name="sine_activation")(h)  # SIN has no int8 kernel
    out = layers.Dense(3)(layers.Flatten()(h))
    keras.Model(inp, out).export(
        str(tmp_path / "sm"), input_signature=[tf.TensorSpec((1, 8, 8, 1))], verbose=False
    )
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(0).random((20, 8, 8, 1), np.float32))
    code, err = run_cli(
        [
            "quantize",
            str(tmp_path / "sm"),
            "--calib",
            str(tmp_path / "calib.npz"),
            "--out",
            str(tmp_path / "m.tflite"),
        ],
        capsys,
        monkeypatch,
    )
    assert_one_line_error(code, err, "SIN", "sine_activation", "cannot be fully int8-quantized")
    assert not (tmp_path / "m.tflite").exists()


def test_cli_prune_without_tfmot(
    digits: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec  # pretend the extra is absent even where it is installed
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorflow_model_optimization" else real_find_spec(name, *a),
    )
    code, err = run_cli(
        [
            "quantize",
            str(digits.model),
            "--calib",
            str(digits.calib),
            "--out",
            str(tmp_path / "m.tflite"),
            "--prune",
            "0.5",
        ],
        capsys,
        monkeypatch,
    )
    assert_one_line_error(code, err, "tensorflow-model-optimization")
    assert "make qat" in err
