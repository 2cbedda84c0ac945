"""CONCATENATION (int8) -> kernels/concat_s8: block copies (LiteRT demands one shared quantization)."""

from __future__ import annotations

import numpy as np

from tinypipe.aot import s16
from tinypipe.aot.lowering import Const, Layer, expect_int8, register, unsupported
from tinypipe.aot.ops.layout import same_quantization
from tinypipe.graph import Graph, Operator, Tensor


@register("CONCATENATION", prefix="concat")
def lower_concat(graph: Graph, op: Operator, name: str) -> Layer:
    wide = s16.is_s16(graph, op)  # 16x8: int16 activations, the same block copies of 2-byte elements
    inputs = [t for t in graph.op_inputs(op) if t is not None]
    out = graph.op_outputs(op)[0]
    (s16.expect_int16 if wide else expect_int8)(graph, op, *inputs, out)
    same_quantization(graph, op, out, *inputs)
    if op.options.get("fused_activation_function", "NONE") != "NONE":
        raise unsupported(graph, op, "a fused activation on CONCATENATION is not supported")
    if any(t.is_const for t in inputs):
        raise unsupported(graph, op, "constant inputs to CONCATENATION are not supported")
    axis = op.options.get("axis", 0)
    axis = axis + len(out.shape) if axis < 0 else axis

    def block(t: Tensor) -> int:  # elements per index of the dimensions before the axis
        return int(np.prod(t.shape[axis:], dtype=np.int64))

    return Layer(
        op, name, kernel="tp_concat_s16" if wide else "tp_concat_s8", inputs=[t.index for t in inputs],
        outputs=[out.index],
        params_type="tp_concat_params_t",
        params={"num_inputs": len(inputs), "outer": int(np.prod(out.shape[:axis], dtype=np.int64)),
                "output_block": block(out)},
        consts=[Const("blocks", "int32_t", np.array([block(t) for t in inputs]))],
        inputs_as_array=True,
    )
