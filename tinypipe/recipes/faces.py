"""`faces`: person / no-person on scikit-image's LFW subset (200 real 25x25 crops).

A miniature visual-wake-words task. With only 160 training crops the recipe augments them
(mirror, +-2 px shifts, brightness/contrast jitter) 15-fold.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from tinypipe.recipes.base import Dataset, Recipe, calib_subset, split_indices
from tinypipe.recipes.nets import small_cnn

CLASSES = ["no_person", "person"]


def _augment(
    x: np.ndarray, y: np.ndarray, copies: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    out_x, out_y = [x], [y]
    for _ in range(copies):
        a = x.copy()
        flip = rng.random(len(a)) < 0.5
        a[flip] = a[flip, :, ::-1]
        for i in range(len(a)):
            a[i] = np.roll(a[i], tuple(rng.integers(-2, 3, size=2)), axis=(0, 1))
        gain = rng.uniform(0.8, 1.2, size=(len(a), 1, 1, 1))
        bias = rng.uniform(-0.1, 0.1, size=(len(a), 1, 1, 1))
        out_x.append(np.clip(a * gain + bias, 0.0, 1.0).astype(np.float32))
        out_y.append(y)
    return np.concatenate(out_x), np.concatenate(out_y)


def data(seed: int) -> Dataset:
    from skimage.data import lfw_subset

    images = lfw_subset().astype(np.float32)  # (200, 25, 25): 100 faces, then 100 non-faces
    y = np.r_[np.ones(100), np.zeros(100)].astype(np.int64)
    x = images[..., None]
    train, test = split_indices(len(x), 0.25, seed, stratify=y)
    x_train, y_train = _augment(x[train], y[train], copies=15, rng=np.random.default_rng(seed))
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_test=x[test],
        y_test=y[test],
        x_calib=calib_subset(x[train], 150, seed),
        class_names=CLASSES,
    )


RECIPE = Recipe(
    name="faces",
    task="classification",
    summary="person/no-person CNN on 25x25 LFW crops",
    epochs=12,
    data=data,
    build=partial(small_cnn, filters=(8, 16, 32), dropout=0.3),
    batch_size=32,
)
