"""Render a lowered model as C: `<name>.c` / `<name>.h` (+ `<name>.json`) from jinja2 templates.

`generate()` is the stage's entry point: parse -> lower every operator -> plan memory ->
render. The output is deterministic (byte-identical on reruns) and everything non-static is
prefixed (`prefix`, default tp_<name>; macros in upper case), so many models link into one binary
next to one kernel library (tinypipe.library writes one as a library for an application).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2
import numpy as np

from tinypipe import RUNTIME_DIR, TEMPLATES_DIR, __version__
from tinypipe.aot.lowering import Const, Layer, lower
from tinypipe.aot.ops.conv import is_wide, narrow
from tinypipe.aot.ops.variables import variable_inits
from tinypipe.aot.planner import MemoryPlan, plan_buffers
from tinypipe.errors import TinypipeError
from tinypipe.figures import aot_weights_bytes, op_macs
from tinypipe.graph import Graph, Operator, Tensor, load

# How much larger than with 4-pixel convolutions the arena may be for the DSP's 8- and 16-pixel
# ones (about 10% fewer instructions; MLPerf's KWS, VWW and IC pay 0.1-2.3%, a tiny model over
# 50%) and for Helium's planar stride-2 depthwise (VWW: 0.8%, 5% fewer instructions).
WIDE_ARENA_ALLOWANCE = 1 / 32
# The goals a user picks between (--optimize): the arena allowance each gives the fast paths.
OPTIMIZE_GOALS = {"ram": 0.0, "balanced": WIDE_ARENA_ALLOWANCE, "time": math.inf}
DEFAULT_OPTIMIZE = "balanced"
OPTIMIZE_HELP = ("ram: the smallest arena; balanced: within 1/32 of it; time: the fastest kernel "
                 "variants whatever scratch they take")
# TP_VARIANT(portable, dsp, helium): the kernel paths a generated call chooses between per core.
KERNEL_PATHS = ("portable", "dsp", "helium")

VALUES_PER_LINE = {"int8_t": 16, "uint8_t": 16, "int16_t": 12, "int32_t": 8, "int64_t": 4, "float": 6,
                   "double": 3}


@dataclass
class LayerInfo:
    index: int  # position in invoke order (the TP_LAYER_BEGIN index)
    name: str
    opcode: str
    kernel: str
    macs: int
    weights_bytes: int
    inputs: list[str]
    outputs: list[str]
    op_index: int = -1  # the TFLite operator index: the layer's number in every table (tinypipe.figures)


@dataclass
class IoInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    scale: float | None
    zero_point: int | None

    @property
    def numpy_dtype(self) -> np.dtype:
        """The element type of the raw bytes the firmware reads or writes (int8, uint8, int16, float32)."""
        return np.dtype(self.dtype)


@dataclass
class AotModel:
    name: str
    source: str
    files: list[Path]  # [<name>.c, <name>.h, <name>.json]
    arena_bytes: int
    weights_bytes: int
    macs: int
    plan: MemoryPlan
    layers: list[LayerInfo] = field(default_factory=list)
    inputs: list[IoInfo] = field(default_factory=list)
    outputs: list[IoInfo] = field(default_factory=list)
    optimize: str = DEFAULT_OPTIMIZE  # the goal its kernel variants were chosen for (OPTIMIZE_GOALS)

    @property
    def c_file(self) -> Path:
        return self.files[0]


@cache
def kernel_headers() -> dict[str, str]:
    """{kernel function: header file name} from the declarations in runtime/kernels/*.h."""
    found: dict[str, str] = {}
    for header in sorted((RUNTIME_DIR / "kernels").glob("*.h")):
        for fn in re.findall(r"^void\s+(tp_\w+)\s*\(", header.read_text(), re.M):
            found[fn] = header.name
    return found


INT32_RANGE = (-(2**31), 2**31 - 1)
UINT32_MAX = 2**32 - 1
MAX_ARENA_BYTES = 2**31 - 1  # offsets are int arithmetic on `arena`; sizes are uint32_t in the header


class UnsafeCode(TinypipeError):
    """Generation would emit C that does not compile, or touches memory outside its buffers."""


def c_literal(value: float | int | list, ctype: str = "int32_t") -> str:
    """A C literal of `ctype`; a value that is not finite or does not fit the type is refused
    (the generated code must compile with -Wall -Wextra -Werror and mean what it says)."""
    if isinstance(value, list):
        return "{" + ", ".join(c_literal(v, ctype) for v in value) + "}"
    if ctype == "double":  # shortest text that round-trips the double (int16 FULLY_CONNECTED scales)
        if not np.isfinite(value):
            raise UnsafeCode(f"a double constant is {value}, which C has no literal for",
                             "the model's scales or options are out of range")
        return repr(float(value))
    if isinstance(value, float | np.floating) or ctype == "float":
        with np.errstate(over="ignore", invalid="ignore"):
            f32 = np.float32(value)
        if not np.isfinite(f32):
            raise UnsafeCode(f"a float constant is {value} in float32, which C has no literal for",
                             "the model's scales or options are out of range")
        text = str(f32)  # shortest string that round-trips the float32
        return text + ("f" if "." in text or "e" in text else ".0f")
    lo, hi = {"int8_t": (-128, 127), "uint8_t": (0, 255), "int16_t": (-(2**15), 2**15 - 1),
              "uint32_t": (0, UINT32_MAX), "int64_t": (-(2**63) + 1, 2**63 - 1)}.get(ctype, INT32_RANGE)
    if not lo <= int(value) <= hi:
        raise UnsafeCode(f"the constant {int(value)} does not fit {ctype}",
                         "a dimension, offset or quantization parameter of the model is out of range")
    if ctype == "int64_t" and not INT32_RANGE[0] <= int(value) <= INT32_RANGE[1]:
        return f"{int(value)}LL"
    return str(int(value))


def _array_body(c: Const, values: np.ndarray | None = None) -> str:
    per_line = VALUES_PER_LINE[c.ctype]
    vals = [c_literal(v, c.ctype) for v in (c.values if values is None else values).tolist()]
    return "\n".join("    " + ", ".join(vals[i:i + per_line]) + "," for i in range(0, len(vals), per_line))


def _c_name(name: str, index: int) -> str:
    """'model/conv2d_3/Relu;model/...' -> 't12_conv2d_3_relu': readable, unique by the index."""
    parts = re.split(r"[/:]", name.split(";")[0])
    stem = re.sub(r"[^0-9a-zA-Z]+", "_", "_".join(parts[-2:])).strip("_").lower()[-32:].strip("_")
    return f"t{index}_{stem}" if stem else f"t{index}"


def _ctype(t: Tensor) -> str:
    """The C element type of an activation tensor (int8, int16 of 16x8 models, or float at the edges)."""
    return {"float32": "float", "int16": "int16_t"}.get(t.dtype, "int8_t")


def _shape(t: Tensor) -> str:
    return "[" + ",".join(map(str, t.shape)) + "]"


def comment_text(text: str, limit: int = 80) -> str:
    """Model text (names, file names) made safe inside a C comment: printable ASCII, no comment
    delimiters, trigraphs or line splices."""
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    for bad, good in (("*/", "*_"), ("/*", "_*"), ("??", "?_"), ("\\", "/")):
        text = text.replace(bad, good)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def short_name(name: str) -> str:
    """TFLite joins fused op names with ';': the first one names the tensor well enough."""
    return name.split(";")[0]


def _label(t: Tensor) -> str:
    return f"'{comment_text(short_name(t.name), 48)}' {_shape(t)}"


def _io(graph: Graph, i: int) -> IoInfo:
    t = graph.tensor(i)
    q = t.quant
    return IoInfo(t.name, t.shape, t.dtype, t.nbytes, float(q.scale[0]) if q else None,
                  int(q.zero_point[0]) if q else None)


def _check_io(graph: Graph) -> None:
    for i in (*graph.inputs, *graph.outputs):
        t = graph.tensor(i)
        if t.dtype not in ("int8", "uint8", "int16", "float32"):
            raise TinypipeError(f"{graph.path}: model input/output '{t.name}' is {t.dtype}",
                                "the aot runtime supports int8 models (float I/O via QUANTIZE/DEQUANTIZE)")


def lower_graph(graph: Graph) -> list[Layer]:
    _check_io(graph)
    if not {"QUANTIZE", "DEQUANTIZE"} & set(graph.opcodes):
        for i in graph.inputs:
            if graph.tensor(i).dtype == "float32":
                raise TinypipeError(
                    f"{graph.path}: is a float model (input '{graph.tensor(i).name}' is float32); "
                    "the aot runtime runs int8 models",
                    "quantize it first: tinypipe quantize MODEL.keras --calib calib.npz --out model.tflite")
    if not graph.inputs or not graph.outputs:
        raise TinypipeError(f"{graph.path}: the model has no {'inputs' if not graph.inputs else 'outputs'}",
                            "the aot runtime needs at least one model input and one output")
    return [lower_op(graph, op) for op in graph.operators]


def lower_op(graph: Graph, op: Operator) -> Layer:
    """`lowering.lower`, with fixed-point parameters out of range as one TinypipeError line too."""
    try:
        return lower(graph, op)
    except (ArithmeticError, ValueError) as exc:
        raise TinypipeError(
            f"{graph.path}: operator #{op.index} {op.opcode}: its quantization parameters cannot be "
            f"turned into fixed-point arithmetic ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})",
            "the model's scales or zero points are out of the range TFLite's int8 kernels handle") from None


def check_name(name: str, what: str = "model name") -> None:
    """`name` must be a lowercase C identifier (it becomes file names, symbols and macros)."""
    from tinypipe.export_c import c_identifier_problem

    problem = c_identifier_problem(name, r"[a-z_][a-z0-9_]*")
    if problem:
        problem = problem.replace("a C identifier", "a lowercase C identifier")
        raise TinypipeError(f"{what} '{name}' {problem}",
                            "use letters, digits and underscores, e.g. --name kws")


def arena_allowance(optimize: str) -> float:
    """The arena allowance of an --optimize goal (OPTIMIZE_GOALS); TinypipeError for another word."""
    if optimize not in OPTIMIZE_GOALS:
        raise TinypipeError(f"--optimize {optimize!r} is not a goal tinypipe knows",
                            f"use {', '.join(OPTIMIZE_GOALS)} ({OPTIMIZE_HELP})")
    return OPTIMIZE_GOALS[optimize]


def generate(model_path: str | Path, out_dir: str | Path, name: str = "model",
             prefix: str | None = None, optimize: str = DEFAULT_OPTIMIZE,
             kernels: str | None = None) -> AotModel:
    """Compile a `.tflite` into `<out_dir>/<name>.c|.h|.json`; raises TinypipeError if unsupported.
    Public symbols are `<prefix>_init`, ... and macros `<PREFIX>_ARENA_BYTES`, ... (default prefix:
    tp_<name>). `optimize` (OPTIMIZE_GOALS): how much arena the faster kernel variants may take
    (narrow_where_it_saves_ram); `kernels` (KERNEL_PATHS): the path of the one core the code is for
    (None: any core). The code is correct on every core either way."""
    check_name(name)
    if prefix is not None:
        check_name(prefix, "symbol prefix")
    graph = load(model_path)
    layers, plan = plan_layers(graph, optimize, kernels)
    return render(graph, layers, plan, Path(out_dir), name, prefix, optimize, kernels)


def plan_layers(graph: Graph, optimize: str = DEFAULT_OPTIMIZE, kernels: str | None = None,
                lowered: list[Layer] | None = None) -> tuple[list[Layer], MemoryPlan]:
    """The model's layers, their kernel variants chosen for the `optimize` goal (on the `kernels`
    path's core, or any), and their memory plan: what `generate` renders, and what `inspect`,
    `export` and the library report. `lowered`: lower_graph(graph), when the caller has it."""
    allowance = arena_allowance(optimize)
    if kernels not in (None, *KERNEL_PATHS):
        raise ValueError(f"kernels={kernels!r}: one of {KERNEL_PATHS} or None")
    layers = lower_graph(graph) if lowered is None else lowered
    return narrow_where_it_saves_ram(graph, layers, allowance, kernels)


def runs_on(layer: Layer, kernels: str) -> str | None:
    """The kernel function `layer`'s call runs on a core taking the `kernels` path."""
    if kernels == "portable" or not layer.variants:
        return layer.kernel
    return layer.variants[KERNEL_PATHS.index(kernels) - 1]


def narrow_where_it_saves_ram(graph: Graph, layers: list[Layer], allowance: float = WIDE_ARENA_ALLOWANCE,
                              kernels: str | None = None) -> tuple[list[Layer], MemoryPlan]:
    """The layers and their memory plan, the paths that take scratch for speed (is_wide: the DSP's
    16- and 8-pixel convolutions, Helium's stride-2 planar depthwise) costing little RAM. For one
    core (`kernels`), a layer first narrows as far as its core's variant stays the same: the
    scratch of a variant the core never runs is free to save (the DSP's wide convolutions on
    Helium and portable cores, Helium's depthwise on DSP ones). Then, where the rest's scratch makes
    the arena more than `allowance` larger than with every such layer narrowed as far as it goes
    (narrow: 16 pixels to 8 to 4; the generic depthwise, no scratch), the layers are narrowed a
    step at a time, largest scratch first, a round over them per step, until it is not; then each
    takes back the steps the arena still allows (layers sharing the arena's peak only lower it
    together)."""
    if kernels is not None:
        layers = list(layers)
        for i, la in enumerate(layers):
            while is_wide(la) and runs_on(narrow(la), kernels) == runs_on(la, kernels):
                la = layers[i] = narrow(la)
    wide = sorted((i for i, la in enumerate(layers) if is_wide(la)), key=lambda i: -layers[i].scratch_bytes)
    steps: dict[int, list[Layer]] = {}
    for i in wide:
        steps[i] = [layers[i]]
        while is_wide(steps[i][-1]):
            steps[i].append(narrow(steps[i][-1]))
    level = dict.fromkeys(wide, 0)

    def planned() -> tuple[list[Layer], MemoryPlan]:
        chosen = [steps[i][level[i]] if i in steps else la for i, la in enumerate(layers)]
        return chosen, plan_buffers(graph, chosen)

    chosen, plan = planned()
    if not wide:
        return chosen, plan
    narrowest = [steps[i][-1] if i in steps else la for i, la in enumerate(layers)]
    limit = plan_buffers(graph, narrowest).arena_bytes * (1 + max(allowance, 0))
    while plan.arena_bytes > limit:
        for i in wide:
            if plan.arena_bytes > limit and level[i] + 1 < len(steps[i]):
                level[i] += 1
                chosen, plan = planned()
    for i in wide:
        while level[i] > 0:
            level[i] -= 1
            trial = planned()
            if trial[1].arena_bytes > limit:
                level[i] += 1
                break
            chosen, plan = trial
    return chosen, plan


def _span(start: int, counts: list[int], strides: list[int]) -> tuple[int, int]:
    """(lowest, highest + 1) element index a strided loop nest touches."""
    lo = hi = start
    for c, st in zip(counts, strides, strict=True):
        if c <= 0:
            return start, start
        lo, hi = lo + min(0, (c - 1) * st), hi + max(0, (c - 1) * st)
    return lo, hi + 1


def kernel_extents(layer: Layer) -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
    """[(lowest, end) byte range] each input and output of `layer` is read / written over, from the
    parameters its kernel will see; None for a kernel this table does not know (its lowering is
    then trusted to size its loops from the graph shapes)."""
    p, k = layer.params, layer.kernel

    def ints(name: str) -> list[int]:
        return [int(v) for v in p[name]]  # type: ignore[union-attr]

    def size(*dims: object) -> int:
        return int(np.prod([int(d) for d in dims], dtype=object))  # type: ignore[call-overload]

    def whole(*sizes: int) -> list[tuple[int, int]]:
        return [(0, int(n)) for n in sizes]

    def const(suffix: str) -> list[int] | None:
        return next(([int(v) for v in c.values] for c in layer.consts if c.suffix == suffix), None)

    if k in ("tp_conv_s8", "tp_depthwise_conv_s8", "tp_transpose_conv_s8"):
        return (whole(size(p["batches"], p["input_h"], p["input_w"], p["input_c"])),
                whole(size(p["batches"], p["output_h"], p["output_w"], p["output_c"])))
    if k == "tp_fully_connected_s8":
        return whole(size(p["batches"], p["accum_depth"])), whole(size(p["batches"], p["output_depth"]))
    if k in ("tp_average_pool_s8", "tp_max_pool_s8", "tp_resize_nearest_s8", "tp_resize_bilinear_s8"):
        return (whole(size(p["batches"], p["input_h"], p["input_w"], p["channels"])),
                whole(size(p["batches"], p["output_h"], p["output_w"], p["channels"])))
    if k in ("tp_add_s8", "tp_mul_s8") and isinstance(p.get("dims"), list):
        dims = ints("dims")
        return [_span(0, dims, ints(f"input{i}_strides")) for i in (1, 2)], whole(size(*dims))
    if k in ("tp_div_s8", "tp_squared_difference_s8", "tp_maximum_s8", "tp_minimum_s8", "tp_prelu_s8"):
        prelu = k == "tp_prelu_s8"
        names = ("input_strides", "alpha_strides") if prelu else ("input1_strides", "input2_strides")
        dims = ints("dims")
        return [_span(0, dims, ints(n)) for n in names], whole(size(*dims))
    if k in ("tp_softmax_s8", "tp_log_softmax_s8"):
        return whole(size(p["rows"], p["depth"])), whole(size(p["rows"], p["depth"]))
    if k in ("tp_lut_s8", "tp_requantize_s8", "tp_requantize_s8_u8", "tp_requantize_u8_s8"):
        return whole(p["size"]), whole(p["size"])
    if k == "tp_variable_copy":
        return whole(p["bytes"]), whole(p["bytes"])
    if k == "tp_quantize_f32_s8":
        return whole(4 * p["size"]), whole(p["size"])
    if k == "tp_dequantize_s8_f32":
        return whole(p["size"]), whole(4 * p["size"])
    if k in ("tp_concat_s8", "tp_split_s8"):
        blocks = const("blocks")
        if blocks is None:
            return None
        outer = int(p["outer"])
        if k == "tp_split_s8":
            return whole(outer * int(p["input_block"])), whole(*[outer * b for b in blocks])
        return whole(*[outer * b for b in blocks]), whole(outer * int(p["output_block"]))
    if k == "tp_pad_s8" and isinstance(p.get("input_dims"), list):
        ind, outd, before = ints("input_dims"), ints("output_dims"), ints("pad_before")
        if any(b < 0 or b + i > o for b, i, o in zip(before, ind, outd, strict=True)):
            return whole(size(*ind)), [(0, size(*outd) + 1)]  # the input does not fit: refused below
        return whole(size(*ind)), whole(size(*outd))
    if k == "tp_strided_slice_s8":
        counts = ints("counts")
        return [_span(int(p["start"]), counts, ints("strides"))], whole(size(*counts))
    if k in ("tp_mean_s8", "tp_sum_s8", "tp_reduce_max_s8", "tp_reduce_min_s8"):
        out_dims, window = ints("output_dims"), ints("reduce_dims")
        full = [o * w for o, w in zip(out_dims, window, strict=True)]
        return [_span(0, full, ints("input_strides"))], whole(size(*out_dims))
    if k == "tp_tile":  # reads the whole input, writes it tiled (element_bytes per element)
        input_bytes = int(p["element_bytes"]) * size(*(const("dims") or []))
        return whole(input_bytes), whole(input_bytes * size(*(const("multiples") or [])))
    if k == "tp_gather_s8":
        outer, inner = int(p["outer"]), int(p["inner"])
        return whole(outer * int(p["axis_size"]) * inner), whole(outer * int(p["num_indices"]) * inner)
    if k == "tp_batch_matmul_s8":
        batch = ints("batch_dims")
        rows, cols, depth = int(p["rows"]), int(p["cols"]), int(p["depth"])
        lhs = _span(0, [*batch, rows, depth], [*ints("lhs_batch_strides"), int(p["lhs_row_stride"]),
                                               int(p["lhs_depth_stride"])])
        rhs = _span(0, [*batch, depth, cols], [*ints("rhs_batch_strides"), int(p["rhs_depth_stride"]),
                                               int(p["rhs_col_stride"])])
        return [lhs, rhs], whole(size(*batch, rows, cols))
    from tinypipe.aot import s16

    return s16.kernel_extents(layer)  # the int16 kernels (2 bytes per element); None if unknown


def check_buffers(graph: Graph, layers: list[Layer], plan: MemoryPlan) -> None:
    """Every byte range a layer's kernel reads or writes lies inside the buffer the memory plan
    (or flash) gives that tensor; refused at generation time otherwise."""
    planned = {p.tensor: p for p in plan.placements if p.tensor >= 0}
    for p in plan.placements:
        if p.offset < 0 or p.offset + p.size > plan.arena_bytes:
            raise UnsafeCode(f"{graph.path}: the memory plan puts '{comment_text(p.name, 40)}' at "
                             f"{p.offset}..{p.offset + p.size}, outside the {plan.arena_bytes}-byte arena",
                             "this is a tinypipe bug; please report it")
    for layer in layers:
        tensors = [*layer.inputs, *layer.outputs]
        for t in tensors:
            tensor = graph.tensor(t)
            if not tensor.is_const and (t not in planned or planned[t].size < tensor.nbytes):
                raise UnsafeCode(f"{graph.path}: layer {layer.name}: tensor "
                                 f"'{comment_text(tensor.name, 40)}' has no arena buffer of its size",
                                 "this is a tinypipe bug; please report it")
        if layer.alias and not (layer.inputs and layer.outputs):
            continue  # no code and no tensor (VAR_HANDLE, CALL_ONCE)
        if layer.alias:
            a, b = graph.tensor(layer.inputs[0]), graph.tensor(layer.outputs[0])
            if a.nbytes != b.nbytes:
                raise UnsafeCode(f"{graph.path}: layer {layer.name} aliases {a.nbytes} bytes as {b.nbytes}",
                                 "the model's tensor shapes are inconsistent")
            continue
        extents = kernel_extents(layer)
        if extents is None:
            continue
        reads, writes = extents
        for role, ts, spans in (("reads", layer.inputs, reads), ("writes", layer.outputs, writes)):
            for t, (lo, end) in zip(ts, spans, strict=False):
                tensor = graph.tensor(t)
                size = tensor.nbytes if tensor.is_const else planned[t].size
                if lo < 0 or end > size:
                    raise UnsafeCode(
                        f"{graph.path}: operator #{layer.op.index} {layer.opcode}: its kernel {role} bytes "
                        f"{lo}..{end} of '{comment_text(short_name(tensor.name), 40)}' {_shape(tensor)}, "
                        f"which has {size}", "the model's shapes do not match its operator's parameters")


def _io_bases(graph: Graph, layers: list[Layer]) -> dict[int, tuple[str, int]]:
    """{tensor: ("INPUT" or "OUTPUT", k)} for the model's inputs and outputs and every tensor an
    alias layer (RESHAPE, ...) makes share their memory: where the generated code finds them when
    the application keeps its inputs and outputs outside the arena (<PREFIX>_EXTERNAL_IO)."""
    group = {t: t for la in layers for t in (*la.inputs, *la.outputs)}

    def root(t: int) -> int:
        while group.get(t, t) != t:
            t = group[t]
        return t

    for la in layers:
        if la.alias and la.inputs and la.outputs:
            group[root(la.outputs[0])] = root(la.inputs[0])
    roots: dict[int, tuple[str, int]] = {}
    for kind, ios in (("OUTPUT", graph.outputs), ("INPUT", graph.inputs)):  # an input wins a shared root
        for k, t in enumerate(ios):
            roots[root(t)] = (kind, k)
    return {t: roots[root(t)] for t in {*group, *graph.inputs, *graph.outputs} if root(t) in roots}


def _callee(layer: Layer) -> str:
    """The function a layer calls: its kernel, or TP_VARIANT(portable, dsp, helium) when the
    kernel has optimized variants for this layer's shape (every name declared in kernels/*.h)."""
    if layer.variants is None:
        return str(layer.kernel)
    return f"TP_VARIANT({layer.kernel}, {layer.variants[0]}, {layer.variants[1]})"


def render(graph: Graph, layers: list[Layer], plan: MemoryPlan, out_dir: Path, name: str,
           prefix: str | None = None, optimize: str = DEFAULT_OPTIMIZE,
           kernels: str | None = None) -> AotModel:
    """Render `<name>.c|.h|.json`; every public symbol starts with `prefix` (default tp_<name>) and
    every macro with its upper case. `optimize`, `kernels`: what `layers` were chosen for
    (plan_layers)."""
    prefix = prefix or f"tp_{name}"
    check_buffers(graph, layers, plan)
    if plan.arena_bytes > MAX_ARENA_BYTES:
        raise UnsafeCode(f"{graph.path}: the arena would be {plan.arena_bytes:,} bytes (at most "
                         f"{MAX_ARENA_BYTES:,})", "the model is far too large for a microcontroller")
    macs_of = {layer.op.index: op_macs(graph, layer.op) for layer in layers}  # tinypipe.figures' MACs
    for layer in layers:
        if macs_of[layer.op.index] > UINT32_MAX:
            raise UnsafeCode(f"{graph.path}: operator #{layer.op.index} {layer.opcode} has "
                             f"{macs_of[layer.op.index]:,} MACs, "
                             "more than the generated uint32_t tables hold",
                             "the model is far too large for a microcontroller")
    headers = kernel_headers()
    used: dict[int, str] = {}  # tensor index -> C variable, for every arena tensor the code touches
    ctx_layers = []
    for layer in (la for la in layers if not la.alias):
        assert layer.kernel is not None
        for kernel in (layer.kernel, *(layer.variants or ())):
            if kernel not in headers:
                raise RuntimeError(f"kernel {kernel} is not declared in {RUNTIME_DIR / 'kernels'}/*.h")
        consts = list(layer.consts)
        args = [f"&{layer.name}_params"] if layer.params_type else []
        first_input = len(args)
        for k, t in enumerate(layer.inputs):  # constant operands (e.g. ADD of a constant) go to flash
            tensor = graph.tensor(t)
            if tensor.is_const:
                ctype = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
                         "float32": "float"}[tensor.dtype]
                consts.insert(k, Const(f"input{k}", ctype, tensor.data))  # type: ignore[arg-type]
                args.append(f"{layer.name}_input{k}")
            else:
                var = used.setdefault(t, _c_name(tensor.name, t))
                args.append(f"(const int8_t *){var}" if layer.as_bytes else var)
        if layer.inputs_as_array:  # variadic kernels (CONCATENATION) take one array of input pointers
            element = _ctype(graph.tensor(layer.inputs[0]))
            args[first_input:] = [f"(const {element} *const[]){{" + ", ".join(args[first_input:]) + "}"]
        args += [f"{layer.name}_{c.suffix}" if c.values.size else "NULL"  # empty: an absent optional array
                 for c in consts if not c.suffix.startswith("input")]
        out_args = [used.setdefault(t, _c_name(graph.tensor(t).name, t)) for t in layer.outputs]
        if layer.as_bytes:
            out_args = [f"(int8_t *){var}" for var in out_args]
        if layer.outputs_as_array:  # variadic kernels (SPLIT) take one array of output pointers
            out_args = ["(int8_t *const[]){" + ", ".join(out_args) + "}"]
        args += out_args
        if layer.scratch_bytes:
            args.append(f"(void *)(arena + {plan.scratch_offset(layer.op.index)})")
        elif layer.takes_scratch:
            args.append("NULL")
        ins = [graph.tensor(t) for t in layer.inputs]
        outs = [graph.tensor(t) for t in layer.outputs]
        title = (f"{layer.name}: {layer.opcode} #{layer.op.index} " + ", ".join(map(_label, ins))
                 + " -> " + ", ".join(map(_label, outs)) + f", {macs_of[layer.op.index]} MACs")
        ctx_layers.append({
            "layer": layer, "name": layer.name, "title": title, "macs": macs_of[layer.op.index],
            "params_type": layer.params_type,
            "params": [(k, c_literal(v)) for k, v in layer.params.items()],
            "consts": [{"ctype": c.ctype, "var": f"{layer.name}_{c.suffix}", "length": c.values.size,
                        "body": _array_body(c),
                        "layout": c.layout and {"macro": c.layout[0], "length": c.layout[1].size,
                                                "body": _array_body(c, c.layout[1])}}
                       for c in consts if c.values.size],
            "call": f"{_callee(layer)}({', '.join(args)})",
            "header": headers[layer.kernel],
        })
    inputs = [_io(graph, i) for i in graph.inputs]
    outputs = [_io(graph, i) for i in graph.outputs]
    for t in (*graph.inputs, *graph.outputs):
        used.setdefault(t, _c_name(graph.tensor(t).name, t))

    tensors = []
    io_base = _io_bases(graph, layers)
    offset_of = {p.tensor: p.offset for p in plan.placements if p.tensor >= 0}
    for t, var in sorted(used.items()):
        tensor = graph.tensor(t)
        ctype = _ctype(tensor)
        base = (f"TP_IO_{io_base[t][0]}({io_base[t][1]}, {offset_of[t]})" if t in io_base
                else f"(arena + {offset_of[t]})")
        tensors.append({"var": var, "offset": offset_of[t], "ctype": ctype, "base": base,
                        "comment": f"{_label(tensor)} {tensor.dtype}"})
    plan_rows = [f"{p.offset:6d} {p.size:8d}  {p.first:3d}..{p.last:<3d} "
                 + (f"t{p.tensor} '{comment_text(short_name(p.name), 48)}'" if p.tensor >= 0 else p.name)
                 + (f" (shares t{p.shares_with})" if p.shares_with is not None else "")
                 for p in plan.placements]
    io_ctx = [{**vars(io), "name": comment_text(io.name), "var": used[t], "offset": offset_of[t],
               "aliases_input": int(io_base[t][0] == "INPUT"),
               "scale_literal": c_literal(io.scale) if io.scale is not None else None,
               "size": int(np.prod(io.shape, dtype=np.int64)) if io.shape else 1}
              for io, t in zip([*inputs, *outputs], [*graph.inputs, *graph.outputs], strict=True)]
    weights_bytes = aot_weights_bytes(graph, layers)
    macs = sum(macs_of.values())
    ctx = {
        "name": name, "prefix": prefix, "PREFIX": prefix.upper(),
        "source": comment_text(Path(graph.path).name),
        "version": __version__,
        "layers": ctx_layers, "plan": plan, "plan_rows": plan_rows, "tensors": tensors,
        "headers": sorted({la["header"] for la in ctx_layers}),
        "inputs": io_ctx[:len(inputs)], "outputs": io_ctx[len(inputs):],
        "arena_bytes": plan.arena_bytes, "weights_bytes": weights_bytes, "macs": macs, "optimize": optimize,
        "kernels": kernels,
        "variables": variable_inits(graph, used),  # resource variables: persistent state, <prefix>_reset()
    }
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "aot"), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [out_dir / f"{name}.c", out_dir / f"{name}.h", out_dir / f"{name}.json"]
    files[0].write_text(env.get_template("model.c.j2").render(ctx))
    files[1].write_text(env.get_template("model.h.j2").render(ctx))
    infos = []
    for i, la in enumerate(ctx_layers):
        lay: Layer = la["layer"]
        infos.append(LayerInfo(i, lay.name, lay.opcode, lay.kernel or "", la["macs"], lay.weights_bytes,
                               [graph.tensor(t).name for t in lay.inputs],
                               [graph.tensor(t).name for t in lay.outputs], op_index=lay.op.index))
    model = AotModel(name=name, source=graph.path, files=files, arena_bytes=plan.arena_bytes,
                     weights_bytes=weights_bytes, macs=macs, plan=plan, layers=infos,
                     inputs=inputs, outputs=outputs, optimize=optimize)
    sidecar = {"name": name, "source": Path(graph.path).name, "sha256": graph.sha256, "optimize": optimize,
               "kernels": kernels,
               "arena_bytes": plan.arena_bytes, "weights_bytes": weights_bytes, "macs": macs,
               "layers": [vars(li) for li in infos], "plan": plan.to_json()}
    files[2].write_text(json.dumps(sidecar, indent=1, default=list) + "\n")
    return model
