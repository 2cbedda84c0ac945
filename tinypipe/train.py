"""Stage 1: train a recipe's float Keras model and write what quantization needs next.

`DIR/model.keras` (batch-1 inputs, ready to convert), `DIR/test.npz` (x, y held out),
`DIR/calib.npz` (x, representative inputs for int8 calibration), `DIR/train.npz` (x, y: the
training set, for pruning/QAT fine-tuning in `tinypipe quantize`) and `DIR/train.json`
(recipe, task, seed, epochs, metric name and float value, class names).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinypipe import recipes
from tinypipe.errors import TinypipeError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The training loss per task (Keras name), shared with the fine-tuning in `tinypipe.qat`.
LOSSES = {"classification": "sparse_categorical_crossentropy", "regression": "mse", "anomaly": "mse"}


@dataclass
class TrainResult:
    recipe: str
    task: str
    metric: str
    float_metric: float
    epochs: int
    seed: int
    model: Path
    test: Path
    calib: Path
    info: Path
    train: Path | None = None
    class_names: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


@contextlib.contextmanager
def quiet_native() -> Iterator[list[str]]:
    """Silence the converter's C++ logging on fd 2; yields a list that receives what it wrote."""
    captured: list[str] = []
    with tempfile.TemporaryFile(mode="w+") as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read())


def import_tensorflow() -> None:
    """Import TensorFlow and Keras once, keeping their start-up log lines off the terminal."""
    with quiet_native():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


def _epoch_progress(total: int, label: str) -> tuple[Any, Any]:
    """A rich progress bar and a Keras callback advancing it once per epoch with the loss."""
    import keras
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tinypipe import progress as steps

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        transient=True,
        disable=steps.active(),  # the CLI shows the epochs itself (tinypipe.progress)
    )
    task = progress.add_task(label, total=total, loss="-")

    class _Callback(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            loss = f"{(logs or {}).get('loss', float('nan')):.4f}"
            progress.update(task, advance=1, loss=loss)
            steps.step(label, epoch + 1, total, f"loss {loss}")  # the CLI's status line or log

    return progress, _Callback()


def train(recipe: str, out: Path, epochs: int | None = None, seed: int = 0) -> TrainResult:
    """Train `recipe` with `seed` (deterministic) for `epochs` (the recipe's default if None)."""
    recipes.check(recipe)
    import_tensorflow()
    import keras
    import tensorflow as tf

    r = recipes.get(recipe)
    epochs = r.epochs if epochs is None else epochs
    if epochs < 1:
        raise TinypipeError(
            f"--epochs must be at least 1, got {epochs}", f"the {recipe} default is {r.epochs}"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    ds = r.data(seed)
    shape = tuple(int(s) for s in ds.x_train.shape[1:])
    n_out = len(ds.class_names) if r.task == "classification" else int(np.prod(ds.y_train.shape[1:]))
    model = r.build(shape, n_out, None)
    steps = epochs * -(-len(ds.x_train) // r.batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(r.learning_rate, steps)),
        loss=LOSSES[r.task],
    )
    progress, callback = _epoch_progress(epochs, f"training {recipe}")
    with progress:
        model.fit(
            ds.x_train,
            ds.y_train,
            batch_size=r.batch_size,
            epochs=epochs,
            shuffle=True,
            verbose=0,
            callbacks=[callback],
        )
    float_metric = recipes.score(
        r.task, ds.x_test, ds.y_test, model.predict(ds.x_test, batch_size=256, verbose=0)
    )

    export = r.build(shape, n_out, 1)  # same layers, batch fixed to 1 for the converter
    export.set_weights(model.get_weights())
    result = TrainResult(
        recipe=recipe,
        task=r.task,
        metric=r.metric,
        float_metric=float_metric,
        epochs=epochs,
        seed=seed,
        model=out / "model.keras",
        test=out / "test.npz",
        calib=out / "calib.npz",
        info=out / "train.json",
        train=out / "train.npz",
        class_names=list(ds.class_names),
    )
    export.save(result.model)
    np.savez_compressed(result.test, x=ds.x_test, y=ds.y_test)
    np.savez_compressed(result.calib, x=ds.x_calib)
    np.savez_compressed(out / "train.npz", x=ds.x_train, y=ds.y_train)
    result.seconds = round(time.monotonic() - start, 1)
    result.info.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result
