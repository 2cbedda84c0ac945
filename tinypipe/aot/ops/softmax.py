"""SOFTMAX -> kernels/softmax_s8, with LiteRT's float exp table computed here, offline."""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

from tinypipe.aot import s16
from tinypipe.aot.lowering import Const, Layer, expect_int8, register, unsupported
from tinypipe.aot.quant import scale_of, zero_point_of
from tinypipe.graph import Graph, Operator

_libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_libm.expf.restype = ctypes.c_float
_libm.expf.argtypes = [ctypes.c_float]


def exp_table(input_scale: float, beta: float) -> np.ndarray:
    """PopulateSoftmaxLookupTable: table[255 - d] = expf((-input_scale * beta) * d), all float32.

    Uses the C library's expf (the one LiteRT links against) so every entry is bit-identical.
    """
    scale = np.float32(-np.float32(input_scale)) * np.float32(beta)
    table = np.zeros(256, np.float32)
    for d in range(256):
        table[255 - d] = _libm.expf(float(np.float32(scale * np.float32(d))))
    return table


@register("SOFTMAX", prefix="softmax")
def lower_softmax(graph: Graph, op: Operator, name: str) -> Layer:
    if s16.is_s16(graph, op):  # 16x8: int16 activations
        return s16.lower_softmax(graph, op, name)
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    if not inp.shape:
        raise unsupported(graph, op, "scalar input")
    depth = inp.shape[-1]
    return Layer(
        op, name, kernel="tp_softmax_s8", inputs=[inp.index], outputs=[out.index],
        params_type="tp_softmax_params_t",
        params={"rows": inp.size // depth, "depth": depth, "output_scale": scale_of(out),
                "output_zero_point": zero_point_of(out)},
        consts=[Const("exp_table", "float", exp_table(scale_of(inp), float(op.options.get("beta", 1.0))))],
        macs=inp.size,
    )
