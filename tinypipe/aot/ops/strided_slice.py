"""STRIDED_SLICE and SLICE (int8, any rank) -> kernels/strided_slice_s8.

The slice is resolved completely here: each axis's (start, count, step) follows TFLite's
StartForAxis/StopForAxis (masks, negative indices, clamping - the same rules as Python's
`slice.indices`), shrunk axes keep one element, and the kernel receives only a start offset and
one signed element stride per axis.
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Layer, const_input, expect_int8, register, unsupported
from tinypipe.aot.ops.layout import collapse_gather, dims4, row_major_strides, same_quantization
from tinypipe.graph import Graph, Operator, Tensor

GATHER_MAX_RANK = 5  # TP_GATHER_MAX_RANK in strided_slice_s8.h


def _bit(mask: int, axis: int) -> bool:
    return bool(mask >> axis & 1)


def _strided_ranges(graph: Graph, op: Operator) -> list[range]:
    """Selected input indices per axis for STRIDED_SLICE."""
    inp, begin_t, end_t, strides_t = graph.op_inputs(op)[:4]
    assert inp is not None
    o = op.options
    for flag in ("ellipsis_mask", "new_axis_mask"):
        if o.get(flag, 0):
            raise unsupported(graph, op, f"{flag} is not supported")
    if o.get("offset", False):
        raise unsupported(graph, op, "offset=true is not supported")
    begin, end, strides = (const_input(graph, op, t, what).reshape(-1).tolist()
                           for t, what in ((begin_t, "begin"), (end_t, "end"), (strides_t, "strides")))
    ranges = []
    for axis, dim in enumerate(inp.shape):
        if axis >= len(begin):
            ranges.append(range(dim))
            continue
        if strides[axis] == 0:
            raise unsupported(graph, op, f"stride 0 on axis {axis}")
        if _bit(o.get("shrink_axis_mask", 0), axis):
            index = begin[axis] + dim if begin[axis] < 0 else begin[axis]
            ranges.append(range(index, index + 1))
            continue
        start = None if _bit(o.get("begin_mask", 0), axis) else begin[axis]
        stop = None if _bit(o.get("end_mask", 0), axis) else end[axis]
        ranges.append(range(*slice(start, stop, strides[axis]).indices(dim)))
    return ranges


def _slice_ranges(graph: Graph, op: Operator) -> list[range]:
    """Selected input indices per axis for SLICE (begin, size; size -1 = to the end)."""
    inp, begin_t, size_t = graph.op_inputs(op)[:3]
    assert inp is not None
    begin = const_input(graph, op, begin_t, "begin").reshape(-1).tolist()
    size = const_input(graph, op, size_t, "size").reshape(-1).tolist()
    return [range(b, dim if s < 0 else b + s) for b, s, dim in zip(begin, size, inp.shape, strict=True)]


def gather_params(graph: Graph, op: Operator, start: int, counts: list[int], strides: list[int]
                  ) -> dict[str, int | list[int]]:
    """tp_strided_slice_params_t for a gather of any rank: output axis k takes counts[k] input elements
    strides[k] apart, from element `start` (axes merged where possible, then padded to 5-D)."""
    merged_counts, merged_strides = collapse_gather(counts, strides)
    return {"start": start, "counts": dims4(graph, op, merged_counts, rank=GATHER_MAX_RANK),
            "strides": dims4(graph, op, merged_strides, fill=0, rank=GATHER_MAX_RANK)}


def _gather_layer(graph: Graph, op: Operator, name: str, ranges: list[range]) -> Layer:
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    assert isinstance(inp, Tensor)
    counts = [len(r) for r in ranges]
    if int(np.prod(counts)) != out.size:
        raise unsupported(graph, op, f"resolved slice {counts} does not match output shape {out.shape}")
    axis_strides = row_major_strides(inp.shape)
    return Layer(
        op, name, kernel="tp_strided_slice_s8", inputs=[inp.index], outputs=[out.index],
        params_type="tp_strided_slice_params_t",
        params=gather_params(graph, op, sum(r.start * s for r, s in zip(ranges, axis_strides, strict=True)),
                             counts, [r.step * s for r, s in zip(ranges, axis_strides, strict=True)]),
    )


def _check(graph: Graph, op: Operator) -> None:
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    same_quantization(graph, op, inp, out)


@register("STRIDED_SLICE", prefix="strided_slice")
def lower_strided_slice(graph: Graph, op: Operator, name: str) -> Layer:
    _check(graph, op)
    return _gather_layer(graph, op, name, _strided_ranges(graph, op))


@register("SLICE", prefix="slice")
def lower_slice(graph: Graph, op: Operator, name: str) -> Layer:
    _check(graph, op)
    return _gather_layer(graph, op, name, _slice_ranges(graph, op))
