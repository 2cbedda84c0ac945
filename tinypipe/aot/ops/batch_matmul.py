"""BATCH_MATMUL (int8 x int8 -> int8) -> kernels/batch_matmul_s8.

What the converter emits for `tf.matmul` / attention scores (both operands activations, adj_x /
adj_y for transposed reads) and for a constant right-hand side of rank >= 3 (rank 2 becomes
FULLY_CONNECTED). LiteRT's only int8 path is reference_ops::BatchMatMul (batch_matmul.cc
EvalInt8Int8, for every kernel type): exact int32 sums of (lhs - lhs_zp) * (rhs - rhs_zp), then
MultiplyByQuantizedMultiplier (ties away from zero) with (float)(lhs_scale * rhs_scale) /
output_scale in double, no fused activation. Batch axes broadcast (size 1 against n) up to 5-D.
"""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Layer, expect_int8, register, unsupported
from tinypipe.aot.ops.layout import row_major_strides
from tinypipe.aot.quant import quantize_multiplier, scale_of, zero_point_of
from tinypipe.graph import Graph, Operator, Tensor

BATCH_DIMS = 3  # TP_BATCH_MATMUL_BATCH_DIMS: LiteRT's rank limit 5 minus the matrix axes
MAX_DEPTH = 2**31 // 255**2  # longest sum that cannot overflow LiteRT's int32 accumulator


def _batch(graph: Graph, op: Operator, t: Tensor) -> list[int]:
    if not 2 <= len(t.shape) <= BATCH_DIMS + 2:
        raise unsupported(graph, op, f"operand '{t.name}' has shape {t.shape}; ranks 2 to 5 are supported")
    return [1] * (BATCH_DIMS + 2 - len(t.shape)) + [int(d) for d in t.shape[:-2]]


@register("BATCH_MATMUL", prefix="batch_matmul")
def lower_batch_matmul(graph: Graph, op: Operator, name: str) -> Layer:
    lhs, rhs = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    assert lhs is not None and rhs is not None
    for t in (lhs, rhs):
        if t.quant is not None and t.quant.per_channel:
            raise unsupported(graph, op, f"operand '{t.name}' is quantized per channel; LiteRT's int8 "
                                         "BATCH_MATMUL uses one scale and zero point per operand")
    expect_int8(graph, op, lhs, rhs, out)
    adj_x, adj_y = bool(op.options.get("adj_x")), bool(op.options.get("adj_y"))
    lb, rb = _batch(graph, op, lhs), _batch(graph, op, rhs)
    r0, c0 = lhs.shape[-2:]
    r1, c1 = rhs.shape[-2:]
    rows, depth = (c0, r0) if adj_x else (r0, c0)
    rhs_depth, cols = (c1, r1) if adj_y else (r1, c1)
    if depth != rhs_depth:
        raise unsupported(graph, op, f"operands {lhs.shape} and {rhs.shape} (adj_x={adj_x}, adj_y={adj_y}) "
                                     "do not multiply")
    if any(a != b and 1 not in (a, b) for a, b in zip(lb, rb, strict=True)):
        raise unsupported(graph, op, f"batch axes of {lhs.shape} and {rhs.shape} do not broadcast")
    batch = [max(a, b) for a, b in zip(lb, rb, strict=True)]
    if int(np.prod(batch)) * rows * cols != out.size or tuple(out.shape[-2:]) != (rows, cols):
        raise unsupported(graph, op, f"output {out.shape} is not the product of {lhs.shape} and {rhs.shape}")
    if depth > MAX_DEPTH:
        raise unsupported(graph, op, f"sums of {depth} products can overflow LiteRT's int32 accumulator")

    def batch_strides(dims: list[int], matrix: int) -> list[int]:
        return [s * matrix if d > 1 else 0 for s, d in zip(row_major_strides(dims), dims, strict=True)]

    real = float(np.float32(scale_of(lhs)) * np.float32(scale_of(rhs))) / scale_of(out)
    multiplier, shift = quantize_multiplier(real)
    return Layer(
        op, name, kernel="tp_batch_matmul_s8", inputs=[lhs.index, rhs.index], outputs=[out.index],
        params_type="tp_batch_matmul_params_t",
        params={"batch_dims": batch, "lhs_batch_strides": batch_strides(lb, r0 * c0),
                "rhs_batch_strides": batch_strides(rb, r1 * c1), "rows": rows, "cols": cols, "depth": depth,
                "lhs_row_stride": 1 if adj_x else c0, "lhs_depth_stride": c0 if adj_x else 1,
                "rhs_depth_stride": 1 if adj_y else c1, "rhs_col_stride": c1 if adj_y else 1,
                "lhs_offset": -zero_point_of(lhs), "rhs_offset": -zero_point_of(rhs),
                "output_offset": zero_point_of(out), "multiplier": multiplier, "shift": shift},
        macs=int(np.prod(batch)) * rows * cols * depth,
    )
