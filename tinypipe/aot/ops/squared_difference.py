"""SQUARED_DIFFERENCE (int8) -> kernels/squared_difference_s8.

LiteRT (squared_difference.cc, int8): left_shift 7; each input is rescaled to 2 * max(input
scale) by MultiplyByQuantizedMultiplierSmallerThanOneExp((q - zp) << 7, ...), the difference is
squared and requantized by (2 * max scale)^2 / (2^14 * output_scale), ties away from zero. The
per-input rescaling depends on one int8 value, so it is tabulated here (256 int32 per input).
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Const, Layer, register, unsupported
from tinypipe.aot.ops.add import broadcast_params, rescaled_operands
from tinypipe.aot.quant import multiply_by_quantized_multiplier, quantize_multiplier, scale_of, zero_point_of
from tinypipe.graph import Graph, Operator

LEFT_SHIFT = 7


def rescale_table(zero_point: int, multiplier: int, shift: int) -> np.ndarray:
    """The rescaled value of every int8 input v, at index (uint8_t)v."""
    values = [v - 256 if v > 127 else v for v in range(256)]
    return np.array([multiply_by_quantized_multiplier((v - zero_point) << LEFT_SHIFT, multiplier, shift)
                     for v in values], np.int32)


@register("SQUARED_DIFFERENCE", prefix="squared_difference")
def lower_squared_difference(graph: Graph, op: Operator, name: str) -> Layer:
    a, b, out, twice_max, (m1, s1), (m2, s2) = rescaled_operands(graph, op)
    mo, so = quantize_multiplier(twice_max * twice_max / ((1 << (2 * LEFT_SHIFT)) * scale_of(out)))
    if so > 0:  # LiteRT then calls RoundingDivideByPOT with a negative exponent (undefined)
        raise unsupported(graph, op, f"output scale {scale_of(out):g} is too fine for the input scales "
                                     "(LiteRT's int8 SQUARED_DIFFERENCE then shifts by a negative amount, "
                                     "which is undefined there)")
    return Layer(
        op, name, kernel="tp_squared_difference_s8", inputs=[a.index, b.index], outputs=[out.index],
        params_type="tp_squared_difference_params_t",
        params={**broadcast_params(graph, op, a, b, out), "output_offset": zero_point_of(out),
                "output_multiplier": mo, "output_shift": so},
        consts=[Const("table1", "int32_t", rescale_table(zero_point_of(a), m1, s1)),
                Const("table2", "int32_t", rescale_table(zero_point_of(b), m2, s2))],
        inplace=[(i, 0) for i, t in enumerate((a, b)) if t.shape == out.shape],
        macs=out.size,
    )
