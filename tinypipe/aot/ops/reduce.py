"""SUM, REDUCE_MAX and REDUCE_MIN (int8) -> kernels/reduce_s8 (MEAN: mean.py).

* SUM: LiteRT's optimized int8 sum (optimized_ops::QuantizedMeanOrSum with compute_sum) is float
  arithmetic: round(sum * scale + bias) + output_zp with scale = input_scale / output_scale and
  bias = -input_zp * scale * count, every step in float32; the generator computes scale and bias
  exactly so, the kernel rounds the multiply and the add separately.
* REDUCE_MAX / REDUCE_MIN: the raw extreme of each window; LiteRT requires input and output to
  share their quantization.
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Layer, expect_int8, register
from tinypipe.aot.ops.layout import same_quantization
from tinypipe.aot.ops.mean import reduce_geometry
from tinypipe.aot.quant import scale_of, zero_point_of
from tinypipe.graph import Graph, Operator

F32 = np.float32
KERNELS = {"REDUCE_MAX": "tp_reduce_max_s8", "REDUCE_MIN": "tp_reduce_min_s8"}


@register("SUM", prefix="sum")
def lower_sum(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    geometry, count, _ = reduce_geometry(graph, op)
    scale = F32(scale_of(inp)) / F32(scale_of(out))
    bias = F32(F32(-zero_point_of(inp)) * scale) * F32(count)
    return Layer(
        op, name, kernel="tp_sum_s8", inputs=[inp.index], outputs=[out.index],
        params_type="tp_sum_params_t",
        params={**geometry, "scale": float(scale), "bias": float(bias),
                "output_zero_point": zero_point_of(out)},
        macs=inp.size,
    )


@register("REDUCE_MAX", prefix="reduce_max")
@register("REDUCE_MIN", prefix="reduce_min")
def lower_reduce_max_min(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    same_quantization(graph, op, inp, out)
    geometry, _, _ = reduce_geometry(graph, op)
    return Layer(op, name, kernel=KERNELS[op.opcode], inputs=[inp.index], outputs=[out.index],
                 params_type="tp_reduce_params_t", params=geometry, macs=inp.size)
