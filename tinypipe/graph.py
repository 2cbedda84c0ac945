"""Parse a `.tflite` flatbuffer into plain dataclasses.

Every later stage (inspect, the `aot` code generator, firmware export) reads models through
this module, so the flatbuffer schema package (`tflite`) is touched in exactly one place.
"""

from __future__ import annotations

import hashlib
import math
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
    tflite.TensorType.RESOURCE: ("resource", None),  # a resource variable's handle (VAR_HANDLE)
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
        return math.prod(self.shape)  # Python ints: no overflow, whatever the shape says

    @property
    def nbytes(self) -> int:
        if self.dtype == "resource":
            return 0  # a handle: the variable's own bytes belong to the variable (resource_variables)
        return self.size * np.dtype(_numpy_dtype(self.dtype)).itemsize


@dataclass
class Operator:
    index: int
    opcode: str  # builtin name, e.g. "CONV_2D"; custom ops are "CUSTOM:<name>"
    inputs: list[int]  # tensor indices, -1 for an omitted optional input
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)
    options_type: str = ""  # the builtin options table's type, e.g. "Conv2DOptions"; "" if none


@dataclass
class Subgraph:
    """A subgraph other than the main one (index 0), e.g. the init subgraph a CALL_ONCE runs."""

    index: int
    name: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]


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
    subgraphs: list[Subgraph] = field(default_factory=list)  # subgraphs 1.. (init subgraphs, bodies)

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def op_inputs(self, op: Operator) -> list[Tensor | None]:
        return [self.tensors[i] if i >= 0 else None for i in op.inputs]

    def op_outputs(self, op: Operator) -> list[Tensor]:
        return [self.tensors[i] for i in op.outputs]

    @property
    def opcodes(self) -> list[str]:
        """Every operator type the model uses, in the main graph and its other subgraphs."""
        return sorted({op.opcode for op in self.operators}
                      | {op.opcode for sg in self.subgraphs for op in sg.operators})

    def subgraph(self, index: int) -> Subgraph:
        """Subgraph `index` (1..): KeyError when the model has no such subgraph."""
        for sg in self.subgraphs:
            if sg.index == index:
                return sg
        raise KeyError(index)

    @property
    def stateful(self) -> bool:
        """The model keeps state between invocations in resource variables (VAR_HANDLE)."""
        return "VAR_HANDLE" in self.opcodes


@dataclass
class ResourceVariable:
    """One resource variable: its key (container, shared name), the bytes it holds, and its value
    after the init subgraphs ran (None: never assigned there)."""

    key: tuple[str, str]
    tensor: Tensor  # a main-graph tensor of the variable's type, shape and quantization
    handles: list[int] = field(default_factory=list)  # main-graph resource tensors naming it
    initial: np.ndarray | None = None

    @property
    def name(self) -> str:
        return self.key[1] or self.key[0]

    @property
    def nbytes(self) -> int:
        return self.tensor.nbytes


def variable_key(op: Operator) -> tuple[str, str]:
    """(container, shared_name) of a VAR_HANDLE: how TFLite tells variables apart across subgraphs."""
    return str(op.options.get("container") or ""), str(op.options.get("shared_name") or "")


def handle_keys(operators: list[Operator]) -> dict[int, tuple[str, str]]:
    """{resource tensor: variable key} for the VAR_HANDLE operators in `operators`."""
    return {op.outputs[0]: variable_key(op) for op in operators if op.opcode == "VAR_HANDLE" and op.outputs}


def variable_count(g: Graph) -> int:
    """Distinct resource variables the VAR_HANDLE operators of every subgraph name (what TFLite
    Micro's MicroResourceVariables must hold)."""
    ops = [*g.operators, *(op for sg in g.subgraphs for op in sg.operators)]
    return len(set(handle_keys(ops).values()) | {variable_key(op) for op in ops if op.opcode == "VAR_HANDLE"})


def resource_variables(g: Graph) -> list[ResourceVariable]:
    """The model's resource variables in the order the main graph first names them, each with the
    tensor it holds (what READ_VARIABLE yields / ASSIGN_VARIABLE stores in the main graph) and the
    constant its init subgraphs assign (None when they assign none or compute it)."""
    handles = handle_keys(g.operators)
    found: dict[tuple[str, str], ResourceVariable] = {}
    for op in g.operators:
        if op.opcode == "READ_VARIABLE" and op.inputs and op.outputs:
            handle, value = op.inputs[0], op.outputs[0]
        elif op.opcode == "ASSIGN_VARIABLE" and len(op.inputs) == 2:
            handle, value = op.inputs
        else:
            continue
        key = handles.get(handle)
        if key is None:
            continue
        var = found.setdefault(key, ResourceVariable(key, g.tensor(value)))
        if handle not in var.handles:
            var.handles.append(handle)
    for sg in g.subgraphs:
        sub_handles = handle_keys(sg.operators)
        for op in sg.operators:
            if op.opcode == "ASSIGN_VARIABLE" and len(op.inputs) == 2:
                key = sub_handles.get(op.inputs[0])
                if key in found and 0 <= op.inputs[1] < len(sg.tensors):
                    found[key].initial = sg.tensor(op.inputs[1]).data
    return list(found.values())


def _numpy_dtype(name: str) -> Any:
    for dtype_name, np_type in _DTYPES.values():
        if dtype_name == name:
            return np_type
    raise KeyError(name)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_OPTIONS_NAMES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k.lower() for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}


class _Malformed(Exception):
    """A structural problem found while reading the flatbuffer, named precisely."""


def _options(op: Any, where: str) -> tuple[str, dict[str, Any]]:
    """Decode an operator's builtin options table into (type name, {snake_case_field: value})."""
    table = op.BuiltinOptions()
    kind = op.BuiltinOptionsType()
    if table is None or kind == 0:
        return "", {}
    kind_name = _OPTIONS_NAMES.get(kind)
    if kind_name is None or not hasattr(tflite, kind_name):
        raise _Malformed(f"{where}: builtin options type {kind} is unknown")
    cls = getattr(tflite, kind_name)
    options = cls()
    options.Init(table.Bytes, table.Pos)
    out: dict[str, Any] = {}
    for attr, key, vector in _option_fields(cls):
        try:
            if vector:
                value: Any = [int(v) for v in getattr(options, attr + "AsNumpy")()] \
                    if getattr(options, attr + "Length")() else []
            else:
                value = getattr(options, attr)()
        except TypeError:
            continue
        if isinstance(value, bytes):  # strings (VAR_HANDLE's container and shared_name)
            value = _text(value)
        out[key] = _ENUMS.get(key, {}).get(value, value) if isinstance(value, int) else value
    return kind_name, out


_FIELDS: dict[type, list[tuple[str, str, bool]]] = {}


def _option_fields(cls: type) -> list[tuple[str, str, bool]]:
    """(accessor, snake_case key, is a vector) of an options class's fields, computed once per class."""
    if cls not in _FIELDS:
        fields = []
        for attr in dir(cls):
            if attr.startswith("_") or attr in ("Init",) or attr.startswith("GetRootAs"):
                continue
            if attr.endswith(("AsNumpy", "IsNone", "Length", "BufferHasIdentifier")):
                continue
            fields.append((attr, _snake(attr), hasattr(cls, attr + "Length")))
        _FIELDS[cls] = fields
    return _FIELDS[cls]


def _quant(t: Any) -> Quant | None:
    q = t.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None
    zero_point = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(0, np.int64)
    return Quant(scale=q.ScaleAsNumpy().astype(np.float32), zero_point=zero_point,
                 axis=int(q.QuantizedDimension()))


def _text(raw: bytes | None) -> str:
    """A model string as one printable line (names may hold anything, including invalid UTF-8)."""
    text = (raw or b"").decode(errors="replace")
    return text if text.isprintable() else "".join(c if c.isprintable() else "?" for c in text)


def _length(n: int, what: str, data: bytes) -> int:
    if not 0 <= n <= len(data) // 4:
        raise _Malformed(f"the {what} vector claims {n} entries, more than the file can hold")
    return n


def _constant(t: Any, i: int, name: str, shape: tuple[int, ...], dtype_name: str, np_type: Any,
              model: Any, n_buffers: int) -> np.ndarray | None:
    """A tensor's constant data from its buffer, checked against its type and shape."""
    index = t.Buffer()
    where = f"tensor '{name[:60]}' (tensor {i})"
    if not 0 <= index < n_buffers:
        raise _Malformed(f"{where}: buffer index {index} is out of range (the model has {n_buffers} buffers)")
    buf = model.Buffers(index)
    if buf is None:
        return None
    if hasattr(buf, "Offset") and buf.Offset() > 1:
        raise _Malformed(f"{where}: its data lives outside the flatbuffer (buffer offset), not supported")
    if buf.DataLength() == 0:
        return None
    if np_type is None:
        raise _Malformed(f"{where}: constant of type {dtype_name}, which tinypipe does not support")
    if any(d < 0 for d in shape):
        raise _Malformed(f"{where}: constant with negative dimensions {list(shape)}")
    need = math.prod(shape) * np.dtype(np_type).itemsize
    raw = buf.DataAsNumpy().tobytes()
    if len(raw) != need:
        raise _Malformed(f"{where}: its buffer holds {len(raw)} bytes; "
                         f"{dtype_name}{list(shape)} needs {need}")
    return np.frombuffer(raw, dtype=np_type).reshape(shape).copy()


def _subgraph(model: Any, k: int, codes: list[str], n_buffers: int,
              data: bytes) -> tuple[list[Tensor], list[Operator], list[int], list[int]]:
    """Subgraph k's tensors, operators, inputs and outputs."""
    sg = model.Subgraphs(k)
    if sg is None:
        raise _Malformed(f"subgraph {k} is missing")
    where = "" if k == 0 else f"subgraph {k}: "
    tensors = []
    for i in range(_length(sg.TensorsLength(), "tensors", data)):
        t = sg.Tensors(i)
        dtype_name, np_type = _DTYPES.get(t.Type(), (_TYPE_NAMES.get(t.Type(), f"type{t.Type()}"), None))
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        name = _text(t.Name())
        try:
            constant = _constant(t, i, name, shape, dtype_name, np_type, model, n_buffers)
        except _Malformed as exc:
            raise _Malformed(f"{where}{exc}") from None
        tensors.append(Tensor(index=i, name=name, shape=shape, dtype=dtype_name, quant=_quant(t),
                              data=constant))
    operators = []
    for i in range(_length(sg.OperatorsLength(), "operators", data)):
        op = sg.Operators(i)
        kc = op.OpcodeIndex()
        if not 0 <= kc < len(codes):
            raise _Malformed(f"{where}operator #{i}: opcode index {kc} is out of range "
                             f"(the model has {len(codes)} operator codes)")
        options_type, options = _options(op, f"{where}operator #{i} {codes[kc]}")
        operators.append(Operator(
            index=i, opcode=codes[kc],
            inputs=[int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else [],
            outputs=[int(x) for x in op.OutputsAsNumpy()] if op.OutputsLength() else [],
            options=options, options_type=options_type,
        ))
    inputs = [int(x) for x in sg.InputsAsNumpy()] if sg.InputsLength() else []
    outputs = [int(x) for x in sg.OutputsAsNumpy()] if sg.OutputsLength() else []
    return tensors, operators, inputs, outputs


def parse(data: bytes, path: str = "<bytes>", verify: bool = True) -> Graph:
    """Parse flatbuffer bytes; raise TinypipeError with the file name on anything malformed.

    With `verify` (the default) the graph also passes `tinypipe.verify.verify`: every index in
    range, shapes, types, quantization and options valid, operators consistent with their weights.
    """
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise TinypipeError(
            f"{path}: not a TensorFlow Lite model (no 'TFL3' identifier)",
            "pass a .tflite file, e.g. the output of `tinypipe quantize`",
        )
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        n_subgraphs = _length(model.SubgraphsLength(), "subgraphs", data)
        if n_subgraphs < 1:
            raise _Malformed("the model has no subgraphs")
        codes = []
        for i in range(_length(model.OperatorCodesLength(), "operator codes", data)):
            oc = model.OperatorCodes(i)
            code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
            name = _OPCODE_NAMES.get(code, f"BUILTIN_{code}")
            if name == "CUSTOM":
                name = "CUSTOM:" + _text(oc.CustomCode() or b"?")
            codes.append(name)
        n_buffers = _length(model.BuffersLength(), "buffers", data)
        tensors, operators, inputs, outputs = _subgraph(model, 0, codes, n_buffers, data)
        subgraphs = []
        for k in range(1, n_subgraphs):
            sub = _subgraph(model, k, codes, n_buffers, data)
            subgraphs.append(Subgraph(k, _text(model.Subgraphs(k).Name()), *sub))
        description = _text(model.Description())
    except TinypipeError:
        raise
    except _Malformed as exc:
        raise TinypipeError(f"{path}: {exc}", "re-export the model; check the file was copied completely") \
            from None
    except Exception as exc:  # flatbuffers raises assorted errors on truncated data
        raise TinypipeError(
            f"{path}: corrupt or truncated TensorFlow Lite model ({type(exc).__name__})",
            "re-export the model; check the file was copied completely",
        ) from None
    g = Graph(
        path=path, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
        tensors=tensors, operators=operators, inputs=inputs, outputs=outputs,
        description=description, subgraphs=subgraphs,
    )
    if verify:
        from tinypipe.verify import verify as verify_graph

        verify_graph(g)
    return g


def load(path: str | Path, verify: bool = True) -> Graph:
    p = Path(path)
    if not p.is_file():
        raise TinypipeError(f"{p}: no such file", "check the path to the .tflite model")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise TinypipeError(f"{p}: cannot read it ({exc.strerror})", "check the file's permissions") from None
    return parse(data, str(p), verify=verify)
