"""Stage 2: full-integer int8 (or 16x8) quantization of a float model, with float-vs-int8 evaluation.

Input: a Keras `.keras` file or a SavedModel directory, plus a calibration `.npz` (array `x`).
The model is re-exported with a batch-1 signature, converted once in float (to report its
size and reference metric) and once with int8 inputs, outputs and kernels only
(`TFLITE_BUILTINS_INT8`). The converter quietly keeps ops without int8 kernels in float
between DEQUANTIZE/QUANTIZE pairs; those models are rejected here, naming the op.

`activations="int16"` (`tinypipe quantize --activations int16`) converts with 16x8 quantization
instead (`EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`): int16 activations with
zero point 0, int8 weights, int64 biases, int16 model input and output. The report's `int8_*`
fields then describe that model (`activations` says which).

The int8 metric comes from `tinypipe.reference.Reference` (bit-identical to TFLite Micro)
with inputs quantized by the model's own input scale/zero point. The test data (`--test`) is
any format `tinypipe.dataset` reads, scored by `tinypipe.metrics` (the `accuracy` block of the
report); without labels the int8 outputs are compared with the float ones (cosine similarity,
relative L2, top-1 agreement).

An `.onnx` model is first converted to a SavedModel by onnx2tf (`tinypipe.onnx_in`, the optional
onnx extra); PyTorch files get a pointer to `torch.onnx.export`.

With `prune` and/or `qat` the model is first fine-tuned on the training set (`train.npz` from
`tinypipe train`) by `tinypipe.qat` in a subprocess (tfmot needs legacy Keras), and the
fine-tuned SavedModel takes the same int8 conversion. The float metric and size stay those of
the model given; the report adds the measured sparsity of the int8 weights.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import tempfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinypipe import dataset as dataset_mod
from tinypipe import graph as graph_mod
from tinypipe.errors import TinypipeError
from tinypipe.metrics import infer_task
from tinypipe.train import import_tensorflow, quiet_native

__all__ = ["QuantizeResult", "float_tflite", "host_metric", "infer_task", "load_npz", "quantize", "run_int8"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MAX_CALIB = 500  # representative samples fed to the calibrator
ACTIVATIONS = ("int8", "int16")  # int8: full int8; int16: 16x8 (int16 activations, int8 weights)
NO_LABELS_METRIC = "cosine_similarity"  # test set without y: int8 outputs against the float ones


@dataclass
class QuantizeResult:
    model: Path
    out: Path
    report: Path
    task: str | None
    metric: str | None
    float_metric: float | None
    int8_metric: float | None
    float_bytes: int
    int8_bytes: int
    opcodes: list[str] = field(default_factory=list)
    input: dict[str, Any] = field(default_factory=dict)  # shape, scale, zero_point
    output: dict[str, Any] = field(default_factory=dict)
    calib_samples: int = 0
    test_samples: int = 0
    compressed_bytes: int = 0  # the int8 .tflite after zlib level 9 (what pruning buys on disk/OTA)
    qat: bool = False
    prune: dict[str, Any] | None = None  # target, achieved, per_layer, note
    finetune: dict[str, Any] | None = None  # epochs, samples, learning rates, fine-tuned float metric
    accuracy: dict[str, Any] | None = None  # tinypipe.metrics.accuracy_block on the test data
    source: dict[str, Any] | None = None  # for a converted model (ONNX): format, converter, input
    activations: str = "int8"  # the quantized model's activation type: int8, or int16 (16x8)

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


# --- inputs -----------------------------------------------------------------------------------


def load_npz(path: Path, role: str, need_y: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(x, y or None) from a .npz; anything else raises TinypipeError naming the file."""
    path = Path(path)
    flag = {"calibration": "--calib", "test": "--test", "training": "--train"}[role]
    if not path.is_file():
        raise TinypipeError(
            f"{path}: {role} set not found",
            f"pass {flag} DIR/{dict(calibration='calib', test='test', training='train')[role]}.npz "
            "as written by `tinypipe train`",
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception:
        raise TinypipeError(
            f"{path}: not a NumPy .npz archive", f"{flag} wants np.savez(path, x=...)"
        ) from None
    if "x" not in arrays or (need_y and "y" not in arrays):
        raise TinypipeError(
            f"{path}: {role} set has arrays {sorted(arrays)}, needs 'x'" + (" and 'y'" if need_y else ""),
            "save it with np.savez(path, x=inputs, y=labels)",
        )
    x = arrays["x"]
    if x.dtype.kind not in "fiub" or not np.all(np.isfinite(x)):
        raise TinypipeError(f"{path}: {role} array 'x' must be finite numbers, got dtype {x.dtype}")
    y = arrays.get("y")
    if y is not None and (y.dtype.kind not in "fiub" or len(y) != len(x)):
        raise TinypipeError(
            f"{path}: {role} array 'y' has {len(y)} {y.dtype} entries for {len(x)} inputs",
            "y holds one numeric label (class index, value, or 0/1 anomaly flag) per row of x",
        )
    return x.astype(np.float32), y


def _check_shape(x: np.ndarray, shape: tuple[int, ...], path: Path, role: str) -> np.ndarray:
    want = tuple(shape[1:])
    if x.ndim == len(want) + 1 and tuple(x.shape[1:]) == want and len(x) > 0:
        return x
    if len(want) == 3 and x.ndim == 4 and len(x) > 0 and tuple(x.shape[1:]) == (want[2], want[0], want[1]):
        return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)))  # NCHW data (ONNX) for an NHWC input
    raise TinypipeError(
        f"{path}: {role} set 'x' has shape {tuple(x.shape)}, the model input is {tuple(shape)}; "
        f"expected (N, {', '.join(map(str, want))})",
        "use the calib.npz/test.npz/train.npz written with this model by `tinypipe train`",
    )


def _export_batch1(model: Path, workdir: Path) -> tuple[Path, tuple[int, ...]]:
    """Re-export `model` as a SavedModel whose signature takes a batch of exactly one."""
    import tensorflow as tf

    def spec_of(shape: Any) -> tuple[int, ...]:
        dims = list(shape)[1:]
        if any(d is None for d in dims):
            raise TinypipeError(
                f"{model}: input shape {tuple(shape)} has unknown dimensions besides the batch",
                "give the model a fixed input shape, e.g. keras.Input((49, 10, 1))",
            )
        return (1, *(int(d) for d in dims))

    out = workdir / "batch1"
    if model.is_dir() and (model / "saved_model.pb").is_file():
        loaded = tf.saved_model.load(str(model))
        sig = loaded.signatures.get("serving_default")
        if sig is None:
            raise TinypipeError(
                f"{model}: SavedModel has no 'serving_default' signature",
                "export it with model.export(dir) or tf.saved_model.save(..., signatures=...)",
            )
        inputs = sig.structured_input_signature[1]
        if len(inputs) != 1:
            raise TinypipeError(f"{model}: the signature takes {len(inputs)} inputs; tinypipe supports one")
        ((name, in_spec),) = inputs.items()
        shape = spec_of(in_spec.shape)
        module = tf.Module()
        module.inner = loaded
        module.f = tf.function(lambda t: sig(**{name: t}), input_signature=[tf.TensorSpec(shape, tf.float32)])
        tf.saved_model.save(module, str(out), signatures={"serving_default": module.f})
        return out, shape
    if model.suffix not in (".keras", ".h5"):
        from tinypipe.onnx_in import FORMATS, check_model_format

        check_model_format(model)
        raise TinypipeError(
            f"{model}: not a .keras/.h5 file or a SavedModel directory",
            f"tinypipe quantize reads {FORMATS}; pass DIR/model.keras from `tinypipe train`",
        )
    if not model.is_file():
        raise TinypipeError(f"{model}: no such file", "check the path to the Keras model")
    import keras

    try:
        m = keras.models.load_model(model, compile=False)
    except Exception as exc:
        raise TinypipeError(
            f"{model}: Keras cannot load it ({type(exc).__name__}: {str(exc)[:200]})",
            "custom layers must be registered with keras.saving.register_keras_serializable",
        ) from None
    if len(m.inputs) != 1:
        raise TinypipeError(f"{model}: has {len(m.inputs)} inputs; tinypipe supports one")
    shape = spec_of(m.inputs[0].shape)
    m.export(str(out), input_signature=[tf.TensorSpec(shape, tf.float32)], verbose=False)
    return out, shape


def _load_source(model: Path, workdir: Path) -> tuple[Path, tuple[int, ...], dict[str, Any] | None]:
    """(batch-1 SavedModel, input shape, conversion info) for a Keras, SavedModel or ONNX model."""
    from tinypipe.onnx_in import check_model_format, to_saved_model

    check_model_format(model)
    info = None
    if model.suffix.lower() == ".onnx":
        model, info = to_saved_model(model, workdir)
    saved, shape = _export_batch1(model, workdir)
    if info is not None:
        info["tflite_input"] = list(shape)
    return saved, shape, info


def float_tflite(model: Path) -> bytes:
    """The float (unquantized) .tflite of a Keras, SavedModel or ONNX model, batch 1."""
    import_tensorflow()
    with tempfile.TemporaryDirectory(prefix="tinypipe-float-") as tmp:
        saved, _, _ = _load_source(Path(model), Path(tmp))
        return _convert(saved, None, Path(model))


def _convert(saved_model: Path, calib: np.ndarray | None, source: Path, activations: str = "int8") -> bytes:
    """The float (calib None), full-int8 or 16x8 (`activations` "int16") .tflite flatbuffer for a
    batch-1 SavedModel."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if calib is not None:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([calib[i : i + 1]] for i in range(len(calib)))
        int16 = activations == "int16"
        conv.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 if int16
            else tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int16 if int16 else tf.int8
        conv.inference_output_type = tf.int16 if int16 else tf.int8
    with quiet_native() as log:
        try:
            return bytes(conv.convert())
        except Exception as exc:
            failure = exc
    text = f"{failure} {' '.join(log)}"
    ops = sorted(
        set(re.findall(r"'tf\.(\w+)' op", text)) | set(re.findall(r"supported for op: '(\w+)'", text))
    )
    where = f"op(s) {', '.join(ops)}" if ops else type(failure).__name__
    raise TinypipeError(
        f"{source}: the TFLite converter failed on {where}"
        + ("" if calib is None else f" with {'16x8' if activations == 'int16' else 'int8-only'} builtins"),
        "use layers with int8 kernels (Conv2D, DepthwiseConv2D, Dense, pooling, Add, ReLU, Softmax)",
    ) from None


def _check_int8(g: graph_mod.Graph, source: Path, activations: str = "int8") -> None:
    """Reject models the converter left partly in float (ops without int8 / 16x8 kernels)."""
    for op in g.operators:
        if op.opcode in ("QUANTIZE", "DEQUANTIZE"):
            continue
        tensors = [t for t in g.op_inputs(op) + g.op_outputs(op) if t is not None]
        if any(t.dtype == "float32" for t in tensors):
            name = g.op_outputs(op)[0].name if op.outputs else "?"
            raise TinypipeError(
                f"{source}: op {op.index} {op.opcode} ('{name}') has no {activations} kernel and stays "
                f"float32, so the model cannot be fully {activations}-quantized",
                "replace that layer with int8-capable ops (e.g. ReLU instead of sin/erf/gelu)",
            )
    for i in g.inputs + g.outputs:
        if g.tensor(i).dtype != activations:
            raise TinypipeError(
                f"{source}: tensor '{g.tensor(i).name}' is {g.tensor(i).dtype}, not {activations}",
                "tinypipe quantizes models with one float input and float outputs",
            )


def _io(g: graph_mod.Graph, index: int) -> dict[str, Any]:
    t = g.tensor(index)
    assert t.quant is not None
    return {
        "shape": list(t.shape),
        "scale": float(t.quant.scale[0]),
        "zero_point": int(t.quant.zero_point[0]),
    }


# --- evaluation -------------------------------------------------------------------------------


def _train_info(model: Path) -> dict[str, Any]:
    for candidate in (model.parent / "train.json", model / "train.json"):
        if candidate.is_file():
            with contextlib.suppress(ValueError):
                info: dict[str, Any] = json.loads(candidate.read_text())
                return info
    return {}


def run_int8(ref: Any, x: np.ndarray, progress_label: str = "") -> np.ndarray:
    """Quantize float inputs with the model's input scale/zero point, run, dequantize outputs."""
    from rich.progress import track

    inp, out = ref.input_details[0], ref.output_details[0]
    in_scale, in_zp = inp["quantization"]
    out_scale, out_zp = out["quantization"]
    info = np.iinfo(inp["dtype"])  # int8, or int16 for a 16x8 model
    q = np.clip(np.round(x / in_scale) + in_zp, info.min, info.max).astype(inp["dtype"])
    rows = [
        ref([q[i]])[0]
        for i in track(range(len(q)), description=progress_label, transient=True, disable=not progress_label)
    ]
    return (np.stack(rows).astype(np.float32) - out_zp) * out_scale


# --- the stage --------------------------------------------------------------------------------


def quantize(
    model: Path,
    calib: Path,
    out: Path,
    test: Path | None = None,
    qat: bool = False,
    prune: float | None = None,
    train: Path | None = None,
    finetune_epochs: int | None = None,
    preprocess: Path | None = None,
    activations: str = "int8",
) -> QuantizeResult:
    """Write `out` (.tflite, int8 in/out/kernels) and `out`.quant.json; evaluate on `test` if given.

    `activations="int16"` quantizes 16x8 (int16 activations and I/O, int8 weights) instead.

    `test` is any test data `tinypipe.dataset` reads (an .npz, a folder of images or WAV files, a
    CSV), turned into inputs by the recipe's preprocessing (train.json beside the model) or by
    the `preprocess` hook (a .py file defining preprocess(x)).

    `prune` (target sparsity in (0, 1)) and `qat` fine-tune on `train` (default: train.npz beside
    the model) for `finetune_epochs` (default `tinypipe.qat.DEFAULT_EPOCHS`) before conversion.
    """
    from rich.console import Console

    from tinypipe.reference import Reference

    model, calib, out = Path(model), Path(calib), Path(out)
    if activations not in ACTIVATIONS:
        raise TinypipeError(f"--activations {activations}: must be one of {', '.join(ACTIVATIONS)}",
                            "int8 (the default), or int16 for 16x8 quantization (int16 activations, "
                            "int8 weights)")
    finetuning = qat or prune is not None
    if finetuning:
        train = _check_finetune_args(model, prune, train, finetune_epochs)
    from tinypipe.onnx_in import check_model_format

    check_model_format(model)  # PyTorch and unknown formats: one line, before TensorFlow loads
    import_tensorflow()
    if not model.exists():
        raise TinypipeError(
            f"{model}: no such model", "pass DIR/model.keras from `tinypipe train` or a SavedModel"
        )
    x_calib, _ = load_npz(calib, "calibration")
    if test is not None:  # fail before the conversion on data that cannot be read
        dataset_mod.check_source(test)
        if Path(test).suffix.lower() == ".npz":
            dataset_mod._read_npz(Path(test))
        dataset_mod.load_hook(preprocess)
    x_train, y_train = load_npz(train, "training", need_y=True) if train is not None else (None, None)
    console = Console(stderr=True)
    finetune_info: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="tinypipe-quant-") as tmp:
        with console.status(f"loading {model.name}" + (" (onnx2tf)" if model.suffix == ".onnx" else "")):
            saved, shape, source = _load_source(model, Path(tmp))
        x_calib = _check_shape(x_calib, shape, calib, "calibration")
        with console.status("converting to float .tflite"):
            float_bytes = _convert(saved, None, model)
        if finetuning:
            assert train is not None and x_train is not None and y_train is not None
            _check_shape(x_train, shape, train, "training")
            what = " + ".join(([f"pruning to {prune:.0%}"] if prune is not None else []) + (["QAT"] * qat))
            with console.status(f"fine-tuning ({what}) on {len(x_train)} samples"):
                tuned, finetune_info = _finetune(
                    model, train, test, Path(tmp), qat, prune, finetune_epochs, x_train, y_train, float_bytes
                )
                saved, shape = _export_batch1(tuned, Path(tmp) / "tuned")
        rng = np.random.default_rng(0)
        pick = np.sort(rng.choice(len(x_calib), size=min(MAX_CALIB, len(x_calib)), replace=False))
        with console.status(f"calibrating {activations} on {len(pick)} samples"):
            int8_bytes = _convert(saved, x_calib[pick], model, activations)
    g = graph_mod.parse(int8_bytes, str(out))
    _check_int8(g, model, activations)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(int8_bytes)
    prune_report = None
    if prune is not None:
        per_layer, achieved = weight_sparsity(g)
        prune_report = {
            "target": prune,
            "achieved": achieved,
            "per_layer": per_layer,
            "note": "int8 weights stay dense on the device (same flash and RAM); "
            "the zeros only shrink the compressed file (compressed_bytes)"
            + (
                "; tfmot 0.8.1 does not prune DepthwiseConv2D kernels"
                if any(layer["opcode"] == "DEPTHWISE_CONV_2D" for layer in per_layer)
                else ""
            ),
        }
    result = QuantizeResult(
        model=model,
        out=out,
        report=out.with_name(out.stem + ".quant.json"),
        task=None,
        metric=None,
        float_metric=None,
        int8_metric=None,
        float_bytes=len(float_bytes),
        int8_bytes=len(int8_bytes),
        opcodes=g.opcodes,
        input=_io(g, g.inputs[0]),
        output=_io(g, g.outputs[0]),
        calib_samples=len(pick),
        compressed_bytes=len(zlib.compress(int8_bytes, 9)),
        qat=qat,
        prune=prune_report,
        finetune=finetune_info,
        source=source,
        activations=activations,
    )
    if test is not None:
        spec = dataset_mod.InputSpec.from_detail(Reference(int8_bytes).input_details[0])
        data = dataset_mod.load_test(test, spec, preprocess, _train_info(model))
        _evaluate(result, Reference(float_bytes), Reference(int8_bytes), data, g)
    result.report.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def _evaluate(
    result: QuantizeResult, ref_float: Any, ref_int8: Any, data: dataset_mod.TestData, g: graph_mod.Graph
) -> None:
    """Float and int8 (LiteRT) outputs on the test data, scored by tinypipe.metrics."""
    from tinypipe.metrics import accuracy_block, dequantize_output, run_float

    out_shape = tuple(g.tensor(g.outputs[0]).shape)
    y_float = run_float(ref_float, data.x)
    xq = data.model_input(ref_int8.input_details[0])
    from rich.progress import track

    rows = [ref_int8([xq[i]])[0] for i in track(range(len(xq)), description=f"evaluating int8 on {len(xq)} "
                                                "samples", transient=True)]
    y_int8 = dequantize_output(np.stack(rows), ref_int8.output_details[0]).reshape(len(xq), -1)
    block = accuracy_block(data, {"float": y_float, "int8_host": y_int8}, out_shape=out_shape,
                           float_model=str(result.model))
    result.test_samples = len(data.x)
    result.accuracy = block
    result.task, result.metric = block["task"], block["metric"]
    result.float_metric, result.int8_metric = block["float"], block["int8_host"]


def host_metric(model: Path, calib: Path, test: Path, task: str, out: Path,
                activations: str = "int16") -> float | None:
    """The recipe metric of `model` quantized with `activations` (16x8 by default) on LiteRT: one
    more conversion (the calibration samples `quantize` picks), written to `out`, and the test set
    (`test`: x, y) run on the host. None when the converter cannot quantize every operator that way
    (the model keeps float ops), so a recipe report shows the figure only where it exists."""
    from tinypipe.recipes import score
    from tinypipe.reference import Reference

    import_tensorflow()
    x_calib, _ = load_npz(calib, "calibration")
    x_test, y_test = load_npz(test, "test", need_y=True)
    assert y_test is not None
    with tempfile.TemporaryDirectory(prefix="tinypipe-quant-") as tmp:
        saved, shape, _ = _load_source(Path(model), Path(tmp))
        x_calib = _check_shape(x_calib, shape, calib, "calibration")
        pick = np.sort(np.random.default_rng(0).choice(len(x_calib), size=min(MAX_CALIB, len(x_calib)),
                                                       replace=False))
        try:
            data = _convert(saved, x_calib[pick], Path(model), activations)
            g = graph_mod.parse(data, str(out))
            _check_int8(g, Path(model), activations)
        except TinypipeError:
            return None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    outputs = run_int8(Reference(data), _check_shape(x_test, shape, test, "test"))
    return score(task, x_test, y_test, outputs.reshape(len(x_test), *g.tensor(g.outputs[0]).shape[1:]))


WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def weight_sparsity(g: graph_mod.Graph) -> tuple[list[dict[str, Any]], float]:
    """Per conv/dense op: the fraction of its int8 weights that are exactly 0; and over all of them."""
    per_layer: list[dict[str, Any]] = []
    zeros = total = 0
    for op in g.operators:
        if op.opcode not in WEIGHTED_OPS or len(op.inputs) < 2 or op.inputs[1] < 0:
            continue
        w = g.tensor(op.inputs[1])
        if w.data is None:
            continue
        z, n = int(np.count_nonzero(w.data == 0)), int(w.data.size)
        zeros, total = zeros + z, total + n
        per_layer.append(
            {"op": op.index, "opcode": op.opcode, "weights": w.name.split(";")[0], "size": n}
            | {"sparsity": round(z / n, 4)}
        )
    return per_layer, round(zeros / total, 4) if total else 0.0


def _check_finetune_args(
    model: Path, prune: float | None, train: Path | None, epochs: int | None
) -> Path:
    """Fail fast (before loading TensorFlow) on bad --prune/--qat input; the training set to use."""
    if prune is not None and not (isinstance(prune, float | int) and 0.0 < prune < 1.0):
        raise TinypipeError(
            f"--prune {prune}: sparsity must be between 0 and 1 (exclusive)", "e.g. --prune 0.5"
        )
    if epochs is not None and epochs < 1:
        raise TinypipeError(f"--finetune-epochs must be at least 1, got {epochs}")
    if importlib.util.find_spec("tensorflow_model_optimization") is None or (
        importlib.util.find_spec("tf_keras") is None
    ):
        raise TinypipeError(
            "--qat/--prune need tensorflow-model-optimization and tf-keras, which are not installed",
            "run `make qat` (or ./scripts/setup.sh --qat) to install the optional extra",
        )
    if model.is_dir() or model.suffix != ".keras":
        raise TinypipeError(
            f"{model}: --qat/--prune fine-tune a Keras model and need its .keras file",
            "pass DIR/model.keras from `tinypipe train`",
        )
    if train is None:
        train = model.parent / "train.npz"
        if not train.is_file():
            raise TinypipeError(
                f"--qat/--prune need labelled training data: no --train given and no {train}",
                "pass --train TRAIN.npz (arrays x, y), or retrain with `tinypipe train` which writes it",
            )
    return Path(train)


def _finetune(
    model: Path,
    train: Path,
    test: Path | None,
    workdir: Path,
    qat: bool,
    prune: float | None,
    epochs: int | None,
    x_train: np.ndarray,
    y_train: np.ndarray,
    float_bytes: bytes,
) -> tuple[Path, dict[str, Any]]:
    """Fine-tune with the task, batch size and learning rate of the recipe the model came from."""
    from tinypipe import qat as qat_mod
    from tinypipe import recipes

    info = _train_info(model)
    g = graph_mod.parse(float_bytes, str(model))
    task = infer_task(x_train, y_train, tuple(g.tensor(g.outputs[0]).shape), info.get("task"))
    assert task is not None
    batch_size, lr = 32, 1e-3
    if info.get("recipe") in recipes.NAMES:
        r = recipes.get(str(info["recipe"]))
        batch_size, lr = r.batch_size, r.learning_rate
    tuned, result = qat_mod.finetune(
        model,
        train,
        workdir / "finetune",
        task=task,
        qat=qat,
        prune=prune,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        test=test,
        seed=int(info.get("seed", 0)),
    )
    result["task"] = task
    result["train"] = str(train)
    return tuned, result
