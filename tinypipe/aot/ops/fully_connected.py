"""FULLY_CONNECTED -> kernels/fully_connected_s8 (input zero point folded into the bias offline)."""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Const, Layer, const_input, expect_int8, register, unsupported
from tinypipe.aot.quant import activation_range, per_channel_multipliers, per_tensor_multiplier, zero_point_of
from tinypipe.graph import Graph, Operator

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@register("FULLY_CONNECTED", prefix="fc")
def lower_fully_connected(graph: Graph, op: Operator, name: str) -> Layer:
    ins = graph.op_inputs(op)
    inp, w, b = ins[0], ins[1], ins[2] if len(ins) > 2 else None
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None and w is not None
    weights = const_input(graph, op, w, "weights").astype(np.int64)
    if w.dtype != "int8" or w.quant is None or np.any(w.quant.zero_point != 0) or weights.ndim != 2:
        raise unsupported(graph, op, f"weights '{w.name}' must be 2-D int8 with zero point 0")
    depth, accum = weights.shape
    if inp.size % accum:
        raise unsupported(graph, op, f"input size {inp.size} is not a multiple of {accum}")
    if b is not None and b.dtype != "int32":
        raise unsupported(graph, op, f"bias '{b.name}' is {b.dtype}; only int32 is supported")
    bias = const_input(graph, op, b, "bias").astype(np.int64) if b is not None else np.zeros(depth, np.int64)
    folded = bias - zero_point_of(inp) * weights.sum(axis=1)
    if folded.min() < INT32_MIN or folded.max() > INT32_MAX:
        raise unsupported(graph, op, "bias with the input zero point folded in overflows int32")
    if w.quant.per_channel:
        mult, shift = per_channel_multipliers(inp, w, out, depth)
    else:
        m, s = per_tensor_multiplier(inp, w, out)
        mult, shift = np.full(depth, m, np.int32), np.full(depth, s, np.int32)
    act_min, act_max = activation_range(op.options.get("fused_activation_function", "NONE"), out)
    batches = inp.size // accum
    return Layer(
        op, name, kernel="tp_fully_connected_s8", inputs=[inp.index], outputs=[out.index],
        params_type="tp_fully_connected_params_t",
        params={"batches": batches, "accum_depth": accum, "output_depth": depth,
                "output_offset": zero_point_of(out), "act_min": act_min, "act_max": act_max},
        consts=[Const("weights", "int8_t", weights), Const("bias", "int32_t", folded),
                Const("multiplier", "int32_t", mult), Const("shift", "int32_t", shift)],
        macs=batches * depth * accum,
    )
