"""The kws recipe: its int8 accuracy on voices it never heard (the longest training of the suite,
in a file of its own so that the two test workers share the work out).

It trains 8 epochs, not the recipe's 12: on 2 cores train() takes 93 s instead of about 135, and the cosine
schedule already reaches 0.93 there (measured: float 0.928, int8 0.932), clear of the 0.90 floor;
more epochs only add to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.test_train import train_and_quantize

EPOCHS = 8


@pytest.mark.slow
def test_kws_int8_accuracy_on_unseen_voices(tmp_path: Path) -> None:
    from tinypipe.recipes import kws

    info, report = train_and_quantize("kws", tmp_path, EPOCHS)
    assert info["class_names"] == kws.CLASSES
    assert report["metric"] == "accuracy" and report["int8_metric"] >= 0.90
    test = np.load(tmp_path / "test.npz")
    assert test["x"].shape[1:] == (49, 10, 1) and set(np.unique(test["y"])) == set(range(12))
