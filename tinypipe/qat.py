"""Pruning and quantization-aware fine-tuning, run in a subprocess of its own.

tensorflow-model-optimization (tfmot) only works with legacy Keras (`tf_keras`), and importing
it sets `TF_USE_LEGACY_KERAS=1` for the whole process, which would break the Keras 3 code in
the rest of tinypipe. So the work is split:

* parent (Keras 3, `finetune`): loads the `.keras` model, writes its architecture as a small
  JSON spec (only layer types with a known one-to-one tf_keras equivalent) and its weights as
  `.npz`, then runs `python -m tinypipe.qat JOB.json`;
* child (tf_keras + tfmot, `main`): rebuilds the model layer by layer, prunes and/or wraps it
  for QAT, fine-tunes on the training set, and saves a SavedModel with a batch-1 signature that
  the normal int8 conversion in `tinypipe.quantize` then takes.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tinypipe.errors import TinypipeError

DEFAULT_EPOCHS = 4  # fine-tuning epochs (prune, and QAT) when the caller gives none
QAT_LR_FACTOR = 0.1  # QAT fine-tunes at this fraction of the recipe's learning rate
PRUNE_LR_FACTOR = 0.5
TIMEOUT_S = 3600

# Keras 3 class name -> config keys passed to the tf_keras layer of the same name unchanged.
_CONV = ["kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation", "use_bias"]
_POOL = ["pool_size", "strides", "padding", "data_format"]
LAYERS: dict[str, list[str]] = {
    "Conv2D": ["filters", "groups", *_CONV],
    "DepthwiseConv2D": ["depth_multiplier", *_CONV],
    "Dense": ["units", "activation", "use_bias"],
    "MaxPooling2D": _POOL,
    "AveragePooling2D": _POOL,
    "GlobalAveragePooling2D": ["data_format", "keepdims"],
    "GlobalMaxPooling2D": ["data_format", "keepdims"],
    "Flatten": ["data_format"],
    "Reshape": ["target_shape"],
    "Activation": ["activation"],
    "ReLU": ["max_value", "negative_slope", "threshold"],
    "Softmax": ["axis"],
    "BatchNormalization": ["axis", "momentum", "epsilon", "center", "scale"],
    "Dropout": ["rate", "seed"],
    "Add": [],
    "ZeroPadding2D": ["padding", "data_format"],
}
SUPPORTED = ", ".join(["InputLayer", *LAYERS])


# --- parent side (Keras 3) -------------------------------------------------------------------


def _history(arg: Any) -> list[str]:
    """Layer names feeding a Keras 3 inbound-node argument (tensors, possibly in lists)."""
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        return [str(arg["config"]["keras_history"][0])]
    if isinstance(arg, list | tuple):
        return [name for a in arg for name in _history(a)]
    return []


def describe(model: Any, source: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(architecture spec, weights by "layer/index") of a Keras 3 model, for `build` in the child."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise TinypipeError(f"{source}: --qat/--prune support models with one input and one output")
    cfg = model.get_config()
    sequential = type(model).__name__ == "Sequential"
    layers: list[dict[str, Any]] = []
    weights: dict[str, np.ndarray] = {}
    previous = "input"
    input_name = "input"
    for entry, layer in zip(
        [c for c in cfg["layers"] if not (sequential and c["class_name"] == "InputLayer")]
        if sequential
        else cfg["layers"],
        model.layers,
        strict=True,
    ):
        kind, conf = entry["class_name"], entry["config"]
        name = str(conf.get("name", layer.name))
        if kind == "InputLayer":
            input_name = previous = name
            continue
        if kind not in LAYERS:
            raise TinypipeError(
                f"{source}: layer '{name}' ({kind}) has no tf_keras mapping for --qat/--prune",
                f"supported layers: {SUPPORTED}",
            )
        mapped = {k: conf[k] for k in LAYERS[kind] if k in conf}
        for key in ("activation",):
            if key in mapped and not isinstance(mapped[key], str):
                raise TinypipeError(
                    f"{source}: layer '{name}' ({kind}) uses a custom activation; --qat/--prune "
                    "support built-in ones only",
                    "use an activation given by name, e.g. activation='relu'",
                )
        if sequential:
            inputs = [previous]
        else:
            nodes = entry.get("inbound_nodes", [])
            if len(nodes) != 1:
                raise TinypipeError(
                    f"{source}: layer '{name}' is called {len(nodes)} times; --qat/--prune need each "
                    "layer used once"
                )
            inputs = _history(nodes[0].get("args", []))
        layers.append({"class": kind, "name": name, "config": mapped, "inputs": inputs})
        for i, w in enumerate(layer.get_weights()):
            weights[f"{name}/{i}"] = np.asarray(w)
        previous = name
    if sequential:
        outputs = [previous]
    else:
        outs = cfg["output_layers"]  # ["dense", 0, 0] for one output, else a list of those
        outputs = [str(outs[0])] if outs and isinstance(outs[0], str) else [str(o[0]) for o in outs]
    shape = [int(d) for d in model.inputs[0].shape[1:]]
    spec = {"input": {"name": input_name, "shape": shape}, "layers": layers, "outputs": outputs}
    return spec, weights


def finetune(
    model: Path,
    train: Path,
    workdir: Path,
    *,
    task: str,
    qat: bool,
    prune: float | None,
    epochs: int | None,
    batch_size: int,
    learning_rate: float,
    test: Path | None = None,
    seed: int = 0,
) -> tuple[Path, dict[str, Any]]:
    """Prune and/or QAT-fine-tune the Keras 3 `model` in a subprocess: (SavedModel dir, info)."""
    import keras

    m = keras.models.load_model(model, compile=False)
    spec, weights = describe(m, model)
    workdir.mkdir(parents=True, exist_ok=True)
    np.savez(workdir / "weights.npz", **weights)
    job = {
        "spec": spec,
        "weights": str(workdir / "weights.npz"),
        "train": str(train),
        "test": None if test is None else str(test),
        "task": task,
        "qat": qat,
        "prune": prune,
        "epochs": DEFAULT_EPOCHS if epochs is None else epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "seed": seed,
        "out": str(workdir / "saved_model"),
        "result": str(workdir / "result.json"),
    }
    (workdir / "job.json").write_text(json.dumps(job, indent=1))
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = workdir / "finetune.log"
    with log.open("w") as stderr:
        proc = subprocess.run(
            [sys.executable, "-m", "tinypipe.qat", str(workdir / "job.json")],
            stdout=stderr,
            stderr=stderr,
            env=env,
            timeout=TIMEOUT_S,
            check=False,
        )
    result_path = Path(job["result"])
    info: dict[str, Any] = json.loads(result_path.read_text()) if result_path.is_file() else {}
    if "error" in info:
        raise TinypipeError(f"{model}: {info['error']}", info.get("hint", ""))
    if proc.returncode != 0 or not (workdir / "saved_model" / "saved_model.pb").is_file():
        tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-1:]
        raise TinypipeError(
            f"{model}: fine-tuning subprocess failed (exit {proc.returncode}): {' '.join(tail)[:300]}",
            "check that `make qat` installed tf-keras and tensorflow-model-optimization",
        )
    return workdir / "saved_model", info


# --- child side (tf_keras + tfmot) -----------------------------------------------------------


def build(spec: dict[str, Any], weights: dict[str, np.ndarray], batch: int | None) -> Any:
    """The spec as a tf_keras functional model with the given batch size and weights."""
    import tf_keras

    inp = tf_keras.Input(tuple(spec["input"]["shape"]), batch_size=batch, name=spec["input"]["name"])
    tensors: dict[str, Any] = {spec["input"]["name"]: inp}
    built = []
    for entry in spec["layers"]:
        layer = getattr(tf_keras.layers, entry["class"])(name=entry["name"], **entry["config"])
        args = [tensors[n] for n in entry["inputs"]]
        tensors[entry["name"]] = layer(args if entry["class"] == "Add" else args[0])
        built.append((entry["name"], layer))
    model = tf_keras.Model(inp, tensors[spec["outputs"][0]])
    for name, layer in built:
        n = len(layer.get_weights())
        if n:
            layer.set_weights([weights[f"{name}/{i}"] for i in range(n)])
    return model


def _schedule(tfmot: Any, target: float, steps_per_epoch: int, total: int) -> Any:
    """Polynomial decay 0 -> target over the first ~70 % of steps, then fine-tuning at target."""
    freq = max(1, steps_per_epoch // 4)
    end = (int(0.7 * total) // freq) * freq
    if end < freq or end >= total:
        return tfmot.sparsity.keras.ConstantSparsity(target, begin_step=0, frequency=1)
    return tfmot.sparsity.keras.PolynomialDecay(0.0, target, begin_step=0, end_step=end, frequency=freq)


def _run(job: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from tinypipe.recipes.base import score
    from tinypipe.train import LOSSES

    tf_keras.utils.set_random_seed(int(job["seed"]))
    with np.load(job["weights"]) as npz:
        weights = {k: npz[k] for k in npz.files}
    with np.load(job["train"]) as npz:
        x, y = npz["x"].astype(np.float32), npz["y"]
    task, epochs, bs = job["task"], int(job["epochs"]), int(job["batch_size"])
    lr = float(job["learning_rate"])
    steps_per_epoch = math.ceil(len(x) / bs)
    total = epochs * steps_per_epoch
    model = build(job["spec"], weights, None)
    info: dict[str, Any] = {"epochs": epochs, "samples": len(x), "steps": total}

    def fit(m: Any, rate: float, callbacks: list[Any]) -> None:
        opt = tf_keras.optimizers.Adam(tf_keras.optimizers.schedules.CosineDecay(rate, total))
        m.compile(optimizer=opt, loss=LOSSES[task])
        m.fit(x, y, batch_size=bs, epochs=epochs, shuffle=True, verbose=0, callbacks=callbacks)

    if job["prune"] is not None:
        target = float(job["prune"])
        pruned = tfmot.sparsity.keras.prune_low_magnitude(
            model, pruning_schedule=_schedule(tfmot, target, steps_per_epoch, total)
        )
        fit(pruned, lr * PRUNE_LR_FACTOR, [tfmot.sparsity.keras.UpdatePruningStep()])
        model = tfmot.sparsity.keras.strip_pruning(pruned)
        info["prune_learning_rate"] = lr * PRUNE_LR_FACTOR
    if job["qat"]:
        if job["prune"] is not None:
            scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
            annotated = tfmot.quantization.keras.quantize_annotate_model(model)
            model = tfmot.quantization.keras.quantize_apply(annotated, scheme)
            info["qat_scheme"] = "Default8BitPrunePreserveQuantizeScheme"
        else:
            model = tfmot.quantization.keras.quantize_model(model)
            info["qat_scheme"] = "Default8BitQuantizeScheme"
        fit(model, lr * QAT_LR_FACTOR, [])
        info["qat_learning_rate"] = lr * QAT_LR_FACTOR
    if job["test"]:
        with np.load(job["test"]) as npz:
            if "y" in npz.files:
                xt, yt = npz["x"].astype(np.float32), npz["y"]
                info["float_metric"] = score(task, xt, yt, model.predict(xt, batch_size=256, verbose=0))
    shape = (1, *job["spec"]["input"]["shape"])
    fn = tf.function(lambda t: model(t, training=False))
    sig = fn.get_concrete_function(tf.TensorSpec(shape, tf.float32))
    tf.saved_model.save(model, job["out"], signatures={"serving_default": sig})
    return info


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(args[0]).read_text())
    result = Path(job["result"])
    try:
        info = _run(job)
    except TinypipeError as exc:
        result.write_text(json.dumps({"error": exc.what, "hint": exc.hint}))
        return 2
    except Exception as exc:  # tfmot/tf_keras failures: one line for the parent's error
        first = (str(exc).splitlines() or [""])[0][:300]
        hint = "QAT/pruning support Conv2D, DepthwiseConv2D, Dense, pooling, BatchNorm, ReLU and Add"
        error = f"fine-tuning failed: {type(exc).__name__}: {first}"
        result.write_text(json.dumps({"error": error, "hint": hint}))
        raise
    result.write_text(json.dumps(info))
    return 0


if __name__ == "__main__":
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    sys.exit(main())
