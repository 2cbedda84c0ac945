"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR (int8) -> kernels/resize_s8.

Both of LiteRT's int8 kernels take their source positions from the shapes only, so the generator
computes them and the kernels only gather / blend:
* RESIZE_NEAREST_NEIGHBOR (reference_ops::ResizeNearestNeighbor): the source index of each output
  row and column comes from GetNearestNeighbor, in float32 (scale = in / out, or (in - 1) /
  (out - 1) with align_corners; + 0.5 with half_pixel_centers; floor, or round with
  align_corners; clamped).
* RESIZE_BILINEAR (optimized_ops::ResizeBilinear for int8 = reference_ops::ResizeBilinearInteger):
  10-bit fixed-point scales and ComputeInterpolationValuesInteger (C integer division) give each
  output row / column its two source rows / columns and the weight of the second.
"""

from __future__ import annotations

import math

import numpy as np

from tinypipe.aot.lowering import Const, Layer, expect_int8, register, unsupported
from tinypipe.aot.ops.layout import same_quantization
from tinypipe.aot.quant import tflite_round
from tinypipe.graph import Graph, Operator, Tensor

F32 = np.float32


def nearest_indices(input_size: int, output_size: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """GetNearestNeighbor for every output index, with its float32 arithmetic."""
    if align_corners and output_size > 1:
        scale = F32(input_size - 1) / F32(output_size - 1)
    else:
        scale = F32(input_size) / F32(output_size)
    offset = F32(0.5) if half_pixel else F32(0.0)
    out = []
    for i in range(output_size):
        value = float(F32(F32(i) + offset) * scale)
        index = min(tflite_round(value) if align_corners else math.floor(value), input_size - 1)
        out.append(max(index, 0) if half_pixel else index)
    return np.array(out, np.int16)


def _geometry(graph: Graph, op: Operator) -> tuple[Tensor, Tensor, tuple[int, ...], bool, bool]:
    """Both resizes' checks: int8 NHWC in and out with the same quantization; the input, the output,
    (batches, input h, w, channels, output h, w), align_corners and half_pixel_centers."""
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    same_quantization(graph, op, inp, out)
    if len(inp.shape) != 4 or len(out.shape) != 4:
        raise unsupported(graph, op, f"input shape {inp.shape}; 4-D NHWC expected")
    n, ih, iw, c = inp.shape
    dims = (n, ih, iw, c, out.shape[1], out.shape[2])
    return inp, out, dims, bool(op.options.get("align_corners")), bool(op.options.get("half_pixel_centers"))


@register("RESIZE_NEAREST_NEIGHBOR", prefix="resize_nearest")
def lower_resize_nearest(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out, (n, ih, iw, c, oh, ow), corners, half = _geometry(graph, op)
    if max(ih, iw) >= 2**15:
        raise unsupported(graph, op, f"input {inp.shape} is too large for 16-bit row/column indices")
    return Layer(
        op, name, kernel="tp_resize_nearest_s8", inputs=[inp.index], outputs=[out.index],
        params_type="tp_resize_params_t",
        params={"batches": n, "input_h": ih, "input_w": iw, "channels": c, "output_h": oh, "output_w": ow},
        consts=[Const("rows", "int16_t", nearest_indices(ih, oh, corners, half)),
                Const("cols", "int16_t", nearest_indices(iw, ow, corners, half))],
    )


def _c_div(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def bilinear_table(input_size: int, output_size: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """(lower, upper, weight of upper in 1/1024ths) per output index: ResizeBilinearInteger's
    scale_10 and ComputeInterpolationValuesInteger."""
    one = 1 << 10
    if align_corners and output_size > 1:
        scale = (one * (input_size - 1) + (output_size - 1) // 2) // (output_size - 1)
    else:
        scale = (one * input_size + output_size // 2) // output_size
    rows = []
    for i in range(output_size):
        value = i * scale + scale // 2 - (1 << 9) if half_pixel else i * scale
        lower = max(_c_div(value, one), 0)
        upper = min(_c_div(value + one - 1, one), input_size - 1)
        rows += [lower, upper, value - one * lower]
    return np.array(rows, np.int16)


@register("RESIZE_BILINEAR", prefix="resize_bilinear")
def lower_resize_bilinear(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out, (n, ih, iw, c, oh, ow), corners, half = _geometry(graph, op)
    if max(ih, iw, oh, ow) > 2**13:
        raise unsupported(graph, op, f"{inp.shape} -> {out.shape} is too large for 16-bit tables")
    return Layer(
        op, name, kernel="tp_resize_bilinear_s8", inputs=[inp.index], outputs=[out.index],
        params_type="tp_resize_params_t",
        params={"batches": n, "input_h": ih, "input_w": iw, "channels": c, "output_h": oh, "output_w": ow},
        consts=[Const("rows", "int16_t", bilinear_table(ih, oh, corners, half)),
                Const("cols", "int16_t", bilinear_table(iw, ow, corners, half))],
        macs=4 * out.size,
    )
