"""PRELU (int8) -> kernels/prelu_s8 (activations.cc PreluPrepare/PreluEval, reference arithmetic).

Two multipliers: input_scale / output_scale for x >= 0 and input_scale * alpha_scale /
output_scale for the product x * alpha below zero, each divided in float32 before QuantizeMultiplier;
alpha (usually a constant, placed in flash) broadcasts over the input up to 4-D."""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Layer, expect_int8, register
from tinypipe.aot.ops.add import broadcast_params
from tinypipe.aot.quant import quantize_multiplier, scale_of, zero_point_of
from tinypipe.graph import Graph, Operator

F32 = np.float32


@register("PRELU", prefix="prelu")
def lower_prelu(graph: Graph, op: Operator, name: str) -> Layer:
    inp, alpha = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, alpha, out)
    assert inp is not None and alpha is not None
    in_scale, alpha_scale, out_scale = F32(scale_of(inp)), F32(scale_of(alpha)), F32(scale_of(out))
    m1, s1 = quantize_multiplier(float(in_scale / out_scale))
    m2, s2 = quantize_multiplier(float(in_scale * alpha_scale / out_scale))
    broadcast = broadcast_params(graph, op, inp, alpha, out)
    return Layer(
        op, name, kernel="tp_prelu_s8", inputs=[inp.index, alpha.index], outputs=[out.index],
        params_type="tp_prelu_params_t",
        params={"dims": broadcast["dims"], "input_strides": broadcast["input1_strides"],
                "alpha_strides": broadcast["input2_strides"], "input_offset": -zero_point_of(inp),
                "alpha_offset": -zero_point_of(alpha), "output_offset": zero_point_of(out),
                "identity_multiplier": m1, "identity_shift": s1, "alpha_multiplier": m2, "alpha_shift": s2},
        inplace=[(0, 0)] if inp.shape == out.shape else [],
        macs=out.size,
    )
