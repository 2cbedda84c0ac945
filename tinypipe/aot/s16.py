"""16x8 lowerings: operators with int16 activations (zero point 0) and int8 weights.

The operator modules in `tinypipe/aot/ops/` call these when `is_s16(graph, op)`: the int16 path
sits beside the int8 one there, and the arithmetic is here. Each lowering reproduces the kernel
path LiteRT's built-in resolver (`BUILTIN_WITHOUT_DEFAULT_DELEGATES`) takes for int16:

* CONV_2D / DEPTHWISE_CONV_2D: reference_integer_ops::ConvPerChannel / DepthwiseConvPerChannel
  with int64 biases and accumulators; MultiplyByQuantizedMultiplier(int64) reduces the Q31
  multiplier to Q15 and rounds once (tp_multiply_by_quantized_multiplier_64).
* FULLY_CONNECTED: reference_integer_ops::FullyConnected[PerChannel] with float scales:
  round(acc * double(in) * double(filter) / double(out)) in double precision.
* ADD / SUB: the general int16 rescaling (left shift 15); ADD's same-shape NEON loop folds the
  input shift before the high multiply for the first n - n % 16 elements.
* MUL: reference_integer_ops::Mul<int16_t> (one MultiplyByQuantizedMultiplier, ties away).
* AVERAGE/MAX_POOL_2D, CONCATENATION, RESHAPE: as int8, on 2-byte elements.
* MEAN: reference_ops::QuantizedMeanOrSum (int32 sums, 1/count folded into the multiplier).
* QUANTIZE: float -> int16 (8-wide NEON multiply by the reciprocal, scalar tail divides),
  int16 <-> int8 and int16 -> int16 (scalar Requantize); DEQUANTIZE int16 -> float.
* LOGISTIC / TANH (activations.cc SigmoidPrepare/TanhPrepare + Eval): an input scale of 2^-12
  (TANH also 2^-11; LiteRT's CheckedLog2 allows 1e-3 in log2) runs gemmlowp's 16-bit fixed-point
  logistic / tanh (optimized_ops, kernels/lut_s16 `*_pot_s16`); any other scale
  reference_integer_ops::Logistic / Tanh: the input rescaled to units of 1 / (3 * 2^12), then
  interpolated in LiteRT's 256-entry sigmoid table (`sigmoid_table`).
* SOFTMAX: reference_ops::SoftmaxInt16 with the exp and 1/(1+x) tables of LUTPopulate<int16_t>
  (double precision), computed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tinypipe.aot import quant
from tinypipe.aot.lowering import Const, Layer, const_input, padding, unsupported
from tinypipe.aot.quant import quantize_multiplier, scale_of, tflite_round, zero_point_of
from tinypipe.graph import Graph, Operator, Tensor

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
ADD_LEFT_SHIFT = 15  # TP_ADD_S16_LEFT_SHIFT: LiteRT's headroom for int16 ADD/SUB
ADD_VECTOR = 16  # elements per NEON iteration of optimized_integer_ops::AddElementwiseInt16
QUANTIZE_VECTOR = 8  # elements per NEON iteration of optimized_ops::AffineQuantize<int16_t>
MAX_SHIFT_64 = 7  # MultiplyByQuantizedMultiplier(int64_t, ...) requires shift < 8
# The operators the aot runtime runs with int16 activations (any other is refused, naming tflm).
S16_OPERATORS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "AVERAGE_POOL_2D",
                 "MAX_POOL_2D", "CONCATENATION", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "QUANTIZE",
                 "DEQUANTIZE", "MEAN", "LOGISTIC", "TANH", "SOFTMAX", "TILE")


def is_s16(graph: Graph, op: Operator) -> bool:
    """Whether the operator runs on int16 activations (any int16 input or output)."""
    tensors = [*graph.op_inputs(op), *graph.op_outputs(op)]
    return any(t is not None and not t.is_const and t.dtype == "int16" for t in tensors)


def expect_int16(graph: Graph, op: Operator, *tensors: Tensor | None) -> None:
    """Every given tensor must be int16, quantized per tensor with zero point 0 (16x8 quantization)."""
    for t in tensors:
        if t is None:
            continue
        if t.dtype != "int16" or t.quant is None:
            raise unsupported(graph, op, f"tensor '{t.name}' is {t.dtype}"
                                         f"{'' if t.quant else ' without quantization'}; "
                                         "16x8 operators need int16 activations throughout")
        if t.quant.per_channel:
            raise unsupported(graph, op, f"activation '{t.name}' is quantized per channel")
        if zero_point_of(t) != 0:
            raise unsupported(graph, op, f"int16 tensor '{t.name}' has zero point {zero_point_of(t)}; "
                                         "16x8 quantization is symmetric (zero point 0)")


def activation_range(graph: Graph, op: Operator, out: Tensor) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for an int16 output and the operator's fused activation."""
    fused = op.options.get("fused_activation_function", "NONE")
    try:
        return _activation_range(fused, out)
    except OverflowError:  # 6.0 / scale is not finite in float32
        raise unsupported(graph, op, f"output scale {scale_of(out):g} is too fine for its fused {fused} "
                                     "(a degenerate calibration): LiteRT's clamp bound is undefined "
                                     "there") from None


def _activation_range(fused: str | None, out: Tensor) -> tuple[int, int]:
    return quant.activation_range(fused, out, (INT16_MIN, INT16_MAX))


def _int64_bias(graph: Graph, op: Operator, b: Tensor | None, channels: int) -> np.ndarray:
    """The int64 bias (empty: none, passed as NULL). LiteRT runs 16x8 convolutions with an int32
    bias through its optimized GEMM path, which this runtime does not reproduce."""
    if b is None:
        return np.zeros(0, np.int64)
    if b.dtype != "int64":
        raise unsupported(graph, op, f"bias '{b.name}' is {b.dtype}; 16x8 operators need an int64 bias "
                                     "(the converter's default for int16 activations)")
    bias = const_input(graph, op, b, "bias").astype(np.int64).reshape(-1)
    if bias.size != channels:
        raise unsupported(graph, op, f"bias '{b.name}' has {bias.size} values for {channels} channels")
    if np.abs(bias).max(initial=0) >= 2**46:  # LiteRT requires |acc| < 2^47
        raise unsupported(graph, op, f"bias '{b.name}' exceeds 2^46 in magnitude")
    return bias


def _weights(graph: Graph, op: Operator, w: Tensor | None, what: str) -> np.ndarray:
    weights = const_input(graph, op, w, what)
    assert w is not None
    if w.dtype != "int8" or w.quant is None or np.any(w.quant.zero_point != 0):
        raise unsupported(graph, op, f"{what} '{w.name}' must be int8 with zero point 0")
    return weights


def _multipliers(graph: Graph, op: Operator, inp: Tensor, w: Tensor, out: Tensor,
                 channels: int) -> tuple[Const, Const]:
    """PopulateConvolutionQuantizationParams' per-channel (multiplier, shift), for the int64
    MultiplyByQuantizedMultiplier (shift at most 7)."""
    assert w.quant is not None
    scales = w.quant.scale.astype(np.float32)
    mults, shifts = [], []
    for c in range(channels):
        m, s = quantize_multiplier(scale_of(inp) * float(scales[c if scales.size > 1 else 0]) / scale_of(out))
        if s > MAX_SHIFT_64:
            raise unsupported(graph, op, f"output scale {scale_of(out):g} is so much finer than input x "
                                         "filter scale that LiteRT's int64 requantization (shift < 8) is "
                                         "undefined")
        mults.append(m)
        shifts.append(s)
    return Const("multiplier", "int32_t", np.array(mults)), Const("shift", "int32_t", np.array(shifts))


def _conv_geometry(graph: Graph, op: Operator, inp: Tensor, out: Tensor, fh: int, fw: int) -> dict[str, int]:
    for t in (inp, out):
        if len(t.shape) != 4:
            raise unsupported(graph, op, f"tensor '{t.name}' has shape {t.shape}; 4-D NHWC expected")
    _, ih, iw, ic = inp.shape
    n, oh, ow, oc = out.shape
    pad_top, pad_left = padding(graph, op, (ih, iw), (fh, fw), (oh, ow))
    o = op.options
    act_min, act_max = activation_range(graph, op, out)
    return {"batches": n, "input_h": ih, "input_w": iw, "input_c": ic, "output_h": oh, "output_w": ow,
            "output_c": oc, "filter_h": fh, "filter_w": fw,
            "stride_h": o.get("stride_h", 1), "stride_w": o.get("stride_w", 1),
            "dilation_h": o.get("dilation_h_factor", 1), "dilation_w": o.get("dilation_w_factor", 1),
            "pad_top": pad_top, "pad_left": pad_left, "act_min": act_min, "act_max": act_max}


def lower_conv(graph: Graph, op: Operator, name: str) -> Layer:
    ins = graph.op_inputs(op)
    inp, w, b = ins[0], ins[1], ins[2] if len(ins) > 2 else None
    out = graph.op_outputs(op)[0]
    expect_int16(graph, op, inp, out)
    assert inp is not None and w is not None
    weights = _weights(graph, op, w, "filter")
    oc = out.shape[-1]
    if weights.ndim != 4 or weights.shape[0] != oc or weights.shape[3] != inp.shape[-1]:
        raise unsupported(graph, op, f"filter {weights.shape} does not match input {inp.shape} "
                                     "(grouped convolution)")
    params = _conv_geometry(graph, op, inp, out, weights.shape[1], weights.shape[2])
    return Layer(op, name, kernel="tp_conv_s16", inputs=[inp.index], outputs=[out.index],
                 params_type="tp_conv_s16_params_t", params=params,  # type: ignore[arg-type]
                 consts=[Const("weights", "int8_t", weights),
                         Const("bias", "int64_t", _int64_bias(graph, op, b, oc)),
                         *_multipliers(graph, op, inp, w, out, oc)],
                 macs=out.size * int(np.prod(weights.shape[1:])))


def lower_depthwise_conv(graph: Graph, op: Operator, name: str) -> Layer:
    ins = graph.op_inputs(op)
    inp, w, b = ins[0], ins[1], ins[2] if len(ins) > 2 else None
    out = graph.op_outputs(op)[0]
    expect_int16(graph, op, inp, out)
    assert inp is not None and w is not None
    weights = _weights(graph, op, w, "filter")
    oc = out.shape[-1]
    multiplier = oc // inp.shape[-1]
    if weights.ndim != 4 or weights.shape[3] != oc or multiplier * inp.shape[-1] != oc:
        raise unsupported(graph, op, f"filter {weights.shape} does not match input {inp.shape}")
    params = {**_conv_geometry(graph, op, inp, out, weights.shape[1], weights.shape[2]),
              "depth_multiplier": multiplier}
    return Layer(op, name, kernel="tp_depthwise_conv_s16", inputs=[inp.index], outputs=[out.index],
                 params_type="tp_depthwise_conv_s16_params_t", params=params,  # type: ignore[arg-type]
                 consts=[Const("weights", "int8_t", weights),
                         Const("bias", "int64_t", _int64_bias(graph, op, b, oc)),
                         *_multipliers(graph, op, inp, w, out, oc)],
                 macs=out.size * weights.shape[1] * weights.shape[2])


def lower_fully_connected(graph: Graph, op: Operator, name: str) -> Layer:
    ins = graph.op_inputs(op)
    inp, w, b = ins[0], ins[1], ins[2] if len(ins) > 2 else None
    out = graph.op_outputs(op)[0]
    expect_int16(graph, op, inp, out)
    assert inp is not None and w is not None and w.quant is not None
    weights = _weights(graph, op, w, "weights")
    if weights.ndim != 2:
        raise unsupported(graph, op, f"weights '{w.name}' must be 2-D")
    depth, accum = weights.shape
    if inp.size % accum:
        raise unsupported(graph, op, f"input size {inp.size} is not a multiple of {accum}")
    # reference_integer_ops::FullyConnected[PerChannel] (float scales): double(input_scale) *
    # double(filter_scale) / double(output_scale), evaluated left to right in double
    scales = w.quant.scale.astype(np.float32)
    scale = np.array([scale_of(inp) * float(scales[c if scales.size > 1 else 0]) / scale_of(out)
                      for c in range(depth)], np.float64)
    act_min, act_max = activation_range(graph, op, out)
    batches = inp.size // accum
    return Layer(op, name, kernel="tp_fully_connected_s16", inputs=[inp.index], outputs=[out.index],
                 params_type="tp_fully_connected_s16_params_t",
                 params={"batches": batches, "accum_depth": accum, "output_depth": depth,
                         "act_min": act_min, "act_max": act_max},
                 consts=[Const("weights", "int8_t", weights),
                         Const("bias", "int64_t", _int64_bias(graph, op, b, depth)),
                         Const("scale", "double", scale)],
                 macs=batches * depth * accum)


def lower_add(graph: Graph, op: Operator, name: str, subtract: bool = False) -> Layer:
    """ADD, or SUB (`subtract`): LiteRT's general int16 rescaling (pot_scale_int16 false)."""
    from tinypipe.aot.ops.add import broadcast_params

    a, b = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int16(graph, op, a, b, out)
    assert a is not None and b is not None
    if op.options.get("pot_scale_int16", False):
        raise unsupported(graph, op, "the power-of-two-scale int16 variant (pot_scale_int16) is not "
                                     "supported")
    twice_max = 2.0 * max(scale_of(a), scale_of(b))
    m1, s1 = quantize_multiplier(scale_of(a) / twice_max)
    m2, s2 = quantize_multiplier(scale_of(b) / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * scale_of(out)))
    if so > 0:  # LiteRT then rounds by a negative power of two (undefined)
        raise unsupported(graph, op, f"output scale {scale_of(out):g} is over 2^15 times finer than the "
                                     f"inputs' (a degenerate calibration): LiteRT's int16 {op.opcode} then "
                                     "shifts by a negative amount, which is undefined there")
    act_min, act_max = activation_range(graph, op, out)
    vector = tuple(a.shape) == tuple(b.shape) == tuple(out.shape) and not subtract  # ADD's NEON loop
    return Layer(op, name, kernel="tp_add_s16", inputs=[a.index, b.index], outputs=[out.index],
                 params_type="tp_add_s16_params_t",
                 params={**broadcast_params(graph, op, a, b, out),  # type: ignore[dict-item]
                         "input1_multiplier": m1, "input1_shift": s1,
                         "input2_multiplier": m2, "input2_shift": s2,
                         "output_multiplier": mo, "output_shift": so, "subtract": int(subtract),
                         "vector_size": out.size - out.size % ADD_VECTOR if vector else 0,
                         "act_min": act_min, "act_max": act_max},
                 inplace=[(i, 0) for i, t in enumerate((a, b)) if t.shape == out.shape],
                 macs=out.size)


def lower_mul(graph: Graph, op: Operator, name: str) -> Layer:
    from tinypipe.aot.ops.add import broadcast_params

    a, b = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int16(graph, op, a, b, out)
    assert a is not None and b is not None
    with np.errstate(over="ignore"):
        real = float(np.float32(scale_of(a)) * np.float32(scale_of(b)) / np.float32(scale_of(out)))
    if not np.isfinite(real):
        raise unsupported(graph, op, f"output scale {scale_of(out):g} is so fine that the scale ratio "
                                     "overflows float32 (a degenerate calibration): LiteRT's int16 MUL "
                                     "multiplier is undefined there")
    multiplier, shift = quantize_multiplier(real)
    if shift > 0:  # the int16 product (up to 2^30) shifted left overflows int32 in LiteRT's arithmetic
        raise unsupported(graph, op, f"output scale {scale_of(out):g} is finer than the inputs' scale "
                                     "product (a degenerate calibration): LiteRT's int16 MUL shifts the "
                                     "product left past int32, which is undefined there")
    act_min, act_max = activation_range(graph, op, out)
    return Layer(op, name, kernel="tp_mul_s16", inputs=[a.index, b.index], outputs=[out.index],
                 params_type="tp_mul_s16_params_t",
                 params={**broadcast_params(graph, op, a, b, out),  # type: ignore[dict-item]
                         "output_multiplier": multiplier, "output_shift": shift,
                         "act_min": act_min, "act_max": act_max},
                 inplace=[(i, 0) for i, t in enumerate((a, b)) if t.shape == out.shape],
                 macs=out.size)


def lower_pool(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int16(graph, op, inp, out)
    assert inp is not None
    if len(inp.shape) != 4:
        raise unsupported(graph, op, f"input shape {inp.shape}; 4-D NHWC expected")
    if scale_of(inp) != scale_of(out):
        raise unsupported(graph, op, "input and output quantization differ")
    o = op.options
    fh, fw = o["filter_height"], o["filter_width"]
    n, ih, iw, c = inp.shape
    oh, ow = out.shape[1], out.shape[2]
    pad_top, pad_left = padding(graph, op, (ih, iw), (fh, fw), (oh, ow))
    act_min, act_max = activation_range(graph, op, out)
    kernel = {"AVERAGE_POOL_2D": "tp_average_pool_s16", "MAX_POOL_2D": "tp_max_pool_s16"}[op.opcode]
    return Layer(op, name, kernel=kernel, inputs=[inp.index], outputs=[out.index],
                 params_type="tp_pool_params_t",
                 params={"batches": n, "input_h": ih, "input_w": iw, "channels": c,
                         "output_h": oh, "output_w": ow,
                         "filter_h": fh, "filter_w": fw, "stride_h": o["stride_h"], "stride_w": o["stride_w"],
                         "pad_top": pad_top, "pad_left": pad_left, "act_min": act_min, "act_max": act_max},
                 macs=out.size * fh * fw)


def lower_quantize(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    assert inp is not None
    io = {"inputs": [inp.index], "outputs": [out.index], "macs": out.size}
    if inp.dtype == "float32":
        expect_int16(graph, op, out)
        scale = scale_of(out)
        return Layer(op, name, kernel="tp_quantize_f32_s16", params_type="tp_quantize_s16_params_t",
                     params={"size": out.size, "vector_size": out.size - out.size % QUANTIZE_VECTOR,
                             "scale": scale, "inverse_scale": float(np.float32(1.0 / scale))},
                     **io)  # type: ignore[arg-type]
    kinds = (inp.dtype, out.dtype)
    kernel = {("int16", "int8"): "tp_requantize_s16_s8", ("int8", "int16"): "tp_requantize_s8_s16",
              ("int16", "int16"): "tp_requantize_s16_s16"}.get(kinds)
    if kernel is None:
        raise unsupported(graph, op, f"QUANTIZE from {inp.dtype} to {out.dtype} is not supported")
    for t in (inp, out):
        if t.quant is None or t.quant.per_channel:
            raise unsupported(graph, op, f"tensor '{t.name}' must be quantized per tensor")
        if t.dtype == "int16":
            expect_int16(graph, op, t)
    mult, shift = quantize_multiplier(scale_of(inp) / scale_of(out))
    return Layer(op, name, kernel=kernel, params_type="tp_requantize_params_t",
                 params={"size": out.size, "input_offset": -zero_point_of(inp),
                         "output_offset": zero_point_of(out),
                         "multiplier": mult, "shift": shift, "vector_size": 0},
                 inplace=[(0, 0)] if inp.dtype == out.dtype or out.dtype == "int8" else [],
                 **io)  # type: ignore[arg-type]


def lower_dequantize(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int16(graph, op, inp)
    assert inp is not None
    if out.dtype != "float32":
        raise unsupported(graph, op, f"output '{out.name}' is {out.dtype}; DEQUANTIZE to float32 only")
    return Layer(op, name, kernel="tp_dequantize_s16_f32", inputs=[inp.index], outputs=[out.index],
                 params_type="tp_float_quant_params_t",
                 params={"size": inp.size, "scale": scale_of(inp), "zero_point": 0}, macs=inp.size)


def lower_mean(graph: Graph, op: Operator, name: str) -> Layer:
    """MEAN: reference_ops::QuantizedMeanOrSum (LiteRT has no optimized int16 mean)."""
    from tinypipe.aot.ops.mean import _generic_mean, reduce_geometry

    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int16(graph, op, inp, out)
    assert inp is not None
    geometry, count, _ = reduce_geometry(graph, op)
    requant = _generic_mean(scale_of(inp), 0, scale_of(out), 0, count)
    return Layer(op, name, kernel="tp_mean_s16", inputs=[inp.index], outputs=[out.index],
                 params_type="tp_mean_params_t", params={**geometry, **requant},  # type: ignore[dict-item]
                 macs=inp.size)


# --- LOGISTIC, TANH -------------------------------------------------------------------------

OUTPUT_SCALE_LOG2 = -15  # LOGISTIC / TANH / SOFTMAX outputs: scale 2^-15 (LiteRT checks it)
SIGMOID_INPUT_UNIT = 3.0 * 4096.0  # the table path rescales the input to units of 1 / (3 * 2^12)
SIGMOID_MULTIPLIER_FLOOR = 32767.0 / 2.0  # SigmoidPrepare doubles the multiplier up past this...
SIGMOID_MAX_SHIFT = 30  # ...while the shift is at most this
POT_INPUT_SHIFT = 12  # 15 - 3 integer bits: gemmlowp's Q3.12 input
CHECKED_LOG2_TOLERANCE = np.float32(1e-3)

# LiteRT's sigmoid table (common.h sigmoid_table_uint16): sigmoid(i / 24) in 0.16 fixed point for
# i = 0..255, the rounded value round(2^16 * sigmoid(i / 24)) (65535 at most) plus one where LiteRT
# ships one more ('+' below, 60 entries; no entry is lower). Checked in tests/test_ops_16x8.py.
SIGMOID_ENTRIES = 256
SIGMOID_STEP = 24.0
_SIGMOID_ROUNDED_UP = (
    "....+...+...+.++++.++++..+.+++++.+++.+.+++.++++..++...+.......++"
    "+.+...............+...+......+......+..+........+...+..........."
    ".......+........................................................"
    "...............................................................+"
)
SIGMOID_TABLE_OFFSET = 32768  # TP_SIGMOID_S16_TABLE_OFFSET: the C table is stored minus this


def sigmoid_table() -> np.ndarray:
    """LiteRT's int16 LOGISTIC/TANH table, uint16 values (sigmoid(i / 24) * 2^16)."""
    rounded = [min(2**16 - 1, tflite_round(2.0**16 / (1.0 + math.exp(-i / SIGMOID_STEP))))
               for i in range(SIGMOID_ENTRIES)]
    return np.array(rounded, np.int64) + np.array([c == "+" for c in _SIGMOID_ROUNDED_UP], np.int64)


def checked_log2(x: float) -> tuple[int, bool]:
    """LiteRT's CheckedLog2 (float32 arithmetic, libm logf): round(log2 x), and whether x is a
    power of two within 1e-3 in log2."""
    from tinypipe.aot.ops.lut import _libm

    logf = _libm("logf")
    x_log2 = np.float32(logf(np.float32(x)) * (np.float32(1.0) / logf(np.float32(2.0))))
    rounded = np.float32(tflite_round(float(x_log2)))
    return int(rounded), bool(abs(np.float32(x_log2 - rounded)) < CHECKED_LOG2_TOLERANCE)


def sigmoid_input_rescale(scale: float, tanh: bool) -> tuple[int, int] | None:
    """SigmoidPrepare / TanhPrepare for int16: (input_multiplier, input_left_shift) of the table
    path, or None where LiteRT runs the fixed-point path instead (a power-of-two input scale, or a
    multiplier that truncates to 0 with the shift exhausted)."""
    log2, pot = checked_log2(scale)
    shift = POT_INPUT_SHIFT + log2
    if pot and (shift in (0, 1) if tanh else shift == 0):
        return None
    multiplier, shift = scale * SIGMOID_INPUT_UNIT, 0
    while multiplier <= SIGMOID_MULTIPLIER_FLOOR and shift <= SIGMOID_MAX_SHIFT:
        shift += 1
        multiplier *= 2.0
    return (int(multiplier), shift) if int(multiplier) > 0 else None


def _expect_unit_output(graph: Graph, op: Operator, out: Tensor) -> None:
    log2, pot = checked_log2(scale_of(out))
    exact = op.opcode != "LOGISTIC" or scale_of(out) == 2.0**OUTPUT_SCALE_LOG2
    if not (pot and log2 == OUTPUT_SCALE_LOG2 and exact):
        raise unsupported(graph, op, f"output scale {scale_of(out):g} is not 2^-15, which LiteRT's int16 "
                                     f"{op.opcode} requires; `--runtime tflm` runs it")


def lower_sigmoid(graph: Graph, op: Operator, name: str) -> Layer:
    """LOGISTIC or TANH with int16 activations (see the module docstring)."""
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int16(graph, op, inp, out)
    assert inp is not None
    _expect_unit_output(graph, op, out)
    tanh = op.opcode == "TANH"
    kernel = "tp_tanh" if tanh else "tp_logistic"
    if scale_of(inp) * SIGMOID_INPUT_UNIT >= 2**31:  # LiteRT's int32 multiplier then overflows
        raise unsupported(graph, op, f"input scale {scale_of(inp):g} is so coarse that LiteRT's int16 "
                                     f"{op.opcode} multiplier overflows int32, which is undefined there; "
                                     "`--runtime tflm` runs it")
    rescale = sigmoid_input_rescale(scale_of(inp), tanh)
    io = {"inputs": [inp.index], "outputs": [out.index], "inplace": [(0, 0)], "macs": out.size}
    if rescale is None:  # gemmlowp fixed point on the raw Q3.12 input (TANH: Q4.11 doubled)
        log2, _ = checked_log2(scale_of(inp))
        return Layer(op, name, kernel=f"{kernel}_pot_s16", params_type="tp_sigmoid_pot_s16_params_t",
                     params={"size": out.size, "input_double": int(tanh and POT_INPUT_SHIFT + log2 != 0)},
                     **io)  # type: ignore[arg-type]
    multiplier, shift = rescale
    table = sigmoid_table() - SIGMOID_TABLE_OFFSET
    return Layer(op, name, kernel=f"{kernel}_s16", params_type="tp_sigmoid_s16_params_t",
                 params={"size": out.size, "input_multiplier": multiplier, "input_left_shift": shift},
                 consts=[Const("sigmoid_table", "int16_t", table)], **io)  # type: ignore[arg-type]


# --- SOFTMAX ---------------------------------------------------------------------------------

LUT_INTERVALS = 512  # LUTPopulate<int16_t>: 512 intervals + the end point
INT16_RANGE = INT16_MAX - INT16_MIN  # 65535
SOFTMAX_EXP_SPAN = 10.0  # the exp table covers [-10, 0]
SOFTMAX_MAX_DEPTH = 2**16  # the int32 sum of up to this many Q0.15 exps cannot overflow
SOFTMAX_SCALE_TOLERANCE = 0.001  # SoftmaxPrepare: |output scale - 2^-15| <= 0.1% of 2^-15


def lut_populate_int16(fn: Callable[[float], float], input_scale: float, input_zero_point: int,
                       output_scale: float, output_zero_point: int) -> np.ndarray:
    """LUTPopulate<int16_t> with double arithmetic: fn sampled at 513 points over the int16 input
    range, each entry but the last lowered by half the interpolation error at its interval's
    midpoint (rounded), so that linear interpolation between entries tracks fn."""
    input_min = input_scale * (INT16_MIN - input_zero_point)
    input_max = input_scale * (INT16_MAX - input_zero_point)
    output_min = output_scale * (INT16_MIN - output_zero_point)
    output_max = output_scale * (INT16_MAX - output_zero_point)
    step = (input_max - input_min) / LUT_INTERVALS
    half_step = step / 2
    inverse = float(INT16_RANGE + 1) / (output_max - output_min)
    table = []
    for i in range(LUT_INTERVALS):
        value = fn(input_min + i * step)
        midpoint = fn(input_min + i * step + half_step)
        following = fn(input_min + (i + 1) * step)
        sample = tflite_round(value * inverse)
        interpolated = tflite_round((following * inverse + tflite_round(value * inverse)) / 2)
        bias = tflite_round((interpolated - tflite_round(midpoint * inverse)) / 2)
        table.append(sample - bias)
    table.append(tflite_round(fn(input_max) * inverse))
    return np.clip(np.array(table, np.int64), INT16_MIN, INT16_MAX)


def softmax_exp_table() -> np.ndarray:
    """exp(x) for x in [-10, 0] over the int16 range (value v <-> x = 10 (v - 32767) / 65535)."""
    return lut_populate_int16(math.exp, SOFTMAX_EXP_SPAN / INT16_RANGE, INT16_MAX, 2.0 / INT16_RANGE, 0)


def softmax_reciprocal_table() -> np.ndarray:
    """1 / (1 + x) for x in [0, 1] over the int16 range (v <-> x = (v + 32768) / 65535)."""
    return lut_populate_int16(lambda x: 1.0 / (1.0 + x), 1.0 / INT16_RANGE, INT16_MIN, 2.0 / INT16_RANGE, 0)


def lower_softmax(graph: Graph, op: Operator, name: str) -> Layer:
    """SOFTMAX with int16 activations: reference_ops::SoftmaxInt16."""
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int16(graph, op, inp, out)
    assert inp is not None
    if not inp.shape:
        raise unsupported(graph, op, "scalar input")
    unit = 2.0**OUTPUT_SCALE_LOG2
    if abs(np.float32(scale_of(out)) - np.float32(unit)) > np.float32(SOFTMAX_SCALE_TOLERANCE * unit):
        raise unsupported(graph, op, f"output scale {scale_of(out):g} is not 2^-15, which LiteRT's int16 "
                                     "SOFTMAX requires; `--runtime tflm` runs it")
    depth = inp.shape[-1]
    if depth > SOFTMAX_MAX_DEPTH:
        raise unsupported(graph, op, f"depth {depth} exceeds {SOFTMAX_MAX_DEPTH}: LiteRT's int32 sum of "
                                     "exps overflows, which is undefined there; `--runtime tflm` runs it")
    # input_scale * beta in float32 (both are floats in LiteRT), then rescaled in double so that
    # [-65535, 0] spans [-10, 0]
    beta = np.float32(op.options.get("beta", 1.0))
    scaled_beta = float(np.float32(scale_of(inp)) * beta)
    multiplier, shift = quantize_multiplier(scaled_beta / (SOFTMAX_EXP_SPAN / INT16_RANGE))
    if shift > 30:
        raise unsupported(graph, op, f"input scale {scale_of(inp):g} is so coarse that LiteRT's int16 "
                                     "SOFTMAX shifts left by 31 or more, which is undefined there; "
                                     "`--runtime tflm` runs it")
    return Layer(op, name, kernel="tp_softmax_s16", inputs=[inp.index], outputs=[out.index],
                 params_type="tp_softmax_s16_params_t",
                 params={"rows": inp.size // depth, "depth": depth, "input_multiplier": multiplier,
                         "input_shift": shift},
                 consts=[Const("exp_table", "int16_t", softmax_exp_table()),
                         Const("reciprocal_table", "int16_t", softmax_reciprocal_table())],
                 inplace=[(0, 0)], macs=inp.size)


def kernel_extents(layer: Layer) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
    """codegen.kernel_extents for the int16 kernels: [(lowest, end)] byte ranges per input and
    output (2 bytes per int16 element), or None for a kernel not listed here."""
    p, k = layer.params, layer.kernel

    def s16(*elements: int | float) -> list[tuple[int, int]]:
        return [(0, 2 * int(n)) for n in elements]

    def s8(*elements: int | float) -> list[tuple[int, int]]:
        return [(0, int(n)) for n in elements]

    if k in ("tp_conv_s16", "tp_depthwise_conv_s16"):
        return (s16(p["batches"] * p["input_h"] * p["input_w"] * p["input_c"]),
                s16(p["batches"] * p["output_h"] * p["output_w"] * p["output_c"]))
    if k == "tp_fully_connected_s16":
        return s16(p["batches"] * p["accum_depth"]), s16(p["batches"] * p["output_depth"])
    if k in ("tp_average_pool_s16", "tp_max_pool_s16"):
        return (s16(p["batches"] * p["input_h"] * p["input_w"] * p["channels"]),
                s16(p["batches"] * p["output_h"] * p["output_w"] * p["channels"]))
    if k in ("tp_add_s16", "tp_mul_s16"):
        from tinypipe.aot.codegen import _span

        dims = [int(d) for d in p["dims"]]  # type: ignore[union-attr]
        ins = [_span(0, dims, [int(x) for x in p[f"input{i}_strides"]]) for i in (1, 2)]  # type: ignore[union-attr]
        return [(2 * lo, 2 * end) for lo, end in ins], s16(int(np.prod(dims)))
    if k == "tp_requantize_s16_s16":
        return s16(p["size"]), s16(p["size"])
    if k == "tp_requantize_s16_s8":
        return s16(p["size"]), s8(p["size"])
    if k == "tp_requantize_s8_s16":
        return s8(p["size"]), s16(p["size"])
    if k == "tp_quantize_f32_s16":
        return [(0, 4 * int(p["size"]))], s16(p["size"])
    if k == "tp_dequantize_s16_f32":
        return s16(p["size"]), [(0, 4 * int(p["size"]))]
    if k in ("tp_logistic_s16", "tp_tanh_s16", "tp_logistic_pot_s16", "tp_tanh_pot_s16"):
        return s16(p["size"]), s16(p["size"])
    if k == "tp_softmax_s16":
        return s16(p["rows"] * p["depth"]), s16(p["rows"] * p["depth"])
    if k == "tp_mean_s16":
        from tinypipe.aot.codegen import _span

        outs = [int(d) for d in p["output_dims"]]  # type: ignore[union-attr]
        window = [o * r for o, r in zip(outs, [int(d) for d in p["reduce_dims"]], strict=True)]  # type: ignore
        lo, end = _span(0, window, [int(x) for x in p["input_strides"]])  # type: ignore[union-attr]
        return [(2 * lo, 2 * end)], s16(int(np.prod(outs)))
    if k == "tp_concat_s16":
        blocks = next((c.values for c in layer.consts if c.suffix == "blocks"), None)
        if blocks is None:
            return None
        return s16(*[p["outer"] * int(b) for b in blocks]), s16(p["outer"] * p["output_block"])
    return None
