"""LOG_SOFTMAX (int8) -> kernels/log_softmax_s8.

LiteRT's built-in int8 LogSoftmax (activations.cc, kGenericOptimized -> optimized_ops::LogSoftmax)
is not the fixed-point reference rule: it sums SOFTMAX's float exp table (PopulateSoftmaxLookupTable
with beta 1) and rescales with float32 arithmetic and logf, rounding with rint (ties to even). The
table is computed here, offline, exactly as SOFTMAX's; LiteRT requires the output scale 16/256 and
zero point 127.
"""

from __future__ import annotations

from tinypipe.aot.lowering import Const, Layer, expect_int8, register, unsupported
from tinypipe.aot.ops.softmax import exp_table
from tinypipe.aot.quant import scale_of, zero_point_of
from tinypipe.graph import Graph, Operator

OUTPUT_SCALE = 16.0 / 256  # LogSoftmaxPrepare's required int8 output quantization
OUTPUT_ZERO_POINT = 127
MAX_INPUT_SCALE = 2.0**20  # beyond it the float log-probabilities leave float32's exact integers


@register("LOG_SOFTMAX", prefix="log_softmax")
def lower_log_softmax(graph: Graph, op: Operator, name: str) -> Layer:
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    if not inp.shape:
        raise unsupported(graph, op, "scalar input")
    if scale_of(out) != OUTPUT_SCALE or zero_point_of(out) != OUTPUT_ZERO_POINT:
        raise unsupported(graph, op, f"output scale {scale_of(out):g} / zero point {zero_point_of(out)}; "
                                     "LiteRT requires 16/256 and 127")
    if scale_of(inp) > MAX_INPUT_SCALE:
        raise unsupported(graph, op, f"input scale {scale_of(inp):g} is out of range")
    depth = inp.shape[-1]
    return Layer(
        op, name, kernel="tp_log_softmax_s8", inputs=[inp.index], outputs=[out.index],
        params_type="tp_log_softmax_params_t",
        params={"rows": inp.size // depth, "depth": depth, "input_scale": scale_of(inp),
                "output_scale": scale_of(out), "output_zero_point": zero_point_of(out)},
        consts=[Const("exp_table", "float", exp_table(scale_of(inp), 1.0))],
        inplace=[(0, 0)],  # each row is read whole before it is written, element j before j
        macs=inp.size,
    )
