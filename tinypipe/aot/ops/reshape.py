"""RESHAPE, SQUEEZE, EXPAND_DIMS: the output is the input's memory under a new shape (no code)."""

from __future__ import annotations

from tinypipe.aot.lowering import Layer, register, unsupported
from tinypipe.graph import Graph, Operator


@register("RESHAPE", prefix="reshape")
@register("SQUEEZE", prefix="squeeze")
@register("EXPAND_DIMS", prefix="expand_dims")
def lower_reshape(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    assert inp is not None
    if inp.nbytes != out.nbytes or inp.dtype != out.dtype:
        raise unsupported(graph, op, f"'{inp.name}' {inp.shape} and '{out.name}' {out.shape} differ in size")
    if inp.is_const:
        raise unsupported(graph, op, "reshape of a constant tensor (fold it before export)")
    return Layer(op, name, kernel=None, inputs=[inp.index], outputs=[out.index], alias=True)
