"""PAD / PADV2 (int8) -> kernels/pad_s8. PAD fills with the output zero point (a real 0.0).

Any rank: the paddings tensor has one (before, after) row per input axis; unpadded axes are merged
into their outer neighbour (`collapse_pad`) and what is left is padded to the kernel's 5-D with
size-1 axes that have no padding (pad_before 0, not the 1 of a dimension).
"""

from __future__ import annotations

from tinypipe.aot.lowering import Layer, const_input, expect_int8, register, unsupported
from tinypipe.aot.ops.layout import collapse_pad, dims4, same_quantization
from tinypipe.aot.quant import zero_point_of
from tinypipe.graph import Graph, Operator

PAD_MAX_RANK = 5  # TP_PAD_MAX_RANK in pad_s8.h, LiteRT's limit too


@register("PAD", "PADV2", prefix="pad")
def lower_pad(graph: Graph, op: Operator, name: str) -> Layer:
    inputs = graph.op_inputs(op)
    inp, paddings = inputs[0], inputs[1]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    same_quantization(graph, op, inp, out)
    pads = const_input(graph, op, paddings, "paddings").reshape(-1, 2).tolist()
    if len(pads) != len(inp.shape) or any(b < 0 or a < 0 for b, a in pads):
        raise unsupported(graph, op, f"paddings {pads} do not fit input shape {inp.shape}")
    expected = tuple(n + b + a for n, (b, a) in zip(inp.shape, pads, strict=True))
    if expected != tuple(out.shape):
        raise unsupported(graph, op, f"output shape {out.shape} is not the padded input shape {expected}")
    in_dims, before, out_dims = collapse_pad(inp.shape, [b for b, _ in pads], out.shape)
    value = zero_point_of(out)
    if len(inputs) > 2 and inputs[2] is not None:  # PADV2's constant value, already quantized
        value = int(const_input(graph, op, inputs[2], "constant value").reshape(-1)[0])
    return Layer(
        op, name, kernel="tp_pad_s8", inputs=[inp.index], outputs=[out.index],
        params_type="tp_pad_params_t",
        params={"input_dims": dims4(graph, op, in_dims, rank=PAD_MAX_RANK),
                "output_dims": dims4(graph, op, out_dims, rank=PAD_MAX_RANK),
                "pad_before": dims4(graph, op, before, fill=0, rank=PAD_MAX_RANK), "pad_value": value},
    )
