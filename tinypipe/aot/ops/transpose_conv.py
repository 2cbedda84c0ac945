"""TRANSPOSE_CONV (int8, per-channel int8 weights, int32 bias) -> kernels/transpose_conv_s8.

Inputs are (output shape, weights OHWI, input, bias). LiteRT's optimized int8 kernel
(optimized_integer_ops::TransposeConvV2) accumulates exact int32 sums (GEMM + col2im + bias) and
requantizes them with optimized_ops::Quantize: 8 output channels at a time with NEON (VQRDMULH +
VRSHL: ties upward), the output_c % 8 last channels with MultiplyByQuantizedMultiplier (ties away)
- the kernel gets `upward_channels`. Padding is TFLite's ComputePaddingHeightWidth with the roles of
input and output swapped (the forward convolution maps the output back onto the input).
Optimized variants (same bytes): transpose_conv_s8_dsp.c (SMLAD, 4 channels per input word) and
transpose_conv_s8_mve.c (VMLADAVA.S8, 16 input channels per instruction).
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Const, Layer, const_input, expect_int8, padding, register, unsupported
from tinypipe.aot.quant import activation_range, per_channel_multipliers, zero_point_of
from tinypipe.graph import Graph, Operator

QUANTIZE_VECTOR = 8  # channels per NEON iteration of optimized_ops::Quantize


@register("TRANSPOSE_CONV", prefix="transpose_conv")
def lower_transpose_conv(graph: Graph, op: Operator, name: str) -> Layer:
    ins = graph.op_inputs(op)
    w, inp = ins[1], ins[2]
    b = ins[3] if len(ins) > 3 else None
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None and w is not None
    weights = const_input(graph, op, w, "filter")
    if w.dtype != "int8" or w.quant is None or np.any(w.quant.zero_point != 0):
        raise unsupported(graph, op, f"filter '{w.name}' must be int8 with zero point 0")
    if len(inp.shape) != 4 or len(out.shape) != 4 or weights.ndim != 4:
        raise unsupported(graph, op, f"input {inp.shape}, filter {weights.shape}: 4-D NHWC / OHWI expected")
    n, ih, iw, ic = inp.shape
    _, oh, ow, oc = out.shape
    if weights.shape[0] != oc or weights.shape[3] != ic:
        raise unsupported(graph, op, f"filter {weights.shape} does not match input {inp.shape} "
                                     f"/ output {out.shape}")
    fh, fw = weights.shape[1], weights.shape[2]
    pad_top, pad_left = padding(graph, op, (oh, ow), (fh, fw), (ih, iw))  # the forward conv's view
    if b is None:
        bias = np.zeros(0, np.int32)
    elif b.dtype != "int32":
        raise unsupported(graph, op, f"bias '{b.name}' is {b.dtype}; only int32 is supported")
    else:
        bias = const_input(graph, op, b, "bias")
    act_min, act_max = activation_range(op.options.get("fused_activation_function", "NONE"), out)
    mult, shift = per_channel_multipliers(inp, w, out, oc)
    o = op.options
    return Layer(
        op, name, kernel="tp_transpose_conv_s8", inputs=[inp.index], outputs=[out.index],
        variants=("tp_transpose_conv_s8_dsp", "tp_transpose_conv_s8_mve"),
        params_type="tp_transpose_conv_params_t",
        params={"batches": n, "input_h": ih, "input_w": iw, "input_c": ic, "output_h": oh, "output_w": ow,
                "output_c": oc, "filter_h": fh, "filter_w": fw, "stride_h": o.get("stride_h", 1),
                "stride_w": o.get("stride_w", 1), "pad_top": pad_top, "pad_left": pad_left,
                "input_offset": -zero_point_of(inp), "output_offset": zero_point_of(out),
                "act_min": act_min, "act_max": act_max, "upward_channels": oc - oc % QUANTIZE_VECTOR},
        consts=[Const("weights", "int8_t", weights), Const("bias", "int32_t", bias),
                Const("multiplier", "int32_t", mult), Const("shift", "int32_t", shift)],
        macs=inp.size * oc * fh * fw,
    )
