"""MEAN (int8) -> kernels/mean_s8, with the requantization of whichever LiteRT path would run.

LiteRT (kernels/reduce.cc, EvalMean) has two int8 paths:
* keep_dims, 4-D input, axes exactly {1, 2}: optimized_integer_ops::Mean. It sums raw int8
  values, multiplies by input_scale / (count * output_scale) computed in float32, and adds a
  bias `output_zp - round(input_zp * input_scale / output_scale)` (float32, half away from 0).
  Channels are requantized 16 at a time with NEON (ties upward), the channels % 16 last ones
  with the scalar rule (ties away).
* anything else: reference_ops::QuantizedMeanOrSum. It subtracts input_zp * count from the
  sum and uses the double multiplier input_scale / output_scale with 1/count folded into it
  as an integer division of the Q31 multiplier.
Both become `requantize(sum + sum_offset)` with constants computed here.
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot import s16
from tinypipe.aot.lowering import Layer, const_input, expect_int8, register, unsupported
from tinypipe.aot.ops.layout import collapse_reduce, dims4, row_major_strides
from tinypipe.aot.quant import quantize_multiplier, scale_of, zero_point_of
from tinypipe.graph import Graph, Operator

F32 = np.float32
MAX_FOLD_SHIFT = 32  # QuantizedMeanOrSum caps the 1/count pre-shift to avoid int64 overflow
MIN_SHIFT = -31  # ... and keeps the final shift within MultiplyByQuantizedMultiplier's range
MEAN_VECTOR = 16  # channels per NEON iteration of optimized_integer_ops::Mean


def _hw_mean(in_scale: float, in_zp: int, out_scale: float, out_zp: int, count: int) -> dict[str, int]:
    """optimized_integer_ops::Mean (4-D, keep_dims, axes {1, 2})."""
    temp = F32(in_zp) * F32(in_scale) / F32(out_scale)
    temp = temp + F32(0.5) if temp > 0 else temp - F32(0.5)
    multiplier, shift = quantize_multiplier(float(F32(in_scale) / (F32(count) * F32(out_scale))))
    return {"sum_offset": 0, "multiplier": multiplier, "shift": shift,
            "output_offset": out_zp - int(temp), "upward_channels": 0}


def _generic_mean(in_scale: float, in_zp: int, out_scale: float, out_zp: int, count: int) -> dict[str, int]:
    """reference_ops::QuantizedMeanOrSum (compute_sum=false)."""
    multiplier, shift = quantize_multiplier(in_scale / out_scale)
    fold = min(count.bit_length() - 1, MAX_FOLD_SHIFT, shift - MIN_SHIFT)
    return {"sum_offset": -in_zp * count, "multiplier": (multiplier << fold) // count,
            "shift": shift - fold, "output_offset": out_zp, "upward_channels": 0}


def reduce_geometry(graph: Graph, op: Operator) -> tuple[dict[str, list[int]], int, list[int]]:
    """The window geometry shared by the int8 reductions (MEAN, SUM, REDUCE_MAX, REDUCE_MIN): output
    dims / window dims / input strides over 4-D (axes merged with `collapse_reduce`, so any rank
    whose reduced and kept axes form at most 4 runs), the number of elements per window, and the
    reduced axes (deduplicated, non-negative) of the original shape."""
    inp, axis_tensor = graph.op_inputs(op)[:2]
    assert inp is not None
    rank = len(inp.shape)
    axes: list[int] = []
    for a in const_input(graph, op, axis_tensor, "axis").reshape(-1).tolist():
        a = a + rank if a < 0 else a
        if not 0 <= a < max(rank, 1):
            raise unsupported(graph, op, f"axis {a} is out of range for shape {inp.shape}")
        if a not in axes:
            axes.append(int(a))
    count = int(np.prod([inp.shape[a] for a in axes], dtype=np.int64)) if inp.shape else 1
    merged, reduced = collapse_reduce(inp.shape or (1,), [k in axes for k in range(max(rank, 1))])
    dims = dims4(graph, op, merged)
    flags = [False] * (4 - len(reduced)) + reduced
    return ({"output_dims": [1 if r else n for n, r in zip(dims, flags, strict=True)],
             "reduce_dims": [n if r else 1 for n, r in zip(dims, flags, strict=True)],
             "input_strides": row_major_strides(dims)}, count, axes)


@register("MEAN", prefix="mean")
def lower_mean(graph: Graph, op: Operator, name: str) -> Layer:
    if s16.is_s16(graph, op):  # 16x8: int16 activations
        return s16.lower_mean(graph, op, name)
    inp = graph.op_inputs(op)[0]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    geometry, count, axes = reduce_geometry(graph, op)
    quant = (scale_of(inp), zero_point_of(inp), scale_of(out), zero_point_of(out), count)
    hw_path = op.options.get("keep_dims") and len(inp.shape) == 4 and sorted(axes) == [1, 2]
    requant = _generic_mean(*quant)
    if hw_path:  # channels are the innermost output axis; NEON takes them 16 at a time
        channels = inp.shape[3]
        requant = {**_hw_mean(*quant), "upward_channels": channels - channels % MEAN_VECTOR}
    return Layer(
        op, name, kernel="tp_mean_s8", inputs=[inp.index], outputs=[out.index],
        params_type="tp_mean_params_t", params={**geometry, **requant},
        macs=inp.size,
    )
