"""QUANTIZE (float->int8, int8->int8, int8<->uint8) and DEQUANTIZE (int8->float) -> kernels/quantize.

int8 -> int8 (a requantization, e.g. inserted by the converter before a CONCATENATION whose inputs
differ in scale): LiteRT's optimized Requantize rounds blocks of 16 elements with NEON (ties upward
at both roundings) and only the size % 16 last ones with the scalar rule (ties away from zero at
the final shift), so the kernel gets the length of the vector part.
"""

from __future__ import annotations

from tinypipe.aot import s16
from tinypipe.aot.lowering import Layer, expect_int8, register, unsupported
from tinypipe.aot.quant import quantize_multiplier, scale_of, zero_point_of
from tinypipe.graph import Graph, Operator, Tensor

REQUANTIZE_VECTOR = 16  # elements per NEON iteration of LiteRT's Requantize<int8_t, int8_t>


# (input type, output type) -> the requantizing kernel; uint8 appears at model edges only (a
# converter's `inference_output_type=tf.uint8` ends the model with QUANTIZE int8 -> uint8).
REQUANTIZE_KERNELS = {("int8", "int8"): "tp_requantize_s8", ("int8", "uint8"): "tp_requantize_s8_u8",
                      ("uint8", "int8"): "tp_requantize_u8_s8"}


def _per_tensor(graph: Graph, op: Operator, *tensors: Tensor) -> None:
    for t in tensors:
        if t.quant is None or t.quant.per_channel:
            raise unsupported(graph, op, f"tensor '{t.name}' is {t.dtype} without one scale and zero point")


@register("QUANTIZE", prefix="quantize")
def lower_quantize(graph: Graph, op: Operator, name: str) -> Layer:
    if s16.is_s16(graph, op):  # 16x8: int16 activations
        return s16.lower_quantize(graph, op, name)
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    assert inp is not None
    io = {"inputs": [inp.index], "outputs": [out.index], "macs": out.size}
    if inp.dtype == "float32":
        expect_int8(graph, op, out)
        return Layer(op, name, kernel="tp_quantize_f32_s8", params_type="tp_float_quant_params_t",
                     params={"size": out.size, "scale": scale_of(out), "zero_point": zero_point_of(out)},
                     **io)  # type: ignore[arg-type]
    kernel = REQUANTIZE_KERNELS.get((inp.dtype, out.dtype))
    if kernel is None:
        raise unsupported(graph, op, f"QUANTIZE {inp.dtype} -> {out.dtype}; the aot runtime requantizes "
                          + ", ".join(f"{a} -> {b}" for a, b in REQUANTIZE_KERNELS))
    _per_tensor(graph, op, inp, out)
    mult, shift = quantize_multiplier(scale_of(inp) / scale_of(out))
    return Layer(op, name, kernel=kernel, params_type="tp_requantize_params_t",
                 params={"size": out.size, "input_offset": -zero_point_of(inp),
                         "output_offset": zero_point_of(out), "multiplier": mult, "shift": shift,
                         "vector_size": out.size - out.size % REQUANTIZE_VECTOR},
                 inplace=[(0, 0)], **io)  # type: ignore[arg-type]


@register("DEQUANTIZE", prefix="dequantize")
def lower_dequantize(graph: Graph, op: Operator, name: str) -> Layer:
    if s16.is_s16(graph, op):  # 16x8: int16 activations
        return s16.lower_dequantize(graph, op, name)
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int8(graph, op, inp)
    assert inp is not None
    if out.dtype != "float32":
        raise unsupported(graph, op, f"output '{out.name}' is {out.dtype}; DEQUANTIZE to float32 only")
    return Layer(op, name, kernel="tp_dequantize_s8_f32", inputs=[inp.index], outputs=[out.index],
                 params_type="tp_float_quant_params_t",
                 params={"size": inp.size, "scale": scale_of(inp), "zero_point": zero_point_of(inp)},
                 macs=inp.size)
