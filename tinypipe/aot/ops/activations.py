"""RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, ABS, NEG and ELU (int8) -> kernels/lut_s8.

Each is a function of one int8 value whose LiteRT kernel is scalar integer (or float-table)
arithmetic with no position dependence, so the generator evaluates that arithmetic for the 256
possible inputs and the device does one table load per element:

* RELU / RELU6 / RELU_N1_TO_1 (activations.cc QuantizedReluX -> reference_ops::ReluX):
  zp_out + MultiplyByQuantizedMultiplier(q - zp_in, input_scale / output_scale) clamped to
  [max(-128, zp_out + roundf(lo / scale_out)), min(127, zp_out + roundf(hi / scale_out))];
  the scale ratio is divided in float32 before QuantizeMultiplier widens it.
* LEAKY_RELU (reference_ops::QuantizeLeakyRelu): identity multiplier for q >= zp_in, the alpha
  multiplier (input_scale * alpha / output_scale, float32) below; a negative alpha multiplies by
  |multiplier| and negates the result.
* ABS (elementwise.cc AbsEvalQuantized): |q - zp_in| rescaled (only if the scales differ).
* ELU (activations.cc EluPrepare): LUTPopulate with expm1f for negative inputs, in float32.
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Layer, expect_int8, register
from tinypipe.aot.ops.lut import INT8_VALUES, _libm, float_lut, lut_layer
from tinypipe.aot.quant import (
    INT8_MAX,
    INT8_MIN,
    float_ratio,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    quantize_value,
    scale_of,
    zero_point_of,
)
from tinypipe.graph import Graph, Operator, Tensor

F32 = np.float32
# The real range each clamping activation keeps (None: unbounded on that side).
RELU_RANGES: dict[str, tuple[float, float | None]] = {
    "RELU": (0.0, None), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0),
}


def _operands(graph: Graph, op: Operator) -> tuple[Tensor, Tensor]:
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    return inp, out


def relu_table(inp: Tensor, out: Tensor, lo: float, hi: float | None) -> np.ndarray:
    """QuantizedReluX<int8_t>(lo, hi) for inputs -128..127."""
    multiplier, shift = quantize_multiplier(float_ratio(scale_of(inp), scale_of(out)))
    act_min = max(INT8_MIN, quantize_value(out, lo))
    act_max = INT8_MAX if hi is None else min(INT8_MAX, quantize_value(out, hi))
    zp_in, zp_out = zero_point_of(inp), zero_point_of(out)
    values = [zp_out + multiply_by_quantized_multiplier(int(v) - zp_in, multiplier, shift)
              for v in INT8_VALUES]
    return np.clip(values, act_min, act_max).astype(np.int8)


@register("RELU", prefix="relu")
@register("RELU6", prefix="relu6")
@register("RELU_N1_TO_1", prefix="relu1")
def lower_relu(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out = _operands(graph, op)
    return lut_layer(graph, op, name, relu_table(inp, out, *RELU_RANGES[op.opcode]))


def leaky_relu_table(inp: Tensor, out: Tensor, alpha: float) -> np.ndarray:
    """reference_ops::QuantizeLeakyRelu<int8_t> for inputs -128..127."""
    in_scale, out_scale = F32(scale_of(inp)), F32(scale_of(out))
    alpha_mult, alpha_shift = quantize_multiplier(float(in_scale * F32(alpha) / out_scale))
    id_mult, id_shift = quantize_multiplier(float_ratio(in_scale, out_scale))
    zp_in, zp_out = zero_point_of(inp), zero_point_of(out)
    values = []
    for v in INT8_VALUES:
        x = int(v) - zp_in
        if x >= 0:
            y = multiply_by_quantized_multiplier(x, id_mult, id_shift)
        else:
            y = multiply_by_quantized_multiplier(x, abs(alpha_mult), alpha_shift)
            y = -y if alpha_mult < 0 else y
        values.append(zp_out + y)
    return np.clip(values, INT8_MIN, INT8_MAX).astype(np.int8)


@register("LEAKY_RELU", prefix="leaky_relu")
def lower_leaky_relu(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out = _operands(graph, op)
    return lut_layer(graph, op, name, leaky_relu_table(inp, out, float(op.options.get("alpha", 0.2))))


def abs_table(inp: Tensor, out: Tensor) -> np.ndarray:
    """elementwise.cc AbsEvalQuantized<int8_t> for inputs -128..127."""
    zp_in, zp_out = zero_point_of(inp), zero_point_of(out)
    magnitudes = [abs(int(v) - zp_in) for v in INT8_VALUES]
    if F32(scale_of(inp)) == F32(scale_of(out)):
        values = [m + zp_out for m in magnitudes]
    else:
        multiplier, shift = quantize_multiplier(float_ratio(scale_of(inp), scale_of(out)))
        values = [multiply_by_quantized_multiplier(m, multiplier, shift) + zp_out for m in magnitudes]
    return np.clip(values, INT8_MIN, INT8_MAX).astype(np.int8)


@register("ABS", prefix="abs")
def lower_abs(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out = _operands(graph, op)
    return lut_layer(graph, op, name, abs_table(inp, out))


_expm1f = _libm("expm1f")


def _elu(x: np.float32) -> np.float32:
    return _expm1f(x) if x < 0 else F32(x)


@register("NEG", prefix="neg")
def lower_neg(graph: Graph, op: Operator, name: str) -> Layer:
    """LiteRT's int8 NEG (neg.cc -> reference_ops::Negate<int8_t>) negates the raw int8 value,
    wrapping -128 to -128, whatever the scales and zero points say: so does the table."""
    inp, out = _operands(graph, op)
    return lut_layer(graph, op, name, (-INT8_VALUES.astype(np.int16)).astype(np.int8))


@register("ELU", prefix="elu")
def lower_elu(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out = _operands(graph, op)
    table = float_lut(_elu, scale_of(inp), zero_point_of(inp), scale_of(out), zero_point_of(out))
    return lut_layer(graph, op, name, table)
