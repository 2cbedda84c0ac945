"""MUL -> kernels/mul_s8 (TFLite's int8 Mul: one requantization of the product of offset inputs).

Same-shape inputs: LiteRT's NEON loop narrows the first size - size % 16 products through int16
with a wrapping offset add (see mul_s8.h); broadcast MUL goes through LiteRT's five-fold
broadcast with its own row blocks and is computed the scalar way here (they differ only for an
output scale far finer than the inputs').
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot import s16
from tinypipe.aot.lowering import Layer, expect_int8, register
from tinypipe.aot.ops.add import broadcast_params
from tinypipe.aot.quant import activation_range, quantize_multiplier, scale_of, zero_point_of
from tinypipe.graph import Graph, Operator

MUL_VECTOR = 16  # elements per NEON iteration of optimized_integer_ops::MulElementwise


@register("MUL", prefix="mul")
def lower_mul(graph: Graph, op: Operator, name: str) -> Layer:
    if s16.is_s16(graph, op):  # 16x8: int16 activations
        return s16.lower_mul(graph, op, name)
    a, b = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, a, b, out)
    assert a is not None and b is not None
    # mul.cc Prepare: the scale product and quotient are float32, then widened to double
    real = float(np.float32(scale_of(a)) * np.float32(scale_of(b)) / np.float32(scale_of(out)))
    multiplier, shift = quantize_multiplier(real)
    act_min, act_max = activation_range(op.options.get("fused_activation_function", "NONE"), out)
    same_shape = tuple(a.shape) == tuple(b.shape) == tuple(out.shape)  # one flat MulElementwise
    return Layer(
        op, name, kernel="tp_mul_s8", inputs=[a.index, b.index], outputs=[out.index],
        params_type="tp_mul_params_t",
        params={**broadcast_params(graph, op, a, b, out),
                "input1_offset": -zero_point_of(a), "input2_offset": -zero_point_of(b),
                "output_offset": zero_point_of(out), "output_multiplier": multiplier,
                "output_shift": shift, "act_min": act_min, "act_max": act_max,
                "vector_size": out.size - out.size % MUL_VECTOR if same_shape else 0},
        inplace=[(i, 0) for i, t in enumerate((a, b)) if t.shape == out.shape],
        macs=out.size,
    )
