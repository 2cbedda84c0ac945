"""LOGISTIC and TANH (int8): a 256-entry table, built exactly as LiteRT builds its own.

LiteRT's int8 LOGISTIC/TANH kernels look every input up in a table that `LUTPopulate<int8_t>`
(kernels/internal/common.h) fills at prepare time in float32: dequantize, apply `expf`/`tanhf`,
multiply by the float32 inverse output scale, round half away from zero, add the zero point,
clamp. Doing the same here, calling the C library's `expf`/`tanhf` as LiteRT does, gives the
identical table; the kernel is then one load per element (`tp_lut_s8`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

import numpy as np

from tinypipe.aot import s16
from tinypipe.aot.lowering import Const, Layer, expect_int8, register
from tinypipe.aot.quant import INT8_MAX, INT8_MIN, scale_of, tflite_round, zero_point_of
from tinypipe.graph import Graph, Operator

INT8_VALUES = np.arange(INT8_MIN, INT8_MAX + 1)

F32 = np.float32
FloatFn = Callable[[np.float32], np.float32]


def _libm(name: str) -> FloatFn:
    """The C library's single-precision `name` (what `std::exp(float)` calls), else numpy's."""
    path = ctypes.util.find_library("m")
    fn = getattr(ctypes.CDLL(path), name, None) if path else None
    if fn is None:
        return getattr(np, name.rstrip("f"))  # type: ignore[no-any-return]
    fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
    return lambda x: F32(fn(float(x)))


_expf, _tanhf = _libm("expf"), _libm("tanhf")


def _sigmoid(x: np.float32) -> np.float32:
    return F32(F32(1.0) / F32(F32(1.0) + _expf(-x)))


def float_lut(transform: FloatFn, in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """LUTPopulate<int8_t>: the table for inputs -128..127, every step in float32."""
    inverse_scale = F32(1.0) / F32(out_scale)
    table = []
    for v in INT8_VALUES:
        dequantized = F32(in_scale) * F32(v - in_zp)
        rescaled = tflite_round(float(F32(transform(dequantized) * inverse_scale)))
        table.append(min(max(rescaled + out_zp, INT8_MIN), INT8_MAX))
    return np.array(table, dtype=np.int8)


def lut_layer(graph: Graph, op: Operator, name: str, table: np.ndarray) -> Layer:
    """The layer applying `table` (256 int8 outputs, for inputs -128..127) element-wise."""
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    assert inp is not None and table.shape == INT8_VALUES.shape
    return Layer(op, name, kernel="tp_lut_s8", inputs=[inp.index], outputs=[out.index],
                 params_type="tp_lut_params_t", params={"size": out.size},
                 consts=[Const("table", "int8_t", table)], inplace=[(0, 0)])


def _lower_float_lut(graph: Graph, op: Operator, name: str, transform: FloatFn) -> Layer:
    if s16.is_s16(graph, op):  # 16x8: int16 activations
        return s16.lower_sigmoid(graph, op, name)
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    table = float_lut(transform, scale_of(inp), zero_point_of(inp), scale_of(out), zero_point_of(out))
    return lut_layer(graph, op, name, table)


@register("LOGISTIC", prefix="logistic")
def lower_logistic(graph: Graph, op: Operator, name: str) -> Layer:
    return _lower_float_lut(graph, op, name, _sigmoid)


@register("TANH", prefix="tanh")
def lower_tanh(graph: Graph, op: Operator, name: str) -> Layer:
    return _lower_float_lut(graph, op, name, _tanhf)
