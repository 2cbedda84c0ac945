"""Write exact one-operator int8 `.tflite` models with the flatbuffer builder (no TensorFlow).

The TensorFlow converter picks scales from calibration data and rewrites some operators (it turns
EXPAND_DIMS and SQUEEZE into RESHAPE, keeps ELU in float), so tests that need an exact scale ratio
(rounding ties) or one of those builtins build the model here instead and still compare with
LiteRT, which runs any valid flatbuffer.

    model = one_op_model("QUANTIZE", [Io((37,), 0.5, -3)], [Io((37,), 1.0, 5)])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import flatbuffers
import numpy as np
import tflite as fb  # the schema's generated builder functions (fb.TensorStart, ...)

OptionsFn = Callable[[flatbuffers.Builder], tuple[int, int]]  # -> (BuiltinOptions type, table offset)


@dataclass
class Io:
    """An int8 (or `dtype` int16) activation tensor (scale, zero point) or, with `data`, a constant
    int32/int8 tensor."""

    shape: tuple[int, ...]
    scale: float = 1.0
    zero_point: int = 0
    data: np.ndarray | None = None
    dtype: str = "int8"


def _vector(b: flatbuffers.Builder, start: Callable[[flatbuffers.Builder, int], None],
            values: Sequence[int | float], prepend: str) -> int:
    start(b, len(values))
    for v in reversed(values):
        getattr(b, prepend)(v)
    return b.EndVector()


def squeeze_options(dims: Sequence[int]) -> OptionsFn:
    def build(b: flatbuffers.Builder) -> tuple[int, int]:
        vec = _vector(b, fb.SqueezeOptionsStartSqueezeDimsVector, list(dims), "PrependInt32")
        fb.SqueezeOptionsStart(b)
        fb.SqueezeOptionsAddSqueezeDims(b, vec)
        return fb.BuiltinOptions.SqueezeOptions, fb.SqueezeOptionsEnd(b)
    return build


def one_op_model(opcode: str, inputs: Sequence[Io], outputs: Sequence[Io],
                 options: OptionsFn | None = None) -> bytes:
    """A model with one `opcode` operator: non-constant inputs are model inputs, outputs are model
    outputs; constant inputs (Io.data) are stored in buffers."""
    b = flatbuffers.Builder(1024)
    ios = [*inputs, *outputs]
    buffers = [0]  # buffer 0 is the empty sentinel
    buffer_of = []
    for io in ios:
        if io.data is None:
            buffer_of.append(0)
            continue
        raw = np.ascontiguousarray(io.data).tobytes()
        b.StartVector(1, len(raw), 16)
        for byte in reversed(raw):
            b.PrependUint8(byte)
        vec = b.EndVector()
        fb.BufferStart(b)
        fb.BufferAddData(b, vec)
        buffer_of.append(len(buffers))
        buffers.append(fb.BufferEnd(b))
    fb.BufferStart(b)
    buffers[0] = fb.BufferEnd(b)

    tensors = []
    for k, io in enumerate(ios):
        name = b.CreateString(f"t{k}")
        shape = _vector(b, fb.TensorStartShapeVector, list(io.shape), "PrependInt32")
        quant = None
        if io.data is None or io.data.dtype == np.int8:
            scale = _vector(b, fb.QuantizationParametersStartScaleVector, [io.scale],
                            "PrependFloat32")
            zp = _vector(b, fb.QuantizationParametersStartZeroPointVector,
                         [io.zero_point], "PrependInt64")
            fb.QuantizationParametersStart(b)
            fb.QuantizationParametersAddScale(b, scale)
            fb.QuantizationParametersAddZeroPoint(b, zp)
            quant = fb.QuantizationParametersEnd(b)
        fb.TensorStart(b)
        fb.TensorAddShape(b, shape)
        is_int32 = io.data is not None and io.data.dtype == np.int32
        kind = "INT32" if is_int32 else "INT16" if io.dtype == "int16" and io.data is None else "INT8"
        fb.TensorAddType(b, getattr(fb.TensorType, kind))
        fb.TensorAddBuffer(b, buffer_of[k])
        fb.TensorAddName(b, name)
        if quant is not None:
            fb.TensorAddQuantization(b, quant)
        tensors.append(fb.TensorEnd(b))

    code = getattr(fb.BuiltinOperator, opcode)
    fb.OperatorCodeStart(b)
    fb.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
    fb.OperatorCodeAddBuiltinCode(b, code)
    fb.OperatorCodeAddVersion(b, 1)
    opcode_table = fb.OperatorCodeEnd(b)

    n_in = len(inputs)
    op_inputs = _vector(b, fb.OperatorStartInputsVector, list(range(n_in)), "PrependInt32")
    op_outputs = _vector(b, fb.OperatorStartOutputsVector, list(range(n_in, len(ios))), "PrependInt32")
    opts = options(b) if options else None
    fb.OperatorStart(b)
    fb.OperatorAddOpcodeIndex(b, 0)
    fb.OperatorAddInputs(b, op_inputs)
    fb.OperatorAddOutputs(b, op_outputs)
    if opts:
        fb.OperatorAddBuiltinOptionsType(b, opts[0])
        fb.OperatorAddBuiltinOptions(b, opts[1])
    operator = fb.OperatorEnd(b)

    graph_inputs = [k for k, io in enumerate(inputs) if io.data is None]
    sg_tensors = _vector(b, fb.SubGraphStartTensorsVector, tensors, "PrependUOffsetTRelative")
    sg_inputs = _vector(b, fb.SubGraphStartInputsVector, graph_inputs, "PrependInt32")
    sg_outputs = _vector(b, fb.SubGraphStartOutputsVector, list(range(n_in, len(ios))), "PrependInt32")
    sg_ops = _vector(b, fb.SubGraphStartOperatorsVector, [operator], "PrependUOffsetTRelative")
    sg_name = b.CreateString("main")
    fb.SubGraphStart(b)
    fb.SubGraphAddTensors(b, sg_tensors)
    fb.SubGraphAddInputs(b, sg_inputs)
    fb.SubGraphAddOutputs(b, sg_outputs)
    fb.SubGraphAddOperators(b, sg_ops)
    fb.SubGraphAddName(b, sg_name)
    subgraph = fb.SubGraphEnd(b)

    codes = _vector(b, fb.ModelStartOperatorCodesVector, [opcode_table], "PrependUOffsetTRelative")
    subgraphs = _vector(b, fb.ModelStartSubgraphsVector, [subgraph], "PrependUOffsetTRelative")
    buffer_vec = _vector(b, fb.ModelStartBuffersVector, buffers, "PrependUOffsetTRelative")
    description = b.CreateString("tinypipe test model")
    fb.ModelStart(b)
    fb.ModelAddVersion(b, 3)
    fb.ModelAddOperatorCodes(b, codes)
    fb.ModelAddSubgraphs(b, subgraphs)
    fb.ModelAddBuffers(b, buffer_vec)
    fb.ModelAddDescription(b, description)
    b.Finish(fb.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())
