"""Shape helpers shared by the data-movement lowerings (MEAN, PAD, STRIDED_SLICE, CONCATENATION...).

The kernels loop over 4-D shapes. Tensors of any rank reach them through `dims4` (left-pad with
1s) after the `collapse_*` helpers have merged the axes that the kernel can treat as one (size-1
axes, and neighbours that are traversed contiguously), so a 5-D tensor runs whenever its
operation really touches at most 4 independent axes (e.g. ZeroPadding3D on a batch of 1).
"""

from __future__ import annotations

from collections.abc import Sequence

from tinypipe.aot.lowering import unsupported
from tinypipe.aot.quant import scale_of, zero_point_of
from tinypipe.graph import Graph, Operator, Tensor

MAX_RANK = 4  # the kernels loop over 4-D NHWC-style shapes


def dims4(graph: Graph, op: Operator, shape: Sequence[int], fill: int = 1, rank: int = MAX_RANK) -> list[int]:
    """`shape` left-padded to 4-D (or `rank`) with `fill` (1 for dimensions, 0 for paddings and
    strides); more dimensions than that is a clear error."""
    if len(shape) > rank:
        raise unsupported(graph, op, f"tensor shape {tuple(shape)} has more than {rank} dimensions "
                                     "that cannot be merged")
    return [fill] * (rank - len(shape)) + [int(d) for d in shape]


def row_major_strides(dims: Sequence[int]) -> list[int]:
    """Element strides of a dense row-major array of shape `dims`."""
    strides, step = [], 1
    for d in reversed(dims):
        strides.insert(0, step)
        step *= int(d)
    return strides


def collapse_gather(counts: Sequence[int], strides: Sequence[int]) -> tuple[list[int], list[int]]:
    """A strided gather (output axis k takes counts[k] elements `strides[k]` apart in the input),
    with size-1 axes dropped and every axis merged into its outer neighbour where the outer
    axis's stride is exactly the inner axis's extent (the two then walk one arithmetic sequence)."""
    out_c: list[int] = []
    out_s: list[int] = []
    for c, s in zip(counts, strides, strict=True):
        if c == 1:
            continue
        if out_c and out_s[-1] == c * s:
            out_c[-1] *= c
            out_s[-1] = s
        else:
            out_c.append(int(c))
            out_s.append(int(s))
    return out_c or [1], out_s or [0]


def collapse_pad(in_dims: Sequence[int], before: Sequence[int], out_dims: Sequence[int]
                 ) -> tuple[list[int], list[int], list[int]]:
    """(input dims, pad before, output dims) with unpadded size-1 axes dropped and every unpadded
    axis merged into its outer neighbour (an outer axis padded by p then pads p * inner elements)."""
    ins: list[int] = []
    pads: list[int] = []
    outs: list[int] = []
    for n, b, o in zip(in_dims, before, out_dims, strict=True):
        if n == o == 1:
            continue
        if ins and n == o:  # not padded: fold into the outer axis
            ins[-1] *= n
            pads[-1] *= n
            outs[-1] *= n
        else:
            ins.append(int(n))
            pads.append(int(b))
            outs.append(int(o))
    return ins or [1], pads or [0], outs or [1]


def collapse_reduce(dims: Sequence[int], reduced: Sequence[bool]) -> tuple[list[int], list[bool]]:
    """Size-1 axes dropped and neighbouring axes that are both reduced or both kept merged."""
    out_d: list[int] = []
    out_r: list[bool] = []
    for d, r in zip(dims, reduced, strict=True):
        if d == 1:
            continue
        if out_d and out_r[-1] == r:
            out_d[-1] *= d
        else:
            out_d.append(int(d))
            out_r.append(bool(r))
    return out_d or [1], out_r or [False]


def collapse_broadcast(out_shape: Sequence[int], *shapes: Sequence[int]) -> tuple[list[int], list[list[int]]]:
    """Element-wise broadcasting: (output dims, each operand's dims) over the fewest axes, merging
    neighbouring axes where every operand is either full along both or broadcast along both."""
    rank = len(out_shape)
    aligned = [[1] * (rank - len(s)) + [int(d) for d in s] for s in shapes]
    out_d: list[int] = []
    ops_d: list[list[int]] = [[] for _ in shapes]
    last: tuple[bool, ...] | None = None
    for k, n in enumerate(out_shape):
        if n == 1:
            continue
        full = tuple(a[k] == n for a in aligned)
        if out_d and full == last:
            out_d[-1] *= n
            for d, f in zip(ops_d, full, strict=True):
                d[-1] *= n if f else 1
        else:
            out_d.append(int(n))
            for d, f in zip(ops_d, full, strict=True):
                d.append(int(n) if f else 1)
        last = full
    return out_d or [1], [d or [1] for d in ops_d]


def same_quantization(graph: Graph, op: Operator, first: Tensor, *others: Tensor) -> None:
    """Pure data-movement kernels copy bytes: every tensor must share scale and zero point."""
    for t in others:
        if (scale_of(t), zero_point_of(t)) != (scale_of(first), zero_point_of(first)):
            raise unsupported(graph, op, f"tensor '{t.name}' is quantized differently from "
                                         f"'{first.name}'; this operator copies bytes and cannot rescale")
