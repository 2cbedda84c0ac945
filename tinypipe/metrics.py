"""Accuracy of a model on the user's data, wherever it ran: float, int8 on the host, int8 on the device.

    accuracy_block(data, {"float": f, "int8_host": h, "device": d}) -> the `accuracy` dict
    model_accuracy(model.tflite, data, device_outputs=..., float_model=...) -> the same, running
        the float model and LiteRT itself

Metrics per task (the labels decide the task, see `infer_task`):

- classification: top-1 accuracy (`accuracy`) and the confusion matrix (rows: true class,
  columns: predicted class);
- regression: MAE (the primary metric) and RMSE;
- anomaly (an autoencoder: output shaped like the input, 0/1 labels): ROC AUC of the
  reconstruction error (`tinypipe.recipes.score`);
- no labels: the raw outputs against a reference run (the float model, else int8 on the host):
  mean cosine similarity per sample (primary), relative L2 error ||out - ref|| / ||ref|| over the
  whole set and, for classifier-shaped outputs, how often the top-1 class agrees. The reference
  itself gets no figure: comparing it with itself would be trivially perfect.

Outputs are real values (dequantized int8), stacked on axis 0; metrics use the model's first output.
The block keeps `float`, `int8_host` and `device` as the primary metric's value (what report.md
plots) and every metric under `details`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinypipe.errors import TinypipeError
from tinypipe.recipes.base import TASKS, score

if TYPE_CHECKING:
    from tinypipe.dataset import TestData

RUNS = ("float", "int8_host", "device")  # where a model ran, in report order
UNLABELLED_METRIC = "cosine_similarity"


def infer_task(
    x: np.ndarray, y: np.ndarray | None, out_shape: tuple[int, ...], known: str | None
) -> str | None:
    """The task for scoring: the one train.json names, else a guess from shapes and labels.

    None when there are no labels: outputs are then compared with a reference run instead.
    """
    if y is None:
        return None
    if known in TASKS:
        return known
    integral = y.dtype.kind in "iub" or bool(np.all(np.mod(y, 1) == 0))
    if tuple(out_shape[1:]) == tuple(x.shape[1:]) and integral and set(np.unique(y)) <= {0, 1}:
        return "anomaly"
    if integral and out_shape[-1] > 1 and y.size == len(x) and y.min() >= 0 and y.max() < out_shape[-1]:
        return "classification"
    return "regression"


def task_metrics(task: str, x: np.ndarray, y: np.ndarray, outputs: np.ndarray,
                 n_classes: int | None = None) -> dict[str, Any]:
    """Every metric of `task` for `outputs` (real values, N on axis 0) against labels y."""
    n = len(y)
    if task == "classification":
        pred = np.argmax(outputs.reshape(n, -1), axis=1)
        truth = y.reshape(-1).astype(np.int64)
        k = max(int(n_classes or 0), int(outputs.reshape(n, -1).shape[1]), int(truth.max()) + 1)
        confusion = np.zeros((k, k), np.int64)
        np.add.at(confusion, (truth, pred), 1)
        return {"accuracy": float(np.mean(pred == truth)), "confusion_matrix": confusion.tolist()}
    if task == "regression":
        err = outputs.reshape(n, -1).astype(np.float64) - y.reshape(n, -1).astype(np.float64)
        return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err * err)))}
    if task == "anomaly":
        if len(np.unique(y)) < 2:
            raise TinypipeError("anomaly labels hold a single class; ROC AUC needs normal (0) and "
                                "anomalous (1) samples", "add samples of both kinds to the test data")
        return {"roc_auc": score(task, x, y, outputs)}
    raise ValueError(f"unknown task {task!r}")


def raw_metrics(outputs: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """Raw outputs against a reference run of the same inputs (no labels needed)."""
    n = len(reference)
    a = outputs.reshape(n, -1).astype(np.float64)
    b = reference.reshape(n, -1).astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    both_zero = (na == 0) & (nb == 0)
    cosine = np.where(both_zero, 1.0, np.sum(a * b, axis=1) / np.maximum(na * nb, 1e-30))
    ref_norm = float(np.linalg.norm(b))
    out: dict[str, Any] = {
        "cosine_similarity": float(np.mean(cosine)),
        "cosine_similarity_min": float(np.min(cosine)),
        "relative_l2": float(np.linalg.norm(a - b) / ref_norm) if ref_norm else float(np.linalg.norm(a - b)),
        "max_abs_diff": float(np.max(np.abs(a - b))) if a.size else 0.0,
    }
    if b.shape[1] > 1:
        out["top1_agreement"] = float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))
    return out


def accuracy_block(data: TestData, outputs: Mapping[str, np.ndarray | None], task: str | None = None,
                   out_shape: tuple[int, ...] | None = None, **extra: Any) -> dict[str, Any]:
    """The `accuracy` dict for bench.json / validate JSON / quant.json from real-valued outputs.

    `outputs` maps "float", "int8_host" and "device" to the outputs of that run on `data` (N on
    axis 0, dequantized), or None where it did not run. `task` defaults to train.json's task
    beside the model (`data.task`), else what the labels and output shape suggest.
    """
    runs = {k: np.asarray(v) for k, v in outputs.items() if v is not None}
    if not runs:
        raise ValueError("accuracy_block needs at least one run's outputs")
    first = next(iter(runs.values()))
    shape = tuple(out_shape) if out_shape is not None else (1, *first.shape[1:])
    task = infer_task(data.x, data.y, shape, task or data.task)
    block: dict[str, Any] = {
        "data": str(data.source), "kind": data.kind, "preprocess": data.preprocess,
        "samples": len(data.x), "labelled": data.y is not None, "task": task, "metric": None,
        **{k: None for k in RUNS}, "details": {},
    }
    if data.class_names:
        block["class_names"] = list(data.class_names)
    if data.notes:
        block["notes"] = list(data.notes)
    if task is not None:
        assert data.y is not None
        block["metric"] = TASKS[task][0]
        block["higher_is_better"] = TASKS[task][1]
        for run, out in runs.items():
            details = task_metrics(task, data.x, data.y, out, len(data.class_names) or None)
            block["details"][run] = details
            block[run] = details[block["metric"]]
    else:
        reference = "float" if "float" in runs else "int8_host" if "int8_host" in runs else None
        block["metric"] = UNLABELLED_METRIC
        block["higher_is_better"] = True
        block["reference"] = reference
        for run, out in runs.items():
            if reference is None or run == reference:
                continue
            details = raw_metrics(out, runs[reference])
            block["details"][run] = details
            block[run] = details[UNLABELLED_METRIC]
    block.update(extra)
    return block


def find_float_model(model: str | Path) -> Path | None:
    """The float model a .tflite came from, when it sits beside it: STEM.keras, STEM.h5, a STEM/
    SavedModel directory, model.keras in the same directory, or train/model.keras (`tinypipe run`)."""
    model = Path(model)
    d = model.parent
    for c in (d / f"{model.stem}.keras", d / f"{model.stem}.h5", d / model.stem, d / "model.keras",
              d / "train" / "model.keras"):
        if c.is_file() and c.suffix in (".keras", ".h5"):
            return c
        if c.is_dir() and (c / "saved_model.pb").is_file():
            return c
    return None


def float_reference(float_model: str | Path) -> Any:
    """A LiteRT reference for the float model (converted to a float .tflite without quantization)."""
    from tinypipe.quantize import float_tflite
    from tinypipe.reference import Reference

    return Reference(float_tflite(Path(float_model)))


def run_float(ref: Any, x: np.ndarray) -> np.ndarray:
    """Float model outputs (first output) for float inputs x, N on axis 0."""
    return np.stack([ref([x[i : i + 1]])[0] for i in range(len(x))]).reshape(len(x), -1)


def dequantize_output(values: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    """Raw output values (int8, uint8, int16, or float for a float output) to real values, N on axis 0."""
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        scale, zero = detail["quantization"]
        return ((values.astype(np.float64) - zero) * scale).astype(np.float32)
    return values.astype(np.float32)


def model_accuracy(model: str | Path, data: TestData, device_outputs: list[np.ndarray] | None = None,
                   host_outputs: list[np.ndarray] | None = None, float_model: str | Path | None = None,
                   device_board: str | None = None) -> dict[str, Any]:
    """Float, int8-host and device accuracy of `model` (.tflite) on `data` (`tinypipe.dataset`).

    `device_outputs` are the raw outputs that came back from the device `device_board` (bench's
    `device_outputs`, validate's outputs), stacked on axis 0; `host_outputs` the LiteRT outputs
    when the caller has them already (else LiteRT runs here). `float_model` (.keras, .h5, a
    SavedModel or .onnx) defaults to `find_float_model(model)`; without one there is no float run.
    This is the function `tinypipe compare` calls per runtime.
    """
    from tinypipe.reference import Reference

    ref = Reference(model)
    detail = ref.output_details[0]
    n = len(data.x)
    if host_outputs is None:
        host_outputs = ref.run_batch([data.model_input(ref.input_details[0])])
    host = dequantize_output(host_outputs[0], detail).reshape(n, -1)
    runs: dict[str, np.ndarray | None] = {"float": None, "int8_host": host}
    float_path = Path(float_model) if float_model is not None else find_float_model(model)
    if float_path is not None:
        runs["float"] = run_float(float_reference(float_path), data.x)
    if device_outputs is not None:  # raw bytes from the device are read as the output's type
        raw, kind = np.ascontiguousarray(device_outputs[0]), np.dtype(detail["dtype"])
        typed = raw.view(kind) if raw.dtype.itemsize == 1 and raw.dtype != kind else raw
        runs["device"] = dequantize_output(typed, detail).reshape(n, -1)
    return accuracy_block(data, runs, out_shape=tuple(int(s) for s in detail["shape"]),
                          float_model=None if float_path is None else str(float_path),
                          device_board=device_board if device_outputs is not None else None)
