"""Shape helpers shared by the data-movement lowerings (MEAN, PAD, STRIDED_SLICE, CONCATENATION)."""

from __future__ import annotations

from collections.abc import Sequence

from tinypipe.aot.lowering import unsupported
from tinypipe.aot.quant import scale_of, zero_point_of
from tinypipe.graph import Graph, Operator, Tensor

MAX_RANK = 4  # the kernels loop over 4-D NHWC-style shapes


def dims4(graph: Graph, op: Operator, shape: Sequence[int]) -> list[int]:
    """`shape` left-padded with 1s to 4-D; more than 4 dimensions is a clear error."""
    if len(shape) > MAX_RANK:
        raise unsupported(graph, op, f"tensor shape {tuple(shape)} has more than {MAX_RANK} dimensions")
    return [1] * (MAX_RANK - len(shape)) + [int(d) for d in shape]


def row_major_strides(dims: Sequence[int]) -> list[int]:
    """Element strides of a dense row-major array of shape `dims`."""
    strides, step = [], 1
    for d in reversed(dims):
        strides.insert(0, step)
        step *= int(d)
    return strides


def same_quantization(graph: Graph, op: Operator, first: Tensor, *others: Tensor) -> None:
    """Pure data-movement kernels copy bytes: every tensor must share scale and zero point."""
    for t in others:
        if (scale_of(t), zero_point_of(t)) != (scale_of(first), zero_point_of(first)):
            raise unsupported(graph, op, f"tensor '{t.name}' is quantized differently from "
                                         f"'{first.name}'; this operator copies bytes and cannot rescale")
