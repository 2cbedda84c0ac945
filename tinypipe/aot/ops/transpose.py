"""TRANSPOSE (int8, any rank) -> kernels/strided_slice_s8: a transpose is a strided gather.

Output axis k walks input axis perm[k], so the gather takes the output shape as counts and the
permuted input strides as steps (axes merged where the permutation keeps neighbours together)."""

from __future__ import annotations

from tinypipe.aot.lowering import Layer, const_input, expect_int8, register, unsupported
from tinypipe.aot.ops.layout import row_major_strides, same_quantization
from tinypipe.aot.ops.strided_slice import gather_params
from tinypipe.graph import Graph, Operator


@register("TRANSPOSE", prefix="transpose")
def lower_transpose(graph: Graph, op: Operator, name: str) -> Layer:
    inp, perm_t = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    same_quantization(graph, op, inp, out)
    rank = len(inp.shape)
    perm = [p + rank if p < 0 else p
            for p in const_input(graph, op, perm_t, "permutation").reshape(-1).tolist()]
    if sorted(perm) != list(range(rank)) or tuple(inp.shape[p] for p in perm) != tuple(out.shape):
        raise unsupported(graph, op, f"permutation {perm} does not map {inp.shape} to {out.shape}")
    in_strides = row_major_strides(inp.shape)
    return Layer(op, name, kernel="tp_strided_slice_s8", inputs=[inp.index], outputs=[out.index],
                 params_type="tp_strided_slice_params_t",
                 params=gather_params(graph, op, 0, list(out.shape), [in_strides[p] for p in perm]))
