"""MAXIMUM and MINIMUM (int8) -> kernels/maximum_minimum_s8.

LiteRT (maximum_minimum.cc) compares the raw int8 values of the two inputs, whatever their
quantization; the kernel does the same, so it is exact even if the scales differed."""

from __future__ import annotations

from tinypipe.aot.lowering import Layer, expect_int8, register
from tinypipe.aot.ops.add import broadcast_params
from tinypipe.graph import Graph, Operator

KERNELS = {"MAXIMUM": "tp_maximum_s8", "MINIMUM": "tp_minimum_s8"}


@register("MAXIMUM", prefix="maximum")
@register("MINIMUM", prefix="minimum")
def lower_maximum_minimum(graph: Graph, op: Operator, name: str) -> Layer:
    a, b = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, a, b, out)
    assert a is not None and b is not None
    return Layer(
        op, name, kernel=KERNELS[op.opcode], inputs=[a.index, b.index], outputs=[out.index],
        params_type="tp_maximum_minimum_params_t", params=broadcast_params(graph, op, a, b, out),
        inplace=[(i, 0) for i, t in enumerate((a, b)) if t.shape == out.shape],
        macs=out.size,
    )
