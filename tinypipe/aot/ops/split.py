"""SPLIT, SPLIT_V and UNPACK (int8, any rank; float32 too) -> kernels/split_s8; PACK -> kernels/concat_s8.

All four are block copies around one axis: with `outer` = the product of the dimensions before
it, each output (SPLIT, UNPACK) or input (PACK) contributes one contiguous block per outer index.
LiteRT gives every tensor the same quantization (the kernels copy bytes)."""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Const, Layer, const_input, expect_int8, register, unsupported
from tinypipe.aot.ops.layout import same_quantization
from tinypipe.graph import Graph, Operator, Tensor


def _volume(shape: tuple[int, ...] | list[int]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _axis(graph: Graph, op: Operator, axis: int, rank: int) -> int:
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise unsupported(graph, op, f"axis {axis} is out of range for rank {rank}")
    return axis


def _split_layer(graph: Graph, op: Operator, name: str, inp: Tensor, axis: int, removed: bool) -> Layer:
    """outputs take consecutive blocks of `inp` along `axis` (`removed`: UNPACK drops the axis)."""
    outs = graph.op_outputs(op)
    # float32: the split the converter leaves in float between DEQUANTIZE and QUANTIZE (unrolled
    # LSTM/GRU gates); the kernel copies bytes, so blocks count bytes (4 per element)
    element = 4 if inp.dtype == "float32" and all(o.dtype == "float32" for o in outs) else 1
    if element == 1:
        expect_int8(graph, op, inp, *outs)
        same_quantization(graph, op, inp, *outs)
    if inp.is_const:
        raise unsupported(graph, op, "splitting a constant tensor (fold it before export)")
    inner = _volume(inp.shape[axis + 1:])
    blocks = [_volume(o.shape[axis:]) if not removed else inner for o in outs]
    if sum(blocks) != _volume(inp.shape[axis:]) or sum(o.size for o in outs) != inp.size:
        raise unsupported(graph, op, f"outputs {[o.shape for o in outs]} do not split {inp.shape} "
                                     f"on axis {axis}")
    return Layer(
        op, name, kernel="tp_split_s8", inputs=[inp.index], outputs=[o.index for o in outs],
        params_type="tp_split_params_t",
        params={"num_outputs": len(outs), "outer": _volume(inp.shape[:axis]),
                "input_block": element * sum(blocks)},
        consts=[Const("blocks", "int32_t", element * np.array(blocks))], outputs_as_array=True,
        as_bytes=element != 1,
    )


@register("SPLIT", prefix="split")
def lower_split(graph: Graph, op: Operator, name: str) -> Layer:
    axis_t, inp = graph.op_inputs(op)[:2]  # SPLIT takes the axis first
    assert inp is not None
    axis = int(const_input(graph, op, axis_t, "axis").reshape(-1)[0])
    return _split_layer(graph, op, name, inp, _axis(graph, op, axis, len(inp.shape)), removed=False)


@register("SPLIT_V", prefix="split_v")
def lower_split_v(graph: Graph, op: Operator, name: str) -> Layer:
    inp, _, axis_t = graph.op_inputs(op)[:3]  # the sizes are implied by the output shapes
    assert inp is not None
    axis = int(const_input(graph, op, axis_t, "axis").reshape(-1)[0])
    return _split_layer(graph, op, name, inp, _axis(graph, op, axis, len(inp.shape)), removed=False)


@register("UNPACK", prefix="unpack")
def lower_unpack(graph: Graph, op: Operator, name: str) -> Layer:
    inp = graph.op_inputs(op)[0]
    assert inp is not None
    axis = _axis(graph, op, int(op.options.get("axis", 0)), len(inp.shape))
    return _split_layer(graph, op, name, inp, axis, removed=True)


@register("PACK", prefix="pack")
def lower_pack(graph: Graph, op: Operator, name: str) -> Layer:
    inputs = [t for t in graph.op_inputs(op) if t is not None]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, *inputs, out)
    same_quantization(graph, op, out, *inputs)
    if any(t.is_const for t in inputs):
        raise unsupported(graph, op, "constant inputs to PACK are not supported")
    axis = _axis(graph, op, int(op.options.get("axis", 0)), len(out.shape))
    block, outer = _volume(out.shape[axis + 1:]), _volume(out.shape[:axis])
    if any(t.shape != inputs[0].shape for t in inputs) or out.size != block * len(inputs) * outer:
        raise unsupported(graph, op, f"inputs {[t.shape for t in inputs]} do not stack into {out.shape}")
    return Layer(
        op, name, kernel="tp_concat_s8", inputs=[t.index for t in inputs], outputs=[out.index],
        params_type="tp_concat_params_t",
        params={"num_inputs": len(inputs), "outer": outer, "output_block": block * len(inputs)},
        consts=[Const("blocks", "int32_t", np.full(len(inputs), block))], inputs_as_array=True,
    )
