"""Offline memory planner: every activation tensor gets an offset in one static arena.

Lifetimes come from the graph (producer op -> last consumer op; model inputs from before the
first op, model outputs until after the last). RESHAPE-like layers alias their input (zero
copy); element-wise layers may write over an input that dies at that layer (in place); kernel
scratch lives for its layer only. A resource variable (VAR_HANDLE) is one persistent buffer that
every handle naming it shares, alive across the whole invocation and so never reused: its bytes
survive from one invoke to the next (set at init and by <prefix>_reset()). Buffers are placed
greedily at the lowest free offset under several orderings, and the smallest arena wins. Offsets
and sizes are 16-byte aligned.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from tinypipe.aot.lowering import Layer
from tinypipe.errors import TinypipeError
from tinypipe.graph import Graph, resource_variables

ALIGN = 16
ALIAS_OPCODES = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}


def align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Placement:
    """One activation tensor (or layer scratch, tensor == -1) in the arena."""

    tensor: int
    name: str
    offset: int
    size: int  # bytes actually used (the reserved block is align(size))
    first: int  # op index that writes it (-1: a model input, written before invoke)
    last: int  # last op index that reads it (len(ops): a model output, read after invoke)
    shares_with: int | None = None  # tensor whose memory this reuses (alias or in place)


@dataclass
class MemoryPlan:
    arena_bytes: int
    lower_bound: int  # max over time of the aligned bytes live at once: no plan can beat it
    strategy: str
    placements: list[Placement] = field(default_factory=list)

    def offset(self, tensor: int) -> int:
        for p in self.placements:
            if p.tensor == tensor:
                return p.offset
        raise KeyError(tensor)

    def scratch_offset(self, layer_index: int) -> int:
        for p in self.placements:
            if p.tensor == -1 and p.first == layer_index:
                return p.offset
        raise KeyError(layer_index)

    def to_json(self) -> dict:
        return {"arena_bytes": self.arena_bytes, "lower_bound": self.lower_bound, "strategy": self.strategy,
                "tensors": [asdict(p) for p in self.placements]}


@dataclass
class _Buffer:
    members: list[int]  # tensor indices sharing this block (-1 for scratch)
    size: int
    first: int
    last: int
    offset: int = 0


def _find(parent: dict[int, int], t: int) -> int:
    while parent[t] != t:
        parent[t] = parent[parent[t]]
        t = parent[t]
    return t


def _buffers(graph: Graph, layers: list[Layer]) -> tuple[list[_Buffer], dict[int, int]]:
    """Group tensors that share memory and compute each group's lifetime."""
    n_ops = len(graph.operators)
    variables = resource_variables(graph)
    handles = {h for v in variables for h in v.handles}
    active = sorted({i for op in graph.operators for i in (*op.inputs, *op.outputs)
                     if i >= 0 and not graph.tensor(i).is_const
                     and (graph.tensor(i).dtype != "resource" or i in handles)}
                    | set(graph.inputs) | set(graph.outputs))
    first = {t: -1 if t in graph.inputs else n_ops for t in active}
    last = {t: n_ops if t in graph.outputs else -1 for t in active}
    for op in graph.operators:
        for t in op.outputs:
            first[t] = min(first[t], op.index)
            last[t] = max(last[t], op.index)
        for t in op.inputs:
            if t in last:
                last[t] = max(last[t], op.index)
    parent = {t: t for t in active}
    shares: dict[int, int] = {}
    members: dict[int, list[int]] = {t: [t] for t in active}
    span = {t: (first[t], last[t]) for t in active}
    size = {t: graph.tensor(t).nbytes for t in active}
    for v in variables:  # persistent: alive from before the first operator to after the last
        for h in v.handles:
            span[h], size[h] = (-1, n_ops), v.nbytes

    def merge(keep: int, other: int) -> None:
        keep, other = _find(parent, keep), _find(parent, other)
        parent[other] = keep
        members[keep] += members.pop(other)
        span[keep] = (min(span[keep][0], span[other][0]), max(span[keep][1], span[other][1]))
        size[keep] = max(size[keep], size[other])

    for v in variables:
        for h in v.handles[1:]:
            merge(v.handles[0], h)
            shares[h] = v.handles[0]
    for layer in layers:
        if layer.alias and not (layer.inputs and layer.outputs):
            continue  # nothing to place (VAR_HANDLE, CALL_ONCE)
        if layer.alias:
            merge(layer.inputs[0], layer.outputs[0])
            shares[layer.outputs[0]] = layer.inputs[0]
            continue
        for i_pos, o_pos in layer.inplace:
            src, dst = layer.inputs[i_pos], layer.outputs[o_pos]
            if src not in parent or src in graph.inputs:
                continue
            root = _find(parent, src)
            if span[root][1] == layer.op.index and size[root] >= graph.tensor(dst).nbytes \
                    and not set(members[root]) & (set(graph.outputs) | handles):
                merge(src, dst)
                shares[dst] = src
                break
    buffers = [_Buffer(sorted(members[r]), align(size[r]), *span[r]) for r in sorted(members)]
    for layer in layers:
        if layer.scratch_bytes:
            buffers.append(_Buffer([-1], align(layer.scratch_bytes), layer.op.index, layer.op.index))
    return buffers, shares


FITS = ("first", "best", "top")
RANDOM_ORDERINGS = 48  # extra seeded shuffles tried when no ordering reaches the lower bound


def _place(buffers: list[_Buffer], order: list[int], fit: str, limit: int) -> int:
    """Greedy: each buffer in a gap free during its whole lifetime — the lowest gap ("first"), the
    tightest ("best"), or the highest that ends below `limit` ("top"), which lets chains of
    tensors alternate between the bottom and the top of the arena."""
    placed: list[_Buffer] = []
    peak = 0
    for i in order:
        b = buffers[i]
        live = [p for p in placed if p.first <= b.last and b.first <= p.last]
        busy = sorted((p.offset, p.offset + p.size) for p in live)
        gaps, cursor = [], 0  # (start, end) of the free space between live buffers
        for start, end in busy:
            if start > cursor:
                gaps.append((cursor, start))
            cursor = max(cursor, end)
        gaps.append((cursor, 1 << 62))  # the open space above everything
        fitting = [(start, end) for start, end in gaps if end - start >= b.size]
        if fit == "best":
            b.offset = min(fitting, key=lambda g: (g[1] - g[0], g[0]))[0]
        elif fit == "top":
            below = [min(end, limit) - b.size for start, end in fitting if min(end, limit) - start >= b.size]
            b.offset = max(below) if below else fitting[0][0]
        else:
            b.offset = fitting[0][0]
        placed.append(b)
        peak = max(peak, b.offset + b.size)
    return peak


ORDERINGS: dict[str, Callable[[_Buffer], tuple]] = {
    "size": lambda b: (-b.size, b.first),
    "size*lifetime": lambda b: (-b.size * (b.last - b.first + 1), -b.size),
    "lifetime": lambda b: (-(b.last - b.first), -b.size),
    "first-use": lambda b: (b.first, -b.size),
}


def _check_disjoint(buffers: list[_Buffer], offsets: list[int]) -> None:
    """No two buffers alive at the same time share a byte (a planner bug would corrupt tensors)."""
    spans = sorted(zip(offsets, buffers, strict=True), key=lambda ob: ob[0])
    for i, (off_a, a) in enumerate(spans):
        for off_b, b in spans[i + 1:]:
            if off_b >= off_a + a.size:
                break
            if a.first <= b.last and b.first <= a.last:
                raise TinypipeError(f"memory plan: buffers of tensors {a.members} and {b.members} overlap "
                                    "while both are alive", "this is a tinypipe bug; please report it")


def plan_buffers(graph: Graph, layers: list[Layer]) -> MemoryPlan:
    buffers, shares = _buffers(graph, layers)
    variable_bytes = {h: v.nbytes for v in resource_variables(graph) for h in v.handles}  # handles hold 0
    times = range(-1, len(graph.operators) + 1)
    bound = max([sum(b.size for b in buffers if b.first <= t <= b.last) for t in times], default=0)
    orders = [(name, sorted(range(len(buffers)), key=lambda i, key=key: (*key(buffers[i]), i)))
              for name, key in ORDERINGS.items()]
    rng = random.Random(0)  # seeded: the plan is the same on every run
    for k in range(RANDOM_ORDERINGS):
        orders.append((f"shuffle {k}", rng.sample(range(len(buffers)), len(buffers))))
    best: tuple[int, str, list[int]] | None = None
    for name, order in orders:
        for fit in FITS:
            peak = _place(buffers, order, fit, bound)
            if best is None or peak < best[0]:
                best = (peak, f"{name}/{fit}-fit", [b.offset for b in buffers])
        if best is not None and best[0] <= bound:
            break  # optimal: nothing can beat the lower bound
    assert best is not None
    peak, strategy, offsets = best
    _check_disjoint(buffers, offsets)
    placements = []
    for b, off in zip(buffers, offsets, strict=True):
        for t in b.members:
            if t == -1:
                placements.append(Placement(-1, f"scratch of op {b.first}", off, b.size, b.first, b.last))
            else:
                tensor = graph.tensor(t)
                placements.append(Placement(t, tensor.name, off, variable_bytes.get(t, tensor.nbytes),
                                            b.first, b.last, shares.get(t)))
    placements.sort(key=lambda p: (p.offset, p.first, p.tensor))
    return MemoryPlan(arena_bytes=align(peak), lower_bound=bound, strategy=strategy, placements=placements)


def plan_memory(graph: Graph) -> MemoryPlan:
    """The arena plan for a parsed model. Operators the aot runtime cannot lower are planned
    conservatively (no in-place, no scratch), so `tinypipe inspect` works on any model."""
    from tinypipe.aot.lowering import lower

    layers = []
    for op in graph.operators:
        try:
            layers.append(lower(graph, op))
        except TinypipeError:
            if op.opcode in ALIAS_OPCODES and op.inputs and op.inputs[0] >= 0:
                layers.append(Layer(op, f"op_{op.index}", None, [op.inputs[0]], list(op.outputs), alias=True))
    return plan_buffers(graph, layers)
