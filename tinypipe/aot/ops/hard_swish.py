"""HARD_SWISH (int8): LiteRT's int16 fixed-point algorithm, evaluated offline into a table.

LiteRT computes int8 hard-swish (reference_ops::HardSwish, kernels/internal/reference/
hard_swish.h; the optimized kernel is bit-identical) in int16 fixed point: the input moves to a
"hi-res" scale (x 2^7), is multiplied by an output multiplier, and by a "relu-ish" factor in
[0, 1] derived from a second multiplier; both multipliers come from HardSwishPrepare in
activations.cc. Every step is reproduced here on Python ints with C's int16 semantics, for all
256 inputs; the device only does a table lookup (`tp_lut_s8`).
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Layer, expect_int8, register, unsupported
from tinypipe.aot.ops.lut import INT8_VALUES, lut_layer
from tinypipe.aot.quant import INT8_MAX, INT8_MIN, quantize_multiplier, scale_of, zero_point_of
from tinypipe.graph import Graph, Operator

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
HIRES_SHIFT = 7  # input values move to a scale 2^7 finer before any multiplication
RELUISH_SCALE = np.float32(3.0 / 32768.0)  # the relu-ish value 3.0 is represented by 32768


def _c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _int16(x: int) -> int:
    """static_cast<int16_t> (two's-complement wrap)."""
    return (x + (1 << 15)) % (1 << 16) - (1 << 15)


def _saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp::SaturatingRoundingDoublingHighMul for int16."""
    if a == b == INT16_MIN:
        return INT16_MAX
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else 1 - (1 << 14)
    return _int16(_c_div(ab + nudge, 1 << 15))


def _saturating_doubling_high_mul(a: int, b: int) -> int:
    """reference_ops::SaturatingDoublingHighMul: like the above, rounding toward zero."""
    if a == b == INT16_MIN:
        return INT16_MAX
    return _int16(_c_div(a * b, 1 << 15))


def _rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp::RoundingDivideByPOT on int16: x / 2^exponent, ties away from zero. Its mask
    `(1 << exponent) - 1` is an int16 too, so an exponent of 16 or more makes it -1 and the result
    sign(x) (1 for 0): LiteRT's output for an output scale over 2^16 times coarser than the hi-res
    input's (found by tests/fidelity)."""
    mask = _int16((1 << exponent) - 1)
    threshold = _int16((mask >> 1) + (1 if x < 0 else 0))
    return _int16((x >> exponent) + (1 if (x & mask) > threshold else 0))


def _saturating_left_shift(x: int, amount: int) -> int:
    return min(max(x * (1 << amount), INT16_MIN), INT16_MAX)


def _int16_multiplier(real: np.float32) -> tuple[int, int]:
    """QuantizeMultiplier then DownScaleInt32ToInt16Multiplier (round the Q31 value to Q15)."""
    q31, exponent = quantize_multiplier(float(real))
    rounding = 1 << 15
    q15 = INT16_MAX if q31 >= (1 << 31) - 1 - rounding else (q31 + rounding) >> 16
    return q15, exponent


def hard_swish_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """Outputs of LiteRT's int8 HARD_SWISH for inputs -128..127, or ValueError if it refuses."""
    hires_input_scale = np.float32(1.0 / 128.0) * np.float32(in_scale)
    out_mult, out_exp = _int16_multiplier(hires_input_scale / np.float32(out_scale))
    relu_mult, relu_exp = _int16_multiplier(hires_input_scale / RELUISH_SCALE)
    if out_exp > 0:
        raise ValueError(f"output multiplier exponent {out_exp} > 0 (input scale too large for output)")
    table = []
    for v in INT8_VALUES:
        hires = _int16((int(v) - in_zp) * (1 << HIRES_SHIFT))
        preshift_output = _saturating_rounding_doubling_high_mul(hires, out_mult)
        reluish = hires
        if relu_exp > 0:  # left shift in two steps so saturation happens only in the last one
            reluish = _saturating_left_shift(reluish, relu_exp - 1)
        reluish = _saturating_rounding_doubling_high_mul(reluish, relu_mult)
        if relu_exp > 0:
            reluish = _saturating_left_shift(reluish, 1)
        if relu_exp < 0:
            reluish = _rounding_divide_by_pot(reluish, -relu_exp)
        reluish = (reluish + (1 << 15)) >> 1  # [-1, 1] -> [0, 1]
        value = _rounding_divide_by_pot(_saturating_doubling_high_mul(reluish, preshift_output), -out_exp)
        table.append(min(max(_int16(value + out_zp), INT8_MIN), INT8_MAX))
    return np.array(table, dtype=np.int8)


@register("HARD_SWISH", prefix="hard_swish")
def lower_hard_swish(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    try:
        table = hard_swish_table(scale_of(inp), zero_point_of(inp), scale_of(out), zero_point_of(out))
    except ValueError as exc:
        raise unsupported(graph, op, f"LiteRT rejects these scales too: {exc}") from None
    return lut_layer(graph, op, name, table)
