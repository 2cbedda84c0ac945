"""One-operator Keras models, converted to full-integer int8 `.tflite`, with random configurations.

Every config is a plain JSON-able dict (op, shapes, layer arguments, weight scale, the float range
of each input's representative data, and a seed), so a failing test prints everything needed to
rebuild its model. Quantization parameters are steered through the representative-data ranges:
tiny and huge ranges give extreme scales, all-positive or all-negative ranges pin the zero point
at -128 or +127.

* `sample_configs(op, n, seed)`: OPS use their original samplers (batch 1, NHWC-style shapes);
  MORE_OPS and `rank_configs()` use rank-generic ones (`full_shapes` include the batch axis,
  tensor ranks 1-5).
* `build_batches(configs)`: the op suites' converter (tests/op_suite.py): one converter call per
  ~30 configs, each an independent branch of one model; branches the converter rewrote are
  dropped (the batch is converted again), failures are found by bisection.
* `build_models(configs)`: one model per config (tests/test_kernels_optimized.py).

Conversion runs in a pool of spawned worker processes (TensorFlow is imported only there).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
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
# DIV divisors: LiteRT refuses a zero divisor, and tinypipe.reference probes every model with zeros
_DIVISOR_RANGES = [(3.0, 7.0), (-9.0, -2.0), (0.5, 40.0), (-0.2, -0.01), (0.002, 0.03)]
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
    rng = np.random.default_rng([seed, (OPS + MORE_OPS).index(op)])
    configs = []
    for i in range(n):
        config_seed = int(rng.integers(2**31))  # drawn first: existing ops keep their configs
        sampled = _SAMPLERS[op](rng) if op in _SAMPLERS else _rank_config(op, rng, _pick(rng, _RANKS))
        config = {"op": op, "id": f"{op.lower()}-{seed}-{i}", "seed": config_seed, **sampled}
        n_inputs = len(config.get("shapes") or config.get("full_shapes") or [None])
        config["ranges"] = [_range(rng) for _ in range(n_inputs)]
        if op == "DIV":  # a divisor range without 0: its zero point is then +-128, never a real 0
            lo, hi = _pick(rng, _DIVISOR_RANGES)
            config["ranges"][1] = [lo, hi]
        configs.append(config)
    return configs


def kernel_path_configs() -> list[Config]:
    """Fixed configs for the optimized kernels' shape-specialized paths, which random configs rarely
    hit: the DSP planar 3x3 depthwise (stride 1, channels % 4 == 0; tall outputs run transposed;
    12 channels put 4 on LiteRT's ties-away rule; relu6 clamps below the int8 range) and its ring of
    rows (small outputs, stride 2), small-K and
    unaligned-K convolutions (K = 8, 27), all-zero output channels (elided by the generator),
    TRANSPOSE_CONV with vector tails in both the input and the output channels, the DSP
    FULLY_CONNECTED's loop remainders, the DSP convolution's 8- and 16-pixel blocks (partial,
    fewer than one, rows widened from the input, strips keeping filter rows), the Helium pointwise
    rows of 7 pixels, and column images, which the generator turns into rows."""
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
        # TRANSPOSE_CONV: 19 input channels = 16-lane Helium vector + tail, 4 DSP words + 3;
        # 9 filters = two 4-channel blocks + 1 (and 8 NEON-upward channels + 1 ties-away channel)
        {**base, "op": "TRANSPOSE_CONV", "full_shapes": [[1, 3, 4, 19]], "kernel": [3, 3], "stride": [2, 2],
         "padding": "same", "activation": None, "w_scale": 0.1, "filters": 9},
        {**base, "op": "TRANSPOSE_CONV", "full_shapes": [[2, 2, 3, 8]], "kernel": [2, 3], "stride": [1, 2],
         "padding": "valid", "activation": None, "w_scale": 2.0, "filters": 4, "bias": False,
         "per_tensor": True},
        # the DSP SMMLAR path's 8-pixel blocks: 63 pixels (the last block overlaps the one before),
        # filter rows widened straight from the input inside, gathered at the border; 6 pixels
        # (fewer than a block: the general path); rows two apart (dilation 2 along y only)
        {**base, "op": "CONV_2D", "shape": [7, 9, 8], "kernel": [3, 3], "padding": "same",
         "activation": None, "w_scale": 0.5, "filters": 6},
        {**base, "op": "CONV_2D", "shape": [2, 3, 4], "kernel": [1, 1], "padding": "valid",
         "activation": None, "w_scale": 0.5, "filters": 5},
        {**base, "op": "CONV_2D", "shape": [9, 6, 4], "kernel": [3, 2], "padding": "valid",
         "dilation": [2, 1], "activation": None, "w_scale": 0.5, "filters": 3},
        # 16-pixel blocks: 42 pixels (the last 10 in a 16-pixel block overlapping the one before),
        # K = 54 (14 quads: 4-quad loops and single ones), 7 channels (an odd last one); 35
        # pixels of a 1x1 (the last 3 in an 8-pixel block), K = 16 (exactly 4 quads), one of 10
        # channels elided (9 live, listed)
        {**base, "op": "CONV_2D", "shape": [7, 6, 6], "kernel": [3, 3], "padding": "same",
         "activation": None, "w_scale": 0.5, "filters": 7},
        {**base, "op": "CONV_2D", "shape": [5, 7, 16], "kernel": [1, 1], "padding": "valid",
         "activation": None, "w_scale": 0.5, "filters": 10, "zero_filters": [3]},
        # DSP im2col of rows that are not whole words (K = 27 and 3): copied a word at a time
        # unless the copy would read past the input (the last pixels of a valid 3x3); a 1x1 patch
        # that is the input itself, padded to a quad; blocks across output rows
        {**base, "op": "CONV_2D", "shape": [6, 7, 3], "kernel": [3, 3], "padding": "valid",
         "activation": None, "w_scale": 0.5, "filters": 5},
        {**base, "op": "CONV_2D", "shape": [3, 5, 3], "kernel": [1, 1], "padding": "valid",
         "activation": None, "w_scale": 0.5, "filters": 4},
        # Helium pointwise rows of 7 pixels: K = 28 (one 16-byte block + a tail), 30 pixels (the
        # last row overlaps the one before), elided channels; K = 16, exactly one row, the input
        # pixels as slots; K = 6 in 8-byte slots (K = 8, the config above, reads the input)
        {**base, "op": "CONV_2D", "shape": [5, 6, 28], "kernel": [1, 1], "padding": "valid",
         "activation": "relu", "w_scale": 0.5, "filters": 9, "zero_filters": [2, 7]},
        {**base, "op": "CONV_2D", "shape": [1, 7, 16], "kernel": [1, 1], "padding": "valid",
         "activation": None, "w_scale": 0.5, "filters": 4},
        {**base, "op": "CONV_2D", "shape": [3, 5, 6], "kernel": [1, 1], "padding": "valid",
         "activation": None, "w_scale": 0.5, "filters": 5},
        # ... and other convolutions whose filter rows are whole 16-byte slots: a 3x3 over 16
        # channels (rows copied from the input inside, patches gathered at the border), a strided 1x1
        {**base, "op": "CONV_2D", "shape": [5, 6, 16], "kernel": [3, 3], "padding": "same",
         "activation": "relu6", "w_scale": 0.1, "filters": 5},
        {**base, "op": "CONV_2D", "shape": [6, 6, 16], "kernel": [1, 1], "stride": [2, 2], "padding": "valid",
         "activation": None, "w_scale": 0.5, "filters": 6},
        # ... and with 8 output channels or more, any filter row (inside the input gathered 8 bytes at
        # a time, at the border in pieces): a 4x4 over one channel (as KWS's first layer, padded); a
        # 2x7 dilated along x stays on the 4-pixel path; K = 8 (one group, an 8-byte slot), K = 24
        # (three), K = 45 (six, past the four gather_block unrolls)
        {**base, "op": "CONV_2D", "shape": [9, 6, 1], "kernel": [4, 4], "stride": [2, 2], "padding": "same",
         "activation": "relu", "w_scale": 0.5, "filters": 32},
        {**base, "op": "CONV_2D", "shape": [6, 16, 2], "kernel": [2, 7], "padding": "same",
         "dilation": [1, 2], "activation": None, "w_scale": 0.5, "filters": 33},
        *({**base, "op": "CONV_2D", "shape": shape, "kernel": kernel, "stride": stride, "padding": padding,
           "activation": None, "w_scale": 0.5, "filters": filters}
          for shape, kernel, stride, padding, filters in [([5, 6, 2], [2, 2], [1, 1], "same", 8),
                                                          ([6, 9, 2], [3, 4], [1, 2], "valid", 9),
                                                          ([6, 6, 5], [3, 3], [1, 1], "same", 10)]),
        # column images (a 1-D convolution over time, one pixel wide): run as one row
        {**base, "op": "CONV_2D", "shape": [11, 1, 4], "kernel": [3, 1], "padding": "valid",
         "activation": None, "w_scale": 0.5, "filters": 8},
        {**base, "op": "DEPTHWISE_CONV_2D", "shape": [13, 1, 8], "kernel": [5, 1], "padding": "same",
         "stride": [2, 1], "activation": "relu", "w_scale": 0.5},
        # the DSP's ring of 3 padded rows (3x3 outputs of at most 8 x 8 at stride 1): 16 channels
        # on its SMMLAR path; 12 channels, the last 4 on LiteRT's ties-away rule (the general
        # requantization), a valid window
        {**base, "op": "DEPTHWISE_CONV_2D", "shape": [6, 6, 16], "kernel": [3, 3], "padding": "same",
         "activation": None, "w_scale": 0.5},
        {**base, "op": "DEPTHWISE_CONV_2D", "shape": [7, 5, 12], "kernel": [3, 3], "padding": "valid",
         "activation": "relu", "w_scale": 2.0},
        # Helium's planar 3x3 at stride 2 (4 sub-planes by row and column parity), the DSP's ring of
        # rows: an odd first padded column and row, 12 channels (4 on LiteRT's ties-away rule); a
        # trailing single column; an odd output width (the last pixel gathered back alone)
        {**base, "op": "DEPTHWISE_CONV_2D", "shape": [9, 11, 12], "kernel": [3, 3], "stride": [2, 2],
         "padding": "same", "activation": "relu6", "w_scale": 0.5},
        {**base, "op": "DEPTHWISE_CONV_2D", "shape": [8, 10, 8], "kernel": [3, 3], "stride": [2, 2],
         "padding": "valid", "activation": None, "w_scale": 0.1},
        {**base, "op": "DEPTHWISE_CONV_2D", "shape": [10, 9, 4], "kernel": [3, 3], "stride": [2, 2],
         "padding": "same", "activation": "relu", "w_scale": 2.0},
        # positive shifts (an input range far wider than relu6's output; inputs near the zero point,
        # so that not every output saturates): Helium rows, the 4-pixel path and the planar
        # depthwise left-shift their sums
        *({**base, "op": op, "shape": shape, "kernel": kernel, "padding": "same", "activation": "relu6",
           "w_scale": 1.0, "ranges": [[-1000.0, 1000.0]], "input_spread": 2, **extra}
          for op, shape, kernel, extra in [("CONV_2D", [4, 7, 32], [1, 1], {"filters": 6}),
                                           ("CONV_2D", [5, 5, 3], [3, 3], {"filters": 4}),
                                           ("DEPTHWISE_CONV_2D", [6, 9, 4], [3, 3], {}),
                                           ("DEPTHWISE_CONV_2D", [5, 6, 8], [3, 3], {})]),
        # the DSP FULLY_CONNECTED: 16 inputs per loop pass, then 4-input steps and a 1-input tail
        # (K = 45); one 4-row block and 3 single rows (7 units); requantized by SMMLAR (`doubled`;
        # the last config is not)
        {"op": "FULLY_CONNECTED", "shape": [45], "units": 7, "activation": None, "bias": True, "w_scale": 0.5,
         "per_tensor": False},
        # the DSP SMMLAR path down strips of 8 pixels, the filter rows the stride does not pass kept
        # from block to block: stride 2 (one row kept, padded), 5x5 (four kept, one strip exactly),
        # a 3x2 filter at stride 2 over 9 output channels (the last strip overlapping)
        *({**base, "op": "CONV_2D", "shape": shape, "kernel": kernel, "stride": stride, "padding": padding,
           "activation": None, "w_scale": 0.5, "filters": filters}
          for shape, kernel, stride, padding, filters in [([10, 17, 4], [3, 3], [2, 2], "same", 7),
                                                          ([7, 12, 8], [5, 5], [1, 1], "valid", 4),
                                                          ([9, 20, 4], [3, 2], [2, 2], "same", 9)]),
        # a FULLY_CONNECTED whose bias dominates its tiny input range: right shifts past 22, so the
        # DSP kernel keeps its general requantization (not `doubled`); K = 40, no tail
        {"op": "FULLY_CONNECTED", "shape": [40], "units": 9, "activation": None, "bias": True, "w_scale": 0.5,
         "per_tensor": False, "ranges": [[-1e-5, 1e-5]]},
        # RGB first layers (3x3 over 3 channels: patch rows of 9 bytes) on the DSP SMMLAR path, their
        # patches widened straight from the input: stride 2 as VWW's, and stride 1 with a partial
        # last block
        *({**base, "op": "CONV_2D", "shape": shape, "kernel": [3, 3], "stride": stride, "padding": padding,
           "activation": None, "w_scale": 0.5, "filters": filters}
          for shape, stride, padding, filters in [([12, 13, 3], [2, 2], "same", 8),
                                                  ([7, 14, 3], [1, 1], "valid", 6)]),
    ]
    rng = np.random.default_rng(7)
    for i, c in enumerate(configs):
        c.update(id=f"path-{i}-{c['op'].lower()}", seed=int(rng.integers(2**31)))
        c.setdefault("ranges", [_range(rng)])
    return configs


# --- rank-generic configs: full tensor shapes (batch axis included, any size), rank 1..5 ---------

# Ops tested by tests/test_ops_more.py with rank-generic random configs (seeded after OPS).
MORE_OPS = [
    "RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "ABS", "SUB", "MAXIMUM", "MINIMUM",
    "SQUARED_DIFFERENCE", "TRANSPOSE", "SPLIT", "SPLIT_V", "PACK", "UNPACK", "SLICE", "PADV2", "SUM",
    "REDUCE_MAX", "REDUCE_MIN", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "PRELU",
    "GATHER", "TRANSPOSE_CONV", "DIV", "BATCH_MATMUL", "LOG_SOFTMAX", "EXPAND_DIMS",
    "UNROLLED_LSTM", "UNROLLED_GRU",
]
# SQUEEZE: the converter emits it only with an unknown-rank output (static shape () in the model);
# tests/test_ops_exact.py tests it on hand-built models with random shapes and quantization.
# Keras layers whose converted graph is many builtins (not one op): any opcodes but control flow.
RECURRENT = {"UNROLLED_LSTM": "LSTM", "UNROLLED_GRU": "GRU"}
# An unrolled LSTM's first step has a dead output (its forget gate: the initial cell state is 0),
# and the converter then leaves that step's SPLIT in float (DEQUANTIZE -> SPLIT -> QUANTIZE) in
# some conversions and not in others; the aot runtime runs both (a float SPLIT copies bytes), so a
# recurrent config is converted once.
RECURRENT_CONVERSIONS = 1
# Shape-generic ops: each is also tested at every tensor rank 1..5 (rank_configs).
RANK_OPS = [
    "PAD", "PADV2", "RESHAPE", "CONCATENATION", "STRIDED_SLICE", "SLICE", "MEAN", "SUM", "REDUCE_MAX",
    "REDUCE_MIN", "TRANSPOSE", "SPLIT", "SPLIT_V", "PACK", "UNPACK", "ADD", "SUB", "MUL", "MAXIMUM",
    "MINIMUM", "SQUARED_DIFFERENCE", "RELU", "LEAKY_RELU", "GATHER",
]
RANKS = [1, 2, 3, 4, 5]
_RANKS = [1, 2, 3, 4, 4, 5]


def _dims(rng: np.random.Generator, rank: int, lo: int = 1, hi: int = 5) -> list[int]:
    return [int(rng.integers(lo, hi + 1)) for _ in range(rank)]


def _axis_of(rng: np.random.Generator, rank: int) -> int:
    return int(rng.integers(rank))


def _r_unary(rng: np.random.Generator, rank: int) -> Config:
    return {"full_shapes": [_dims(rng, rank)]}


def _r_leaky(rng: np.random.Generator, rank: int) -> Config:
    return {**_r_unary(rng, rank), "alpha": _pick(rng, [0.01, 0.2, 0.3, 0.7, 1.5, -0.3])}


def _r_binary(rng: np.random.Generator, rank: int) -> Config:
    shape = _dims(rng, rank)
    other = [d if rng.random() < 0.6 or rank > 4 else 1 for d in shape]  # LiteRT broadcasts up to 4-D
    shapes = [shape, other] if rng.random() < 0.5 else [other, shape]
    return {"full_shapes": shapes, "activation": _pick(rng, _ACTIVATIONS)}


def _r_pad(rng: np.random.Generator, rank: int) -> Config:
    pads = [[int(rng.integers(0, 3)), int(rng.integers(0, 3))] for _ in range(rank)]
    pads[int(rng.integers(rank))][0] += not any(map(any, pads))
    return {"full_shapes": [_dims(rng, rank)], "pads": pads, "value": _pick(rng, [-1.0, 0.5, 3.0])}


def _r_reshape(rng: np.random.Generator, rank: int) -> Config:
    shape = _dims(rng, rank, 2, 4)
    target = [int(np.prod(shape))] if rank > 1 else [1, shape[0]]
    return {"full_shapes": [shape], "target": target}


def _r_concat(rng: np.random.Generator, rank: int) -> Config:
    base, axis = _dims(rng, rank), _axis_of(rng, rank)
    shapes = []
    for _ in range(int(rng.integers(2, 4))):
        shape = list(base)
        shape[axis] = int(rng.integers(1, 5))
        shapes.append(shape)
    return {"full_shapes": shapes, "axis": axis}


def _r_strided_slice(rng: np.random.Generator, rank: int) -> Config:
    shape = _dims(rng, rank, 1, 6)
    shape[int(rng.integers(rank))] = max(shape[0], 2)
    while True:
        slices = _random_slices(rng, shape)
        selected = np.empty(shape)[tuple(s if isinstance(s, int) else slice(*s) for s in slices)]
        if selected.size and selected.shape != tuple(shape):
            return {"full_shapes": [shape], "slices": slices}


def _r_slice(rng: np.random.Generator, rank: int) -> Config:
    shape = _dims(rng, rank, 1, 6)
    shape[int(rng.integers(rank))] = max(shape[0], 2)
    while True:
        begin = [int(rng.integers(d)) for d in shape]
        size = [_pick(rng, [-1, int(rng.integers(1, d - b + 1))]) for d, b in zip(shape, begin, strict=True)]
        if any(b > 0 or (s not in (-1, d)) for b, s, d in zip(begin, size, shape, strict=True)):
            return {"full_shapes": [shape], "begin": begin, "size": size}


def _r_reduce(rng: np.random.Generator, rank: int) -> Config:
    shape = _dims(rng, rank)
    axes = sorted({_axis_of(rng, rank) for _ in range(int(rng.integers(1, rank + 1)))})
    for a in axes:  # the converter folds a reduction over size-1 axes away
        shape[a] = max(shape[a], 2)
    return {"full_shapes": [shape], "axes": axes, "keepdims": bool(rng.random() < 0.5)}


def _r_transpose(rng: np.random.Generator, rank: int) -> Config:
    shape = _dims(rng, rank, 2, 5)
    perm = list(range(rank))
    while rank > 1 and perm == list(range(rank)):
        perm = [int(p) for p in rng.permutation(rank)]
    return {"full_shapes": [shape], "perm": perm}


def _r_split(rng: np.random.Generator, rank: int) -> Config:
    shape, axis, parts = _dims(rng, rank), _axis_of(rng, rank), int(rng.integers(2, 4))
    shape[axis] = parts * int(rng.integers(1, 3))
    return {"full_shapes": [shape], "axis": axis, "splits": parts}


def _r_split_v(rng: np.random.Generator, rank: int) -> Config:
    shape, axis = _dims(rng, rank), _axis_of(rng, rank)
    sizes = _dims(rng, int(rng.integers(2, 4)), 1, 3)
    shape[axis] = sum(sizes)
    return {"full_shapes": [shape], "axis": axis, "splits": sizes}


def _r_pack(rng: np.random.Generator, rank: int) -> Config:
    shape = _dims(rng, max(rank - 1, 1))
    return {"full_shapes": [shape] * int(rng.integers(2, 4)), "axis": int(rng.integers(rank))}


def _r_unpack(rng: np.random.Generator, rank: int) -> Config:
    shape, axis = _dims(rng, rank), _axis_of(rng, rank)
    shape[axis] = int(rng.integers(2, 5))
    return {"full_shapes": [shape], "axis": axis}


def _r_resize(rng: np.random.Generator, rank: int) -> Config:  # always NHWC (rank is ignored)
    shape = [int(rng.integers(1, 3)), *_dims(rng, 2, 1, 7), int(rng.integers(1, 5))]
    size = _dims(rng, 2, 1, 13)
    while size == shape[1:3]:
        size = _dims(rng, 2, 1, 13)
    mode = _pick(rng, ["half_pixel", "align_corners", "legacy"])
    return {"full_shapes": [shape], "size": size, "mode": mode}


def _r_prelu(rng: np.random.Generator, rank: int) -> Config:  # LiteRT broadcasts alpha up to 4-D
    rank = min(max(rank, 2), 4)
    shared = [a for a in range(1, rank) if rng.random() < 0.4]
    return {"full_shapes": [[1, *_dims(rng, rank - 1)]], "shared_axes": shared,
            "w_scale": _pick(rng, [0.05, 0.3, 1.0, 4.0])}


def _r_gather(rng: np.random.Generator, rank: int) -> Config:
    shape, axis = _dims(rng, rank, 1, 6), _axis_of(rng, rank)
    index_shape = _dims(rng, int(rng.integers(1, 3)), 1, 4)
    indices = rng.integers(0, shape[axis], index_shape).tolist()
    return {"full_shapes": [shape], "axis": axis, "indices": indices}


def _r_transpose_conv(rng: np.random.Generator, rank: int) -> Config:  # NHWC (rank is ignored)
    return {"full_shapes": [[1, *_dims(rng, 2, 1, 6), int(rng.integers(1, 7))]],
            "filters": int(rng.integers(1, 13)), "kernel": _hw(rng, 1, 4), "stride": _hw(rng, 1, 3),
            "padding": _pick(rng, ["same", "valid"]), "activation": _pick(rng, _ACTIVATIONS),
            "bias": bool(rng.random() < 0.8), "w_scale": _pick(rng, _WEIGHT_SCALES),
            "per_tensor": bool(rng.random() < 0.25)}


def _r_batch_matmul(rng: np.random.Generator, rank: int) -> Config:
    """tf.matmul of two activations (batch axes broadcast) or of an activation and a constant of
    rank >= 3 (a rank-2 constant converts to FULLY_CONNECTED)."""
    const = bool(rng.random() < 0.3)
    rank = max(rank, 3 if const else 2)
    rows, depth, cols = _dims(rng, 3, 1, 6)
    adj_x, adj_y = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    batch = _dims(rng, rank - 2, 1, 3)
    other = [d if rng.random() < 0.7 else 1 for d in batch]
    if rng.random() < 0.5:
        batch, other = other, batch
    lhs = [*batch, *((depth, rows) if adj_x else (rows, depth))]
    rhs = [*other, *((cols, depth) if adj_y else (depth, cols))]
    if const:  # the activation keeps the model's batch axis; the constant broadcasts against it
        return {"full_shapes": [lhs], "rhs_shape": rhs[1:] if rank > 3 and rng.random() < 0.5 else rhs,
                "adj_x": adj_x, "adj_y": adj_y, "w_scale": _pick(rng, _WEIGHT_SCALES)}
    return {"full_shapes": [lhs, rhs], "adj_x": adj_x, "adj_y": adj_y}


def _r_log_softmax(rng: np.random.Generator, rank: int) -> Config:
    shape = _dims(rng, rank)
    shape[-1] = int(rng.integers(1, 40))
    return {"full_shapes": [shape]}


def _r_expand_dims(rng: np.random.Generator, rank: int) -> Config:
    """A batch of unknown size keeps EXPAND_DIMS (a static shape converts to RESHAPE)."""
    rank = min(max(rank, 2), 4)
    return {"full_shapes": [[1, *_dims(rng, rank - 1)]], "axis": int(rng.integers(-rank - 1, rank + 1)),
            "dynamic_batch": True}


def _r_recurrent(rng: np.random.Generator, rank: int) -> Config:  # [batch, time, features]
    return {"full_shapes": [[1, int(rng.integers(1, 5)), int(rng.integers(1, 6))]],
            "units": int(rng.integers(1, 9)), "return_sequences": bool(rng.random() < 0.5),
            "w_scale": _pick(rng, [0.1, 0.5, 1.0])}


_RANK_SAMPLERS: dict[str, Callable[[np.random.Generator, int], Config]] = {
    "RELU": _r_unary, "RELU6": _r_unary, "RELU_N1_TO_1": _r_unary, "ABS": _r_unary, "LEAKY_RELU": _r_leaky,
    "ADD": _r_binary, "SUB": _r_binary, "MUL": _r_binary, "MAXIMUM": _r_binary, "MINIMUM": _r_binary,
    "SQUARED_DIFFERENCE": _r_binary, "PAD": _r_pad, "PADV2": _r_pad, "RESHAPE": _r_reshape,
    "CONCATENATION": _r_concat, "STRIDED_SLICE": _r_strided_slice, "SLICE": _r_slice, "MEAN": _r_reduce,
    "SUM": _r_reduce, "REDUCE_MAX": _r_reduce, "REDUCE_MIN": _r_reduce, "TRANSPOSE": _r_transpose,
    "SPLIT": _r_split, "SPLIT_V": _r_split_v, "PACK": _r_pack, "UNPACK": _r_unpack,
    "RESIZE_NEAREST_NEIGHBOR": _r_resize, "RESIZE_BILINEAR": _r_resize, "PRELU": _r_prelu,
    "GATHER": _r_gather, "TRANSPOSE_CONV": _r_transpose_conv, "DIV": _r_binary,
    "BATCH_MATMUL": _r_batch_matmul, "LOG_SOFTMAX": _r_log_softmax, "EXPAND_DIMS": _r_expand_dims,
    "UNROLLED_LSTM": _r_recurrent, "UNROLLED_GRU": _r_recurrent,
}
_FUSABLE = {"ADD", "SUB", "MUL", "DIV", "TRANSPOSE_CONV"}  # ops whose converted form keeps a fused activation


def _rank_config(op: str, rng: np.random.Generator, rank: int) -> Config:
    config = _RANK_SAMPLERS[op](rng, rank)
    if op not in _FUSABLE:
        config.pop("activation", None)
    return config


def rank_configs(seed: int) -> list[Config]:
    """One config of every RANK_OPS op at every tensor rank in RANKS (TRANSPOSE and PACK, whose rank
    is its output's, from rank 2), with random quantization ranges."""
    configs = []
    for op in RANK_OPS:
        rng = np.random.default_rng([seed, 1000 + RANK_OPS.index(op)])
        for rank in RANKS:
            if op in ("TRANSPOSE", "PACK") and rank == 1:  # identity / scalar inputs
                continue
            config = {"op": op, "id": f"rank{rank}-{op.lower()}", "rank": rank,
                      "seed": int(rng.integers(2**31)), **_rank_config(op, rng, rank)}
            config["ranges"] = [_range(rng) for _ in config["full_shapes"]]
            configs.append(config)
    return configs


def _generic_model(config: Config) -> Any:
    """The Keras model of a rank-generic config: one Lambda applying the op to full tensors."""
    import keras
    import tensorflow as tf

    op = config["op"]
    inputs = [keras.Input(shape=tuple(s[1:]), batch_size=None if config.get("dynamic_batch") else s[0])
              for s in config["full_shapes"]]
    if op in RECURRENT:  # unrolled: the converter emits its cell's builtins once per time step
        layer = getattr(keras.layers, RECURRENT[op])(config["units"], unroll=True,
                                                     return_sequences=config["return_sequences"])
        model = keras.Model(inputs, layer(inputs[0]))
        rng = np.random.default_rng(config["seed"])
        layer.set_weights([(rng.standard_normal(w.shape) * config["w_scale"]).astype(np.float32)
                           for w in layer.get_weights()])
        return model
    if op in ("PRELU", "TRANSPOSE_CONV"):
        if op == "PRELU":
            layer = keras.layers.PReLU(shared_axes=config["shared_axes"] or None)
        else:
            layer = keras.layers.Conv2DTranspose(config["filters"], config["kernel"], config["stride"],
                                                 config["padding"], activation=config.get("activation"),
                                                 use_bias=config["bias"])
        model = keras.Model(inputs, layer(inputs[0]))
        rng = np.random.default_rng(config["seed"])
        layer.set_weights([(rng.standard_normal(w.shape) * config["w_scale"]).astype(np.float32)
                           for w in layer.get_weights()])
        return model
    clip = {"relu": tf.nn.relu, "relu6": tf.nn.relu6}
    binary = {"ADD": tf.add, "SUB": tf.subtract, "MUL": tf.multiply, "DIV": tf.divide, "MAXIMUM": tf.maximum,
              "MINIMUM": tf.minimum, "SQUARED_DIFFERENCE": tf.math.squared_difference}
    if op in binary:
        act = clip.get(config.get("activation") or "", lambda t: t)

        def fn(t: Any) -> Any:
            return act(binary[op](t[0], t[1]))
    elif op == "RELU":
        fn = tf.nn.relu
    elif op == "RELU6":
        fn = tf.nn.relu6
    elif op == "RELU_N1_TO_1":
        def fn(t: Any) -> Any:
            return tf.clip_by_value(t, -1.0, 1.0)
    elif op == "LEAKY_RELU":
        def fn(t: Any) -> Any:
            return tf.nn.leaky_relu(t, config["alpha"])
    elif op == "ABS":
        fn = tf.abs
    elif op in ("PAD", "PADV2"):
        def fn(t: Any) -> Any:
            return tf.pad(t, config["pads"], constant_values=config["value"] if op == "PADV2" else 0.0)
    elif op == "RESHAPE":
        def fn(t: Any) -> Any:
            return tf.reshape(t, config["target"])
    elif op == "CONCATENATION":
        def fn(t: Any) -> Any:
            return tf.concat(t, config["axis"])
    elif op == "STRIDED_SLICE":
        index = tuple(s if isinstance(s, int) else slice(*s) for s in config["slices"])

        def fn(t: Any) -> Any:
            return t[index]
    elif op == "SLICE":
        def fn(t: Any) -> Any:
            return tf.slice(t, config["begin"], config["size"])
    elif op in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN"):
        reduce = {"MEAN": tf.reduce_mean, "SUM": tf.reduce_sum, "REDUCE_MAX": tf.reduce_max,
                  "REDUCE_MIN": tf.reduce_min}[op]

        def fn(t: Any) -> Any:
            return reduce(t, axis=config["axes"], keepdims=config["keepdims"])
    elif op == "TRANSPOSE":
        def fn(t: Any) -> Any:
            return tf.transpose(t, config["perm"])
    elif op in ("SPLIT", "SPLIT_V"):
        def fn(t: Any) -> Any:
            return tf.split(t, config["splits"], axis=config["axis"])
    elif op == "PACK":
        def fn(t: Any) -> Any:
            return tf.stack(t, axis=config["axis"])
    elif op == "UNPACK":
        def fn(t: Any) -> Any:
            return tf.unstack(t, axis=config["axis"])
    elif op == "GATHER":
        def fn(t: Any) -> Any:
            return tf.gather(t, config["indices"], axis=config["axis"])
    elif op == "BATCH_MATMUL":
        adj = {"transpose_a": config["adj_x"], "transpose_b": config["adj_y"]}
        if "rhs_shape" in config:
            rng = np.random.default_rng(config["seed"])
            constant = (rng.standard_normal(config["rhs_shape"]) * config["w_scale"]).astype(np.float32)

            def fn(t: Any) -> Any:
                return tf.matmul(t, tf.constant(constant), **adj)
        else:
            def fn(t: Any) -> Any:
                return tf.matmul(t[0], t[1], **adj)
    elif op == "LOG_SOFTMAX":
        fn = tf.nn.log_softmax
    elif op == "EXPAND_DIMS":
        def fn(t: Any) -> Any:
            return tf.expand_dims(t, config["axis"])
    elif op in ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR"):
        nearest = op == "RESIZE_NEAREST_NEIGHBOR"

        def fn(t: Any) -> Any:
            if config["mode"] == "half_pixel":
                return tf.image.resize(t, config["size"], method="nearest" if nearest else "bilinear")
            v1 = tf.compat.v1.image
            legacy = v1.resize_nearest_neighbor if nearest else v1.resize_bilinear
            return legacy(t, config["size"], align_corners=config["mode"] == "align_corners")
    else:
        raise KeyError(op)
    y = keras.layers.Lambda(fn)(inputs if len(inputs) > 1 else inputs[0])
    return keras.Model(inputs, y)


def describe(config: Config) -> str:
    return json.dumps(config, sort_keys=True)


# --- Keras model building and conversion (runs inside the worker processes) ---------------------

def _keras_model(config: Config) -> Any:
    import keras
    from keras import layers

    if "full_shapes" in config:
        return _generic_model(config)
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
    shapes = config.get("full_shapes") or [[1, *s] for s in config.get("shapes") or [config["shape"]]]

    def representative() -> Any:
        for i in range(_CALIBRATION_SAMPLES):
            sample = []
            for shape, (lo, hi) in zip(shapes, config["ranges"], strict=True):
                # the first two samples pin the range's ends; the rest fill it uniformly
                fill = lo if i == 0 else hi if i == 1 else None
                values = np.full(shape, fill) if fill is not None else rng.uniform(lo, hi, shape)
                sample.append(values.astype(np.float32))
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


def expected_opcodes(op: str) -> list[str] | None:
    """The converted branch's operators; None for a recurrent layer (any builtins but control flow)."""
    if op in RECURRENT:
        return None
    return ["QUANTIZE", "MAX_POOL_2D", "DEQUANTIZE"] if op == "QUANTIZE" else [op]


def _converted_as_expected(op: str, opcodes: list[str]) -> bool:
    expected = expected_opcodes(op)
    if expected is None:  # no control flow (a float SPLIT may sit between DEQUANTIZE and QUANTIZE)
        return bool(opcodes) and not {"WHILE", "IF", "CALL_ONCE"} & set(opcodes)
    return sorted(opcodes) == sorted(expected)


def try_convert(config: Config) -> bytes | None:
    """`convert`, or None where the TensorFlow converter fails or adds other operators. It does,
    rarely: some broadcast ADD/MUL get a RESHAPE inserted, some of which even crash LiteRT."""
    from tinypipe.graph import parse

    try:
        model = convert(config)
    except Exception:  # noqa: BLE001 - any converter failure means "no model for this config"
        return None
    opcodes = [o.opcode for o in parse(model).operators]
    return model if _converted_as_expected(config["op"], opcodes) else None


def _worker_init() -> None:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def build_models(configs: list[Config], workers: int = 2) -> list[bytes | None]:
    """Convert every config (None where the converter fails), in `workers` fresh processes
    (spawned: TensorFlow is not fork-safe)."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init) as pool:
        return list(pool.map(try_convert, configs, chunksize=max(1, len(configs) // (4 * workers))))


# --- batched conversion: many configs per converter call -----------------------------------------

@dataclass
class Branch:
    """One config inside a batched model: its positions among the model's inputs and outputs."""

    config: Config
    index: int  # j in its model's input names b<j>_<k>
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)


@dataclass
class Batch:
    model: bytes
    branches: list[Branch]


def _group_key(config: Config) -> tuple[bool, bool]:
    """Configs that need the same converter settings (float I/O, per-tensor weights) batch together."""
    return config["op"] == "QUANTIZE", bool(config.get("per_tensor"))


def convert_group(configs: list[Config], activations: str = "int8") -> bytes | None:
    """Convert the configs as independent branches of ONE Keras model (inputs named b<j>_<k>), or
    None if the converter fails on any of them. One converter call costs a few seconds whatever
    the model's size, so this is what keeps the op suites fast. `activations` "int16": 16x8
    quantization (int16 activations and I/O, int8 weights)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    inputs, outputs, ranges = [], [], []
    for j, config in enumerate(configs):
        sub = _keras_model(config)
        branch = [keras.Input(shape=t.shape[1:], batch_size=t.shape[0], name=f"b{j}_{k}")
                  for k, t in enumerate(sub.inputs)]
        y = sub(branch if len(branch) > 1 else branch[0])
        inputs += branch
        outputs += list(y) if isinstance(y, list | tuple) else [y]
        ranges += config["ranges"]
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(configs[0]["seed"])

    def representative() -> Any:
        for i in range(_CALIBRATION_SAMPLES):
            sample = {}
            for t, (lo, hi) in zip(inputs, ranges, strict=True):
                fill = lo if i == 0 else hi if i == 1 else None  # pin both ends of each range
                shape = tuple(d or 1 for d in t.shape)  # an unknown batch size calibrates with 1
                values = np.full(shape, fill) if fill is not None else rng.uniform(lo, hi, shape)
                sample[t.name] = values.astype(np.float32)
            yield sample

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    wide = activations == "int16"
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 if wide
        else tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    float_io, per_tensor = _group_key(configs[0])
    if not float_io:
        converter.inference_input_type = tf.int16 if wide else tf.int8
        converter.inference_output_type = tf.int16 if wide else tf.int8
    if per_tensor:
        converter._experimental_disable_per_channel = True
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    try:
        return bytes(converter.convert())
    except Exception:  # noqa: BLE001 - the caller retries the configs one by one
        return None


def split_branches(model: bytes, configs: list[Config],
                   accepted: Callable[[Config, list[str]], bool] | None = None
                   ) -> tuple[list[Branch], list[Config]]:
    """Map a batched model's inputs and outputs back to its configs (by input name, and by tracing
    each output to the inputs it depends on); configs whose branch is not exactly their op
    (the converter rewrote it; `accepted(config, opcodes)` decides, by default
    `_converted_as_expected`) are returned as rejected."""
    import re

    from tinypipe.graph import parse

    graph = parse(model)
    branch_of_input = {t: int(re.search(r"b(\d+)_\d+", graph.tensor(t).name).group(1))  # type: ignore[union-attr]
                       for t in graph.inputs}
    producer = {t: op for op in graph.operators for t in op.outputs}
    branches = [Branch(c, j) for j, c in enumerate(configs)]
    ops_of: dict[int, set[int]] = {j: set() for j in range(len(configs))}
    for pos, t in enumerate(graph.inputs):
        branches[branch_of_input[t]].inputs.append(pos)
    for pos, t in enumerate(graph.outputs):
        seen, stack, owners = set(), [t], set()
        while stack:
            u = stack.pop()
            if u in branch_of_input:
                owners.add(branch_of_input[u])
            elif u in producer and producer[u].index not in seen:
                seen.add(producer[u].index)
                stack += [i for i in producer[u].inputs if i >= 0]
        assert len(owners) == 1, f"output {pos} depends on branches {owners}"
        j = owners.pop()
        branches[j].outputs.append(pos)
        ops_of[j] |= seen
    def expected(config: Config, opcodes: list[str]) -> bool:
        return _converted_as_expected(config["op"], opcodes)

    ok = accepted or expected
    rejected = [c for j, c in enumerate(configs) if not ok(c, [graph.operators[i].opcode for i in ops_of[j]])]
    return [b for b in branches if b.config not in rejected], rejected


def _parses(model: bytes) -> bool:
    """tinypipe reads the model (tinypipe.verify accepts it)."""
    from tinypipe.errors import TinypipeError
    from tinypipe.graph import parse

    try:
        parse(model)
    except TinypipeError:
        return False
    return True


def build_batches(configs: list[Config], per_model: int = 30, workers: int = 2, activations: str = "int8",
                  accepted: Callable[[Config, list[str]], bool] | None = None
                  ) -> tuple[list[Batch], list[Config]]:
    """Convert `configs` in batches of `per_model` branches, in `workers` spawned processes.
    Returns the batches (models whose every branch is exactly its op) and the configs the converter
    failed on (found by bisection) or rewrote (a batch is converted again without those).
    `activations` and `accepted`: as convert_group and split_branches take them (the 16x8 suite)."""
    convert = partial(convert_group, activations=activations)
    groups: dict[tuple[tuple[bool, bool], bool], list[Config]] = {}
    for c in configs:  # recurrent graphs batch with each other only: they are converted again
        groups.setdefault((_group_key(c), c["op"] in RECURRENT), []).append(c)
    todo = [g[i:i + per_model] for g in groups.values() for i in range(0, len(g), per_model)]
    batches: list[Batch] = []
    rejected: list[Config] = []
    conversions: dict[str, int] = {}
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init) as pool:
        for _ in range(8):
            if not todo:
                break
            retry: list[list[Config]] = []
            for group, model in zip(todo, pool.map(convert, todo), strict=True):
                if model is not None and not _parses(model):
                    model = None  # e.g. a constant converted to asymmetric FULLY_CONNECTED weights
                if model is None:  # bisect to find the configs the converter fails on
                    if len(group) == 1:
                        rejected += group
                    else:
                        retry += [group[:len(group) // 2], group[len(group) // 2:]]
                    continue
                branches, bad = split_branches(model, group, accepted)
                for c in group:
                    conversions[c["id"]] = conversions.get(c["id"], 0) + 1
                again = [c for c in bad
                         if c["op"] in RECURRENT and conversions[c["id"]] < RECURRENT_CONVERSIONS]
                rejected += [c for c in bad if c not in again]
                if again:  # the float SPLIT comes and goes from one converter call to the next
                    retry.append(again)
                if bad and branches:
                    retry.append([b.config for b in branches])
                elif branches:
                    batches.append(Batch(model, branches))
            todo = retry
    return batches, rejected + [c for g in todo for c in g]
