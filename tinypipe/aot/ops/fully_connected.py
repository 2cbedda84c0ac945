"""FULLY_CONNECTED -> kernels/fully_connected_s8 (input zero point folded into the bias offline).

The weights are stored interleaved for every variant (see `interleave_rows`), so the DSP kernel
fetches 2 rows x 4 inputs with one LDRD and Helium de-interleaves 4 rows x 16 inputs with VLD4.
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot import s16
from tinypipe.aot.lowering import Const, Layer, const_input, expect_int8, register, unsupported
from tinypipe.aot.quant import (
    activation_range,
    doubled_requant_ok,
    folded_bias,
    per_channel_multipliers,
    per_tensor_multiplier,
    zero_point_of,
)
from tinypipe.graph import Graph, Operator

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
ROWS = 4  # output rows per block (kernels/fully_connected_s8.h)


def interleave_rows(weights: np.ndarray) -> np.ndarray:
    """[depth][accum] -> the kernels' layout: each block of 4 output rows (at offset o * accum) holds
    the groups of 4 inputs `[r0 k..k+3][r1 k..k+3][r2 k..k+3][r3 k..k+3]` for k < accum & ~3, then the
    accum % 4 last inputs `[r0 tail][r1 tail][r2 tail][r3 tail]`; the depth % 4 last rows stay
    row-major. A permutation: same size, each row block starts at o * accum."""
    depth, accum = weights.shape
    d4, k4 = depth - depth % ROWS, accum - accum % 4
    blocks = weights[:d4].reshape(d4 // ROWS, ROWS, accum)
    groups = blocks[:, :, :k4].reshape(d4 // ROWS, ROWS, k4 // 4, 4).transpose(0, 2, 1, 3)
    packed = np.concatenate([groups.reshape(d4 // ROWS, ROWS * k4),
                             blocks[:, :, k4:].reshape(d4 // ROWS, ROWS * (accum - k4))], axis=1)
    return np.concatenate([packed.reshape(-1), weights[d4:].reshape(-1)])


@register("FULLY_CONNECTED", prefix="fc")
def lower_fully_connected(graph: Graph, op: Operator, name: str) -> Layer:
    if s16.is_s16(graph, op):  # 16x8: int16 activations
        return s16.lower_fully_connected(graph, op, name)
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
    folded = folded_bias(bias, weights, inp)
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
        variants=("tp_fully_connected_s8_dsp", "tp_fully_connected_s8_mve"),
        params_type="tp_fully_connected_params_t",
        params={"batches": batches, "accum_depth": accum, "output_depth": depth,
                "output_offset": zero_point_of(out), "act_min": act_min, "act_max": act_max,
                "doubled": int(doubled_requant_ok(folded, weights, shift))},
        consts=[Const("weights", "int8_t", interleave_rows(weights)), Const("bias", "int32_t", folded),
                Const("multiplier", "int32_t", mult), Const("shift", "int32_t", shift)],
        macs=batches * depth * accum,
    )
