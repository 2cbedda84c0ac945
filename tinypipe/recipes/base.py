"""What a recipe is (data + model builder + task) and how each task is scored.

Scoring lives here because training (float model) and quantization (float and int8 .tflite)
must compute exactly the same metric from the same arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# task -> (metric name, higher is better)
TASKS: dict[str, tuple[str, bool]] = {
    "classification": ("accuracy", True),
    "regression": ("mae", False),
    "anomaly": ("roc_auc", True),
}


@dataclass
class Dataset:
    """Arrays in the model's float input layout (without the batch axis of 1).

    `y_train` is the training target (class index, value, or the input itself for an
    autoencoder); `y_test` is what `score` compares against (labels 0/1 for anomaly).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_calib: np.ndarray
    class_names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Recipe:
    name: str
    task: str  # a key of TASKS
    summary: str  # one line for --help
    epochs: int  # default; the recipe trains in under 2 minutes on 2 cores with it
    data: Callable[[int], Dataset]  # seed -> dataset
    build: Callable[[tuple[int, ...], int, int | None], Any]  # (input shape, outputs, batch) -> keras.Model
    batch_size: int = 32
    learning_rate: float = 1e-3

    @property
    def metric(self) -> str:
        return TASKS[self.task][0]


def anomaly_scores(x: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Mean squared reconstruction error per sample: the autoencoder's anomaly score."""
    diff = (x.reshape(len(x), -1) - reconstruction.reshape(len(x), -1)).astype(np.float64)
    return np.mean(diff * diff, axis=1)


def score(task: str, x: np.ndarray, y: np.ndarray, outputs: np.ndarray) -> float:
    """The task's metric for model `outputs` (dequantized, stacked on axis 0) on inputs x, labels y."""
    if task == "classification":
        return float(np.mean(np.argmax(outputs.reshape(len(y), -1), axis=1) == y.reshape(-1)))
    if task == "regression":
        return float(np.mean(np.abs(outputs.reshape(len(y), -1) - y.reshape(len(y), -1))))
    if task == "anomaly":
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(y.reshape(-1), anomaly_scores(x, outputs)))
    raise ValueError(f"unknown task {task!r}")


def split_indices(
    n: int,
    test_fraction: float,
    seed: int,
    groups: np.ndarray | None = None,
    stratify: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Train/test index arrays; with `groups`, whole groups (e.g. voices) go to one side."""
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    idx = np.arange(n)
    if groups is not None:
        gss = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
        train, test = next(gss.split(idx, groups=groups))
        return train, test
    train, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(test)


def calib_subset(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Up to n training samples for int8 calibration, chosen reproducibly."""
    rng = np.random.default_rng(seed)
    return x[np.sort(rng.choice(len(x), size=min(n, len(x)), replace=False))]
