"""AVERAGE_POOL_2D and MAX_POOL_2D -> kernels/pooling_s8."""

from __future__ import annotations

from tinypipe.aot import s16
from tinypipe.aot.lowering import Layer, expect_int8, padding, register, unsupported
from tinypipe.aot.quant import activation_range, scale_of, zero_point_of
from tinypipe.graph import Graph, Operator

KERNELS = {"AVERAGE_POOL_2D": "tp_average_pool_s8", "MAX_POOL_2D": "tp_max_pool_s8"}


@register("AVERAGE_POOL_2D", prefix="avgpool")
@register("MAX_POOL_2D", prefix="maxpool")
def lower_pool(graph: Graph, op: Operator, name: str) -> Layer:
    if s16.is_s16(graph, op):  # 16x8: int16 activations
        return s16.lower_pool(graph, op, name)
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    if len(inp.shape) != 4:
        raise unsupported(graph, op, f"input shape {inp.shape}; 4-D NHWC expected")
    if scale_of(inp) != scale_of(out) or zero_point_of(inp) != zero_point_of(out):
        raise unsupported(graph, op, "input and output quantization differ")
    o = op.options
    fh, fw = o["filter_height"], o["filter_width"]
    n, ih, iw, c = inp.shape
    oh, ow = out.shape[1], out.shape[2]
    pad_top, pad_left = padding(graph, op, (ih, iw), (fh, fw), (oh, ow))
    act_min, act_max = activation_range(o.get("fused_activation_function", "NONE"), out)
    return Layer(
        op, name, kernel=KERNELS[op.opcode], inputs=[inp.index], outputs=[out.index],
        params_type="tp_pool_params_t",
        params={"batches": n, "input_h": ih, "input_w": iw, "channels": c, "output_h": oh, "output_w": ow,
                "filter_h": fh, "filter_w": fw, "stride_h": o["stride_h"], "stride_w": o["stride_w"],
                "pad_top": pad_top, "pad_left": pad_left, "act_min": act_min, "act_max": act_max},
        macs=out.size * fh * fw,
    )
