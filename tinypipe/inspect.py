"""Inspect stage: what a `.tflite` costs — per-operator MACs and parameters, RAM and flash.

RAM is reported two ways: the tensor arena TensorFlow Lite Micro needs (measured by the real
TFLM interpreter from the `tflite-micro` package with its allocation recorder) and the static
arena of tinypipe's ahead-of-time runtime (the offline memory plan).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinypipe import graph as graph_mod
from tinypipe.aot.codegen import DEFAULT_OPTIMIZE
from tinypipe.errors import TinypipeError
from tinypipe.figures import op_macs, op_params
from tinypipe.ops import tflm_builtins
from tinypipe.verify import run_isolated

__all__ = ["Inspection", "inspect_model", "op_macs", "print_report", "tflm_arena_bytes"]

TFLM_TIMEOUT_S = 120.0


@dataclass
class TensorInfo:
    name: str
    shape: list[int]
    dtype: str
    quant: str  # "" or "scale=… zp=…" / "per-channel(N)"


@dataclass
class OpInfo:
    index: int
    opcode: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    options: dict[str, Any]
    params: int  # elements of constant inputs (weights, biases)
    macs: int
    aot_supported: bool
    aot_refusal: str = ""  # why aot refuses this operator (its one line), when it does
    tflm_supported: bool | None = None  # TFLite Micro has a kernel for it; None: no TFLM tree to ask


@dataclass
class Inspection:
    path: str
    sha256: str
    size_bytes: int
    ops: list[OpInfo]
    opcodes: list[str]
    params: int
    macs: int
    weight_bytes: int  # tinypipe.figures.weights_bytes under `weights_runtime`
    tflm_arena_bytes: int | None  # TFLite Micro's arena used, measured by its host recorder
    tflm_error: str = ""
    aot_arena_bytes: int | None = None
    aot_optimize: str = ""  # the goal aot_arena_bytes and aot_plan are for (--optimize)
    aot_board: str = ""  # the board whose core they are planned for (--board); "" for any core
    aot_arena_by_goal: dict[str, int] = field(default_factory=dict)  # every --optimize goal's arena
    aot_plan: list[dict[str, Any]] = field(default_factory=list)
    aot_unsupported: list[str] = field(default_factory=list)
    aot_error: str = ""
    weights_runtime: str = "aot"  # aot when it compiles the model, else tflm (the flatbuffer)
    activations: str = ""  # the activation type: int8, int16 (16x8 quantization), uint8, float32

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _tensor_info(t: graph_mod.Tensor) -> TensorInfo:
    quant = ""
    if t.quant is not None:
        if t.quant.per_channel:
            quant = f"per-channel({t.quant.scale.size}, axis {t.quant.axis})"
        else:
            quant = f"scale={float(t.quant.scale[0]):.6g} zp={int(t.quant.zero_point[0])}"
    return TensorInfo(t.name, list(t.shape), t.dtype, quant)


def _tflm_arena_in_child(model: str) -> int:
    """Runs in a forked child (verify.run_isolated): load the model in TFLite Micro, read its
    allocation recorder. `print_allocations()` writes to C-level stderr, so file descriptor 2 is
    redirected to a temporary file while it runs."""
    from tflite_micro.python.tflite_micro import runtime

    try:
        interpreter = runtime.Interpreter.from_file(model)
    except Exception as exc:  # the TFLM binding raises RuntimeError with its own log text
        raise TinypipeError(f"{model}: TensorFlow Lite Micro cannot load it: "
                            + " ".join(str(exc).split())[:300],
                            "check the operators are supported by TFLM (tinypipe inspect lists them)") \
            from None
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            interpreter.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    match = re.search(r"Arena allocation total (\d+) bytes", text)
    if not match:
        raise TinypipeError(f"{model}: could not read TFLite Micro's arena size from its recorder")
    return int(match.group(1))


def tflm_arena_bytes(model: str | Path) -> int:
    """Tensor-arena bytes TFLite Micro allocates for the model (its allocation recorder).

    The TFLite Micro interpreter runs in a child process: a model that crashes or hangs it ends
    in one TinypipeError, never in a crash of the caller.
    """
    result = run_isolated(_tflm_arena_in_child, str(model), what=f"{model}: TensorFlow Lite Micro",
                          timeout_s=TFLM_TIMEOUT_S)
    return int(result)


def _aot_refusals(g: graph_mod.Graph) -> dict[int, str]:
    """{operator index: the aot generator's one-line refusal} for each operator it cannot lower."""
    from tinypipe.aot.codegen import lower_op

    out = {}
    for op in g.operators:
        try:
            lower_op(g, op)
        except TinypipeError as exc:
            out[op.index] = exc.what
    return out


AotDetails = tuple[set[str], dict[str, int], list[dict[str, Any]], str, int | None]


def _aot_details(g: graph_mod.Graph, optimize: str, kernels: str | None) -> AotDetails:
    """Ops the aot runtime supports and, when it can compile the whole model, the arena of every
    --optimize goal, the memory plan for `optimize` and the weights (tinypipe.figures), for a core
    on the `kernels` path (None: any core)."""
    from tinypipe.aot.codegen import OPTIMIZE_GOALS, lower_graph, plan_layers
    from tinypipe.aot.lowering import supported_ops
    from tinypipe.figures import aot_weights_bytes

    supported = set(supported_ops())
    try:
        lowered = lower_graph(g)  # once for every goal
        plans = {goal: plan_layers(g, goal, kernels, lowered) for goal in OPTIMIZE_GOALS}
    except TinypipeError as exc:
        return supported, {}, [], exc.what, None
    layers, plan = plans[optimize]
    return (supported, {goal: p.arena_bytes for goal, (_, p) in plans.items()},
            [asdict(p) for p in plan.placements], "", aot_weights_bytes(g, layers))


def inspect_model(model: str | Path, optimize: str = DEFAULT_OPTIMIZE,
                  board: str | None = None) -> Inspection:
    """What `tinypipe inspect` reports; the aot memory plan is the one for `optimize`, on `board`'s
    core as `export` plans it (None: any core, as the library)."""
    from tinypipe.aot.codegen import arena_allowance
    from tinypipe.boards import load_board

    arena_allowance(optimize)
    target = load_board(board) if board is not None else None
    kernels = target.kernel_path if target is not None else None
    path = Path(model)
    g = graph_mod.load(path)
    supported, aot_arenas, aot_plan, aot_error, aot_weights = _aot_details(g, optimize, kernels)
    refusals = _aot_refusals(g) if aot_error else {}
    tflm_ops, _ = tflm_builtins()
    ops = []
    for op in g.operators:
        ops.append(OpInfo(
            index=op.index, opcode=op.opcode,
            inputs=[_tensor_info(t) for t in g.op_inputs(op) if t is not None and not t.is_const],
            outputs=[_tensor_info(t) for t in g.op_outputs(op)],
            options={k: v for k, v in op.options.items() if not isinstance(v, np.ndarray)},
            params=op_params(g, op),
            macs=op_macs(g, op),
            aot_supported=op.opcode in supported and op.index not in refusals,
            aot_refusal=refusals.get(op.index, ""),
            tflm_supported=None if tflm_ops is None else op.opcode in tflm_ops,
        ))
    try:
        tflm, tflm_error = tflm_arena_bytes(path), ""
    except TinypipeError as exc:
        tflm, tflm_error = None, exc.what
    return Inspection(
        path=str(path), sha256=g.sha256, size_bytes=g.size_bytes, ops=ops, opcodes=g.opcodes,
        params=sum(o.params for o in ops), macs=sum(o.macs for o in ops),
        weight_bytes=aot_weights if aot_weights is not None else g.size_bytes,
        weights_runtime="aot" if aot_weights is not None else "tflm",
        tflm_arena_bytes=tflm, tflm_error=tflm_error,
        aot_arena_bytes=aot_arenas.get(optimize), aot_plan=aot_plan,
        aot_optimize=optimize if aot_arenas else "", aot_arena_by_goal=aot_arenas,
        aot_board=target.id if target is not None else "",
        aot_unsupported=sorted(set(g.opcodes) - supported), aot_error=aot_error,
        activations=activation_type(g),
    )


def activation_type(g: graph_mod.Graph) -> str:
    """The type of the model's computed tensors: int16 for a 16x8 model (int16 activations, int8
    weights), int8 for a full-int8 one, float32 for a float one (QUANTIZE/DEQUANTIZE edges aside)."""
    kinds = {g.tensor(t).dtype for op in g.operators if op.opcode not in ("QUANTIZE", "DEQUANTIZE")
             for t in op.outputs if t >= 0}
    for kind in ("int16", "int8", "uint8", "float32"):
        if kind in kinds:
            return kind
    return sorted(kinds)[0] if kinds else ""


def _shape(t: TensorInfo) -> str:
    return f"{t.dtype}[{','.join(str(s) for s in t.shape)}]"


def print_report(r: Inspection, console: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"{Path(r.path).name}  ({r.size_bytes:,} bytes, sha256 {r.sha256[:12]})"))
    for col in ("#", "op", "input", "output", "quantization (out)", "params", "MACs", "aot", "tflm"):
        table.add_column(col, justify="right" if col in ("#", "params", "MACs") else "left")

    def mark(ok: bool | None) -> str:
        return "?" if ok is None else "yes" if ok else "[red]no[/red]"

    for o in r.ops:
        table.add_row(
            str(o.index), escape(o.opcode), escape(" ".join(_shape(t) for t in o.inputs)),
            escape(" ".join(_shape(t) for t in o.outputs)), escape(o.outputs[0].quant if o.outputs else ""),
            f"{o.params:,}", f"{o.macs:,}", mark(o.aot_supported), mark(o.tflm_supported),
        )
    console.print(table)
    for o in r.ops:  # why aot refuses an operator, in the generator's own words
        if o.aot_refusal:
            console.print(f"aot: {escape(o.aot_refusal.removeprefix(f'{r.path}: '))}", highlight=False)
    console.print(f"operators: {escape(', '.join(r.opcodes))}")
    if r.activations:
        detail = {"int16": " (16x8: int16 activations, int8 weights)", "int8": " (full int8)"}
        console.print(f"activations: {r.activations}{detail.get(r.activations, '')}")
    console.print(f"parameters: {r.params:,}   MACs: {r.macs:,}   weights: {r.weight_bytes:,} B "
                  f"({r.weights_runtime} runtime)")
    if r.tflm_arena_bytes is not None:
        console.print(f"TFLite Micro tensor arena used: {r.tflm_arena_bytes:,} B (measured, host build); "
                      f"weights (tflm, the flatbuffer): {r.size_bytes:,} B")
    else:
        console.print(f"TFLite Micro: [red]{escape(r.tflm_error)}[/red]")
    if r.aot_arena_bytes is not None:
        others = ", ".join(f"{goal} {arena:,} B" for goal, arena in r.aot_arena_by_goal.items()
                           if goal != r.aot_optimize)
        core = f"{r.aot_board}'s core" if r.aot_board else "any core (--board: one board's)"
        console.print(f"aot arena: {r.aot_arena_bytes:,} B for --optimize {r.aot_optimize} on {core} "
                      f"(offline plan below; {others}); weights (aot): {r.weight_bytes:,} B", highlight=False)
        plan = Table(title="aot memory plan")
        for col in ("offset", "bytes", "live (ops)", "tensor"):
            plan.add_column(col, justify="left" if col == "tensor" else "right")
        for p in sorted(r.aot_plan, key=lambda p: (p["offset"], p["first"])):
            shared = " (shares memory)" if p.get("shares_with") is not None else ""
            plan.add_row(f"{p['offset']:,}", f"{p['size']:,}", f"{p['first']}..{p['last']}",
                         escape((p["name"] or "scratch")[:60] + shared))
        console.print(plan)
    else:
        console.print(f"aot runtime: [red]{escape(r.aot_error)}[/red]")
