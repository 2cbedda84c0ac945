"""One-operator Keras models, converted to full-integer int8 `.tflite`, with random configurations.

Every config is a plain JSON-able dict (op, shapes, layer arguments, weight scale, the float range
of each input's representative data, and a seed), so a failing test prints everything needed to
rebuild its model. Quantization parameters are steered through the representative-data ranges:
tiny and huge ranges give extreme scales, all-positive or all-negative ranges pin the zero point
at -128 or +127.

`build_models(configs)` converts in a pool of worker processes (TensorFlow is imported only
there), so a test module pays for the TensorFlow start-up once per worker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np

Config = dict[str, Any]

# Float ranges for representative data: (lo, hi) pairs, extreme ones included on purpose.
_RANGES = [
    (-1.0, 1.0), (-0.01, 0.02), (-600.0, 900.0), (3.0, 7.0), (-9.0, -2.0), (-0.2, 6.0),
    (-128.0, 0.5), (0.0, 0.004), (-4.0, 4.0), (-30.0, 10.0),
]
_WEIGHT_SCALES = [0.003, 0.1, 0.5, 2.0, 40.0]
_ACTIVATIONS = [None, None, "relu", "relu6"]
_CALIBRATION_SAMPLES = 6

# Every op this suite covers, with the builtin the converted graph must contain.
OPS = [
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "MUL",
    "SOFTMAX", "RESHAPE", "QUANTIZE", "MEAN", "PAD", "CONCATENATION", "LOGISTIC", "TANH",
    "HARD_SWISH", "STRIDED_SLICE",
]


def _pick(rng: np.random.Generator, options: list[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _range(rng: np.random.Generator) -> list[float]:
    lo, hi = _pick(rng, _RANGES)
    jitter = 1.0 + 0.25 * float(rng.random())
    return [lo * jitter, hi * jitter]


def _hw(rng: np.random.Generator, lo: int = 1, hi: int = 9) -> list[int]:
    return [int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))]


def _slices(spec: list[Any]) -> tuple[Any, ...]:
    return (slice(None),) + tuple(s if isinstance(s, int) else slice(*s) for s in spec)


# --- config samplers: one per op, each returns one random config -------------------------------

def _conv(rng: np.random.Generator) -> Config:
    dilated = rng.random() < 0.25
    k = _hw(rng, 1, 4)
    stride = [1, 1] if dilated else _hw(rng, 1, 3)
    dilation = _hw(rng, 1, 3) if dilated else [1, 1]
    span = [(k[i] - 1) * dilation[i] + 1 for i in range(2)]
    return {"shape": [int(rng.integers(span[0], span[0] + 8)), int(rng.integers(span[1], span[1] + 8)),
                      int(rng.integers(1, 9))],
            "kernel": k, "stride": stride, "dilation": dilation,
            "padding": _pick(rng, ["same", "valid"]), "activation": _pick(rng, _ACTIVATIONS),
            "bias": bool(rng.random() < 0.8), "w_scale": _pick(rng, _WEIGHT_SCALES),
            "per_tensor": bool(rng.random() < 0.25)}


def _conv2d(rng: np.random.Generator) -> Config:
    return {**_conv(rng), "filters": int(rng.integers(1, 13))}


def _depthwise(rng: np.random.Generator) -> Config:
    return {**_conv(rng), "depth_multiplier": _pick(rng, [1, 1, 2, 3])}


def _dense(rng: np.random.Generator) -> Config:
    return {"shape": [int(rng.integers(1, 70))], "units": int(rng.integers(1, 33)),
            "activation": _pick(rng, _ACTIVATIONS), "bias": bool(rng.random() < 0.8),
            "w_scale": _pick(rng, _WEIGHT_SCALES), "per_tensor": bool(rng.random() < 0.5)}


def _pool(rng: np.random.Generator) -> Config:
    pool = _hw(rng, 1, 4)
    return {"shape": [int(rng.integers(pool[0], pool[0] + 9)), int(rng.integers(pool[1], pool[1] + 9)),
                      int(rng.integers(1, 9))],
            "pool": pool, "stride": _hw(rng, 1, 3), "padding": _pick(rng, ["same", "valid"])}


def _image(rng: np.random.Generator) -> list[int]:
    return [int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.integers(1, 9))]


def _binary(rng: np.random.Generator) -> Config:
    shape = _image(rng)
    other = list(shape)
    kind = _pick(rng, ["same", "same", "channel", "scalar", "row"])
    if kind == "channel":
        other = [1, 1, shape[2]]
    elif kind == "scalar":
        other = [1, 1, 1]
    elif kind == "row":
        other = [1, shape[1], shape[2]]
    if rng.random() < 0.5:
        shape, other = other, shape
    return {"shapes": [shape, other], "activation": _pick(rng, _ACTIVATIONS)}


def _softmax(rng: np.random.Generator) -> Config:
    return {"shape": _pick(rng, [[int(rng.integers(1, 40))], _image(rng)])}


def _reshape(rng: np.random.Generator) -> Config:
    shape = _image(rng)
    return {"shape": shape, "target": [int(np.prod(shape))]}


def _quantize(rng: np.random.Generator) -> Config:
    return {"shape": _image(rng)}


def _mean(rng: np.random.Generator) -> Config:
    axes = _pick(rng, [[1, 2], [1, 2], [1], [2], [3], [1, 2, 3]])
    # at least 2 along every axis: the converter folds a MEAN over size-1 axes away
    return {"shape": _hw(rng, 2, 9) + [int(rng.integers(2, 9))], "axes": axes,
            "keepdims": bool(rng.random() < 0.5)}


def _pad(rng: np.random.Generator) -> Config:
    pads = [[int(rng.integers(0, 4)) for _ in range(2)] for _ in range(2)]
    pads[0][0] += not any(map(any, pads))  # all-zero padding converts to no operator at all
    return {"shape": _image(rng), "pads": pads}


def _concat(rng: np.random.Generator) -> Config:
    base = _image(rng)
    axis = int(rng.integers(1, 4))
    shapes = []
    for _ in range(int(rng.integers(2, 4))):
        shape = list(base)
        shape[axis - 1] = int(rng.integers(1, 6))
        shapes.append(shape)
    return {"shapes": shapes, "axis": axis}


def _unary(rng: np.random.Generator) -> Config:
    return {"shape": _pick(rng, [[int(rng.integers(1, 50))], _image(rng)])}


def _strided_slice(rng: np.random.Generator) -> Config:
    shape = [int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 7))]
    while True:  # resample until the slice is non-empty
        slices = _random_slices(rng, shape)
        selected = np.empty([1, *shape])[_slices(slices)]  # the converter folds an identity slice away
        if selected.size and selected.shape != (1, *shape):
            return {"shape": shape, "slices": slices}


def _random_slices(rng: np.random.Generator, shape: list[int]) -> list[Any]:
    slices: list[Any] = []
    for dim in shape:
        kind = _pick(rng, ["all", "range", "range", "index"])
        if kind == "index":
            slices.append(int(rng.integers(-dim, dim)))
        elif kind == "all":
            slices.append([None, None, 1])
        else:
            start = int(rng.integers(-dim, dim))
            stop = _pick(rng, [None, int(rng.integers(-dim, dim + 1))])
            step = _pick(rng, [1, 1, 2, 3, -1, -2])
            slices.append([start, stop, step])
    return slices


_SAMPLERS: dict[str, Callable[[np.random.Generator], Config]] = {
    "CONV_2D": _conv2d, "DEPTHWISE_CONV_2D": _depthwise, "FULLY_CONNECTED": _dense,
    "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool, "ADD": _binary, "MUL": _binary,
    "SOFTMAX": _softmax, "RESHAPE": _reshape, "QUANTIZE": _quantize, "MEAN": _mean, "PAD": _pad,
    "CONCATENATION": _concat, "LOGISTIC": _unary, "TANH": _unary, "HARD_SWISH": _unary,
    "STRIDED_SLICE": _strided_slice,
}


def sample_configs(op: str, n: int, seed: int) -> list[Config]:
    """n random configs for `op`; the same (op, n, seed) always gives the same list."""
    rng = np.random.default_rng([seed, OPS.index(op)])
    configs = []
    for i in range(n):
        config = {"op": op, "id": f"{op.lower()}-{seed}-{i}", "seed": int(rng.integers(2**31)),
                  **_SAMPLERS[op](rng)}
        n_inputs = len(config.get("shapes", [None]))
        config["ranges"] = [_range(rng) for _ in range(n_inputs)]
        configs.append(config)
    return configs


def kernel_path_configs() -> list[Config]:
    """Fixed configs for the optimized kernels' shape-specialized paths, which random configs rarely
    hit: the DSP planar 3x3 depthwise (stride 1, channels % 4 == 0; tall outputs run transposed;
    12 channels put 4 on LiteRT's ties-away rule; relu6 clamps below the int8 range), small-K and
    unaligned-K convolutions (K = 8, 27), and all-zero output channels (elided by the generator)."""
    base = {"dilation": [1, 1], "bias": True, "per_tensor": False, "depth_multiplier": 1, "stride": [1, 1]}
    configs: list[Config] = [
        {**base, "op": "DEPTHWISE_CONV_2D", "shape": [11, 5, 8], "kernel": [3, 3], "padding": "same",
         "activation": None, "w_scale": 0.5},
        {**base, "op": "DEPTHWISE_CONV_2D", "shape": [4, 9, 12], "kernel": [3, 3], "padding": "same",
         "activation": "relu6", "w_scale": 2.0},
        {**base, "op": "DEPTHWISE_CONV_2D", "shape": [7, 40, 4], "kernel": [3, 3], "padding": "valid",
         "activation": "relu", "w_scale": 0.1},
        {**base, "op": "CONV_2D", "shape": [9, 8, 3], "kernel": [3, 3], "stride": [2, 2], "padding": "same",
         "activation": "relu", "w_scale": 0.5, "filters": 8},
        {**base, "op": "CONV_2D", "shape": [6, 7, 8], "kernel": [1, 1], "padding": "valid",
         "activation": None, "w_scale": 0.1, "filters": 12, "zero_filters": [0, 5, 6, 11]},
        {**base, "op": "CONV_2D", "shape": [5, 5, 4], "kernel": [3, 3], "padding": "same",
         "activation": "relu6", "w_scale": 2.0, "filters": 6, "zero_filters": [0, 1, 2, 3, 4, 5]},
    ]
    rng = np.random.default_rng(7)
    for i, c in enumerate(configs):
        c.update(id=f"path-{i}-{c['op'].lower()}", seed=int(rng.integers(2**31)),
                 ranges=[_range(rng)])
    return configs


def describe(config: Config) -> str:
    return json.dumps(config, sort_keys=True)


# --- Keras model building and conversion (runs inside the worker processes) ---------------------

def _keras_model(config: Config) -> Any:
    import keras
    from keras import layers

    op = config["op"]
    shapes = config.get("shapes") or [config["shape"]]
    inputs = [keras.Input(shape=tuple(s), batch_size=1) for s in shapes]
    x = inputs[0]
    act = config.get("activation")
    if op == "CONV_2D":
        layer = layers.Conv2D(config["filters"], config["kernel"], config["stride"], config["padding"],
                              dilation_rate=config["dilation"], activation=act, use_bias=config["bias"])
    elif op == "DEPTHWISE_CONV_2D":
        layer = layers.DepthwiseConv2D(config["kernel"], config["stride"], config["padding"],
                                       depth_multiplier=config["depth_multiplier"],
                                       dilation_rate=config["dilation"], activation=act,
                                       use_bias=config["bias"])
    elif op == "FULLY_CONNECTED":
        layer = layers.Dense(config["units"], activation=act, use_bias=config["bias"])
    elif op == "AVERAGE_POOL_2D":
        layer = layers.AveragePooling2D(config["pool"], config["stride"], config["padding"])
    elif op == "MAX_POOL_2D":
        layer = layers.MaxPooling2D(config["pool"], config["stride"], config["padding"])
    elif op in ("ADD", "MUL"):
        fn = keras.ops.add if op == "ADD" else keras.ops.multiply
        y = layers.Lambda(lambda t: fn(t[0], t[1]))(inputs)
        y = layers.Activation(act)(y) if act else y
        return keras.Model(inputs, y)
    elif op == "SOFTMAX":
        layer = layers.Softmax()
    elif op == "RESHAPE":
        layer = layers.Reshape(config["target"])
    elif op == "QUANTIZE":  # float in/out: the converter adds QUANTIZE and DEQUANTIZE around the op
        layer = layers.MaxPooling2D(1)
    elif op == "MEAN":
        axes, keep = tuple(config["axes"]), config["keepdims"]
        layer = layers.Lambda(lambda t: keras.ops.mean(t, axis=axes, keepdims=keep))
    elif op == "PAD":
        layer = layers.ZeroPadding2D(config["pads"])
    elif op == "CONCATENATION":
        return keras.Model(inputs, layers.Concatenate(axis=config["axis"])(inputs))
    elif op in ("LOGISTIC", "TANH", "HARD_SWISH"):
        layer = layers.Activation({"LOGISTIC": "sigmoid", "TANH": "tanh", "HARD_SWISH": "hard_silu"}[op])
    elif op == "STRIDED_SLICE":
        index = _slices(config["slices"])
        layer = layers.Lambda(lambda t: t[index])
    else:
        raise KeyError(op)
    model = keras.Model(inputs, layer(x))
    if layer.weights:
        rng = np.random.default_rng(config["seed"])
        weights = [(rng.standard_normal(w.shape) * config["w_scale"]).astype(np.float32)
                   for w in layer.get_weights()]
        for c in config.get("zero_filters", []):  # all-zero output channels (the generator elides them)
            weights[0][..., c] = 0.0
        layer.set_weights(weights)
    return model


def convert(config: Config) -> bytes:
    """Build the config's Keras model and convert it to int8 (float in/out for QUANTIZE)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    model = _keras_model(config)
    rng = np.random.default_rng(config["seed"])
    shapes = config.get("shapes") or [config["shape"]]

    def representative() -> Any:
        for i in range(_CALIBRATION_SAMPLES):
            sample = []
            for shape, (lo, hi) in zip(shapes, config["ranges"], strict=True):
                # the first two samples pin the range's ends; the rest fill it uniformly
                fill = lo if i == 0 else hi if i == 1 else None
                values = np.full(shape, fill) if fill is not None else rng.uniform(lo, hi, shape)
                sample.append(values[None].astype(np.float32))
            yield sample

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if config["op"] != "QUANTIZE":
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if config.get("per_tensor"):
        converter._experimental_disable_per_channel = True
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    return bytes(converter.convert())


def expected_opcodes(op: str) -> list[str]:
    return ["QUANTIZE", "MAX_POOL_2D", "DEQUANTIZE"] if op == "QUANTIZE" else [op]


def try_convert(config: Config) -> bytes | None:
    """`convert`, or None where the TensorFlow converter fails or adds other operators. It does,
    rarely: some broadcast ADD/MUL get a RESHAPE inserted, some of which even crash LiteRT."""
    from tinypipe.graph import parse

    try:
        model = convert(config)
    except Exception:  # noqa: BLE001 - any converter failure means "no model for this config"
        return None
    opcodes = [o.opcode for o in parse(model).operators]
    return model if opcodes == expected_opcodes(config["op"]) else None


def _worker_init() -> None:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def build_models(configs: list[Config], workers: int = 2) -> list[bytes | None]:
    """Convert every config (None where the converter fails), in `workers` fresh processes
    (spawned: TensorFlow is not fork-safe)."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init) as pool:
        return list(pool.map(try_convert, configs, chunksize=max(1, len(configs) // (4 * workers))))
