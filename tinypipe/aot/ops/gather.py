"""GATHER (int8 data, constant int32/int64 indices, batch_dims 0) -> kernels/gather_s8.

LiteRT (gather.cc -> optimized_ops::Gather) copies `inner` elements per index for every outer
index and refuses negative indices; the generator checks the indices against the axis offline,
so the kernel is plain block copies (the output keeps the input's quantization)."""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Const, Layer, const_input, expect_int8, register, unsupported
from tinypipe.aot.ops.layout import same_quantization
from tinypipe.graph import Graph, Operator


@register("GATHER", prefix="gather")
def lower_gather(graph: Graph, op: Operator, name: str) -> Layer:
    inp, positions = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    same_quantization(graph, op, inp, out)
    if inp.is_const:
        raise unsupported(graph, op, "gathering from a constant tensor is not supported")
    indices = const_input(graph, op, positions, "indices").reshape(-1).astype(np.int64)
    rank = len(inp.shape)
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if op.options.get("batch_dims", 0) or not 0 <= axis < rank:
        raise unsupported(graph, op, "only batch_dims 0 and an axis inside the input are supported")
    if indices.size and (indices.min() < 0 or indices.max() >= inp.shape[axis]):
        raise unsupported(graph, op, f"indices outside [0, {inp.shape[axis]}) (LiteRT refuses them too)")
    outer = int(np.prod(inp.shape[:axis], dtype=np.int64))
    inner = int(np.prod(inp.shape[axis + 1:], dtype=np.int64))
    if outer * indices.size * inner != out.size:
        raise unsupported(graph, op, f"output {out.shape} does not match the gather of {inp.shape}")
    return Layer(
        op, name, kernel="tp_gather_s8", inputs=[inp.index], outputs=[out.index],
        params_type="tp_gather_params_t",
        params={"outer": outer, "axis_size": inp.shape[axis], "inner": inner,
                "num_indices": int(indices.size)},
        consts=[Const("indices", "int32_t", indices)],
    )
