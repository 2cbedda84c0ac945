"""The model verifier: a parsed `.tflite` is refused unless tinypipe can run it exactly.

`graph.parse()` calls `verify(graph)` on every model it reads, so inspect, export-c, the `aot`
generator, export and validate all see only models that passed. A refusal is one
TinypipeError naming the tensor or operator and the field, e.g.

    model.tflite: operator #7 FULLY_CONNECTED: output 'dense/BiasAdd' has 65536 features, its
    weights 'dense/MatMul' have 12 rows

What is checked:

* the graph: at least one input, output and operator; every tensor index in range; inputs
  neither constant nor written by an operator; every tensor written once; operators in
  topological order (each reads only model inputs, constants and earlier operators' outputs);
* every tensor: a supported type, a static positive shape of bounded size, and quantization
  whose scales are finite and positive, whose zero points fit the type, and whose per-channel
  scale count matches the channels of its quantized dimension;
* every operator: a known builtin code, its builtin options present when they are required,
  of the operator's own options type, enums and windows (stride, dilation, filter size, depth
  multiplier, axis) in range; and for the operators tinypipe knows, the arity and the shapes
  of every tensor against each other and against the weights, as TFLite's own Prepare()
  functions compute them (output features == weight rows, channels, bias length, per-channel
  scale counts, the output size of a window from padding and stride, broadcasting, ...), plus
  the quantization LiteRT demands (SOFTMAX/LOGISTIC/TANH output scales, filter zero points).

`run_isolated()` runs a callable in a forked child with a timeout; tinypipe uses it for the
native interpreters (TFLite Micro, LiteRT), so a crash in them is one error line, not a crash
of tinypipe.
"""

from __future__ import annotations

import faulthandler
import math
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinypipe.errors import TinypipeError

if TYPE_CHECKING:
    from tinypipe.graph import Graph, Operator, Tensor

MAX_RANK = 6
MAX_ELEMENTS = 1 << 28  # per tensor: 256 Mi elements (1 GiB of float32) - sizes fit int32 everywhere
MAX_WINDOW = 1 << 16  # strides, dilations, filter sizes
MAX_SCALE = 1e30
SUPPORTED_DTYPES = {"float32", "float16", "int32", "uint8", "int64", "bool", "int16", "int8", "float64",
                    "resource"}
INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-(1 << 15), (1 << 15) - 1),
              "int32": (-(1 << 31), (1 << 31) - 1), "int64": (-(1 << 63), (1 << 63) - 1)}
ACTIVATIONS = {"NONE", "RELU", "RELU_N1_TO_1", "RELU6"}  # what TFLite's quantized kernels implement
PADDINGS = {"SAME", "VALID"}
HINT = ("the model is malformed, or uses something tinypipe cannot run exactly; "
        "re-convert it with the TFLite converter")

# The builtin options table each operator must carry (when it carries one), and those without
# which TFLite would run the operator with zeroed parameters (stride 0, filter 0x0, ...).
OPTIONS_TYPE = {
    "CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions", "SOFTMAX": "SoftmaxOptions",
    "CONCATENATION": "ConcatenationOptions", "ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions",
    "RESHAPE": "ReshapeOptions", "SQUEEZE": "SqueezeOptions", "EXPAND_DIMS": "ExpandDimsOptions",
    "PAD": "PadOptions", "PADV2": "PadV2Options", "MEAN": "ReducerOptions", "SUM": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions", "STRIDED_SLICE": "StridedSliceOptions", "SLICE": "SliceOptions",
    "QUANTIZE": "QuantizeOptions", "DEQUANTIZE": "DequantizeOptions", "HARD_SWISH": "HardSwishOptions",
    "TRANSPOSE_CONV": "TransposeConvOptions", "LEAKY_RELU": "LeakyReluOptions",
    "TRANSPOSE": "TransposeOptions", "GATHER": "GatherOptions", "SPLIT": "SplitOptions",
    "PACK": "PackOptions", "UNPACK": "UnpackOptions", "BATCH_MATMUL": "BatchMatMulOptions",
    "RESIZE_BILINEAR": "ResizeBilinearOptions", "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions",
    "DIV": "DivOptions", "MAXIMUM": "MaximumMinimumOptions", "MINIMUM": "MaximumMinimumOptions",
    "VAR_HANDLE": "VarHandleOptions", "READ_VARIABLE": "ReadVariableOptions",
    "ASSIGN_VARIABLE": "AssignVariableOptions", "CALL_ONCE": "CallOnceOptions",
}
OPTIONS_REQUIRED = {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D",
                    "SOFTMAX", "CONCATENATION", "STRIDED_SLICE", "TRANSPOSE_CONV", "CALL_ONCE"}
POSITIVE_OPTIONS = ("stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor", "filter_height",
                    "filter_width", "depth_multiplier")
# Input positions that may be -1 (an omitted optional tensor); elsewhere -1 is refused for these ops.
OPTIONAL_INPUTS = {"CONV_2D": {2}, "DEPTHWISE_CONV_2D": {2}, "FULLY_CONNECTED": {2}, "TRANSPOSE_CONV": {3},
                   "RESHAPE": {1}}
SAME_SHAPE_OPS = {"LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU",
                  "QUANTIZE", "DEQUANTIZE", "ABS", "NEG", "ELU"}
ELEMENTWISE_BINARY = {"ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"}
# Operators without outputs: they act on resource variables or run another subgraph.
NO_OUTPUT_OPS = {"ASSIGN_VARIABLE", "CALL_ONCE"}
RESOURCE_OPS = {"VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"}  # the only users of resource tensors
# LiteRT's int8 kernels demand these output quantizations (activations.cc Prepare).
FIXED_OUTPUT_QUANT = {"SOFTMAX": (1.0 / 256, -128), "LOGISTIC": (1.0 / 256, -128), "TANH": (1.0 / 128, 0)}


def clean(text: str, limit: int = 60) -> str:
    """A model string made safe for a one-line message: control characters replaced, shortened."""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _Refusal(Exception):
    def __init__(self, what: str, hint: str = HINT) -> None:
        super().__init__(what)
        self.hint = hint


def _tname(t: Tensor) -> str:
    return f"'{clean(t.name.split(';')[0]) or '?'}' (tensor {t.index})"


def verify(g: Graph) -> None:
    """Raise a TinypipeError naming the first thing in `g` tinypipe cannot run exactly."""
    try:
        _graph(g)
        _subgraphs(g)
    except _Refusal as exc:
        raise TinypipeError(f"{g.path}: {exc}", exc.hint) from None


def _fail(what: str) -> _Refusal:
    return _Refusal(what)


# --- the graph -----------------------------------------------------------------------------------


def _graph(g: Graph, main: bool = True) -> None:
    """The structure of one subgraph (`main`: the model's own graph, which needs inputs, outputs
    and operators; an init subgraph has none of the first two)."""
    n = len(g.tensors)
    if main and not g.operators:
        raise _fail("the model has no operators")
    if main and not g.inputs:
        raise _fail("the model has no inputs")
    if main and not g.outputs:
        raise _fail("the model has no outputs")
    for what, indices in (("input", g.inputs), ("output", g.outputs)):
        for i in indices:
            if not 0 <= i < n:
                raise _fail(f"model {what} index {i} is out of range (the model has {n} tensors)")
        if len(set(indices)) != len(indices):
            raise _fail(f"a tensor is listed twice among the model {what}s {list(indices)}")
    for t in g.tensors:
        _tensor(t)
    for i in g.inputs:
        if g.tensors[i].is_const:
            raise _fail(f"model input {_tname(g.tensors[i])} is a constant tensor")
    writer: dict[int, int] = {}
    inputs = set(g.inputs)
    for op in g.operators:
        where = f"operator #{op.index} {clean(op.opcode)}"
        if op.opcode.startswith("BUILTIN_"):
            raise _fail(f"operator #{op.index} has an unknown builtin code {op.opcode[8:]}")
        if not op.outputs and op.opcode not in NO_OUTPUT_OPS:
            raise _fail(f"{where} has no outputs")
        optional = OPTIONAL_INPUTS.get(op.opcode, set())
        for pos, i in enumerate(op.inputs):
            if i == -1 and (pos in optional or op.opcode not in _KNOWN):
                continue
            if not 0 <= i < n:
                raise _fail(f"{where}: input {pos} is tensor index {i}, out of range "
                            f"(the model has {n} tensors)"
                            if i != -1 else f"{where}: input {pos} is omitted (-1) but required")
            if g.tensors[i].dtype == "resource" and op.opcode not in RESOURCE_OPS:
                raise _fail(f"{where} reads the resource variable handle {_tname(g.tensors[i])}; only "
                            "READ_VARIABLE and ASSIGN_VARIABLE may")
            if g.tensors[i].is_const or i in inputs or i in writer:
                continue
            if any(i in later.outputs for later in g.operators[op.index:]):
                raise _fail(f"{where} reads {_tname(g.tensors[i])} before an operator writes it "
                            "(operators are not in topological order)")
            raise _fail(f"{where} reads {_tname(g.tensors[i])}, which no operator writes and which "
                        "is neither a constant nor a model input")
        for pos, i in enumerate(op.outputs):
            if not 0 <= i < n:
                raise _fail(f"{where}: output {pos} is tensor index {i}, out of range "
                            f"(the model has {n} tensors)")
            t = g.tensors[i]
            if t.is_const or i in inputs:
                raise _fail(f"{where} writes {_tname(t)}, which is a "
                            + ("constant" if t.is_const else "model input"))
            if i in writer:
                raise _fail(f"{where} writes {_tname(t)}, already written by operator #{writer[i]}")
            writer[i] = op.index
    for i in g.outputs:
        t = g.tensors[i]
        if t.is_const or (i not in writer and i not in inputs):
            raise _fail(f"model output {_tname(t)} is not computed by any operator")
    for i in (*g.inputs, *g.outputs):
        if g.tensors[i].dtype == "resource":
            raise _fail(f"model input or output {_tname(g.tensors[i])} is a resource variable handle")
    for op in g.operators:
        _options(g, op)
        check = _KNOWN.get(op.opcode)
        if check is not None:
            check(g, op)


def _subgraph_refs(op: Operator) -> list[tuple[str, int]]:
    """(option, subgraph index) of every subgraph an operator runs: CALL_ONCE's init subgraph,
    WHILE's condition and body, IF's branches, CALL's callee."""
    return [(key, value) for key, value in op.options.items()
            if (key.endswith("subgraph_index") or key == "subgraph") and isinstance(value, int)]


def _subgraphs(g: Graph) -> None:
    """Subgraphs beyond the main one: each is run by an operator of an earlier subgraph (CALL_ONCE's
    init subgraph, WHILE and IF bodies; never recursively) and passes the same structural checks;
    resource variables hold one type and shape wherever they are read or assigned."""
    from tinypipe.graph import Graph as GraphView

    count = 1 + len(g.subgraphs)
    views = [(0, "main", g)] + [
        (sg.index, sg.name, GraphView(g.path, g.sha256, g.size_bytes, sg.tensors, sg.operators, sg.inputs,
                                      sg.outputs)) for sg in g.subgraphs]
    for index, name, view in views:
        where = "" if index == 0 else f"subgraph {index} ('{clean(name, 30)}'): "
        try:
            if index:
                _graph(view, main=False)
                for op in view.operators:
                    _options(view, op)
                    check = _KNOWN.get(op.opcode)
                    if check is not None:
                        check(view, op)
            for op in view.operators:
                for key, target in _subgraph_refs(op):
                    if not index < target < count:
                        raise _fail(f"operator #{op.index} {op.opcode}: {key} = {target}, but the subgraphs "
                                    f"it may run are {index + 1}..{count - 1}" if index + 1 < count else
                                    f"operator #{op.index} {op.opcode}: {key} = {target}, but the model "
                                    f"has no subgraph after {index}")
        except _Refusal as exc:
            raise _Refusal(f"{where}{exc}", exc.hint) from None
    _variables(g, views)


def _variables(g: Graph, views: list[tuple[int, str, Graph]]) -> None:
    """Every value read from or assigned to one resource variable has the same type and shape."""
    from tinypipe.graph import handle_keys

    seen: dict[tuple[str, str], tuple[str, tuple[int, ...], str]] = {}
    for index, _, view in views:
        keys = handle_keys(view.operators)
        for op in view.operators:
            if op.opcode not in ("READ_VARIABLE", "ASSIGN_VARIABLE"):
                continue
            handle = op.inputs[0]
            value = view.tensors[op.outputs[0] if op.opcode == "READ_VARIABLE" else op.inputs[1]]
            key = keys[handle]
            what = f"{op.opcode} #{op.index}" + (f" of subgraph {index}" if index else "")
            if key not in seen:
                seen[key] = (value.dtype, tuple(value.shape), what)
                continue
            dtype, shape, first = seen[key]
            if (value.dtype, tuple(value.shape)) != (dtype, shape):
                raise _fail(f"resource variable '{clean(key[1] or key[0], 40)}': {what} uses "
                            f"{value.dtype}{list(value.shape)}, {first} {dtype}{list(shape)}")


def _tensor(t: Tensor) -> None:
    if t.dtype not in SUPPORTED_DTYPES:
        raise _fail(f"tensor {_tname(t)} has type {t.dtype}, which tinypipe does not support")
    if len(t.shape) > MAX_RANK:
        raise _fail(f"tensor {_tname(t)} has rank {len(t.shape)} (at most {MAX_RANK} is supported)")
    for d, size in enumerate(t.shape):
        if size < 1:
            raise _fail(f"tensor {_tname(t)} has dimension {d} of size {size}; "
                        "shapes must be static and positive")
    if math.prod(t.shape) > MAX_ELEMENTS:
        raise _fail(f"tensor {_tname(t)} of shape {list(t.shape)} has more than {MAX_ELEMENTS:,} elements")
    q = t.quant
    if q is None:
        return
    if q.zero_point.size != q.scale.size:
        raise _fail(f"tensor {_tname(t)} has {q.zero_point.size} zero points for {q.scale.size} scales")
    scale = q.scale.astype(np.float64)
    ok = np.isfinite(scale) & (scale > 0) & (scale <= MAX_SCALE)
    if not ok.all():
        bad = float(scale[~ok][0])
        raise _fail(f"tensor {_tname(t)} has quantization scale {bad}; scales must be finite and positive")
    if t.dtype in INT_RANGES:
        lo, hi = INT_RANGES[t.dtype]
        zp = q.zero_point
        outside = [int(z) for z in zp[(zp < lo) | (zp > hi)]] if zp.size else []
        if outside:
            raise _fail(f"tensor {_tname(t)} has zero point {outside[0]}, "
                        f"outside the {t.dtype} range {lo}..{hi}")
    if q.scale.size > 1:
        if not 0 <= q.axis < len(t.shape):
            raise _fail(f"tensor {_tname(t)} is quantized per channel along dimension {q.axis}, "
                        f"but has rank {len(t.shape)}")
        if q.scale.size != t.shape[q.axis]:
            raise _fail(f"tensor {_tname(t)} has {q.scale.size} per-channel scales for "
                        f"{t.shape[q.axis]} channels (dimension {q.axis} of {list(t.shape)})")


def _options(g: Graph, op: Operator) -> None:
    where = f"operator #{op.index} {op.opcode}"
    expected = OPTIONS_TYPE.get(op.opcode)
    if expected is not None:
        if op.options_type and op.options_type != expected:
            raise _fail(f"{where} carries {clean(op.options_type)}, not its own {expected}")
        if not op.options_type and op.opcode in OPTIONS_REQUIRED:
            raise _fail(f"{where} has no builtin options ({expected})")
    o = op.options
    if "fused_activation_function" in o and o["fused_activation_function"] not in ACTIVATIONS:
        raise _fail(f"{where}: fused activation {o['fused_activation_function']} is not supported "
                    f"(one of {', '.join(sorted(ACTIVATIONS))})")
    if "padding" in o and o["padding"] not in PADDINGS:
        raise _fail(f"{where}: padding {o['padding']} is not SAME or VALID")
    for key in POSITIVE_OPTIONS:
        if key in o and not (isinstance(o[key], int) and 1 <= o[key] <= MAX_WINDOW):
            raise _fail(f"{where}: {key} = {o[key]} (must be 1..{MAX_WINDOW})")
    beta = o.get("beta", 1.0)
    if not (isinstance(beta, float) and math.isfinite(beta) and 0 < beta <= 1e6):
        raise _fail(f"{where}: beta = {beta} (must be finite and positive)")


# --- operators -----------------------------------------------------------------------------------


Tensors = tuple[list["Tensor | None"], list["Tensor"]]


def _io(g: Graph, op: Operator, n_in: tuple[int, int], n_out: int = 1) -> Tensors:
    """The operator's tensors, after checking it has n_in[0]..n_in[1] inputs and n_out outputs."""
    where = f"operator #{op.index} {op.opcode}"
    if not n_in[0] <= len(op.inputs) <= n_in[1]:
        want = str(n_in[0]) if n_in[0] == n_in[1] else f"{n_in[0]} to {n_in[1]}"
        raise _fail(f"{where} has {len(op.inputs)} inputs, expected {want}")
    if len(op.outputs) != n_out:
        raise _fail(f"{where} has {len(op.outputs)} outputs, expected {n_out}")
    return ([g.tensors[i] if i >= 0 else None for i in op.inputs], [g.tensors[i] for i in op.outputs])


def _req(t: Tensor | None) -> Tensor:
    assert t is not None  # _graph() refused -1 at required positions
    return t


def _w(op: Operator) -> str:
    return f"operator #{op.index} {op.opcode}"


def _rank(op: Operator, t: Tensor, rank: int, role: str) -> None:
    if len(t.shape) != rank:
        raise _fail(f"{_w(op)}: {role} {_tname(t)} has shape {list(t.shape)}; {rank}-D expected")


def _same_type(op: Operator, *ts: Tensor) -> None:
    for t in ts[1:]:
        if t.dtype != ts[0].dtype:
            raise _fail(f"{_w(op)}: {_tname(t)} is {t.dtype} but {_tname(ts[0])} is {ts[0].dtype}")


def _quantized_like(op: Operator, *ts: Tensor) -> None:
    """Integer activations of a quantized kernel must carry one scale and zero point."""
    for t in ts:
        if t.dtype in ("int8", "uint8", "int16"):
            if t.quant is None:
                raise _fail(f"{_w(op)}: {t.dtype} tensor {_tname(t)} has no quantization parameters")
            if t.quant.per_channel:
                raise _fail(f"{_w(op)}: activation {_tname(t)} is quantized per channel")
            if t.dtype == "int16" and int(t.quant.zero_point[0]) != 0:  # LiteRT's int16 kernels demand it
                raise _fail(f"{_w(op)}: int16 activation {_tname(t)} has zero point "
                            f"{int(t.quant.zero_point[0])}; 16x8 quantization is symmetric (zero point 0)")


def _window(op: Operator, inp: Tensor, out: Tensor, filter_hw: Sequence[int]) -> None:
    """Output height and width from padding, stride and dilation (TFLite's ComputeOutSize)."""
    o = op.options
    strides = (o.get("stride_h", 1), o.get("stride_w", 1))
    dilations = (o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1))
    for axis, name in ((1, "height"), (2, "width")):
        k = axis - 1
        effective = (filter_hw[k] - 1) * dilations[k] + 1
        size = inp.shape[axis]
        expect = (size + strides[k] - 1) // strides[k] if o.get("padding") == "SAME" \
            else (size - effective + strides[k]) // strides[k]
        if expect < 1:
            raise _fail(f"{_w(op)}: a {effective}-wide window does not fit the input {name} {size} "
                        f"({o.get('padding')} padding)")
        if out.shape[axis] != expect:
            raise _fail(f"{_w(op)}: output {_tname(out)} has {name} {out.shape[axis]}; input {name} {size}, "
                        f"window {effective}, stride {strides[k]}, {o.get('padding')} padding give {expect}")


def _per_channel(op: Operator, w: Tensor, channels: int, axis: int) -> None:
    q = w.quant
    if q is not None and q.scale.size > 1 and (q.scale.size != channels or q.axis != axis):
        raise _fail(f"{_w(op)}: weights {_tname(w)} have {q.scale.size} scales along dimension {q.axis}; "
                    f"{channels} along dimension {axis} expected")
    if w.dtype in ("int8", "int16") and q is not None and np.any(q.zero_point != 0):
        raise _fail(f"{_w(op)}: weights {_tname(w)} have a nonzero zero point (symmetric weights expected)")


def _bias(op: Operator, inp: Tensor, b: Tensor | None, channels: int) -> None:
    if b is None:
        return
    if b.size != channels or len(b.shape) != 1:
        raise _fail(f"{_w(op)}: bias {_tname(b)} has shape {list(b.shape)}; {channels} values expected")
    want = {"int8": "int32", "uint8": "int32", "int16": "int64", "float32": "float32"}.get(inp.dtype)
    if want is not None and b.dtype != want and not (inp.dtype == "int16" and b.dtype == "int32"):
        raise _fail(f"{_w(op)}: bias {_tname(b)} is {b.dtype}; {want} expected for {inp.dtype} inputs")
    if b.quant is not None and b.quant.scale.size > 1 and b.quant.scale.size != channels:
        raise _fail(f"{_w(op)}: bias {_tname(b)} has {b.quant.scale.size} scales for {channels} channels")


def _weights_type(op: Operator, inp: Tensor, w: Tensor) -> None:
    want = {"int8": "int8", "int16": "int8", "uint8": "uint8"}.get(inp.dtype)
    if want is not None and w.dtype != want:
        raise _fail(f"{_w(op)}: weights {_tname(w)} are {w.dtype} for {inp.dtype} inputs")
    if inp.dtype in ("int8", "int16") and w.quant is None:
        raise _fail(f"{_w(op)}: weights {_tname(w)} have no quantization parameters")


def _conv(g: Graph, op: Operator) -> None:
    ins, (out,) = _io(g, op, (2, 3))
    inp, w = _req(ins[0]), _req(ins[1])
    b = ins[2] if len(ins) > 2 else None
    for t, role in ((inp, "input"), (w, "filter"), (out, "output")):
        _rank(op, t, 4, role)
    _same_type(op, inp, out)
    _quantized_like(op, inp, out)
    _weights_type(op, inp, w)
    oc, kh, kw, wc = w.shape
    if op.opcode == "CONV_2D":
        if inp.shape[3] % wc:
            raise _fail(f"{_w(op)}: filter {_tname(w)} {list(w.shape)} has {wc} input channels, "
                        f"which do not divide the input's {inp.shape[3]}")
        if oc % (inp.shape[3] // wc):
            raise _fail(f"{_w(op)}: {oc} output channels do not split into {inp.shape[3] // wc} groups")
        channel_axis = 0
    else:
        if oc != 1:
            raise _fail(f"{_w(op)}: depthwise filter {_tname(w)} has shape {list(w.shape)}; "
                        "[1, h, w, channels] "
                        "expected")
        oc = wc
        multiplier = op.options.get("depth_multiplier", 1)
        if oc % inp.shape[3] or oc // inp.shape[3] != multiplier:
            raise _fail(f"{_w(op)}: filter {_tname(w)} has {oc} channels; input channels {inp.shape[3]} x "
                        f"depth multiplier {multiplier} expected")
        channel_axis = 3
    if out.shape[3] != oc:
        raise _fail(f"{_w(op)}: output {_tname(out)} has {out.shape[3]} channels, "
                    f"filter {_tname(w)} has {oc}")
    if out.shape[0] != inp.shape[0]:
        raise _fail(f"{_w(op)}: output batch {out.shape[0]} differs from input batch {inp.shape[0]}")
    _window(op, inp, out, (kh, kw))
    _per_channel(op, w, oc, channel_axis)
    _bias(op, inp, b, oc)


def _fully_connected(g: Graph, op: Operator) -> None:
    ins, (out,) = _io(g, op, (2, 3))
    inp, w = _req(ins[0]), _req(ins[1])
    b = ins[2] if len(ins) > 2 else None
    _rank(op, w, 2, "weights")
    _same_type(op, inp, out)
    _quantized_like(op, inp, out)
    _weights_type(op, inp, w)
    units, accum = w.shape
    if inp.size % accum:
        raise _fail(f"{_w(op)}: input {_tname(inp)} {list(inp.shape)} is not a whole number of rows of "
                    f"{accum} (the weights {_tname(w)} are {list(w.shape)})")
    if not out.shape or out.shape[-1] != units:
        raise _fail(f"{_w(op)}: output {_tname(out)} {list(out.shape)} has "
                    f"{out.shape[-1] if out.shape else 1} features, "
                    f"its weights {_tname(w)} have {units} rows")
    if out.size != inp.size // accum * units:
        raise _fail(f"{_w(op)}: output {_tname(out)} {list(out.shape)} holds {out.size} values; "
                    f"{inp.size // accum} rows of {units} expected")
    _per_channel(op, w, units, 0)
    _bias(op, inp, b, units)


def _pool(g: Graph, op: Operator) -> None:
    ins, (out,) = _io(g, op, (1, 1))
    inp = _req(ins[0])
    _rank(op, inp, 4, "input")
    _rank(op, out, 4, "output")
    _same_type(op, inp, out)
    _quantized_like(op, inp, out)
    if out.shape[0] != inp.shape[0] or out.shape[3] != inp.shape[3]:
        raise _fail(f"{_w(op)}: output {_tname(out)} {list(out.shape)} does not keep the batch and "
                    f"channels of input {list(inp.shape)}")
    o = op.options
    _window(op, inp, out, (o.get("filter_height", 1), o.get("filter_width", 1)))


def _same_shape(g: Graph, op: Operator) -> None:
    ins, (out,) = _io(g, op, (1, 1))
    inp = _req(ins[0])
    if tuple(inp.shape) != tuple(out.shape):
        raise _fail(f"{_w(op)}: output {_tname(out)} {list(out.shape)} differs from input {list(inp.shape)}")
    if op.opcode not in ("QUANTIZE", "DEQUANTIZE"):
        _same_type(op, inp, out)
        _quantized_like(op, inp, out)
    elif op.opcode == "QUANTIZE":
        _quantized_like(op, out)
        if out.quant is None:
            raise _fail(f"{_w(op)}: output {_tname(out)} has no quantization parameters")
    elif inp.quant is None:
        raise _fail(f"{_w(op)}: input {_tname(inp)} has no quantization parameters")
    _fixed_output_quant(op, out)


def _fixed_output_quant(op: Operator, out: Tensor) -> None:
    fixed = FIXED_OUTPUT_QUANT.get(op.opcode)
    if fixed is None or out.dtype != "int8" or out.quant is None:
        return
    scale, zero = fixed
    if abs(float(out.quant.scale[0]) - scale) > 0.001 * scale or int(out.quant.zero_point[0]) != zero:
        raise _fail(f"{_w(op)}: int8 output {_tname(out)} must have scale {scale:g} and zero point {zero} "
                    f"(TFLite's {op.opcode} requires it), not {float(out.quant.scale[0]):g} / "
                    f"{int(out.quant.zero_point[0])}")


def _softmax(g: Graph, op: Operator) -> None:
    ins, (out,) = _io(g, op, (1, 1))
    inp = _req(ins[0])
    if not inp.shape or tuple(inp.shape) != tuple(out.shape):
        raise _fail(f"{_w(op)}: output {_tname(out)} {list(out.shape)} differs from input {list(inp.shape)}")
    _same_type(op, inp, out)
    _quantized_like(op, inp, out)
    _fixed_output_quant(op, out)


def _binary(g: Graph, op: Operator) -> None:
    ins, (out,) = _io(g, op, (2, 2))
    a, b = _req(ins[0]), _req(ins[1])
    _same_type(op, a, b, out)
    _quantized_like(op, a, b, out)
    rank = max(len(a.shape), len(b.shape))
    sa, sb = (1,) * (rank - len(a.shape)) + tuple(a.shape), (1,) * (rank - len(b.shape)) + tuple(b.shape)
    shape = []
    for x, y in zip(sa, sb, strict=True):
        if x != y and 1 not in (x, y):
            raise _fail(f"{_w(op)}: shapes {list(a.shape)} and {list(b.shape)} do not broadcast")
        shape.append(max(x, y))
    if tuple(out.shape) != tuple(shape):
        raise _fail(f"{_w(op)}: output {_tname(out)} {list(out.shape)}; broadcasting gives {shape}")


def _reshape(g: Graph, op: Operator) -> None:
    ins, (out,) = _io(g, op, (1, 2))
    inp = _req(ins[0])
    _same_type(op, inp, out)
    if inp.size != out.size:
        raise _fail(f"{_w(op)}: output {_tname(out)} {list(out.shape)} holds {out.size} values, "
                    f"input {_tname(inp)} {list(inp.shape)} {inp.size}")
    if inp.quant is not None and out.quant is not None and (
            float(inp.quant.scale[0]) != float(out.quant.scale[0])
            or int(inp.quant.zero_point[0]) != int(out.quant.zero_point[0])):
        raise _fail(f"{_w(op)}: output {_tname(out)} is quantized differently from its input {_tname(inp)}")


def _concat(g: Graph, op: Operator) -> None:
    ins, (out,) = _io(g, op, (1, 1 << 16))
    tensors = [_req(t) for t in ins]
    _same_type(op, *tensors, out)
    _quantized_like(op, *tensors, out)
    rank = len(out.shape)
    axis = op.options.get("axis", 0)
    if not isinstance(axis, int) or not -rank <= axis < rank:
        raise _fail(f"{_w(op)}: axis {axis} is out of range for rank {rank}")
    axis %= rank
    total = 0
    for t in tensors:
        if len(t.shape) != rank or any(t.shape[d] != out.shape[d] for d in range(rank) if d != axis):
            raise _fail(f"{_w(op)}: input {_tname(t)} {list(t.shape)} does not concatenate into "
                        f"{list(out.shape)} along axis {axis}")
        total += t.shape[axis]
    if total != out.shape[axis]:
        raise _fail(f"{_w(op)}: inputs add up to {total} along axis {axis}, output has {out.shape[axis]}")


def _const_ints(op: Operator, t: Tensor | None, role: str) -> list[int]:
    if t is None or t.data is None or t.dtype not in ("int32", "int64"):
        raise _fail(f"{_w(op)}: its {role} must be a constant int32 tensor")
    return [int(v) for v in t.data.reshape(-1)]


def _pad(g: Graph, op: Operator) -> None:
    ins, (out,) = _io(g, op, (2, 3))
    inp = _req(ins[0])
    _same_type(op, inp, out)
    pads = _const_ints(op, ins[1], "paddings")
    rank = len(inp.shape)
    if len(pads) != 2 * rank or _req(ins[1]).shape[:1] != (rank,):
        raise _fail(f"{_w(op)}: paddings have shape {list(_req(ins[1]).shape)}; [{rank}, 2] expected")
    if min(pads, default=0) < 0:
        raise _fail(f"{_w(op)}: negative padding {pads}")
    expect = [d + pads[2 * k] + pads[2 * k + 1] for k, d in enumerate(inp.shape)]
    if list(out.shape) != expect:
        raise _fail(f"{_w(op)}: output {_tname(out)} {list(out.shape)}; the paddings give {expect}")
    if len(ins) > 2 and ins[2] is not None and ins[2].size != 1:
        raise _fail(f"{_w(op)}: the constant value {_tname(ins[2])} must hold one value")


def _reduce(g: Graph, op: Operator) -> None:
    ins, (out,) = _io(g, op, (2, 2))
    inp = _req(ins[0])
    _same_type(op, inp, out)
    _quantized_like(op, inp, out)
    rank = len(inp.shape)
    values = _const_ints(op, ins[1], "axis")
    if any(not -rank <= a < rank for a in values):
        raise _fail(f"{_w(op)}: axis {values} is out of range for rank {rank}")
    axes = {a % rank for a in values}
    keep = [1 if d in axes else n for d, n in enumerate(inp.shape)]
    drop = [n for d, n in enumerate(inp.shape) if d not in axes]
    if list(out.shape) not in (keep, drop) or math.prod(out.shape) != math.prod(drop):
        raise _fail(f"{_w(op)}: output {_tname(out)} {list(out.shape)} is not {list(inp.shape)} reduced "
                    f"over axes {sorted(axes)}")


def _slice(g: Graph, op: Operator) -> None:
    ins, (out,) = _io(g, op, (3, 4) if op.opcode == "STRIDED_SLICE" else (3, 3))
    inp = _req(ins[0])
    _same_type(op, inp, out)
    rank = len(inp.shape)
    roles = ("begin", "end", "strides") if op.opcode == "STRIDED_SLICE" else ("begin", "size")
    values = [_const_ints(op, t, role) for t, role in zip(ins[1:], roles, strict=False)]
    for v, role in zip(values, roles, strict=False):
        if len(v) != rank:
            raise _fail(f"{_w(op)}: {role} has {len(v)} values for an input of rank {rank}")
    if op.opcode == "STRIDED_SLICE" and len(values) > 2 and 0 in values[2]:
        raise _fail(f"{_w(op)}: stride 0 in {values[2]}")
    if op.opcode == "SLICE":
        for d, (start, size) in enumerate(zip(*values, strict=True)):
            stop = inp.shape[d] if size == -1 else start + size
            if not 0 <= start <= stop <= inp.shape[d] or size < -1:
                raise _fail(f"{_w(op)}: begin {values[0]} / size {values[1]} "
                            f"leave the input {list(inp.shape)}")
    if op.opcode == "STRIDED_SLICE":
        o = op.options
        shrink = o.get("shrink_axis_mask", 0)
        for d in range(rank):
            if shrink >> d & 1:
                start = values[0][d] + inp.shape[d] if values[0][d] < 0 else values[0][d]
                if not 0 <= start < inp.shape[d]:
                    raise _fail(f"{_w(op)}: shrunk axis {d} index {values[0][d]} is outside {inp.shape[d]}")


def _var_handle(g: Graph, op: Operator) -> None:
    _, (out,) = _io(g, op, (0, 0))
    if out.dtype != "resource":
        raise _fail(f"{_w(op)}: output {_tname(out)} is {out.dtype}, not a resource handle")


def _resource_input(g: Graph, op: Operator, t: Tensor) -> None:
    """`t` must be a handle made by a VAR_HANDLE of this subgraph."""
    if t.dtype != "resource" or not any(o.opcode == "VAR_HANDLE" and t.index in o.outputs
                                        for o in g.operators):
        raise _fail(f"{_w(op)}: input 0 {_tname(t)} is not a resource handle made by VAR_HANDLE")


def _read_variable(g: Graph, op: Operator) -> None:
    ins, (out,) = _io(g, op, (1, 1))
    _resource_input(g, op, _req(ins[0]))
    if out.dtype == "resource":
        raise _fail(f"{_w(op)}: output {_tname(out)} is a resource handle, not a value")


def _assign_variable(g: Graph, op: Operator) -> None:
    ins, _ = _io(g, op, (2, 2), n_out=0)
    _resource_input(g, op, _req(ins[0]))
    if _req(ins[1]).dtype == "resource":
        raise _fail(f"{_w(op)}: the value {_tname(_req(ins[1]))} is a resource handle")


def _call_once(g: Graph, op: Operator) -> None:
    _io(g, op, (0, 0), n_out=0)


_KNOWN: dict[str, Callable[[Graph, Operator], None]] = {
    "VAR_HANDLE": _var_handle, "READ_VARIABLE": _read_variable, "ASSIGN_VARIABLE": _assign_variable,
    "CALL_ONCE": _call_once,
    "CONV_2D": _conv, "DEPTHWISE_CONV_2D": _conv, "FULLY_CONNECTED": _fully_connected,
    "AVERAGE_POOL_2D": _pool, "MAX_POOL_2D": _pool, "L2_POOL_2D": _pool, "SOFTMAX": _softmax,
    **{code: _binary for code in ELEMENTWISE_BINARY}, **{code: _same_shape for code in SAME_SHAPE_OPS},
    "RESHAPE": _reshape, "SQUEEZE": _reshape, "EXPAND_DIMS": _reshape, "CONCATENATION": _concat,
    "PAD": _pad, "PADV2": _pad, "MEAN": _reduce, "SUM": _reduce, "REDUCE_MAX": _reduce,
    "STRIDED_SLICE": _slice, "SLICE": _slice,
}


# --- running native code in a child --------------------------------------------------------------


def _fork_safe() -> bool:
    """Forking is cheap, but not safe once TensorFlow has started its threads in this process."""
    import threading

    return hasattr(os, "fork") and "tensorflow" not in sys.modules and threading.active_count() == 1


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except TinypipeError as exc:
        return "error", (exc.what, exc.hint)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as text
        return "error", (f"{type(exc).__name__}: {exc}", "")


Answer = tuple[bytes, "int | None", bool]  # pickled answer, exit status, timed out


def _forked(fn: Callable[..., Any], args: tuple[Any, ...], timeout_s: float) -> Answer:
    """(pickled answer, exit status, timed out) of fn(*args) in a forked child."""
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: answer through the pipe, never return
        try:
            os.close(read_fd)
            faulthandler.disable()  # a crash here is reported by the parent, not dumped
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            payload = pickle.dumps(_call(fn, args))
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_fd], [], [], left)
        if ready:
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(read_fd)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return b"".join(chunks), code, timed_out


def _spawned(fn: Callable[..., Any], args: tuple[Any, ...], timeout_s: float) -> Answer:
    """The same in a fresh interpreter (`python -c`), for when forking is not safe."""
    request = pickle.dumps((fn.__module__, fn.__qualname__, args))
    code = ("import pickle, sys, importlib; m, f, a = pickle.load(sys.stdin.buffer); "
            "from tinypipe.verify import _call; "
            "r = pickle.dumps(_call(getattr(importlib.import_module(m), f), a)); "
            "sys.stdout.flush(); sys.stdout.buffer.write(r); sys.stdout.flush()")
    try:
        proc = subprocess.run([sys.executable, "-c", code], input=request, capture_output=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return b"", None, True
    return proc.stdout, proc.returncode, False


def run_isolated(fn: Callable[..., Any], *args: Any, what: str, timeout_s: float = 300.0) -> Any:
    """`fn(*args)` in a child process; its return value, or the TinypipeError it raised.

    A signal (SIGSEGV, SIGABRT, ...) or a timeout in the child becomes one TinypipeError naming
    `what`; the child's stdout and stderr (native libraries' logs) are discarded. The child is
    forked (cheap) unless TensorFlow runs threads here, then a fresh interpreter is started; `fn`
    must be a module-level function.
    """
    answer, code, timed_out = (_forked if _fork_safe() else _spawned)(fn, args, timeout_s)
    if timed_out:
        raise TinypipeError(f"{what}: no answer after {timeout_s:g} s; stopped",
                            "the model makes this interpreter hang; tinypipe cannot run it")
    try:
        kind, value = pickle.loads(answer)
    except Exception:
        if code is not None and code < 0:
            raise TinypipeError(f"{what}: the interpreter crashed ({signal.Signals(-code).name})",
                                "the model is malformed in a way this interpreter does not check") from None
        raise TinypipeError(f"{what}: the interpreter exited without an answer (exit {code})",
                            "the model is malformed in a way this interpreter does not check") from None
    if kind == "error":  # the child's own TinypipeError (or exception), as one line
        text, hint = " ".join(str(value[0]).split()), value[1]
        raise TinypipeError(text[:600] if hint else f"{what}: {text}"[:600], hint)
    return value
