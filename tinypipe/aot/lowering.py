"""The per-operator lowering registry: one function per TFLite opcode turns an operator into a
`Layer` - the C kernel to call, its parameter struct and the constant arrays it needs.

Lowering functions live in `tinypipe/aot/ops/<family>.py` (one module per operator family) and
register themselves with `@register("OPCODE", prefix="short")`; every module in that package is
imported automatically, so adding an operator never edits an existing file. See
`tinypipe/runtime/README.md` for the conventions.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tinypipe.errors import TinypipeError
from tinypipe.graph import Graph, Operator, Tensor

CTYPES = {"int8_t": np.int8, "int16_t": np.int16, "int32_t": np.int32, "uint8_t": np.uint8,
          "float": np.float32, "int64_t": np.int64, "double": np.float64}


@dataclass
class Const:
    """A constant array placed in flash as `static const <ctype> <layer name>_<suffix>[]`.

    `layout`: (macro, values) where a kernel variant reads the array in its own order: the
    generated code holds `values` instead where `macro` is defined (e.g. tinypipe.aot.ops.conv's
    channel pairs under TP_CONV_DSP_PAIRED_WEIGHTS)."""

    suffix: str
    ctype: str
    values: np.ndarray
    layout: tuple[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        self.values = np.ascontiguousarray(self.values, dtype=CTYPES[self.ctype]).reshape(-1)
        if self.layout is not None:
            macro, values = self.layout
            self.layout = (macro, np.ascontiguousarray(values, dtype=CTYPES[self.ctype]).reshape(-1))


@dataclass
class Layer:
    """One call in the generated `invoke()`.

    The call is `kernel(&<name>_params, <inputs...>, <consts...>, <outputs...>[, scratch])`
    (no params argument when `params_type` is None). Params are emitted in dict order as a
    designated initializer of `params_type`; int values only, floats only where a kernel
    needs them (softmax, float<->int8 conversion).
    """

    op: Operator
    name: str  # C identifier stem, e.g. "conv_3" (prefix + operator index)
    kernel: str | None  # C function; None for a zero-copy alias (RESHAPE, SQUEEZE)
    inputs: list[int]  # activation tensor indices passed to the kernel, in argument order
    outputs: list[int]
    params_type: str | None = None
    params: dict[str, int | float] = field(default_factory=dict)
    consts: list[Const] = field(default_factory=list)
    macs: int = 0
    alias: bool = False  # output tensor shares the input's memory; no code is emitted
    inplace: list[tuple[int, int]] = field(default_factory=list)  # (input pos, output pos) that may share
    scratch_bytes: int = 0  # per-call scratch, placed in the arena for this layer only
    takes_scratch: bool = False  # the kernel has a scratch argument (NULL when scratch_bytes is 0)
    inputs_as_array: bool = False  # pass the inputs as one `const int8_t *const[]` (variadic ops)
    outputs_as_array: bool = False  # pass the outputs as one `int8_t *const[]` (SPLIT, UNPACK)
    # The optimized variants this layer's shape allows, (DSP, Helium) kernel names with `kernel`'s
    # signature; the call becomes TP_VARIANT(kernel, dsp, helium)(...) and the compiler keeps the
    # one the core has (tp_common.h), the linker only the variants some layer calls.
    variants: tuple[str, str] | None = None
    as_bytes: bool = False  # a data-movement kernel: tensors of any type are passed as int8_t bytes

    @property
    def opcode(self) -> str:
        return self.op.opcode

    @property
    def weights_bytes(self) -> int:
        return sum(c.values.nbytes for c in self.consts)


LowerFn = Callable[[Graph, Operator, str], Layer]
_REGISTRY: dict[str, LowerFn] = {}
_PREFIXES: dict[str, str] = {}


def register(*opcodes: str, prefix: str) -> Callable[[LowerFn], LowerFn]:
    """Decorator: `fn(graph, op, name) -> Layer` lowers these opcodes; layers are `<prefix>_<index>`."""

    def deco(fn: LowerFn) -> LowerFn:
        for code in opcodes:
            if code in _REGISTRY:
                raise RuntimeError(f"two lowerings registered for {code}")
            _REGISTRY[code] = fn
            _PREFIXES[code] = prefix
        return fn

    return deco


_OPS_LOADED: list[bool] = []  # the package is scanned once per process (it costs ms per lowered op)


def _load_ops() -> None:
    if _OPS_LOADED:
        return
    from tinypipe.aot import ops

    for info in pkgutil.iter_modules(ops.__path__):
        importlib.import_module(f"{ops.__name__}.{info.name}")
    _OPS_LOADED.append(True)


def supported_ops() -> list[str]:
    """Every TFLite builtin the aot runtime lowers: the registry is the one source of truth."""
    _load_ops()
    return sorted(_REGISTRY)


def op_families() -> dict[str, str]:
    """{opcode: operator family} for every supported operator, the family being the lowering
    module under tinypipe/aot/ops/ (e.g. "SUB": "sub", "RELU6": "activations"), for tables such
    as `tinypipe ops`."""
    _load_ops()
    return {code: _REGISTRY[code].__module__.rsplit(".", 1)[-1] for code in sorted(_REGISTRY)}


def describe(graph: Graph, op: Operator) -> str:
    """'CONV_2D #3 (output 'conv1/Relu')' - how errors name an operator."""
    out = graph.tensor(op.outputs[0]).name if op.outputs else "?"
    return f"{op.opcode} #{op.index} (output '{out}')"


def unsupported(graph: Graph, op: Operator, why: str) -> TinypipeError:
    return TinypipeError(
        f"{graph.path}: operator {describe(graph, op)} is not supported by the aot runtime: {why}",
        "supported operators: " + ", ".join(supported_ops()),
    )


def int16_unsupported(graph: Graph, op: Operator) -> TinypipeError:
    """The refusal of an operator the aot runtime has no int16-activation (16x8) kernel for."""
    from tinypipe.aot.s16 import S16_OPERATORS

    return TinypipeError(
        f"{graph.path}: operator {describe(graph, op)} is not supported with int16 activations (16x8) by the "
        f"aot runtime; `--runtime tflm` runs it",
        "aot runs these with int16 activations: " + ", ".join(S16_OPERATORS),
    )


def expect_int8(graph: Graph, op: Operator, *tensors: Tensor | None) -> None:
    """Every given tensor must be int8 with a single (per-tensor) scale and zero point."""
    for t in tensors:
        if t is None:
            continue
        if t.dtype == "int16" and not t.is_const:
            raise int16_unsupported(graph, op)
        if t.dtype != "int8" or t.quant is None:
            raise unsupported(graph, op, f"tensor '{t.name}' is {t.dtype}"
                              f"{'' if t.quant else ' without quantization'}; only int8 is supported")
        if t.quant.per_channel:
            raise unsupported(graph, op, f"activation '{t.name}' is quantized per channel")


def lower(graph: Graph, op: Operator) -> Layer:
    """Lower one operator, or raise a one-line TinypipeError naming it and the supported ops."""
    _load_ops()
    fn = _REGISTRY.get(op.opcode)
    if fn is None:
        loop = (" (a Keras LSTM/GRU converts to a WHILE loop; built with `unroll=True` it becomes "
                "operators aot runs)" if op.opcode == "WHILE" else "")
        raise TinypipeError(
            f"{graph.path}: operator {describe(graph, op)} is not supported by the aot runtime "
            f"(no aot kernel for {op.opcode}); `--runtime tflm` runs it{loop}",
            "supported operators: " + ", ".join(supported_ops()),
        )
    return fn(graph, op, f"{_PREFIXES[op.opcode]}_{op.index}")


def const_input(graph: Graph, op: Operator, t: Tensor | None, what: str) -> np.ndarray:
    """The data of a constant input (weights, bias), or a clear error if it is computed at run time."""
    if t is None or t.data is None:
        raise unsupported(graph, op, f"its {what} must be a constant tensor")
    return t.data


def padding(graph: Graph, op: Operator, in_hw: tuple[int, int], filter_hw: tuple[int, int],
            out_hw: tuple[int, int]) -> tuple[int, int]:
    """(pad_top, pad_left) as TFLite's ComputePaddingHeightWidth; checks the graph's output size."""
    o = op.options
    stride = (o.get("stride_h", 1), o.get("stride_w", 1))
    dilation = (o.get("dilation_h_factor", 1), o.get("dilation_w_factor", 1))
    pads = []
    for i in range(2):
        eff = (filter_hw[i] - 1) * dilation[i] + 1
        if o.get("padding") == "SAME":
            expect = (in_hw[i] + stride[i] - 1) // stride[i]
        else:
            expect = (in_hw[i] + stride[i] - eff) // stride[i]
        if expect != out_hw[i]:
            raise unsupported(graph, op, f"output size {out_hw} does not match its padding/stride")
        pads.append(max(0, (out_hw[i] - 1) * stride[i] + eff - in_hw[i]) // 2)
    return pads[0], pads[1]
