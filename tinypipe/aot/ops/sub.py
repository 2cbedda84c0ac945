"""SUB (int8) -> kernels/add_s8 with the second input's table negated.

LiteRT's int8 SUB (sub.cc PrepareGeneralSubOp, reference_ops::Sub / BroadcastQuantSubSlow) is
ADD's arithmetic with a subtraction: both inputs rescaled to 2 * max(scale) with 20 bits of
headroom, `scaled1 - scaled2` requantized with MultiplyByQuantizedMultiplierSmallerThanOneExp
(ties away from zero). With the second table holding -2 * scaled2, tp_add_s8's `t1[a] + t2[b]`
is exactly twice that difference, so SUB needs no kernel of its own. (Keras `Normalization`
converts to SUB then MUL by constants; constant operands are emitted to flash.)
"""

from __future__ import annotations

from tinypipe.aot import s16
from tinypipe.aot.lowering import Layer, register
from tinypipe.aot.ops.add import add_layer
from tinypipe.graph import Graph, Operator


@register("SUB", prefix="sub")
def lower_sub(graph: Graph, op: Operator, name: str) -> Layer:
    if s16.is_s16(graph, op):  # 16x8: int16 activations
        return s16.lower_add(graph, op, name, subtract=True)
    return add_layer(graph, op, name, subtract=True)
