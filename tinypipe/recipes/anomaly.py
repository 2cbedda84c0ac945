"""`anomaly`: a dense autoencoder on synthetic machine-vibration spectra (MLPerf Tiny AD style).

A rotating machine at 24-30 Hz produces harmonics of its shaft speed over a 1/f noise floor
and a structural resonance; each sample is a 128-bin log-power spectrum (0-800 Hz) averaged
over a few noisy frames. The autoencoder trains on normal machines only; the test set mixes
unseen normal machines with five fault types at random severities (imbalance, misalignment,
bearing defect, mechanical looseness, cavitation). The anomaly score is the reconstruction
error, the metric ROC AUC.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from tinypipe.recipes.base import Dataset, Recipe, calib_subset
from tinypipe.recipes.nets import mlp

BINS = 128
FREQS = np.linspace(0.0, 800.0, BINS, endpoint=False) + 800.0 / BINS / 2
FAULTS = ["imbalance", "misalignment", "bearing", "looseness", "cavitation"]


def _peak(freq: float, amplitude: float) -> np.ndarray:
    return amplitude * np.exp(-0.5 * ((FREQS - freq) / 4.0) ** 2)


def _spectrum(rng: np.random.Generator, fault: str | None) -> np.ndarray:
    f0 = rng.uniform(24.0, 30.0)
    level = rng.uniform(0.7, 1.3)
    power = level * 0.02 / (1.0 + FREQS / 50.0)  # 1/f floor
    power += _peak(rng.uniform(520.0, 620.0), level * rng.uniform(0.02, 0.05)) * 8  # resonance
    harmonics = level * rng.uniform(0.7, 1.3, size=10) * np.arange(1, 11) ** -1.5
    severity = rng.uniform(1.5, 4.0)
    if fault == "imbalance":
        harmonics[0] *= 1.5 * severity
    elif fault == "misalignment":
        harmonics[1:3] *= 2.0 * severity
    elif fault == "bearing":
        bpfo = f0 * rng.uniform(3.3, 3.8)
        for k in (1, 2, 3):
            for side in (-1, 0, 1):
                power += _peak(k * bpfo + side * f0, 0.03 * severity / k)
    elif fault == "looseness":
        for k in range(1, 20):
            power += _peak((k - 0.5) * f0, 0.015 * severity / k)
        harmonics[3:] *= severity
    elif fault == "cavitation":
        power *= 1.0 + (severity * 2.0) * (rng.uniform(250.0, 400.0) < FREQS)
    for k, a in enumerate(harmonics, start=1):
        power += _peak(k * f0, a)
    frames = power * rng.exponential(1.0, size=(8, BINS))  # Welch average of 8 noisy periodograms
    db = 10 * np.log10(frames.mean(axis=0) + 1e-9)
    return np.clip((db + 40.0) / 45.0, 0.0, 1.0).astype(np.float32)


def data(seed: int, n_train: int = 3000, n_test_normal: int = 500, n_test_per_fault: int = 100) -> Dataset:
    rng = np.random.default_rng(seed)
    x_train = np.stack([_spectrum(rng, None) for _ in range(n_train)])
    faults = [None] * n_test_normal + [f for f in FAULTS for _ in range(n_test_per_fault)]
    x_test = np.stack([_spectrum(rng, f) for f in faults])
    y_test = np.array([f is not None for f in faults], dtype=np.int64)
    return Dataset(
        x_train=x_train,
        y_train=x_train,
        x_test=x_test,
        y_test=y_test,
        x_calib=calib_subset(x_train, 300, seed),
        class_names=["normal", "anomaly"],
    )


RECIPE = Recipe(
    name="anomaly",
    task="anomaly",
    summary="dense autoencoder on machine-vibration spectra",
    epochs=40,
    data=data,
    build=partial(mlp, units=(128, 32, 128)),
    batch_size=32,
)
