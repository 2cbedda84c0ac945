"""Training recipes: each one's int8 metric floor after quantization, outputs on disk, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MCU_OPS
from tinypipe import graph
from tinypipe.errors import TinypipeError
from tinypipe.quantize import quantize
from tinypipe.train import train

ROOT = Path(__file__).resolve().parent.parent


def train_and_quantize(recipe: str, out: Path, epochs: int | None) -> tuple[dict, dict]:
    r = train(recipe, out, epochs=epochs, seed=0)
    q = quantize(r.model, r.calib, out / "model.tflite", test=r.test)
    g = graph.load(q.out)
    assert [g.tensor(i).dtype for i in g.inputs + g.outputs] == ["int8", "int8"]
    assert set(g.opcodes) <= MCU_OPS, g.opcodes
    assert q.metric == r.metric and q.float_metric is not None
    return json.loads(r.info.read_text()), json.loads(q.report.read_text())


@pytest.mark.parametrize(
    ("recipe", "epochs", "floor"),
    [
        ("sine", 40, 0.08),  # MAE against the clean curve: at most
        ("digits", None, 0.95),  # accuracy: at least
        ("faces", None, 0.90),
        ("anomaly", None, 0.90),  # ROC AUC
    ],
)
def test_recipe_int8_floor(recipe: str, epochs: int | None, floor: float, tmp_path: Path) -> None:
    info, report = train_and_quantize(recipe, tmp_path, epochs)
    assert info["recipe"] == recipe and info["seed"] == 0 and info["metric"] == report["metric"]
    if report["metric"] == "mae":
        assert report["int8_metric"] <= floor
    else:
        assert report["int8_metric"] >= floor


def test_train_writes_outputs(tmp_path: Path) -> None:
    r = train("sine", tmp_path, epochs=2, seed=3)
    info = json.loads((tmp_path / "train.json").read_text())
    assert (
        info["recipe"] == "sine"
        and info["task"] == "regression"
        and info["epochs"] == 2
        and info["seed"] == 3
    )
    assert info["metric"] == "mae" and info["float_metric"] == pytest.approx(r.float_metric)
    test, calib = np.load(tmp_path / "test.npz"), np.load(tmp_path / "calib.npz")
    assert test["x"].shape[1:] == calib["x"].shape[1:] == (1,) and len(test["x"]) == len(test["y"])
    import keras

    assert tuple(keras.models.load_model(r.model).inputs[0].shape) == (1, 1)  # batch fixed for the converter


def test_kws_splits_a_take_into_words() -> None:
    from tinypipe.recipes import kws

    words = ["yes", "no", "stop", "marvin"]
    clips = kws._take(("en-us", "m3", 170, 50, words))
    assert clips is not None and len(clips) == len(words)
    assert all(0.1 * kws.RATE < len(c) < kws.RATE for c in clips)  # each a single word, 16 kHz


def test_unknown_recipe_cli() -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "tinypipe"), "train", "nosuch", "--out", "x"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith("error: unknown recipe 'nosuch'")
    assert all(name in first for name in ("sine", "digits", "faces", "kws", "anomaly"))


def test_bad_epochs(tmp_path: Path) -> None:
    with pytest.raises(TinypipeError, match="--epochs must be at least 1"):
        train("sine", tmp_path, epochs=0)
