"""SUB (int8) -> kernels/add_s8 with the second input's table negated.

LiteRT's int8 SUB (sub.cc PrepareGeneralSubOp, reference_ops::Sub / BroadcastQuantSubSlow) is
ADD's arithmetic with a subtraction: both inputs rescaled to 2 * max(scale) with 20 bits of
headroom, `scaled1 - scaled2` requantized with MultiplyByQuantizedMultiplierSmallerThanOneExp
(ties away from zero). With the second table holding -2 * scaled2, tp_add_s8's `t1[a] + t2[b]`
is exactly twice that difference, so SUB needs no kernel of its own. (Keras `Normalization`
converts to SUB then MUL by constants; constant operands are emitted to flash.)
"""

from __future__ import annotations

from tinypipe.aot.lowering import Const, Layer, expect_int8, register, unsupported
from tinypipe.aot.ops.add import LEFT_SHIFT, broadcast_params, input_table
from tinypipe.aot.quant import activation_range, quantize_multiplier, scale_of, zero_point_of
from tinypipe.graph import Graph, Operator


@register("SUB", prefix="sub")
def lower_sub(graph: Graph, op: Operator, name: str) -> Layer:
    a, b = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, a, b, out)
    assert a is not None and b is not None
    twice_max = 2.0 * max(scale_of(a), scale_of(b))
    m1, s1 = quantize_multiplier(scale_of(a) / twice_max)
    m2, s2 = quantize_multiplier(scale_of(b) / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << LEFT_SHIFT) * scale_of(out)))
    if so > 0:  # LiteRT then calls RoundingDivideByPOT with a negative exponent (undefined)
        raise unsupported(graph, op, f"output scale {scale_of(out):g} is over 2^20 times finer than the "
                                     "inputs' (a degenerate calibration): LiteRT's int8 SUB then shifts by a "
                                     "negative amount, which is undefined there")
    act_min, act_max = activation_range(op.options.get("fused_activation_function", "NONE"), out)
    return Layer(
        op, name, kernel="tp_add_s8", inputs=[a.index, b.index], outputs=[out.index],
        params_type="tp_add_params_t",
        params={**broadcast_params(graph, op, a, b, out),
                "contiguous": int(tuple(a.shape) == tuple(b.shape) == tuple(out.shape)),
                "output_offset": zero_point_of(out), "output_multiplier": mo, "output_shift": so,
                "act_min": act_min, "act_max": act_max},
        consts=[Const("table1", "int32_t", input_table(zero_point_of(a), m1, s1)),
                Const("table2", "int32_t", -input_table(zero_point_of(b), m2, s2))],
        inplace=[(i, 0) for i, t in enumerate((a, b)) if t.shape == out.shape],
        macs=out.size,
    )
