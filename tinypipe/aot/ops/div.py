"""DIV (int8) -> kernels/div_s8 (div.cc, reference_ops::DivElementwise / BroadcastDivSlow).

Per element LiteRT takes the divisor's fixed-point reciprocal (GetReciprocal: gemmlowp's
Newton-Raphson one_over_one_plus_x_for_x_in_0_1, 3 iterations), multiplies the dividend normalized
by its leading sign bits, and requantizes by input1_scale / (input2_scale * output_scale) (a
float32 expression) with the combined shift. The reciprocal depends on the divisor byte only, so
it is tabulated here (256 int32 + 256 int8); the kernel does the rest.
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Const, Layer, expect_int8, register, unsupported
from tinypipe.aot.ops.add import broadcast_params
from tinypipe.aot.quant import activation_range, quantize_multiplier, scale_of, zero_point_of
from tinypipe.graph import Graph, Operator

F32 = np.float32
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
NEGATE = 16  # TP_DIV_NEGATE in div_s8.h
MIN_HEADROOM = 23  # leading sign bits of any int8 difference (|q - zp| <= 255)


def _srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul on int32."""
    return INT32_MAX if a == b == INT32_MIN else (a * b + 2**30) >> 31


def _saturating_shift_left(x: int, exponent: int) -> int:
    """gemmlowp's SaturatingRoundingMultiplyByPOT for a positive exponent."""
    threshold = (1 << (31 - exponent)) - 1
    return INT32_MAX if x > threshold else INT32_MIN if x < -threshold else x << exponent


def get_reciprocal(x: int) -> tuple[int, int]:
    """TFLite's GetReciprocal(x, 31): (Q0.31 fixed-point 1 / (x normalized to [1, 2)), bits of x
    above the unit) for 1 <= x < 2^31."""
    headroom_plus_one = 32 - x.bit_length()
    shifted = ((x << headroom_plus_one) - 2**31 + 2**31) % 2**32 - 2**31  # int32 wrap
    total = shifted + INT32_MAX  # RoundingHalfSum(a, One()): (sum + sign) / 2, truncating
    half = (abs(total + (1 if total >= 0 else -1)) // 2) * (1 if total >= 0 else -1)
    estimate = 1515870810 + _srdhm(half, -1010580540)  # 48/17 - 32/17 * d in Q2.29
    for _ in range(3):
        one_minus = (1 << 29) - _srdhm(half, estimate)
        estimate += _saturating_shift_left(_srdhm(estimate, one_minus), 2)
    return _saturating_shift_left(estimate, 1), 31 - headroom_plus_one


def reciprocal_tables(zero_point: int) -> tuple[np.ndarray, np.ndarray]:
    """(reciprocal, shift | NEGATE) for every divisor byte v at index (uint8_t)v; 0 where v is the
    zero point (a zero divisor)."""
    inverse, info = np.zeros(256, np.int32), np.zeros(256, np.int8)
    for byte in range(256):
        divisor = (byte - 256 if byte > 127 else byte) - zero_point
        if divisor == 0:
            continue
        inverse[byte], bits = get_reciprocal(abs(divisor))
        info[byte] = bits | (NEGATE if divisor < 0 else 0)
    return inverse, info


@register("DIV", prefix="div")
def lower_div(graph: Graph, op: Operator, name: str) -> Layer:
    a, b = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, a, b, out)
    assert a is not None and b is not None
    multiplier, shift = quantize_multiplier(float(F32(scale_of(a)) / (F32(scale_of(b)) * F32(scale_of(out)))))
    if shift > MIN_HEADROOM:  # the final shift would turn into a left shift (undefined in LiteRT)
        raise unsupported(graph, op, "the output scale is too fine for the input scales (LiteRT's int8 DIV "
                                     "then shifts by a negative amount, which is undefined there)")
    inverse, info = reciprocal_tables(zero_point_of(b))
    act_min, act_max = activation_range(op.options.get("fused_activation_function", "NONE"), out)
    return Layer(
        op, name, kernel="tp_div_s8", inputs=[a.index, b.index], outputs=[out.index],
        params_type="tp_div_params_t",
        params={**broadcast_params(graph, op, a, b, out), "input1_offset": -zero_point_of(a),
                "output_offset": zero_point_of(out), "output_multiplier": multiplier, "output_shift": shift,
                "act_min": act_min, "act_max": act_max},
        consts=[Const("reciprocal", "int32_t", inverse), Const("reciprocal_shift", "int8_t", info)],
        inplace=[(i, 0) for i, t in enumerate((a, b)) if t.shape == out.shape],
        macs=out.size,
    )
