"""Parse a `.tflite` flatbuffer into plain dataclasses.

Every later stage (inspect, the `aot` code generator, firmware export) reads models through
this module, so the flatbuffer schema package (`tflite`) is touched in exactly one place.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tflite

from tinypipe.errors import TinypipeError

_DTYPES: dict[int, tuple[str, Any]] = {
    tflite.TensorType.FLOAT32: ("float32", np.float32),
    tflite.TensorType.FLOAT16: ("float16", np.float16),
    tflite.TensorType.INT32: ("int32", np.int32),
    tflite.TensorType.UINT8: ("uint8", np.uint8),
    tflite.TensorType.INT64: ("int64", np.int64),
    tflite.TensorType.BOOL: ("bool", np.bool_),
    tflite.TensorType.INT16: ("int16", np.int16),
    tflite.TensorType.INT8: ("int8", np.int8),
    tflite.TensorType.FLOAT64: ("float64", np.float64),
}
_OPCODE_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_ENUMS = {  # option fields whose integer values have names
    "padding": {v: k for k, v in vars(tflite.Padding).items() if not k.startswith("_")},
    "fused_activation_function": {
        v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")
    },
}


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per `axis` channel."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


def quantize_values(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Real values to int8 as TFLite does: x / scale in float32, rounded half away from zero,
    plus the zero point, saturated."""
    scaled = np.asarray(x, dtype=np.float32) / np.float32(scale)
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))
    return np.clip(rounded + zero_point, -128, 127).astype(np.int8)


def dequantize_values(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """int8 values to real: scale * (q - zero_point), in float32."""
    return (np.asarray(q, dtype=np.float32) - np.float32(zero_point)) * np.float32(scale)


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = None  # constant tensors (weights, biases, shapes) only

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(_numpy_dtype(self.dtype)).itemsize


@dataclass
class Operator:
    index: int
    opcode: str  # builtin name, e.g. "CONV_2D"; custom ops are "CUSTOM:<name>"
    inputs: list[int]  # tensor indices, -1 for an omitted optional input
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    path: str
    sha256: str
    size_bytes: int
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    description: str = ""

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def op_inputs(self, op: Operator) -> list[Tensor | None]:
        return [self.tensors[i] if i >= 0 else None for i in op.inputs]

    def op_outputs(self, op: Operator) -> list[Tensor]:
        return [self.tensors[i] for i in op.outputs]

    @property
    def opcodes(self) -> list[str]:
        return sorted({op.opcode for op in self.operators})


def _numpy_dtype(name: str) -> Any:
    for dtype_name, np_type in _DTYPES.values():
        if dtype_name == name:
            return np_type
    raise KeyError(name)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _options(op: Any) -> dict[str, Any]:
    """Decode an operator's builtin options table into {snake_case_field: value}."""
    table = op.BuiltinOptions()
    kind = op.BuiltinOptionsType()
    if table is None or kind == 0:
        return {}
    kind_name = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}[kind]
    cls = getattr(tflite, kind_name)
    options = cls()
    options.Init(table.Bytes, table.Pos)
    out: dict[str, Any] = {}
    for attr in dir(cls):
        if attr.startswith("_") or attr in ("Init",) or attr.startswith("GetRootAs"):
            continue
        if attr.endswith(("AsNumpy", "IsNone", "Length", "BufferHasIdentifier")):
            continue
        method = getattr(options, attr)
        key = _snake(attr)
        try:
            if hasattr(options, attr + "Length"):
                value: Any = [int(v) for v in getattr(options, attr + "AsNumpy")()] \
                    if getattr(options, attr + "Length")() else []
            else:
                value = method()
        except TypeError:
            continue
        out[key] = _ENUMS.get(key, {}).get(value, value) if isinstance(value, int) else value
    return out


def _quant(t: Any) -> Quant | None:
    q = t.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    return Quant(
        scale=q.ScaleAsNumpy().astype(np.float32),
        zero_point=q.ZeroPointAsNumpy().astype(np.int64),
        axis=int(q.QuantizedDimension()),
    )


def parse(data: bytes, path: str = "<bytes>") -> Graph:
    """Parse flatbuffer bytes; raise TinypipeError with the file name on anything malformed."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise TinypipeError(
            f"{path}: not a TensorFlow Lite model (no 'TFL3' identifier)",
            "pass a .tflite file, e.g. the output of `tinypipe quantize`",
        )
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        if model.SubgraphsLength() != 1:
            raise TinypipeError(
                f"{path}: has {model.SubgraphsLength()} subgraphs; tinypipe supports exactly one",
                "control flow (WHILE/IF) is not supported on microcontrollers; export a flat model",
            )
        sg = model.Subgraphs(0)
        codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
            name = _OPCODE_NAMES.get(code, f"BUILTIN_{code}")
            if name == "CUSTOM":
                name = "CUSTOM:" + (oc.CustomCode() or b"?").decode()
            codes.append(name)
        tensors = []
        for i in range(sg.TensorsLength()):
            t = sg.Tensors(i)
            dtype_name, np_type = _DTYPES.get(t.Type(), (f"type{t.Type()}", None))
            shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            buf = model.Buffers(t.Buffer())
            const = None
            if buf is not None and buf.DataLength() > 0 and np_type is not None:
                raw = buf.DataAsNumpy().tobytes()
                const = np.frombuffer(raw, dtype=np_type).reshape(shape).copy()
            tensors.append(Tensor(
                index=i, name=(t.Name() or b"").decode(errors="replace"), shape=shape,
                dtype=dtype_name, quant=_quant(t), data=const,
            ))
        operators = []
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            operators.append(Operator(
                index=i, opcode=codes[op.OpcodeIndex()],
                inputs=[int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else [],
                outputs=[int(x) for x in op.OutputsAsNumpy()] if op.OutputsLength() else [],
                options=_options(op),
            ))
        inputs = [int(x) for x in sg.InputsAsNumpy()]
        outputs = [int(x) for x in sg.OutputsAsNumpy()]
        description = (model.Description() or b"").decode(errors="replace")
    except TinypipeError:
        raise
    except Exception as exc:  # flatbuffers raises assorted errors on truncated data
        raise TinypipeError(
            f"{path}: corrupt or truncated TensorFlow Lite model ({type(exc).__name__})",
            "re-export the model; check the file was copied completely",
        ) from None
    return Graph(
        path=path, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
        tensors=tensors, operators=operators, inputs=inputs, outputs=outputs,
        description=description,
    )


def load(path: str | Path) -> Graph:
    p = Path(path)
    if not p.is_file():
        raise TinypipeError(f"{p}: no such file", "check the path to the .tflite model")
    return parse(p.read_bytes(), str(p))
