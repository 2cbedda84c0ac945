"""Where the accuracy went: per-layer quantization error of an int8 model against its float model.

    quant_error(model.tflite, test, float_model=None) -> QuantError (rows per TFLite operator)

The float model (.keras, .h5, SavedModel or .onnx; default: the one beside the .tflite, see
`tinypipe.metrics.find_float_model`) is converted to a float .tflite without quantization, and
both .tflite models run side by side in LiteRT (built-in kernels, no delegates) with
`experimental_preserve_all_tensors=True`, so every intermediate tensor can be read after each
invocation. The float model gets the test data's float inputs, the int8 model the same inputs
quantized with its input parameters. Per operator of the int8 model, its (first) output is
dequantized and compared with the matching float tensor over all samples:

    SQNR (dB)       = 10 log10( sum f^2 / sum (f - dq)^2 )
    relative error  = sqrt( sum (f - dq)^2 / sum f^2 )
    delta (dB)      = the operator's SQNR minus the lowest SQNR among its activation inputs

The operator with the most negative delta is where the most signal-to-noise is lost: that is
the layer to look at (wider activations, per-channel weights, a clamp such as ReLU6, or keeping it
out of the model).

Matching rule (int8 operator output -> float tensor), in this order:

1. by name: the float tensor with the same name and shape. Both models come from the same
   SavedModel through the same converter passes, which name tensors after the Keras layers and
   TensorFlow ops (e.g. `model/conv2d/Relu;model/conv2d/BiasAdd;...`); this matches nearly all of
   them.
2. by position: the k-th operator with this opcode in the int8 model against the k-th operator
   with the same opcode in the float model, if the output shapes agree.
3. else the row says `-` (no float counterpart).

Limits: operators that exist only in the int8 model (QUANTIZE re-scaling before a
CONCATENATION or ADD, DEQUANTIZE) have no float counterpart; when the converter fuses
differently in float and int8 (it rarely does), position matching can pair operators that
compute different things, which the shape check catches only in part: such rows show a large
error from their first operator on, in both columns. Only the first output of an operator is
compared, and only float32 tensors in the float model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinypipe import graph as graph_mod
from tinypipe.errors import TinypipeError

DEFAULT_SAMPLES = 100


@dataclass
class LayerError:
    index: int | None  # TFLite operator index in the int8 model; None for the model's input
    name: str  # the int8 output tensor's name (first part)
    opcode: str
    shape: list[int]
    sqnr_db: float | None  # None: no float counterpart; inf: no error at all
    rel_error: float | None
    delta_db: float | None  # SQNR lost in this layer (negative: noise added)
    match: str  # name, position or none
    float_tensor: str = ""
    layer: str = ""  # the name scope (Keras layer, Keras 3 export adds _N) the tensor is named after


@dataclass
class QuantError:
    model: str
    float_model: str
    data: str
    samples: int
    layers: list[LayerError] = field(default_factory=list)
    worst: int | None = None  # the operator index with the most negative delta_db
    output_sqnr_db: float | None = None
    rule: str = ("by tensor name and shape, else the k-th operator of the same opcode with the same output "
                 "shape; operators only the int8 model has (QUANTIZE, DEQUANTIZE) have no float counterpart")

    def to_json(self) -> dict[str, Any]:
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        out = asdict(self)
        out["layers"] = [{k: clean(v) for k, v in row.items()} for row in out["layers"]]
        out["output_sqnr_db"] = clean(out["output_sqnr_db"])
        return out


def _interpreter(content: bytes) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=content,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    return it


def match_tensors(g8: graph_mod.Graph, gf: graph_mod.Graph) -> list[tuple[int | None, int, int | None, str]]:
    """(int8 op index or None for the input, int8 tensor, float tensor or None, how) per row."""
    float_by_name: dict[str, int] = {}
    for op in gf.operators:
        for i in op.outputs:
            if i >= 0 and gf.tensor(i).dtype == "float32":
                float_by_name.setdefault(gf.tensor(i).name, i)
    float_by_opcode: dict[str, list[int]] = {}
    for op in gf.operators:
        if op.outputs and op.outputs[0] >= 0:
            float_by_opcode.setdefault(op.opcode, []).append(op.outputs[0])
    rows: list[tuple[int | None, int, int | None, str]] = []
    fin = gf.inputs[0] if gf.inputs else None
    rows.append((None, g8.inputs[0], fin, "position" if fin is not None else "none"))
    seen: dict[str, int] = {}
    for op in g8.operators:
        if not op.outputs or op.outputs[0] < 0:
            continue
        t8 = g8.tensor(op.outputs[0])
        k = seen.get(op.opcode, 0)
        seen[op.opcode] = k + 1
        fi = float_by_name.get(t8.name)
        if fi is not None and tuple(gf.tensor(fi).shape) == tuple(t8.shape):
            rows.append((op.index, t8.index, fi, "name"))
            continue
        same = float_by_opcode.get(op.opcode, [])
        if k < len(same) and tuple(gf.tensor(same[k]).shape) == tuple(t8.shape) \
                and gf.tensor(same[k]).dtype == "float32":
            rows.append((op.index, t8.index, same[k], "position"))
        else:
            rows.append((op.index, t8.index, None, "none"))
    return rows


def quant_error(model: str | Path, test: str | Path, float_model: str | Path | None = None,
                preprocess: str | Path | None = None, samples: int = DEFAULT_SAMPLES) -> QuantError:
    """Per-layer SQNR and relative error of the int8 `model` against its float model on `test`."""
    from rich.progress import track

    from tinypipe.dataset import load_for_model
    from tinypipe.metrics import find_float_model
    from tinypipe.quantize import float_tflite

    model = Path(model)
    if samples < 1:
        raise TinypipeError(f"--samples must be at least 1, got {samples}")
    float_path = Path(float_model) if float_model is not None else find_float_model(model)
    if float_path is None:
        raise TinypipeError(f"{model}: --quant-error needs the float model, and none sits beside it",
                            "pass --float MODEL.keras (or .h5, a SavedModel directory, .onnx)")
    data = load_for_model(test, model, preprocess, float_path, limit=samples)
    g8 = graph_mod.load(model)
    float_bytes = float_tflite(float_path)
    gf = graph_mod.parse(float_bytes, str(float_path))
    if len(gf.inputs) != 1 or tuple(gf.tensor(gf.inputs[0]).shape) != tuple(g8.tensor(g8.inputs[0]).shape):
        shapes = [gf.tensor(i).shape for i in gf.inputs]
        raise TinypipeError(f"{float_path}: its input {shapes} is not the int8 model's "
                            f"{g8.tensor(g8.inputs[0]).shape}",
                            "pass the float model the .tflite was quantized from (--float)")
    it8, itf = _interpreter(Path(model).read_bytes()), _interpreter(float_bytes)
    rows = match_tensors(g8, gf)
    n = len(data)
    xq = data.model_input(it8.get_input_details()[0])
    sum_f2 = np.zeros(len(rows))
    sum_e2 = np.zeros(len(rows))
    d8, df = it8.get_input_details()[0], itf.get_input_details()[0]
    for s in track(range(n), description=f"float and int8 side by side on {n} samples", transient=True):
        it8.set_tensor(d8["index"], xq[s : s + 1].reshape(d8["shape"]))
        itf.set_tensor(df["index"], data.x[s : s + 1].astype(np.float32).reshape(df["shape"]))
        it8.invoke()
        itf.invoke()
        for r, (_, t8, tf_, _) in enumerate(rows):
            if tf_ is None:
                continue
            q = g8.tensor(t8).quant
            raw = it8.get_tensor(t8)
            if q is None or raw.dtype.kind not in "iu":
                dq = raw.astype(np.float64)
            else:
                dq = (raw.astype(np.float64) - float(q.zero_point[0])) * float(q.scale[0])
            f = itf.get_tensor(tf_).astype(np.float64).reshape(dq.shape)
            sum_f2[r] += float(np.sum(f * f))
            sum_e2[r] += float(np.sum((f - dq) ** 2))
    result = QuantError(str(model), str(float_path), str(data.source), n)
    sqnr_of: dict[int, float] = {}  # int8 tensor -> SQNR
    producers = {op.outputs[0]: op for op in g8.operators if op.outputs}
    for r, (op_index, t8, tf_, how) in enumerate(rows):
        t = g8.tensor(t8)
        sqnr = rel = delta = None
        if tf_ is not None:
            sqnr = math.inf if sum_e2[r] == 0 else (
                10 * math.log10(sum_f2[r] / sum_e2[r]) if sum_f2[r] > 0 else -math.inf)
            rel = math.sqrt(sum_e2[r] / sum_f2[r]) if sum_f2[r] > 0 else (0.0 if sum_e2[r] == 0 else math.inf)
            sqnr_of[t8] = sqnr
            if op_index is not None:
                op = producers[t8]
                before = [sqnr_of[i] for i in op.inputs
                          if i >= 0 and i in sqnr_of and not g8.tensor(i).is_const]
                if before and math.isfinite(sqnr) and math.isfinite(min(before)):
                    delta = sqnr - min(before)
                elif before and math.isfinite(sqnr):
                    delta = 0.0 if min(before) == math.inf and sqnr == math.inf else None
        opcode = "(input)" if op_index is None else producers[t8].opcode
        float_name = gf.tensor(tf_).name.split(";")[0] if tf_ is not None else ""
        name = t.name.split(";")[0]
        parts = name.split("/")
        result.layers.append(LayerError(op_index, name, opcode, list(t.shape), sqnr, rel, delta, how,
                                        float_name, parts[1] if len(parts) > 2 else name))
    deltas = [(row.delta_db, row.index) for row in result.layers if row.delta_db is not None]
    if deltas:
        worst = min(deltas)
        result.worst = worst[1] if worst[0] < 0 else None
    out_rows = [row for row in result.layers if row.index is not None and g8.tensor(
        g8.operators[row.index].outputs[0]).index in g8.outputs]
    result.output_sqnr_db = out_rows[-1].sqnr_db if out_rows else None
    return result


def _fmt(v: float | None, spec: str) -> str:
    if v is None:
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return format(v, spec)


def table_rows(r: QuantError) -> list[list[str]]:
    """The per-layer table as rows of cells (header first), for the console and Markdown."""
    rows = [["#", "op", "layer (output tensor)", "shape", "SQNR dB", "delta dB", "rel. error", "match"]]
    for row in r.layers:
        mark = "  <- largest loss" if row.index is not None and row.index == r.worst else ""
        rows.append(["in" if row.index is None else str(row.index), row.opcode, (row.layer or row.name)[:48],
                     "x".join(str(d) for d in row.shape), _fmt(row.sqnr_db, ".1f"),
                     _fmt(row.delta_db, "+.1f"), _fmt(row.rel_error, ".4f"), row.match + mark])
    return rows


def markdown(r: QuantError) -> str:
    rows = table_rows(r)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows[1:]]
    return "\n".join(lines) + "\n"


def print_report(r: QuantError, console: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    rows = table_rows(r)
    table = Table(title=escape(f"quantization error of {Path(r.model).name} against "
                               f"{Path(r.float_model).name} on {r.samples} samples of {r.data}"))
    numeric = ("#", "SQNR dB", "delta dB", "rel. error")
    for col in rows[0]:
        table.add_column(col, justify="right" if col in numeric else "left")
    for cells, row in zip(rows[1:], r.layers, strict=True):
        style = "bold red" if row.index is not None and row.index == r.worst else None
        table.add_row(*(escape(c) for c in cells), style=style)
    console.print(table)
    if r.worst is not None:
        worst = next(row for row in r.layers if row.index == r.worst)
        console.print(f"largest loss: op {worst.index} {worst.opcode} ('{escape(worst.name)}'), "
                      f"{_fmt(worst.delta_db, '+.1f')} dB; model output SQNR "
                      f"{_fmt(r.output_sqnr_db, '.1f')} dB", highlight=False)
    console.print(f"matching: {r.rule}", highlight=False)
