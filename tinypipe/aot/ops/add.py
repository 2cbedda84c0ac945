"""ADD -> kernels/add_s8 (TFLite's int8 Add: both inputs rescaled to 2*max(scale) with 20 bits headroom).

Each input's rescaling depends on one int8 value only, so it is tabulated offline (256 int32 per
input, indexed by the value's byte, doubled: each entry is < 2^27 in magnitude, so twice the sum fits and
the kernel's rounding high multiply needs no doubling): the kernel adds two table entries and requantizes
the sum.
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot import s16
from tinypipe.aot.lowering import Const, Layer, expect_int8, register, unsupported
from tinypipe.aot.ops.layout import collapse_broadcast, dims4, row_major_strides
from tinypipe.aot.quant import (
    activation_range,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    scale_of,
    zero_point_of,
)
from tinypipe.graph import Graph, Operator, Tensor

LEFT_SHIFT = 20  # int8/uint8 (TFLite uses 15 for int16)


def input_table(zero_point: int, multiplier: int, shift: int) -> np.ndarray:
    """Twice the rescaled value of every int8 input, at index (uint8_t)value."""
    values = [v - 256 if v > 127 else v for v in range(256)]
    return np.array([2 * multiply_by_quantized_multiplier((v - zero_point) << LEFT_SHIFT, multiplier, shift)
                     for v in values], np.int32)


def broadcast_params(graph: Graph, op: Operator, a: Tensor, b: Tensor, out: Tensor) -> dict[str, list[int]]:
    """The 4-D output shape and both inputs' element strides over it (0 along broadcast axes): the
    broadcast fields that the element-wise kernels' params share (tp_add_params_t, tp_mul_params_t,
    ...). Any rank: axes along which both operands broadcast alike are merged first."""
    for t in (a, b):
        aligned = (1,) * (len(out.shape) - len(t.shape)) + tuple(t.shape)
        pairs = zip(aligned, out.shape, strict=False)
        if len(aligned) != len(out.shape) or any(d not in (1, n) for d, n in pairs):
            raise unsupported(graph, op, f"shape {t.shape} does not broadcast to {out.shape}")
    out_dims, (a_dims, b_dims) = collapse_broadcast(out.shape, a.shape, b.shape)
    dims = dims4(graph, op, out_dims)

    def strides(operand: list[int]) -> list[int]:
        full = dims4(graph, op, operand)
        return [s if d > 1 else 0 for s, d in zip(row_major_strides(full), full, strict=True)]

    return {"dims": dims, "input1_strides": strides(a_dims), "input2_strides": strides(b_dims)}


@register("ADD", prefix="add")
def lower_add(graph: Graph, op: Operator, name: str) -> Layer:
    if s16.is_s16(graph, op):  # 16x8: int16 activations
        return s16.lower_add(graph, op, name)
    return add_layer(graph, op, name)


def rescaled_operands(graph: Graph, op: Operator) -> tuple[Tensor, Tensor, Tensor, float, tuple[int, int],
                                                          tuple[int, int]]:
    """An int8 binary operator's inputs a, b and output, and LiteRT's common rescaling of both
    inputs to twice the larger input scale: (a, b, out, 2 * max scale, (m1, s1), (m2, s2))."""
    a, b = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, a, b, out)
    assert a is not None and b is not None
    twice_max = 2.0 * max(scale_of(a), scale_of(b))
    return (a, b, out, twice_max, quantize_multiplier(scale_of(a) / twice_max),
            quantize_multiplier(scale_of(b) / twice_max))


INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
VECTOR_MIN_ELEMENTS = 8  # LiteRT's shortest vectorized ADD loop (AddScalarBroadcast: 8 lanes)


def check_int16_sum(graph: Graph, op: Operator, out: Tensor, table1: np.ndarray, table2: np.ndarray,
                    multiplier: int, shift: int) -> None:
    """LiteRT's vectorized int8 ADD (optimized_integer_ops AddElementwise / AddScalarBroadcast)
    narrows the requantized sum to int16 without saturation and adds the output offset in int16
    before saturating to int8; its scalar tail saturates the int32 value. When the sum can leave
    int16 (an output scale over ~128 times finer than the inputs': a degenerate calibration, e.g.
    relu(x + y) calibrated on sums that are almost all negative), LiteRT's output depends on the
    element's position, so no kernel can match it: refused."""
    if out.size < VECTOR_MIN_ELEMENTS:
        return
    offset = zero_point_of(out)
    extremes = [multiply_by_quantized_multiplier(int(t1 + t2) // 2, multiplier, shift)
                for t1, t2 in ((table1.min(), table2.min()), (table1.max(), table2.max()))]
    worst = max(extremes, key=abs)
    if not all(INT16_MIN <= v <= INT16_MAX and INT16_MIN <= v + offset <= INT16_MAX for v in extremes):
        raise unsupported(graph, op, f"output scale {scale_of(out):g} is so much finer than the inputs' "
                                     f"that a sum reaches {worst} output steps (a degenerate calibration): "
                                     "LiteRT's vectorized int8 ADD then wraps it to 16 bits while its scalar "
                                     "tail saturates it, so its result depends on the element's position, "
                                     "which is undefined there")


def add_layer(graph: Graph, op: Operator, name: str, subtract: bool = False) -> Layer:
    """ADD, or SUB (`subtract`): the same kernel, with the second input's table negated for SUB."""
    a, b, out, twice_max, (m1, s1), (m2, s2) = rescaled_operands(graph, op)
    mo, so = quantize_multiplier(twice_max / ((1 << LEFT_SHIFT) * scale_of(out)))
    if subtract and so > 0:  # LiteRT then calls RoundingDivideByPOT with a negative exponent (undefined)
        raise unsupported(graph, op, f"output scale {scale_of(out):g} is over 2^20 times finer than the "
                                     "inputs' (a degenerate calibration): LiteRT's int8 SUB then shifts by a "
                                     "negative amount, which is undefined there")
    act_min, act_max = activation_range(op.options.get("fused_activation_function", "NONE"), out)
    sign = -1 if subtract else 1
    table1, table2 = input_table(zero_point_of(a), m1, s1), sign * input_table(zero_point_of(b), m2, s2)
    if not subtract:
        check_int16_sum(graph, op, out, table1, table2, mo, so)
    return Layer(
        op, name, kernel="tp_add_s8", inputs=[a.index, b.index], outputs=[out.index],
        params_type="tp_add_params_t",
        params={**broadcast_params(graph, op, a, b, out),
                "contiguous": int(tuple(a.shape) == tuple(b.shape) == tuple(out.shape)),
                "output_offset": zero_point_of(out), "output_multiplier": mo, "output_shift": so,
                "act_min": act_min, "act_max": act_max},
        consts=[Const("table1", "int32_t", table1), Const("table2", "int32_t", table2)],
        inplace=[(i, 0) for i, t in enumerate((a, b)) if t.shape == out.shape],
        macs=out.size,
    )
