"""Pruning and quantization-aware training: real tfmot fine-tuning (in its subprocess) on digits."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from tinypipe import cli, graph
from tinypipe.errors import TinypipeError
from tinypipe.quantize import QuantizeResult, quantize
from tinypipe.train import TrainResult, train
from tinypipe.validate import validate

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_model_optimization") is None
    or importlib.util.find_spec("tf_keras") is None,
    reason="the qat extra is not installed (make qat)",
)
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
FINETUNE_EPOCHS = 3


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train("digits", tmp_path_factory.mktemp("digits"), epochs=20, seed=0)


def fully_int8(path: Path) -> graph.Graph:
    g = graph.load(path)
    assert [g.tensor(i).dtype for i in g.inputs + g.outputs] == ["int8", "int8"]
    assert all(t.dtype != "float32" for t in g.tensors)
    assert "QUANTIZE" not in g.opcodes and "DEQUANTIZE" not in g.opcodes
    assert "SHAPE" not in g.opcodes  # batch fixed to 1 after fine-tuning too
    return g


def zero_fractions(g: graph.Graph) -> list[float]:
    """Per conv/dense op, the fraction of its int8 weights that are 0 (read from the flatbuffer)."""
    fractions = []
    for op in g.operators:
        if op.opcode in WEIGHTED:
            w = g.tensor(op.inputs[1])
            assert w.dtype == "int8" and w.data is not None
            fractions.append(float(np.mean(w.data == 0)))
    return fractions


def check_report(r: QuantizeResult) -> dict:
    report = json.loads(r.report.read_text())
    assert report["qat"] == r.qat and report["compressed_bytes"] == r.compressed_bytes
    assert report["finetune"]["epochs"] == FINETUNE_EPOCHS and report["finetune"]["samples"] > 1000
    return report


def test_prune(digits: TrainResult, tmp_path: Path) -> None:
    r = quantize(
        digits.model, digits.calib, tmp_path / "pruned.tflite", test=digits.test, prune=0.5,
        finetune_epochs=FINETUNE_EPOCHS,
    )
    g = fully_int8(r.out)
    fractions = zero_fractions(g)
    assert len(fractions) == 3 and all(abs(f - 0.5) <= 0.05 for f in fractions), fractions
    assert r.prune is not None and r.prune["target"] == 0.5
    assert abs(r.prune["achieved"] - 0.5) <= 0.05
    assert [layer["sparsity"] for layer in r.prune["per_layer"]] == pytest.approx(fractions, abs=1e-4)
    assert r.int8_metric is not None and r.int8_metric >= 0.9
    # dense int8 weights: no smaller on the device, but the zeros compress
    assert r.compressed_bytes < 0.7 * r.int8_bytes
    report = check_report(r)
    assert report["prune"]["achieved"] == r.prune["achieved"] and not report["qat"]
    assert validate(r.out, board="host", samples=20).ok


def test_qat(digits: TrainResult, tmp_path: Path) -> None:
    r = quantize(
        digits.model, digits.calib, tmp_path / "qat.tflite", test=digits.test, qat=True,
        finetune_epochs=FINETUNE_EPOCHS,
    )
    fully_int8(r.out)
    assert r.qat and r.prune is None
    assert r.float_metric is not None and r.int8_metric is not None
    assert r.int8_metric >= 0.95 and r.int8_metric >= r.float_metric - 0.01
    report = check_report(r)
    assert report["finetune"]["qat_scheme"] == "Default8BitQuantizeScheme"
    assert validate(r.out, board="host", samples=20).ok


def test_prune_preserving_qat(digits: TrainResult, tmp_path: Path) -> None:
    r = quantize(
        digits.model, digits.calib, tmp_path / "both.tflite", test=digits.test, qat=True, prune=0.5,
        finetune_epochs=1,  # one epoch each of pruning and QAT: keeps the file inside its time budget
    )
    g = fully_int8(r.out)
    assert all(abs(f - 0.5) <= 0.05 for f in zero_fractions(g))  # QAT kept the zeros
    assert r.finetune is not None and r.finetune["qat_scheme"] == "Default8BitPrunePreserveQuantizeScheme"
    assert r.int8_metric is not None and r.int8_metric >= 0.9
    assert validate(r.out, board="host", samples=20).ok


def test_unmappable_layer_is_named(tmp_path: Path) -> None:
    import keras

    from tinypipe.qat import describe

    inp = keras.Input((8, 8, 1), batch_size=1)
    h = keras.layers.LayerNormalization(name="my_norm")(keras.layers.Conv2D(4, 3)(inp))
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(h)))
    match = r"layer 'my_norm' \(LayerNormalization\) has no tf_keras mapping"
    with pytest.raises(TinypipeError, match=match):
        describe(model, tmp_path / "m.keras")


# --- bad input through the CLI -----------------------------------------------------------------


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Run `tinypipe` in-process; assert exit code 2 and one clean error line; return that line."""
    monkeypatch.setattr(sys, "argv", ["tinypipe", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert err.startswith("error: ")
    return err.splitlines()[0]


def test_cli_prune_out_of_range(
    digits: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m.tflite"
    args = ["quantize", str(digits.model), "--calib", str(digits.calib), "--out", str(out), "--prune", "1.5"]
    line = run_cli(args, capsys, monkeypatch)
    assert "--prune 1.5" in line and "between 0 and 1" in line
    assert not out.exists()


def test_cli_qat_without_training_data(
    digits: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model.keras"  # no train.npz beside this copy
    shutil.copy(digits.model, model)
    out = tmp_path / "m.tflite"
    args = ["quantize", str(model), "--calib", str(digits.calib), "--out", str(out), "--qat"]
    line = run_cli(args, capsys, monkeypatch)
    assert "need labelled training data" in line and str(tmp_path / "train.npz") in line
    missing = tmp_path / "nope.npz"
    line = run_cli([*args, "--train", str(missing)], capsys, monkeypatch)
    assert str(missing) in line and "training set not found" in line


def test_cli_qat_needs_keras_file(
    digits: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    out = tmp_path / "m.tflite"
    args = ["quantize", str(tmp_path / "sm"), "--calib", str(digits.calib), "--out", str(out)]
    line = run_cli([*args, "--qat", "--train", str(digits.train)], capsys, monkeypatch)
    assert "need its .keras file" in line
