"""ADD -> kernels/add_s8 (TFLite's int8 Add: both inputs rescaled to 2*max(scale) with 20 bits headroom)."""

from __future__ import annotations

from tinypipe.aot.lowering import Layer, expect_int8, register, unsupported
from tinypipe.aot.quant import activation_range, quantize_multiplier, scale_of, zero_point_of
from tinypipe.graph import Graph, Operator, Tensor

LEFT_SHIFT = 20  # int8/uint8 (TFLite uses 15 for int16)


def broadcast_strides(graph: Graph, op: Operator, t: Tensor, out_shape: tuple[int, ...]) -> list[int]:
    """Element strides of `t` over the 4-D output shape; 0 along broadcast dimensions."""
    if len(out_shape) > 4 or len(t.shape) > len(out_shape):
        raise unsupported(graph, op, f"shapes {t.shape} -> {out_shape}: at most 4-D broadcasting")
    shape = (1,) * (4 - len(t.shape)) + tuple(t.shape)
    out4 = (1,) * (4 - len(out_shape)) + tuple(out_shape)
    strides, step = [0] * 4, 1
    for d in range(3, -1, -1):
        if shape[d] == out4[d]:
            strides[d] = step if out4[d] > 1 else 0
        elif shape[d] != 1:
            raise unsupported(graph, op, f"shape {t.shape} does not broadcast to {out_shape}")
        step *= shape[d]
    return strides


@register("ADD", prefix="add")
def lower_add(graph: Graph, op: Operator, name: str) -> Layer:
    a, b = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    expect_int8(graph, op, a, b, out)
    assert a is not None and b is not None
    twice_max = 2.0 * max(scale_of(a), scale_of(b))
    m1, s1 = quantize_multiplier(scale_of(a) / twice_max)
    m2, s2 = quantize_multiplier(scale_of(b) / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << LEFT_SHIFT) * scale_of(out)))
    act_min, act_max = activation_range(op.options.get("fused_activation_function", "NONE"), out)
    out4 = (1,) * (4 - len(out.shape)) + tuple(out.shape)
    return Layer(
        op, name, kernel="tp_add_s8", inputs=[a.index, b.index], outputs=[out.index],
        params_type="tp_add_params_t",
        params={"dims": list(out4), "input1_strides": broadcast_strides(graph, op, a, out.shape),
                "input2_strides": broadcast_strides(graph, op, b, out.shape), "left_shift": LEFT_SHIFT,
                "input1_offset": -zero_point_of(a), "input1_multiplier": m1, "input1_shift": s1,
                "input2_offset": -zero_point_of(b), "input2_multiplier": m2, "input2_shift": s2,
                "output_offset": zero_point_of(out), "output_multiplier": mo, "output_shift": so,
                "act_min": act_min, "act_max": act_max},
        inplace=[(i, 0) for i, t in enumerate((a, b)) if t.shape == out.shape],
        macs=out.size,
    )
