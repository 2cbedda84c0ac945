"""Render a lowered model as C: `<name>.c` / `<name>.h` (+ `<name>.json`) from jinja2 templates.

`generate()` is the stage's entry point: parse -> lower every operator -> plan memory ->
render. The output is deterministic (byte-identical on reruns) and everything non-static is
prefixed with the model name, so many models link into one binary next to one kernel library.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jinja2
import numpy as np

from tinypipe import RUNTIME_DIR, TEMPLATES_DIR, __version__
from tinypipe.aot.lowering import Const, Layer, lower
from tinypipe.aot.planner import MemoryPlan, plan_buffers
from tinypipe.errors import TinypipeError
from tinypipe.graph import Graph, Tensor, load

VALUES_PER_LINE = {"int8_t": 16, "uint8_t": 16, "int16_t": 12, "int32_t": 8, "float": 6}


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


@dataclass
class IoInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    scale: float | None
    zero_point: int | None


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


def c_literal(value: float | int | list, ctype: str = "int32_t") -> str:
    if isinstance(value, list):
        return "{" + ", ".join(c_literal(v, ctype) for v in value) + "}"
    if isinstance(value, float | np.floating) or ctype == "float":
        text = str(np.float32(value))  # shortest string that round-trips the float32
        return text + ("f" if "." in text or "e" in text else ".0f")
    return str(int(value))


def _array_body(c: Const) -> str:
    per_line = VALUES_PER_LINE[c.ctype]
    vals = [c_literal(v, c.ctype) for v in c.values.tolist()]
    return "\n".join("    " + ", ".join(vals[i:i + per_line]) + "," for i in range(0, len(vals), per_line))


def _c_name(name: str, index: int) -> str:
    """'model/conv2d_3/Relu;model/...' -> 't12_conv2d_3_relu': readable, unique by the index."""
    parts = re.split(r"[/:]", name.split(";")[0])
    stem = re.sub(r"[^0-9a-zA-Z]+", "_", "_".join(parts[-2:])).strip("_").lower()[-32:].strip("_")
    return f"t{index}_{stem}" if stem else f"t{index}"


def _shape(t: Tensor) -> str:
    return "[" + ",".join(map(str, t.shape)) + "]"


def short_name(name: str) -> str:
    """TFLite joins fused op names with ';': the first one names the tensor well enough."""
    return name.split(";")[0]


def _label(t: Tensor) -> str:
    return f"'{short_name(t.name)}' {_shape(t)}"


def _io(graph: Graph, i: int) -> IoInfo:
    t = graph.tensor(i)
    q = t.quant
    return IoInfo(t.name, t.shape, t.dtype, t.nbytes, float(q.scale[0]) if q else None,
                  int(q.zero_point[0]) if q else None)


def _check_io(graph: Graph) -> None:
    for i in (*graph.inputs, *graph.outputs):
        t = graph.tensor(i)
        if t.dtype not in ("int8", "float32"):
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
    return [lower(graph, op) for op in graph.operators]


def generate(model_path: str | Path, out_dir: str | Path, name: str = "model") -> AotModel:
    """Compile a `.tflite` into `<out_dir>/<name>.c|.h|.json`; raises TinypipeError if unsupported."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise TinypipeError(f"model name '{name}' is not a lowercase C identifier",
                            "use letters, digits and underscores, e.g. --name kws")
    graph = load(model_path)
    layers = lower_graph(graph)
    plan = plan_buffers(graph, layers)
    return render(graph, layers, plan, Path(out_dir), name)


def render(graph: Graph, layers: list[Layer], plan: MemoryPlan, out_dir: Path, name: str) -> AotModel:
    headers = kernel_headers()
    used: dict[int, str] = {}  # tensor index -> C variable, for every arena tensor the code touches
    ctx_layers = []
    for layer in (la for la in layers if not la.alias):
        assert layer.kernel is not None
        if layer.kernel not in headers:
            raise RuntimeError(f"kernel {layer.kernel} is not declared in {RUNTIME_DIR / 'kernels'}/*.h")
        consts = list(layer.consts)
        args = [f"&{layer.name}_params"] if layer.params_type else []
        first_input = len(args)
        for k, t in enumerate(layer.inputs):  # constant operands (e.g. ADD of a constant) go to flash
            tensor = graph.tensor(t)
            if tensor.is_const:
                ctype = {"int8": "int8_t", "int32": "int32_t", "float32": "float"}[tensor.dtype]
                consts.insert(k, Const(f"input{k}", ctype, tensor.data))  # type: ignore[arg-type]
                args.append(f"{layer.name}_input{k}")
            else:
                args.append(used.setdefault(t, _c_name(tensor.name, t)))
        if layer.inputs_as_array:  # variadic kernels (CONCATENATION) take one array of input pointers
            args[first_input:] = ["(const int8_t *const[]){" + ", ".join(args[first_input:]) + "}"]
        args += [f"{layer.name}_{c.suffix}" if c.values.size else "NULL"  # empty: an absent optional array
                 for c in consts if not c.suffix.startswith("input")]
        args += [used.setdefault(t, _c_name(graph.tensor(t).name, t)) for t in layer.outputs]
        if layer.scratch_bytes:
            args.append(f"(void *)(arena + {plan.scratch_offset(layer.op.index)})")
        elif layer.takes_scratch:
            args.append("NULL")
        ins = [graph.tensor(t) for t in layer.inputs]
        outs = [graph.tensor(t) for t in layer.outputs]
        title = (f"{layer.name}: {layer.opcode} #{layer.op.index} " + ", ".join(map(_label, ins))
                 + " -> " + ", ".join(map(_label, outs)) + f", {layer.macs} MACs")
        ctx_layers.append({
            "layer": layer, "name": layer.name, "title": title, "macs": layer.macs,
            "params_type": layer.params_type,
            "params": [(k, c_literal(v)) for k, v in layer.params.items()],
            "consts": [{"ctype": c.ctype, "var": f"{layer.name}_{c.suffix}", "length": c.values.size,
                        "body": _array_body(c)} for c in consts if c.values.size],
            "call": f"{layer.kernel}({', '.join(args)})",
            "header": headers[layer.kernel],
        })
    inputs = [_io(graph, i) for i in graph.inputs]
    outputs = [_io(graph, i) for i in graph.outputs]
    for t in (*graph.inputs, *graph.outputs):
        used.setdefault(t, _c_name(graph.tensor(t).name, t))

    tensors = []
    for t, var in sorted(used.items()):
        tensor = graph.tensor(t)
        p = next(p for p in plan.placements if p.tensor == t)
        ctype = "float" if tensor.dtype == "float32" else "int8_t"
        tensors.append({"var": var, "offset": p.offset, "ctype": ctype,
                        "comment": f"{_label(tensor)} {tensor.dtype}"})
    plan_rows = [f"{p.offset:6d} {p.size:8d}  {p.first:3d}..{p.last:<3d} "
                 + (f"t{p.tensor} '{short_name(p.name)}'" if p.tensor >= 0 else p.name)
                 + (f" (shares t{p.shares_with})" if p.shares_with is not None else "")
                 for p in plan.placements]
    io_ctx = [{**vars(io), "var": used[t],
               "scale_literal": c_literal(io.scale) if io.scale is not None else None,
               "size": int(np.prod(io.shape, dtype=np.int64)) if io.shape else 1}
              for io, t in zip([*inputs, *outputs], [*graph.inputs, *graph.outputs], strict=True)]
    weights_bytes = sum(la.weights_bytes for la in layers)
    macs = sum(la.macs for la in layers)
    ctx = {
        "name": name, "NAME": name.upper(), "source": Path(graph.path).name, "version": __version__,
        "layers": ctx_layers, "plan": plan, "plan_rows": plan_rows, "tensors": tensors,
        "headers": sorted({la["header"] for la in ctx_layers}),
        "inputs": io_ctx[:len(inputs)], "outputs": io_ctx[len(inputs):],
        "arena_bytes": plan.arena_bytes, "weights_bytes": weights_bytes, "macs": macs,
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
        infos.append(LayerInfo(i, lay.name, lay.opcode, lay.kernel or "", lay.macs, lay.weights_bytes,
                               [graph.tensor(t).name for t in lay.inputs],
                               [graph.tensor(t).name for t in lay.outputs]))
    model = AotModel(name=name, source=graph.path, files=files, arena_bytes=plan.arena_bytes,
                     weights_bytes=weights_bytes, macs=macs, plan=plan, layers=infos,
                     inputs=inputs, outputs=outputs)
    sidecar = {"name": name, "source": Path(graph.path).name, "sha256": graph.sha256,
               "arena_bytes": plan.arena_bytes, "weights_bytes": weights_bytes, "macs": macs,
               "layers": [vars(li) for li in infos], "plan": plan.to_json()}
    files[2].write_text(json.dumps(sidecar, indent=1, default=list) + "\n")
    return model
