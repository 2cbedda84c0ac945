"""MEAN (int8) -> kernels/mean_s8, with the requantization of whichever LiteRT path would run.

LiteRT (kernels/reduce.cc, EvalMean) has two int8 paths:
* keep_dims, 4-D input, axes exactly {1, 2}: optimized_integer_ops::Mean. It sums raw int8
  values, multiplies by input_scale / (count * output_scale) computed in float32, and adds a
  bias `output_zp - round(input_zp * input_scale / output_scale)` (float32, half away from 0).
* anything else: reference_ops::QuantizedMeanOrSum. It subtracts input_zp * count from the
  sum and uses the double multiplier input_scale / output_scale with 1/count folded into it
  as an integer division of the Q31 multiplier.
Both become `requantize(sum + sum_offset)` with constants computed here.
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Layer, const_input, expect_int8, register
from tinypipe.aot.ops.layout import dims4, row_major_strides
from tinypipe.aot.quant import quantize_multiplier, scale_of, zero_point_of
from tinypipe.graph import Graph, Operator

F32 = np.float32
MAX_FOLD_SHIFT = 32  # QuantizedMeanOrSum caps the 1/count pre-shift to avoid int64 overflow
MIN_SHIFT = -31  # ... and keeps the final shift within MultiplyByQuantizedMultiplier's range


def _hw_mean(in_scale: float, in_zp: int, out_scale: float, out_zp: int, count: int) -> dict[str, int]:
    """optimized_integer_ops::Mean (4-D, keep_dims, axes {1, 2})."""
    temp = F32(in_zp) * F32(in_scale) / F32(out_scale)
    temp = temp + F32(0.5) if temp > 0 else temp - F32(0.5)
    multiplier, shift = quantize_multiplier(float(F32(in_scale) / (F32(count) * F32(out_scale))))
    return {"sum_offset": 0, "multiplier": multiplier, "shift": shift,
            "output_offset": out_zp - int(temp)}


def _generic_mean(in_scale: float, in_zp: int, out_scale: float, out_zp: int, count: int) -> dict[str, int]:
    """reference_ops::QuantizedMeanOrSum (compute_sum=false)."""
    multiplier, shift = quantize_multiplier(in_scale / out_scale)
    fold = min(count.bit_length() - 1, MAX_FOLD_SHIFT, shift - MIN_SHIFT)
    return {"sum_offset": -in_zp * count, "multiplier": (multiplier << fold) // count,
            "shift": shift - fold, "output_offset": out_zp}


@register("MEAN", prefix="mean")
def lower_mean(graph: Graph, op: Operator, name: str) -> Layer:
    inp, axis_tensor = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    rank = len(inp.shape)
    axes: list[int] = []
    for a in const_input(graph, op, axis_tensor, "axis").reshape(-1).tolist():
        a = a + rank if a < 0 else a
        if a not in axes:
            axes.append(int(a))
    dims = dims4(graph, op, inp.shape)
    reduced = {a + 4 - rank for a in axes}
    count = int(np.prod([dims[d] for d in reduced], dtype=np.int64))
    quant = (scale_of(inp), zero_point_of(inp), scale_of(out), zero_point_of(out), count)
    hw_path = op.options.get("keep_dims") and rank == 4 and sorted(axes) == [1, 2]
    return Layer(
        op, name, kernel="tp_mean_s8", inputs=[inp.index], outputs=[out.index],
        params_type="tp_mean_params_t",
        params={"output_dims": [1 if d in reduced else n for d, n in enumerate(dims)],
                "reduce_dims": [n if d in reduced else 1 for d, n in enumerate(dims)],
                "input_strides": row_major_strides(dims),
                **(_hw_mean(*quant) if hw_path else _generic_mean(*quant))},
        macs=inp.size,
    )
