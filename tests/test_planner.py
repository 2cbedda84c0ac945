"""The offline memory planner: no live overlap, alignment, aliases, in place, smaller than TFLM."""

from __future__ import annotations

import numpy as np
import pytest

from tinypipe.aot.planner import ALIGN, MemoryPlan, plan_memory
from tinypipe.graph import Graph, Operator, Quant, Tensor, load

from .conftest import MLPERF_MODELS, mlperf_model

# Published TFLite Micro + CMSIS-NN arena sizes for the MLPerf Tiny reference models (bytes).
TFLM_ARENA = {"kws_ref_model": 22820, "vww_96_int8": 100708, "pretrainedResnet_quant": 54996,
              "ad01_int8": 2580}


def lifetimes(graph: Graph) -> dict[int, tuple[int, int]]:
    """Independent lifetime computation: producer .. last reader (model I/O extended to the ends)."""
    n = len(graph.operators)
    span: dict[int, list[int]] = {}
    for t in graph.inputs:
        span[t] = [-1, -1]
    for op in graph.operators:
        for t in op.outputs:
            span.setdefault(t, [op.index, op.index])
        for t in op.inputs:
            if t >= 0 and not graph.tensor(t).is_const:
                span[t][1] = max(span[t][1], op.index)
    for t in graph.outputs:
        span[t][1] = n
    return {t: (a, b) for t, (a, b) in span.items()}


def check_plan(graph: Graph, plan: MemoryPlan) -> None:
    live = lifetimes(graph)
    placed = {p.tensor: p for p in plan.placements if p.tensor >= 0}
    assert set(placed) == set(live)
    for t, (first, last) in live.items():
        p = placed[t]
        assert p.offset % ALIGN == 0
        assert p.first <= first and last <= p.last, f"tensor {t} not alive over its whole lifetime"
        assert p.offset + p.size <= plan.arena_bytes
    # Blocks: members of one shared buffer have the same (offset, first, last).
    sizes: dict[tuple[int, int, int], int] = {}
    for p in plan.placements:
        key = (p.offset, p.first, p.last)
        sizes[key] = max(sizes.get(key, 0), p.size)
    blocks = sorted((*key, size) for key, size in sizes.items())
    for i, (o1, f1, l1, s1) in enumerate(blocks):
        for o2, f2, l2, s2 in blocks[i + 1:]:
            if f1 <= l2 and f2 <= l1:
                assert o1 + s1 <= o2 or o2 + s2 <= o1, f"live blocks overlap: {(o1, f1, l1)} {(o2, f2, l2)}"
    assert plan.lower_bound <= plan.arena_bytes
    assert plan.arena_bytes % ALIGN == 0


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_plans_are_valid_and_beat_tflm(name: str) -> None:
    graph = load(mlperf_model(name))
    plan = plan_memory(graph)
    check_plan(graph, plan)
    if name in TFLM_ARENA:
        assert plan.arena_bytes < TFLM_ARENA[name]
    assert plan.arena_bytes == plan.lower_bound  # these chains/residuals are solved optimally


def _t(index: int, shape: tuple[int, ...], dtype: str = "int8", const: bool = False) -> Tensor:
    q = Quant(np.array([0.05], np.float32), np.array([-3]))
    data = np.ones(shape, np.int8 if dtype == "int8" else np.int32) if const else None
    return Tensor(index, f"t{index}", shape, dtype, q, data)


def test_reshape_is_an_alias_and_add_runs_in_place() -> None:
    # t0 -conv-> t2 -reshape-> t3 ; t0 -dwconv-> t4 ; add(t3, t4) -> t5 (a residual join)
    act = (1, 8, 8, 4)
    tensors = [_t(0, act), _t(1, (4, 1, 1, 4), const=True), _t(2, act), _t(3, act), _t(4, act), _t(5, act),
               _t(6, (4,), "int32", const=True)]
    tensors[1].quant = Quant(np.array([0.01], np.float32), np.array([0]))
    conv = {"padding": "SAME", "stride_h": 1, "stride_w": 1, "fused_activation_function": "NONE"}
    ops = [Operator(0, "CONV_2D", [0, 1, -1], [2], conv),
           Operator(1, "RESHAPE", [2, 6], [3]),
           Operator(2, "DEPTHWISE_CONV_2D", [0, 1, -1], [4], {**conv, "depth_multiplier": 1}),
           Operator(3, "ADD", [3, 4], [5], {"fused_activation_function": "NONE"})]
    graph = Graph("synthetic", "", 0, tensors, ops, inputs=[0], outputs=[5])
    plan = plan_memory(graph)
    check_plan(graph, plan)
    assert plan.offset(3) == plan.offset(2)  # alias: zero copy
    assert plan.offset(5) in (plan.offset(3), plan.offset(4))  # ADD output over a dying input
    assert plan.arena_bytes == 3 * 256  # input, conv out (= reshape = add out), dwconv out


def test_long_lived_tensor_blocks_reuse() -> None:
    # t0 feeds op 0 and op 3: the buffers between must not land on it.
    shapes = [(1, 64), (1, 32), (1, 32), (1, 64), (1, 64)]
    tensors = [_t(i, s) for i, s in enumerate(shapes)]
    ops = [Operator(0, "CUSTOM:a", [0], [1]), Operator(1, "CUSTOM:b", [1], [2]),
           Operator(2, "CUSTOM:c", [2], [3]), Operator(3, "CUSTOM:d", [0, 3], [4])]
    graph = Graph("synthetic", "", 0, tensors, ops, inputs=[0], outputs=[4])
    plan = plan_memory(graph)  # unknown ops are planned conservatively, not rejected
    check_plan(graph, plan)
    assert plan.arena_bytes == 64 + 64 + 64
