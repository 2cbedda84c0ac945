"""The pipeline's quantities, defined once: `inspect`, `export`, `bench`, `compare`, their JSON and
the reports all take them from here, so one model has one number for each.

weights  Flash bytes of the model's constant data as the runtime carries it. aot: the `const`
         arrays the generator emits (TFLite weights and biases after offline re-layout, per-channel
         requantization multipliers and shifts, lookup tables, constant operands), the sum of their
         sizes, known before any build; tflm: the .tflite flatbuffer, which TFLite Micro reads weights
         and graph from.
code     Flash bytes of everything else the model needs, measured in the linker map of a build:
         kernel and model code, layer parameter structs and tables, alignment (aot); the
         interpreter and its kernels (tflm). Known only after `bench` (or `compare`) built it.
harness  Flash bytes of the rest of the firmware: benchmark harness, protocol, HAL, startup, libc.
arena    RAM bytes the runtime reserves for tensors. aot: the offline memory plan; tflm: TFLite
         Micro's measured arena plus tinypipe's margin for its kernels' scratch. `arena_used` is
         what the runtime reports it used (the device's boot record, or TFLM's host recorder).
stack    The stack high-water mark measured on the device: the firmware paints its stack at boot
         and, after the timed runs, finds the deepest word written (harness + inference).
MACs     Multiply-accumulates of the dot-product operators: CONV_2D (out x kh x kw x cin),
         DEPTHWISE_CONV_2D (out x kh x kw), FULLY_CONNECTED (out x accum depth), TRANSPOSE_CONV
         (in x kh x kw x cout). Pooling, element-wise ops and softmax count 0 (MLPerf Tiny's rule).
layer    A layer is a TFLite operator; layers are numbered by the operator's index in the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinypipe import graph as graph_mod

if TYPE_CHECKING:
    from tinypipe.aot.lowering import Layer

# The keys of bench.json's "memory" block, in the order the reports show them.
MEMORY_KEYS = ("flash_bytes", "weights_bytes", "code_bytes", "harness_bytes", "ram_bytes", "arena_bytes",
               "arena_used_bytes", "stack_bytes")
MEMORY_LABELS = {
    "flash_bytes": "flash (text + data)",
    "weights_bytes": "weights",
    "code_bytes": "code (kernels, model code and tables)",
    "harness_bytes": "harness, HAL, startup, libc",
    "ram_bytes": "static RAM (data + bss)",
    "arena_bytes": "tensor arena (reserved)",
    "arena_used_bytes": "tensor arena (used, device)",
    "stack_bytes": "stack high-water mark (device)",
}


# --- MACs and parameters -----------------------------------------------------------------------


def op_macs(g: graph_mod.Graph, op: graph_mod.Operator) -> int:
    """Multiply-accumulates of one operator (convolutions and matrix products; 0 otherwise)."""
    ins = g.op_inputs(op)
    outs = g.op_outputs(op)
    w = ins[1] if len(ins) > 1 else None
    if not outs or w is None:
        return 0
    out = outs[0]
    if op.opcode == "CONV_2D" and len(w.shape) == 4:
        _, kh, kw, cin = w.shape
        return out.size * kh * kw * cin
    if op.opcode == "DEPTHWISE_CONV_2D" and len(w.shape) == 4:
        _, kh, kw, _ = w.shape
        return out.size * kh * kw
    if op.opcode == "FULLY_CONNECTED" and w.shape:
        return out.size * w.shape[-1]
    if op.opcode == "BATCH_MATMUL" and ins[0] is not None and len(ins[0].shape) >= 2:
        lhs = ins[0].shape  # the contracted dimension: the last of lhs, or the one before with adj_x
        return out.size * (lhs[-2] if op.options.get("adj_x") else lhs[-1])
    if op.opcode == "TRANSPOSE_CONV" and len(w.shape) == 4 and len(ins) > 2 and ins[2] is not None:
        _, kh, kw, _ = w.shape
        return ins[2].size * kh * kw * w.shape[0]
    return 0


def model_macs(g: graph_mod.Graph) -> int:
    return sum(op_macs(g, op) for op in g.operators)


def op_params(g: graph_mod.Graph, op: graph_mod.Operator) -> int:
    """Elements of an operator's constant inputs (weights, biases; not RESHAPE's shape)."""
    if op.opcode == "RESHAPE":
        return 0
    return sum(t.size for t in g.op_inputs(op) if t is not None and t.is_const)


def model_params(g: graph_mod.Graph) -> int:
    return sum(op_params(g, op) for op in g.operators)


# --- weights -----------------------------------------------------------------------------------


def aot_weights_bytes(g: graph_mod.Graph, layers: Sequence[Layer]) -> int:
    """Bytes of the `const` arrays the aot generator emits for these lowered layers: each layer's
    constants, the constant operands it passes to its kernel (tinypipe.aot.codegen.render), and
    the initial values of resource variables that are not one repeated byte."""
    total = 0
    for layer in layers:
        if layer.alias:
            continue
        total += sum(c.values.nbytes for c in layer.consts)
        total += sum(g.tensor(t).nbytes for t in layer.inputs if g.tensor(t).is_const)
    if any(t.dtype == "resource" for t in g.tensors):  # initial values <prefix>_reset() copies from flash
        from tinypipe.aot.ops.variables import variable_inits

        handles = {h: "" for v in graph_mod.resource_variables(g) for h in v.handles}
        total += sum(v.bytes for v in variable_inits(g, handles) if v.fill is None)
    return total


def weights_bytes(g: graph_mod.Graph, runtime: str = "aot", layers: Sequence[Layer] | None = None) -> int:
    """The model's weights in flash under `runtime` (see the module docstring)."""
    if runtime == "tflm":
        return g.size_bytes
    if layers is None:
        from tinypipe.aot.codegen import lower_graph

        layers = lower_graph(g)
    return aot_weights_bytes(g, layers)


# --- flash from the linker map -----------------------------------------------------------------

_MAP_LINE = re.compile(r"^\s*(\S+)?\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S.*)$")
_SKIP = (".debug", ".comment", ".ARM.attributes", ".group", "*fill*", ".stab")
_FLASH_SECTIONS = (".text", ".rodata", ".data", ".vectors", ".ARM.ex", ".init_array")
# Measurement-only parts of the model's object file, counted as harness: the profiled copy of
# invoke() and the layer names only the per-layer profile prints (its only string literals).
_PROFILE_SECTIONS = ("_invoke_profiled", "_layer_names")


def _is_model_object(stem: str, owner: str) -> bool:
    return stem.startswith(("model", "tp_model_data")) or "/kernels/" in owner \
        or "tensorflow" in owner or "tflite" in owner


def flash_breakdown(map_file: Path, weights: int | None = None) -> dict[str, int]:
    """{weights_bytes, code_bytes, harness_bytes} of a GNU ld map.

    The model's share of flash (its object files' code and read-only data, the kernels, the
    TFLite Micro library) is split into `weights` (given: the offline figure, weights_bytes())
    and `code` (the rest of it); everything else is `harness`. Without `weights`, the model
    objects' .rodata is taken as the weights (the older, alignment-inclusive reading).

    Merged string sections (C++ `.rodata.*.str1.*`) from several objects share addresses; each
    byte is counted once, for the first input section that covers it."""
    pieces: list[tuple[int, int, str]] = []  # (address, size, "rodata" | "other" | "harness")
    in_map, pending = False, ""
    for line in map_file.read_text(errors="replace").splitlines():
        if line.startswith("Linker script and memory map"):
            in_map = True
            continue
        if not in_map:
            continue
        m = _MAP_LINE.match(line)
        if m is None:
            stripped = line.strip()
            pending = stripped if stripped.startswith(".") and " " not in stripped else ""
            continue
        section = m.group(1) or pending
        pending = ""
        size, owner = int(m.group(3), 16), m.group(4)
        if not section or section.startswith(_SKIP) or size == 0 or not owner.endswith((".o", ")")):
            continue
        if not section.startswith(_FLASH_SECTIONS):
            continue  # RAM-only (.bss, heap, stack)
        stem = Path(owner.split("(")[0]).name
        profile_only = section.endswith(_PROFILE_SECTIONS) or (
            stem.startswith("model") and section.startswith(".rodata.str"))
        if profile_only or not _is_model_object(stem, owner):
            kind = "harness"
        elif stem.startswith(("model", "tp_model_data")) and section.startswith(".rodata"):
            kind = "rodata"
        else:
            kind = "other"
        pieces.append((int(m.group(2), 16), size, kind))
    totals = {"rodata": 0, "other": 0, "harness": 0}
    covered = 0  # the end of the highest range counted so far
    for address, size, kind in sorted(pieces):
        start = max(address, covered)
        if address + size > start:
            totals[kind] += address + size - start
            covered = address + size
    model_rodata, model_other, harness = totals["rodata"], totals["other"], totals["harness"]
    model_total = model_rodata + model_other
    if weights is None:
        weights = model_rodata
    return {"weights_bytes": weights, "code_bytes": max(model_total - weights, 0), "harness_bytes": harness}


# --- layers --------------------------------------------------------------------------------------


def shape_text(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(int(s)) for s in shape) + "]"


@dataclass
class LayerRow:
    """One TFLite operator as the per-layer tables show it."""

    index: int  # the TFLite operator index: the layer number everywhere
    opcode: str
    name: str  # the operator's first output tensor, its first ';'-separated name
    inputs: list[str]  # activation input shapes
    outputs: list[str]
    macs: int
    params: int

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def layer_rows(g: graph_mod.Graph) -> list[LayerRow]:
    rows = []
    for op in g.operators:
        outs = g.op_outputs(op)
        rows.append(LayerRow(
            index=op.index, opcode=op.opcode, name=outs[0].name.split(";")[0] if outs else "",
            inputs=[shape_text(t.shape) for t in g.op_inputs(op) if t is not None and not t.is_const],
            outputs=[shape_text(t.shape) for t in outs], macs=op_macs(g, op), params=op_params(g, op)))
    return rows


_TRAILING_INDEX = re.compile(r"_(\d+)$")


def layer_index(name: str) -> int | None:
    """The TFLite operator index in a firmware layer name ("conv_3", "fully_connected_5": the
    aot and tflm runtimes both end their layer names with it)."""
    m = _TRAILING_INDEX.search(name)
    return int(m.group(1)) if m else None
