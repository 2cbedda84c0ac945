"""ADD -> kernels/add_s8 (TFLite's int8 Add: both inputs rescaled to 2*max(scale) with 20 bits headroom).

Each input's rescaling depends on one int8 value only, so it is tabulated offline (256 int32 per
input, indexed by the value's byte, doubled: each entry is < 2^27 in magnitude, so twice the sum fits and
the kernel's rounding high multiply needs no doubling): the kernel adds two table entries and requantizes
the sum.
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Const, Layer, expect_int8, register, unsupported
from tinypipe.aot.quant import (
    activation_range,
    doubling_high_mul,
    quantize_multiplier,
    scale_of,
    zero_point_of,
)
from tinypipe.graph import Graph, Operator, Tensor

LEFT_SHIFT = 20  # int8/uint8 (TFLite uses 15 for int16)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier on Python ints (tp_multiply_by_quantized_multiplier)."""
    high = doubling_high_mul(x, multiplier, shift)
    exponent = max(-shift, 0)
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> exponent) + (1 if (high & mask) > threshold else 0)


def input_table(zero_point: int, multiplier: int, shift: int) -> np.ndarray:
    """Twice the rescaled value of every int8 input, at index (uint8_t)value."""
    values = [v - 256 if v > 127 else v for v in range(256)]
    return np.array([2 * multiply_by_quantized_multiplier((v - zero_point) << LEFT_SHIFT, multiplier, shift)
                     for v in values], np.int32)


def broadcast_strides(graph: Graph, op: Operator, t: Tensor, out_shape: tuple[int, ...]) -> list[int]:
    """Element strides of `t` over the 4-D output shape; 0 along broadcast dimensions."""
    if len(out_shape) > 4 or len(t.shape) > len(out_shape):
        raise unsupported(graph, op, f"shapes {t.shape} -> {out_shape}: at most 4-D broadcasting")
    shape = (1,) * (4 - len(t.shape)) + tuple(t.shape)
    out4 = (1,) * (4 - len(out_shape)) + tuple(out_shape)
    strides, step = [0] * 4, 1
    for d in range(3, -1, -1):
        if shape[d] == out4[d]:
            strides[d] = step if out4[d] > 1 else 0
        elif shape[d] != 1:
            raise unsupported(graph, op, f"shape {t.shape} does not broadcast to {out_shape}")
        step *= shape[d]
    return strides


def broadcast_params(graph: Graph, op: Operator, a: Tensor, b: Tensor, out: Tensor) -> dict[str, list[int]]:
    """The 4-D output shape and both inputs' strides over it: the broadcast fields that the
    element-wise kernels' params share (tp_add_params_t, tp_mul_params_t)."""
    return {"dims": [*(1,) * (4 - len(out.shape)), *out.shape],
            "input1_strides": broadcast_strides(graph, op, a, out.shape),
            "input2_strides": broadcast_strides(graph, op, b, out.shape)}


@register("ADD", prefix="add")
def lower_add(graph: Graph, op: Operator, name: str) -> Layer:
    a, b = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, a, b, out)
    assert a is not None and b is not None
    twice_max = 2.0 * max(scale_of(a), scale_of(b))
    m1, s1 = quantize_multiplier(scale_of(a) / twice_max)
    m2, s2 = quantize_multiplier(scale_of(b) / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << LEFT_SHIFT) * scale_of(out)))
    act_min, act_max = activation_range(op.options.get("fused_activation_function", "NONE"), out)
    return Layer(
        op, name, kernel="tp_add_s8", inputs=[a.index, b.index], outputs=[out.index],
        params_type="tp_add_params_t",
        params={**broadcast_params(graph, op, a, b, out),
                "contiguous": int(tuple(a.shape) == tuple(b.shape) == tuple(out.shape)),
                "output_offset": zero_point_of(out), "output_multiplier": mo, "output_shift": so,
                "act_min": act_min, "act_max": act_max},
        consts=[Const("table1", "int32_t", input_table(zero_point_of(a), m1, s1)),
                Const("table2", "int32_t", input_table(zero_point_of(b), m2, s2))],
        inplace=[(i, 0) for i, t in enumerate((a, b)) if t.shape == out.shape],
        macs=out.size,
    )
