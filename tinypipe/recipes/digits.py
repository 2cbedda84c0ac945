"""`digits`: a small CNN on scikit-learn's 8x8 handwritten digits (1797 real scans, 10 classes)."""

from __future__ import annotations

from functools import partial

import numpy as np

from tinypipe.recipes.base import Dataset, Recipe, calib_subset, split_indices
from tinypipe.recipes.nets import small_cnn


def data(seed: int) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]  # (1797, 8, 8, 1) in [0, 1]
    y = digits.target.astype(np.int64)
    train, test = split_indices(len(x), 0.2, seed, stratify=y)
    return Dataset(
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        x_calib=calib_subset(x[train], 300, seed),
        class_names=[str(d) for d in range(10)],
    )


RECIPE = Recipe(
    name="digits",
    task="classification",
    summary="small CNN on 8x8 handwritten digits",
    epochs=30,
    data=data,
    build=partial(small_cnn, filters=(16, 32)),
    batch_size=32,
)
