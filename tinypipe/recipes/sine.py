"""`sine`: the TinyML hello world, a small MLP regressing y = sin(x) on [0, 2*pi)."""

from __future__ import annotations

from functools import partial

import numpy as np

from tinypipe.recipes.base import Dataset, Recipe, calib_subset
from tinypipe.recipes.nets import mlp


def data(seed: int, n: int = 3000) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 2 * np.pi, size=(n, 1)).astype(np.float32)
    noisy = (np.sin(x) + 0.05 * rng.standard_normal(x.shape)).astype(np.float32)
    n_test = n // 5
    # train on noisy samples as the classic example does; score against the clean curve
    return Dataset(
        x_train=x[n_test:],
        y_train=noisy[n_test:],
        x_test=x[:n_test],
        y_test=np.sin(x[:n_test]).astype(np.float32),
        x_calib=calib_subset(x[n_test:], 300, seed),
    )


RECIPE = Recipe(
    name="sine",
    task="regression",
    summary="MLP regressing sin(x) (the TinyML hello world)",
    epochs=60,
    data=data,
    build=partial(mlp, units=(16, 16)),
    batch_size=64,
    learning_rate=3e-3,
)
