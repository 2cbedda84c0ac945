"""PAD / PADV2 (int8) -> kernels/pad_s8. PAD fills with the output zero point (a real 0.0)."""

from __future__ import annotations

from tinypipe.aot.lowering import Layer, const_input, expect_int8, register
from tinypipe.aot.ops.layout import dims4, same_quantization
from tinypipe.aot.quant import zero_point_of
from tinypipe.graph import Graph, Operator


@register("PAD", "PADV2", prefix="pad")
def lower_pad(graph: Graph, op: Operator, name: str) -> Layer:
    inputs = graph.op_inputs(op)
    inp, paddings = inputs[0], inputs[1]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    same_quantization(graph, op, inp, out)
    pads = const_input(graph, op, paddings, "paddings").reshape(-1, 2).tolist()
    before = dims4(graph, op, [p[0] for p in pads])
    value = zero_point_of(out)
    if len(inputs) > 2 and inputs[2] is not None:  # PADV2's constant value, already quantized
        value = int(const_input(graph, op, inputs[2], "constant value").reshape(-1)[0])
    return Layer(
        op, name, kernel="tp_pad_s8", inputs=[inp.index], outputs=[out.index],
        params_type="tp_pad_params_t",
        params={"input_dims": dims4(graph, op, inp.shape), "output_dims": dims4(graph, op, out.shape),
                "pad_before": before, "pad_value": value},
    )
