"""Random multi-operator Keras models for the fidelity campaign (`make fidelity`, issue 13).

A model is a chain of 2-6 random layers on one input of rank 2-4 (batch axis included); layers
that need a second operand (element-wise ops with broadcasting, concatenation, stack, matmul)
get it as an extra model input with its own float range, and the pieces a split or unstack does
not continue with become extra model outputs. Everything a model is made of goes into its
*spec*, a JSON-able dict (input shapes and float ranges, and per step the layer kind, its
arguments and its weights' seed and scale), so `build_model(spec)` rebuilds the same model and a
mismatch can be cut down by editing the spec by hand.

The layer kinds are data: `KINDS` holds one `Kind` per Keras layer (or op), with the tensor
ranks it accepts, a sampler for its arguments given the running tensor's shape, and a builder.
Adding a layer is adding one entry. Float scales run from 1e-3 to 1e3 (input ranges and weight
scales are drawn log-uniformly), with all-positive and all-negative ranges to pin zero points.

TensorFlow is imported only inside `convert()`, which runs in spawned worker processes
(tests/fidelity/run.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Spec = dict[str, Any]
Params = dict[str, Any]
Shape = tuple[int, ...]
Rng = np.random.Generator

MAX_ELEMENTS = 3000  # per tensor: keeps the sanitized host run and LiteRT fast
MIN_STEPS, MAX_STEPS = 2, 6
CALIBRATION_SAMPLES = 8
ACTIVATIONS = [None, None, None, "relu", "relu6"]  # fused into the converted operator
# Shapes of a float range, scaled by 10^U(-3, 3): symmetric, skewed, one-sided (zero point at an end).
RANGE_SHAPES = [(-1.0, 1.0), (-0.1, 1.0), (-1.0, 0.3), (0.0, 1.0), (-1.0, 0.0), (0.2, 1.0), (-1.0, -0.3)]
DIVISOR_SHAPES = [(0.3, 1.0), (-1.0, -0.3), (0.05, 1.0)]  # DIV divisors: never a real 0


def _pick(rng: Rng, options: list[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _int(rng: Rng, lo: int, hi: int) -> int:
    """Uniform in [lo, hi] (both included)."""
    return int(rng.integers(lo, hi + 1))


def _scale(rng: Rng, lo_exp: float = -3.0, hi_exp: float = 3.0) -> float:
    return float(10.0 ** rng.uniform(lo_exp, hi_exp))


def sample_range(rng: Rng, divisor: bool = False) -> list[float]:
    lo, hi = _pick(rng, DIVISOR_SHAPES if divisor else RANGE_SHAPES)
    s = _scale(rng)
    return [lo * s, hi * s]


def _size(shape: Shape) -> int:
    return int(np.prod(shape))


# --- the model under construction -------------------------------------------------------------

@dataclass
class Builder:
    """Keras inputs, ranges and extra outputs of one model, while its steps are built."""

    inputs: list[Any] = field(default_factory=list)
    ranges: list[list[float]] = field(default_factory=list)
    extra_outputs: list[Any] = field(default_factory=list)

    def input(self, name: str, shape: list[int], rng_range: list[float]) -> Any:
        import keras

        t = keras.Input(shape=tuple(shape[1:]), batch_size=shape[0], name=name)
        self.inputs.append(t)
        self.ranges.append(rng_range)
        return t

    def aux(self, p: Params, step: int, k: int = 0) -> Any:
        """The k-th extra input a step declared in p["aux"]: [{shape, range, divisor}]."""
        a = p["aux"][k]
        return self.input(f"{'div' if a.get('divisor') else 'aux'}{step}_{k}", a["shape"], a["range"])


def _aux(rng: Rng, shape: Shape, divisor: bool = False) -> dict[str, Any]:
    return {"shape": [int(d) for d in shape], "range": sample_range(rng, divisor), "divisor": divisor}


def _weights(layer: Any, p: Params) -> None:
    """Set every weight of `layer` from the step's seed: normal * w_scale (variances positive)."""
    rng = np.random.default_rng(p["seed"])
    values = []
    for w in layer.weights:
        v = rng.standard_normal(tuple(w.shape)) * p["w_scale"]
        if "variance" in w.path:
            v = np.abs(v) + 0.1 * p["w_scale"]
        values.append(v.astype(np.float32))
    layer.set_weights(values)


def _apply(layer: Any, x: Any, p: Params) -> Any:
    y = layer(x)
    if layer.weights:
        _weights(layer, p)
    return y


def _lambda(fn: Callable[[Any], Any], x: Any) -> Any:
    import keras

    return keras.layers.Lambda(fn)(x)


# --- samplers and builders: one pair per layer kind ---------------------------------------------

def _window(rng: Rng, dims: list[int], max_k: int = 4, stride: bool = True, dilation: bool = True,
            causal: bool = False) -> Params | None:
    """Kernel, strides, dilation and padding for a sliding window over `dims` (valid ones only)."""
    padding = _pick(rng, ["same", "valid"] + (["causal"] if causal else []))
    dilated = dilation and rng.random() < 0.2
    k = [_int(rng, 1, max_k) for _ in dims]
    d = [_int(rng, 1, 3) if dilated else 1 for _ in dims]
    s = [1 if dilated or not stride else _int(rng, 1, 3) for _ in dims]
    span = [(k[i] - 1) * d[i] + 1 for i in range(len(dims))]
    if padding == "valid" and any(span[i] > dims[i] for i in range(len(dims))):
        return None
    return {"kernel": k, "stride": s, "dilation": d, "padding": padding}


def _w(rng: Rng) -> dict[str, Any]:
    return {"seed": int(rng.integers(2**31)), "w_scale": _scale(rng, -2.0, 1.0)}


def s_conv2d(rng: Rng, s: Shape) -> Params | None:
    win = _window(rng, list(s[1:3]))
    return win and {**win, "filters": _int(rng, 1, 12), "activation": _pick(rng, ACTIVATIONS),
                    "bias": bool(rng.random() < 0.8), **_w(rng)}


def b_conv2d(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return _apply(layers.Conv2D(p["filters"], p["kernel"], p["stride"], p["padding"],
                                dilation_rate=p["dilation"], activation=p["activation"],
                                use_bias=p["bias"]), x, p)


def s_conv1d(rng: Rng, s: Shape) -> Params | None:
    win = _window(rng, [s[1]], max_k=5, causal=True)
    return win and {**win, "filters": _int(rng, 1, 12), "activation": _pick(rng, ACTIVATIONS),
                    "bias": bool(rng.random() < 0.8), **_w(rng)}


def b_conv1d(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return _apply(layers.Conv1D(p["filters"], p["kernel"], p["stride"], p["padding"],
                                dilation_rate=p["dilation"], activation=p["activation"],
                                use_bias=p["bias"]), x, p)


def s_depthwise2d(rng: Rng, s: Shape) -> Params | None:
    win = _window(rng, list(s[1:3]))
    return win and {**win, "depth_multiplier": _pick(rng, [1, 1, 2, 3]),
                    "activation": _pick(rng, ACTIVATIONS), "bias": bool(rng.random() < 0.8), **_w(rng)}


def b_depthwise2d(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return _apply(layers.DepthwiseConv2D(p["kernel"], p["stride"], p["padding"],
                                         depth_multiplier=p["depth_multiplier"], dilation_rate=p["dilation"],
                                         activation=p["activation"], use_bias=p["bias"]), x, p)


def s_depthwise1d(rng: Rng, s: Shape) -> Params | None:
    win = _window(rng, [s[1]], max_k=5)
    return win and {**win, "depth_multiplier": _pick(rng, [1, 1, 2]),
                    "activation": _pick(rng, ACTIVATIONS), "bias": bool(rng.random() < 0.8), **_w(rng)}


def b_depthwise1d(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return _apply(layers.DepthwiseConv1D(p["kernel"], p["stride"], p["padding"],
                                         depth_multiplier=p["depth_multiplier"], dilation_rate=p["dilation"],
                                         activation=p["activation"], use_bias=p["bias"]), x, p)


def s_separable2d(rng: Rng, s: Shape) -> Params | None:
    win = _window(rng, list(s[1:3]))
    return win and {**win, "filters": _int(rng, 1, 10), "depth_multiplier": _pick(rng, [1, 1, 2]),
                    "activation": _pick(rng, ACTIVATIONS), "bias": bool(rng.random() < 0.8), **_w(rng)}


def b_separable2d(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return _apply(layers.SeparableConv2D(p["filters"], p["kernel"], p["stride"], p["padding"],
                                         depth_multiplier=p["depth_multiplier"], dilation_rate=p["dilation"],
                                         activation=p["activation"], use_bias=p["bias"]), x, p)


def s_separable1d(rng: Rng, s: Shape) -> Params | None:
    win = _window(rng, [s[1]], max_k=5)
    return win and {**win, "filters": _int(rng, 1, 10), "depth_multiplier": _pick(rng, [1, 1, 2]),
                    "activation": _pick(rng, ACTIVATIONS), "bias": bool(rng.random() < 0.8), **_w(rng)}


def b_separable1d(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return _apply(layers.SeparableConv1D(p["filters"], p["kernel"], p["stride"], p["padding"],
                                         depth_multiplier=p["depth_multiplier"], dilation_rate=p["dilation"],
                                         activation=p["activation"], use_bias=p["bias"]), x, p)


def s_conv2d_transpose(rng: Rng, s: Shape) -> Params | None:
    win = _window(rng, list(s[1:3]), dilation=False)
    return win and {**win, "filters": _int(rng, 1, 8), "activation": _pick(rng, ACTIVATIONS),
                    "bias": bool(rng.random() < 0.8), **_w(rng)}


def b_conv2d_transpose(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return _apply(layers.Conv2DTranspose(p["filters"], p["kernel"], p["stride"], p["padding"],
                                         activation=p["activation"], use_bias=p["bias"]), x, p)


def s_conv1d_transpose(rng: Rng, s: Shape) -> Params | None:
    win = _window(rng, [s[1]], dilation=False)
    return win and {**win, "filters": _int(rng, 1, 8), "activation": _pick(rng, ACTIVATIONS),
                    "bias": bool(rng.random() < 0.8), **_w(rng)}


def b_conv1d_transpose(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return _apply(layers.Conv1DTranspose(p["filters"], p["kernel"], p["stride"], p["padding"],
                                         activation=p["activation"], use_bias=p["bias"]), x, p)


def s_dense(rng: Rng, s: Shape) -> Params | None:
    return {"units": _int(rng, 1, 24), "activation": _pick(rng, ACTIVATIONS),
            "bias": bool(rng.random() < 0.8), **_w(rng)}


def b_dense(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return _apply(layers.Dense(p["units"], activation=p["activation"], use_bias=p["bias"]), x, p)


def s_none(rng: Rng, s: Shape) -> Params | None:
    return {}


def _activation(make: Callable[[Params], Any]) -> Callable[[Builder, Params, Any, int], Any]:
    def build(b: Builder, p: Params, x: Any, step: int) -> Any:
        return _apply(make(p), x, p)
    return build


def _keras_activation(name: str) -> Callable[[Params], Any]:
    def make(p: Params) -> Any:
        from keras import layers

        return layers.Activation(name)
    return make


def _relu(p: Params) -> Any:
    from keras import layers

    return layers.ReLU()


def _relu6(p: Params) -> Any:
    from keras import layers

    return layers.ReLU(max_value=6.0)


def s_leaky(rng: Rng, s: Shape) -> Params | None:
    return {"alpha": _pick(rng, [0.01, 0.1, 0.2, 0.3, 0.7])}


def _leaky(p: Params) -> Any:
    from keras import layers

    return layers.LeakyReLU(negative_slope=p["alpha"])


def s_prelu(rng: Rng, s: Shape) -> Params | None:
    shared = [a for a in range(1, len(s)) if rng.random() < 0.3]
    return {"shared_axes": shared, **_w(rng)}


def _prelu(p: Params) -> Any:
    from keras import layers

    return layers.PReLU(shared_axes=p["shared_axes"] or None)


def _elu(p: Params) -> Any:
    from keras import layers

    return layers.ELU()


def _softmax(p: Params) -> Any:
    from keras import layers

    return layers.Softmax(axis=-1)


BINARY_OPS = ["add", "sub", "mul", "div", "maximum", "minimum", "squared_difference"]


def _broadcast_shape(rng: Rng, s: Shape) -> list[int]:
    """A shape that broadcasts against s: some axes 1, and where s has 1, possibly more."""
    kind = _pick(rng, ["same", "same", "some", "scalar", "grow"])
    out = list(s)
    for i in range(len(s)):
        if kind == "scalar" or (kind == "some" and rng.random() < 0.5):
            out[i] = 1
        elif kind == "grow" and s[i] == 1 and i > 0:
            out[i] = _int(rng, 1, 3)
    out[0] = 1
    return out


def _s_binary(op: str) -> Callable[[Rng, Shape], Params | None]:
    def sample(rng: Rng, s: Shape) -> Params | None:
        aux = _aux(rng, tuple(_broadcast_shape(rng, s)), divisor=op == "div")
        return {"op": op, "aux": [aux], "swap": op != "div" and bool(rng.random() < 0.3),
                "activation": _pick(rng, ACTIVATIONS)}
    return sample


def b_binary(b: Builder, p: Params, x: Any, step: int) -> Any:
    import tensorflow as tf

    fn = {"add": tf.add, "sub": tf.subtract, "mul": tf.multiply, "div": tf.divide, "maximum": tf.maximum,
          "minimum": tf.minimum, "squared_difference": tf.math.squared_difference}[p["op"]]
    act = {"relu": tf.nn.relu, "relu6": tf.nn.relu6}.get(p["activation"] or "", lambda t: t)
    y = b.aux(p, step)
    pair = [y, x] if p["swap"] else [x, y]
    return _lambda(lambda t: act(fn(t[0], t[1])), pair)


def s_concat(rng: Rng, s: Shape) -> Params | None:
    axis = 0 if rng.random() < 0.1 else _int(rng, 1, len(s) - 1)
    auxes = []
    for _ in range(_int(rng, 1, 2)):
        shape = list(s)
        shape[axis] = _int(rng, 1, 4)
        auxes.append(_aux(rng, tuple(shape)))
    return {"axis": axis, "aux": auxes, "position": _int(rng, 0, len(auxes))}


def b_concat(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    parts = [b.aux(p, step, k) for k in range(len(p["aux"]))]
    parts.insert(p["position"], x)
    return layers.Concatenate(axis=p["axis"])(parts)


def _factor(rng: Rng, n: int, rank: int) -> list[int]:
    """n as a product of `rank` random factors."""
    dims = []
    for _ in range(rank - 1):
        divisors = [d for d in range(1, n + 1) if n % d == 0]
        d = _pick(rng, divisors)
        dims.append(d)
        n //= d
    return [*dims, n]


def s_reshape(rng: Rng, s: Shape) -> Params | None:
    target = _factor(rng, _size(s[1:]), _int(rng, 1, 3))
    return None if tuple(target) == tuple(s[1:]) else {"target": target}


def b_reshape(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return layers.Reshape(p["target"])(x)


def s_flatten(rng: Rng, s: Shape) -> Params | None:
    return {} if len(s) > 2 else None


def b_flatten(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return layers.Flatten()(x)


def s_permute(rng: Rng, s: Shape) -> Params | None:
    perm = [int(a) + 1 for a in rng.permutation(len(s) - 1)]
    return None if perm == sorted(perm) else {"perm": perm}


def b_permute(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return layers.Permute(p["perm"])(x)


def s_zero_pad(rng: Rng, s: Shape) -> Params | None:
    pads = [[_int(rng, 0, 2), _int(rng, 0, 2)] for _ in s[1:-1]]
    pads[0][0] += not any(map(any, pads))  # all-zero padding converts to no operator
    return {"pads": pads}


def b_zero_pad(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    pads = p["pads"]
    layer = layers.ZeroPadding1D(tuple(pads[0])) if len(pads) == 1 else layers.ZeroPadding2D(pads)
    return layer(x)


def s_pad_value(rng: Rng, s: Shape) -> Params | None:
    pads = [[0, 0]] + [[_int(rng, 0, 2), _int(rng, 0, 2)] for _ in s[1:]]
    pads[-1][1] += not any(map(any, pads))
    return {"pads": pads, "value": float(rng.uniform(-2, 2) * _scale(rng))}


def b_pad_value(b: Builder, p: Params, x: Any, step: int) -> Any:
    import tensorflow as tf

    return _lambda(lambda t: tf.pad(t, p["pads"], constant_values=p["value"]), x)


def s_crop(rng: Rng, s: Shape) -> Params | None:
    crops = []
    for d in s[1:-1]:
        lo = _int(rng, 0, max(0, (d - 1) // 2))
        hi = _int(rng, 0, max(0, d - 1 - lo) // 2)
        crops.append([lo, hi])
    return None if not any(map(any, crops)) else {"crops": crops}


def b_crop(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    crops = p["crops"]
    layer = layers.Cropping1D(tuple(crops[0])) if len(crops) == 1 else layers.Cropping2D(crops)
    return layer(x)


def s_upsample2d(rng: Rng, s: Shape) -> Params | None:
    return {"size": [_int(rng, 1, 3), _int(rng, 1, 3)], "interpolation": _pick(rng, ["nearest", "bilinear"])}


def b_upsample2d(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return layers.UpSampling2D(tuple(p["size"]), interpolation=p["interpolation"])(x)


def s_upsample1d(rng: Rng, s: Shape) -> Params | None:
    return {"size": _int(rng, 2, 3)}


def b_upsample1d(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return layers.UpSampling1D(p["size"])(x)


def s_resize(rng: Rng, s: Shape) -> Params | None:
    size = [_int(rng, 1, 12), _int(rng, 1, 12)]
    if size == list(s[1:3]):
        return None
    return {"size": size, "method": _pick(rng, ["nearest", "bilinear"]),
            "mode": _pick(rng, ["half_pixel", "half_pixel", "align_corners", "legacy"])}


def b_resize(b: Builder, p: Params, x: Any, step: int) -> Any:
    import tensorflow as tf

    def fn(t: Any) -> Any:
        if p["mode"] == "half_pixel":
            return tf.image.resize(t, p["size"], method=p["method"])
        v1 = tf.compat.v1.image
        legacy = v1.resize_nearest_neighbor if p["method"] == "nearest" else v1.resize_bilinear
        return legacy(t, p["size"], align_corners=p["mode"] == "align_corners")
    return _lambda(fn, x)


def s_pool(rng: Rng, s: Shape) -> Params | None:
    dims = list(s[1:-1])
    win = _window(rng, dims, max_k=3, dilation=False)
    return win and {"kind": _pick(rng, ["max", "average"]), "pool": win["kernel"], "stride": win["stride"],
                    "padding": win["padding"]}


def b_pool(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    one_d = len(p["pool"]) == 1
    cls = {("max", True): layers.MaxPooling1D, ("max", False): layers.MaxPooling2D,
           ("average", True): layers.AveragePooling1D, ("average", False): layers.AveragePooling2D}
    pool = p["pool"][0] if one_d else tuple(p["pool"])
    stride = p["stride"][0] if one_d else tuple(p["stride"])
    return cls[(p["kind"], one_d)](pool, stride, p["padding"])(x)


def s_global_pool(rng: Rng, s: Shape) -> Params | None:
    return {"kind": _pick(rng, ["max", "average"]), "keepdims": bool(rng.random() < 0.4)}


def b_global_pool(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    one_d = len(x.shape) == 3
    cls = {("max", True): layers.GlobalMaxPooling1D, ("max", False): layers.GlobalMaxPooling2D,
           ("average", True): layers.GlobalAveragePooling1D,
           ("average", False): layers.GlobalAveragePooling2D}
    return cls[(p["kind"], one_d)](keepdims=p["keepdims"])(x)


def s_reduce(rng: Rng, s: Shape) -> Params | None:
    axes = sorted({_int(rng, 1, len(s) - 1) for _ in range(_int(rng, 1, len(s) - 1))})
    axes = [a for a in axes if s[a] > 1]  # the converter folds a reduction over size-1 axes away
    keepdims = bool(rng.random() < 0.5)
    if not axes or (not keepdims and len(axes) == len(s) - 1):
        return None
    return {"kind": _pick(rng, ["mean", "sum", "max", "min"]), "axes": axes, "keepdims": keepdims}


def b_reduce(b: Builder, p: Params, x: Any, step: int) -> Any:
    import tensorflow as tf

    fn = {"mean": tf.reduce_mean, "sum": tf.reduce_sum, "max": tf.reduce_max, "min": tf.reduce_min}[p["kind"]]
    return _lambda(lambda t: fn(t, axis=p["axes"], keepdims=p["keepdims"]), x)


def s_strided_slice(rng: Rng, s: Shape) -> Params | None:
    slices: list[Any] = [[None, None, 1]]
    for d in s[1:]:
        kind = _pick(rng, ["all", "range", "range", "index"])
        if kind == "index" and len(s) > 2:
            slices.append(_int(rng, -d, d - 1))
        elif kind == "all" or d == 1:
            slices.append([None, None, 1])
        else:
            start = _int(rng, -d, d - 1)
            stop = _pick(rng, [None, _int(rng, -d, d)])
            slices.append([start, stop, _pick(rng, [1, 1, 2, 3, -1, -2])])
    index = tuple(v if isinstance(v, int) else slice(*v) for v in slices)
    selected = np.empty(s)[index]
    if not selected.size or selected.shape == s or selected.ndim < 2:
        return None
    return {"slices": slices}


def b_strided_slice(b: Builder, p: Params, x: Any, step: int) -> Any:
    index = tuple(v if isinstance(v, int) else slice(*v) for v in p["slices"])
    return _lambda(lambda t: t[index], x)


def s_slice(rng: Rng, s: Shape) -> Params | None:
    begin = [0] + [_int(rng, 0, d - 1) for d in s[1:]]
    size = [-1] + [_pick(rng, [-1, _int(rng, 1, d - b0)]) for d, b0 in zip(s[1:], begin[1:], strict=True)]
    if not any(b0 > 0 or sz not in (-1, d) for b0, sz, d in zip(begin, size, s, strict=True)):
        return None
    return {"begin": begin, "size": size}


def b_slice(b: Builder, p: Params, x: Any, step: int) -> Any:
    import tensorflow as tf

    return _lambda(lambda t: tf.slice(t, p["begin"], p["size"]), x)


def s_split(rng: Rng, s: Shape) -> Params | None:
    axes = [a for a in range(1, len(s)) if s[a] >= 2]
    if not axes:
        return None
    axis = _pick(rng, axes)
    divisors = [k for k in range(2, min(s[axis], 4) + 1) if s[axis] % k == 0]
    if rng.random() < 0.5 and divisors:
        splits: Any = _pick(rng, divisors)
    else:
        cut = sorted({_int(rng, 1, s[axis] - 1) for _ in range(_int(rng, 1, 2))})
        splits = [b1 - b0 for b0, b1 in zip([0, *cut], [*cut, s[axis]], strict=True)]
    n = splits if isinstance(splits, int) else len(splits)
    return {"axis": axis, "splits": splits, "keep": _int(rng, 0, n - 1)}


def b_split(b: Builder, p: Params, x: Any, step: int) -> Any:
    import tensorflow as tf

    parts = _lambda(lambda t: tf.split(t, p["splits"], axis=p["axis"]), x)
    b.extra_outputs += [t for i, t in enumerate(parts) if i != p["keep"]]
    return parts[p["keep"]]


def s_stack(rng: Rng, s: Shape) -> Params | None:
    if len(s) > 4:
        return None
    auxes = [_aux(rng, s) for _ in range(_int(rng, 1, 2))]
    return {"axis": _int(rng, 1, len(s)), "aux": auxes, "position": _int(rng, 0, len(auxes))}


def b_stack(b: Builder, p: Params, x: Any, step: int) -> Any:
    import tensorflow as tf

    parts = [b.aux(p, step, k) for k in range(len(p["aux"]))]
    parts.insert(p["position"], x)
    return _lambda(lambda t: tf.stack(t, axis=p["axis"]), parts)


def s_unstack(rng: Rng, s: Shape) -> Params | None:
    axes = [a for a in range(1, len(s)) if 2 <= s[a] <= 6]
    if not axes or len(s) < 3:
        return None
    axis = _pick(rng, axes)
    return {"axis": axis, "keep": _int(rng, 0, s[axis] - 1)}


def b_unstack(b: Builder, p: Params, x: Any, step: int) -> Any:
    import tensorflow as tf

    parts = _lambda(lambda t: tf.unstack(t, axis=p["axis"]), x)
    b.extra_outputs += [t for i, t in enumerate(parts) if i != p["keep"]]
    return parts[p["keep"]]


def s_gather(rng: Rng, s: Shape) -> Params | None:
    axis = _int(rng, 1, len(s) - 1)
    index_shape = [_int(rng, 1, 4) for _ in range(_int(rng, 1, 2 if len(s) < 4 else 1))]
    return {"axis": axis, "indices": rng.integers(0, s[axis], index_shape).tolist()}


def b_gather(b: Builder, p: Params, x: Any, step: int) -> Any:
    import tensorflow as tf

    return _lambda(lambda t: tf.gather(t, p["indices"], axis=p["axis"]), x)


def s_expand_dims(rng: Rng, s: Shape) -> Params | None:
    return {"axis": _int(rng, 1, len(s))} if len(s) <= 3 else None


def b_expand_dims(b: Builder, p: Params, x: Any, step: int) -> Any:
    import tensorflow as tf

    return _lambda(lambda t: tf.expand_dims(t, p["axis"]), x)


def s_squeeze(rng: Rng, s: Shape) -> Params | None:
    ones = [a for a in range(1, len(s)) if s[a] == 1]
    return {"axis": _pick(rng, ones)} if ones and len(s) > 2 else None


def b_squeeze(b: Builder, p: Params, x: Any, step: int) -> Any:
    import tensorflow as tf

    return _lambda(lambda t: tf.squeeze(t, [p["axis"]]), x)


def s_normalization(rng: Rng, s: Shape) -> Params | None:
    c = s[-1]
    scale = _scale(rng, -2.0, 2.0)
    return {"mean": (rng.standard_normal(c) * scale).round(5).tolist(),
            "variance": ((rng.random(c) + 0.05) * scale * scale).round(8).tolist()}


def b_normalization(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return layers.Normalization(axis=-1, mean=p["mean"], variance=p["variance"])(x)


def s_batchnorm(rng: Rng, s: Shape) -> Params | None:
    return _w(rng)


def b_batchnorm(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return _apply(layers.BatchNormalization(), x, p)


def s_rnn(rng: Rng, s: Shape) -> Params | None:
    if s[1] > 8:
        return None
    return {"units": _int(rng, 1, 8), "return_sequences": bool(rng.random() < 0.5),
            "seed": int(rng.integers(2**31)), "w_scale": _scale(rng, -1.5, 0.3)}


def b_lstm(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return _apply(layers.LSTM(p["units"], return_sequences=p["return_sequences"], unroll=True), x, p)


def b_gru(b: Builder, p: Params, x: Any, step: int) -> Any:
    from keras import layers

    return _apply(layers.GRU(p["units"], return_sequences=p["return_sequences"], unroll=True), x, p)


def s_matmul(rng: Rng, s: Shape) -> Params | None:
    if rng.random() < 0.3:
        return {"self": True, "aux": []}
    aux = _aux(rng, (*s[:-2], s[-1], _int(rng, 1, 8)))
    return {"self": False, "aux": [aux]}


def b_matmul(b: Builder, p: Params, x: Any, step: int) -> Any:
    import tensorflow as tf

    if p["self"]:
        return _lambda(lambda t: tf.matmul(t, t, transpose_b=True), x)
    return _lambda(lambda t: tf.matmul(t[0], t[1]), [x, b.aux(p, step)])


# --- the registry ------------------------------------------------------------------------------

Sampler = Callable[[Rng, Shape], Params | None]
BuildFn = Callable[[Builder, Params, Any, int], Any]


@dataclass(frozen=True)
class Kind:
    """One layer kind: the ranks of the running tensor (batch axis included) it accepts, how to
    sample its arguments for a shape (None: not for this shape), how to build it."""

    name: str
    ranks: tuple[int, ...]
    sample: Sampler
    build: BuildFn
    weight: float = 1.0  # relative frequency


ANY_RANK = (2, 3, 4, 5)
KINDS: list[Kind] = [
    Kind("conv1d", (3,), s_conv1d, b_conv1d),
    Kind("conv2d", (4,), s_conv2d, b_conv2d, 1.5),
    Kind("depthwise_conv1d", (3,), s_depthwise1d, b_depthwise1d),
    Kind("depthwise_conv2d", (4,), s_depthwise2d, b_depthwise2d),
    Kind("separable_conv1d", (3,), s_separable1d, b_separable1d),
    Kind("separable_conv2d", (4,), s_separable2d, b_separable2d),
    Kind("conv1d_transpose", (3,), s_conv1d_transpose, b_conv1d_transpose),
    Kind("conv2d_transpose", (4,), s_conv2d_transpose, b_conv2d_transpose),
    Kind("dense", (2, 3, 4), s_dense, b_dense, 1.5),
    Kind("relu", ANY_RANK, s_none, _activation(_relu), 0.5),
    Kind("relu6", ANY_RANK, s_none, _activation(_relu6), 0.5),
    Kind("leaky_relu", ANY_RANK, s_leaky, _activation(_leaky), 0.5),
    Kind("prelu", (2, 3, 4), s_prelu, _activation(_prelu), 0.5),
    Kind("elu", ANY_RANK, s_none, _activation(_elu), 0.2),  # converted as float ELU today
    Kind("tanh", ANY_RANK, s_none, _activation(_keras_activation("tanh")), 0.5),
    Kind("sigmoid", ANY_RANK, s_none, _activation(_keras_activation("sigmoid")), 0.5),
    Kind("hard_swish", ANY_RANK, s_none, _activation(_keras_activation("hard_silu")), 0.5),
    Kind("softmax", ANY_RANK, s_none, _activation(_softmax), 0.5),
    *[Kind(op, (2, 3, 4), _s_binary(op), b_binary, 0.6) for op in BINARY_OPS],
    Kind("concatenate", ANY_RANK, s_concat, b_concat),
    Kind("reshape", ANY_RANK, s_reshape, b_reshape, 0.6),
    Kind("flatten", ANY_RANK, s_flatten, b_flatten, 0.4),
    Kind("permute", (3, 4, 5), s_permute, b_permute, 0.7),
    Kind("zero_padding", (3, 4), s_zero_pad, b_zero_pad, 0.6),
    Kind("pad_value", ANY_RANK, s_pad_value, b_pad_value, 0.4),
    Kind("cropping", (3, 4), s_crop, b_crop, 0.6),
    Kind("upsampling1d", (3,), s_upsample1d, b_upsample1d, 0.3),  # converted with TILE
    Kind("upsampling2d", (4,), s_upsample2d, b_upsample2d, 0.5),
    Kind("resize", (4,), s_resize, b_resize, 0.7),
    Kind("pooling", (3, 4), s_pool, b_pool),
    Kind("global_pooling", (3, 4), s_global_pool, b_global_pool, 0.6),
    Kind("reduce", (3, 4, 5), s_reduce, b_reduce),
    Kind("strided_slice", ANY_RANK, s_strided_slice, b_strided_slice, 0.7),
    Kind("slice", ANY_RANK, s_slice, b_slice, 0.5),
    Kind("split", ANY_RANK, s_split, b_split, 0.7),
    Kind("stack", ANY_RANK, s_stack, b_stack, 0.5),
    Kind("unstack", (3, 4, 5), s_unstack, b_unstack, 0.5),
    Kind("gather", ANY_RANK, s_gather, b_gather, 0.6),
    Kind("expand_dims", (2, 3), s_expand_dims, b_expand_dims, 0.4),
    Kind("squeeze", (3, 4, 5), s_squeeze, b_squeeze, 0.4),
    Kind("normalization", (2, 3, 4), s_normalization, b_normalization, 0.6),
    Kind("batch_normalization", (2, 3, 4), s_batchnorm, b_batchnorm, 0.4),
    Kind("lstm", (3,), s_rnn, b_lstm, 0.8),
    Kind("gru", (3,), s_rnn, b_gru, 0.6),
    Kind("matmul", (3, 4), s_matmul, b_matmul, 0.5),
]
BY_NAME = {k.name: k for k in KINDS}


def sample_input(rng: Rng) -> list[int]:
    rank = _pick(rng, [2, 3, 3, 4, 4, 4])
    if rank == 2:
        return [1, _int(rng, 1, 32)]
    if rank == 3:
        return [1, _int(rng, 1, 10), _int(rng, 1, 8)]
    return [1, _int(rng, 1, 10), _int(rng, 1, 10), _int(rng, 1, 6)]


def _shape(t: Any) -> Shape:
    return tuple(int(d) for d in t.shape)


def _build_step(b: Builder, kind: Kind, p: Params, x: Any, step: int) -> Any:
    return kind.build(b, p, x, step)


def make_model(seed: int | None = None, spec: Spec | None = None) -> tuple[Any, Spec, Builder]:
    """Sample a random model from `seed`, or rebuild the one `spec` describes: (Keras model, spec,
    builder with its inputs and their float ranges). Needs TensorFlow (worker processes)."""
    import keras

    b = Builder()
    if spec is None:
        assert seed is not None
        rng = np.random.default_rng(seed)
        spec = {"seed": seed, "input": sample_input(rng), "range": sample_range(rng), "steps": []}
        n_steps = _int(rng, MIN_STEPS, MAX_STEPS)
    else:
        rng, n_steps = None, len(spec["steps"])
    x = b.input("x", spec["input"], spec["range"])
    for i in range(n_steps):
        if rng is None:
            step = spec["steps"][i]
            kind = BY_NAME[step["layer"]]
            x = _build_step(b, kind, {k: v for k, v in step.items() if k != "layer"}, x, i)
            continue
        s = _shape(x)
        for _ in range(30):  # a layer that fits this shape and keeps tensors small
            candidates = [k for k in KINDS if len(s) in k.ranks]
            weights = np.array([k.weight for k in candidates])
            kind = candidates[int(rng.choice(len(candidates), p=weights / weights.sum()))]
            try:
                p = kind.sample(rng, s)
            except ValueError:  # a sampler with no valid choice for this shape: sample again
                continue
            if p is None or any(_size(tuple(a["shape"])) > MAX_ELEMENTS for a in p.get("aux", [])):
                continue
            trial = Builder(list(b.inputs), list(b.ranges), list(b.extra_outputs))
            try:
                y = _build_step(trial, kind, p, x, i)
            except (ValueError, TypeError):  # Keras refuses this combination: sample again
                continue
            if 0 < _size(_shape(y)) <= MAX_ELEMENTS and len(_shape(y)) >= 2:
                b, x = trial, y
                spec["steps"].append({"layer": kind.name, **p})
                break
    model = keras.Model(b.inputs, [x, *b.extra_outputs])
    return model, spec, b


def build_model(spec: Spec) -> Any:
    return make_model(spec=spec)[0]


@dataclass
class Converted:
    """One generated model: its spec and int8 .tflite, or why the converter failed."""

    id: str
    spec: Spec
    model: bytes | None = None
    error: str = ""


def _one_line(text: str, limit: int = 300) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.search(r"error", ln, re.I)]
    return " ".join((errors or lines or ["?"])[0].split())[:limit]


def convert(job: tuple[str, int | None, Spec | None]) -> Converted:
    """Sample (or rebuild) one model and convert it to full int8 with the TFLite converter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    model_id, seed, spec = job
    try:
        model, spec, b = make_model(seed, spec)
    except Exception as exc:  # noqa: BLE001 - a spec Keras cannot build
        why = f"Keras could not build it: {_one_line(str(exc))}"
        return Converted(model_id, spec or {"seed": seed}, None, why)
    rng = np.random.default_rng([spec["seed"], 1])

    def representative() -> Any:
        for i in range(CALIBRATION_SAMPLES):
            sample = {}
            for t, (lo, hi) in zip(b.inputs, b.ranges, strict=True):
                fill = lo if i == 0 else hi if i == 1 else None  # pin both ends of each range
                shape = _shape(t)
                values = np.full(shape, fill) if fill is not None else rng.uniform(lo, hi, shape)
                sample[t.name] = values.astype(np.float32)
            yield sample

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    try:
        return Converted(model_id, spec, bytes(converter.convert()))
    except Exception as exc:  # noqa: BLE001 - any converter failure is an outcome, not a crash
        return Converted(model_id, spec, None, _one_line(str(exc)))
