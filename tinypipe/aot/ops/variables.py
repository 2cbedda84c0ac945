"""Resource variables (streaming state): VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE, CALL_ONCE.

A streaming model keeps state between invocations in resource variables, initialised once by an
init subgraph that CALL_ONCE runs on the first invoke. In the aot runtime:

* each variable is one persistent buffer of the static memory plan (tinypipe.aot.planner), shared
  by every VAR_HANDLE naming it and never reused for activations, so its bytes survive invokes;
* READ_VARIABLE copies the buffer into its output tensor, ASSIGN_VARIABLE copies its value into
  the buffer (kernels/variable.c), in operator order, as TFLite does;
* VAR_HANDLE and CALL_ONCE emit no code: the init subgraph is evaluated here, at generation time,
  and must only assign constants; the values become an initializer that `<prefix>_init()` and
  `<prefix>_reset()` copy into the buffers (`initial_values`). An init subgraph that computes
  anything is refused with the operator named (`--runtime tflm` runs it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinypipe.aot.lowering import Layer, register, unsupported
from tinypipe.errors import TinypipeError
from tinypipe.graph import Graph, Operator, ResourceVariable, handle_keys, resource_variables

VARIABLE_DTYPES = ("int8",)  # what the generated code keeps in a variable (int8 activations)


@register("VAR_HANDLE", prefix="var_handle")
@register("CALL_ONCE", prefix="call_once")
def lower_no_code(graph: Graph, op: Operator, name: str) -> Layer:
    """A handle is the variable's buffer itself; the init subgraph runs at init/reset, not here."""
    if op.opcode == "CALL_ONCE":
        initial_values(graph)  # refuses an init subgraph that is not a list of constant assignments
    return Layer(op, name, kernel=None, inputs=[], outputs=[], alias=True)


def _variable(graph: Graph, op: Operator) -> ResourceVariable:
    key = handle_keys(graph.operators).get(op.inputs[0])
    var = next((v for v in resource_variables(graph) if v.key == key), None)
    if var is None:
        raise unsupported(graph, op, "its resource handle is not made by a VAR_HANDLE of the main graph")
    if var.tensor.dtype not in VARIABLE_DTYPES:
        raise unsupported(graph, op, f"resource variable '{var.name}' holds {var.tensor.dtype}; the aot "
                          "runtime keeps int8 variables (convert with "
                          "converter._experimental_variable_quantization = True, or use `--runtime tflm`)")
    return var


@register("READ_VARIABLE", prefix="read_variable")
def lower_read_variable(graph: Graph, op: Operator, name: str) -> Layer:
    var = _variable(graph, op)
    out = graph.op_outputs(op)[0]
    return Layer(op, name, kernel="tp_variable_copy", inputs=[op.inputs[0]], outputs=[out.index],
                 params_type="tp_variable_params_t", params={"bytes": var.nbytes})


@register("ASSIGN_VARIABLE", prefix="assign_variable")
def lower_assign_variable(graph: Graph, op: Operator, name: str) -> Layer:
    var = _variable(graph, op)
    value = graph.tensor(op.inputs[1])
    if value.is_const:
        raise unsupported(graph, op, f"it assigns the constant '{value.name}' at run time "
                          "(assign constants in the init subgraph)")
    return Layer(op, name, kernel="tp_variable_copy", inputs=[value.index], outputs=[op.inputs[0]],
                 params_type="tp_variable_params_t", params={"bytes": var.nbytes})


def _refuse(graph: Graph, where: str, why: str) -> TinypipeError:
    return TinypipeError(f"{graph.path}: {where}: {why}; the aot runtime initialises resource variables "
                         "from constants only, evaluated when the C is generated",
                         "`--runtime tflm` runs init subgraphs that compute (TFLite Micro's CALL_ONCE)")


def initial_values(graph: Graph) -> dict[tuple[str, str], np.ndarray]:
    """{variable key: its bytes after the init subgraphs ran}, evaluated now: every CALL_ONCE of the
    main graph (before any READ_VARIABLE or ASSIGN_VARIABLE there, as it runs first) names a
    subgraph of VAR_HANDLE / ASSIGN_VARIABLE (a constant, or a READ_VARIABLE of a variable it
    already assigned) and nothing else. Variables no init subgraph assigns start as zeros."""
    values: dict[tuple[str, str], np.ndarray] = {}
    used = False
    for op in graph.operators:
        if op.opcode in ("READ_VARIABLE", "ASSIGN_VARIABLE"):
            used = True
        if op.opcode != "CALL_ONCE":
            continue
        index = int(op.options.get("init_subgraph_index", -1))
        where = f"CALL_ONCE #{op.index} (init subgraph {index})"
        if used:
            raise _refuse(graph, where, "it runs after the main graph already read or assigned a variable")
        sg = graph.subgraph(index)
        keys = handle_keys(sg.operators)
        local: dict[int, np.ndarray] = {}  # tensor -> constant value, inside the init subgraph
        for inner in sg.operators:
            here = f"{where}: operator #{inner.index} {inner.opcode}"
            if inner.opcode == "VAR_HANDLE":
                continue
            if inner.opcode == "ASSIGN_VARIABLE":
                value = sg.tensor(inner.inputs[1])
                data = value.data if value.data is not None else local.get(value.index)
                if data is None:
                    raise _refuse(graph, here, f"the value '{value.name}' is computed at run time")
                values[keys[inner.inputs[0]]] = np.ascontiguousarray(data)
            elif inner.opcode == "READ_VARIABLE" and keys.get(inner.inputs[0]) in values:
                local[inner.outputs[0]] = values[keys[inner.inputs[0]]]
            else:
                raise _refuse(graph, here, "the init subgraph computes with it")
    return values


@dataclass
class VariableInit:
    """How `<prefix>_reset()` sets one variable: memset to one byte, or memcpy from a constant."""

    name: str  # the variable's shared name, for comments
    var: str  # the C macro of its buffer (a handle's)
    bytes: int
    fill: int | None  # the one value every byte holds, else None
    values: np.ndarray  # int8, the whole initial value

    @property
    def body(self) -> str:
        vals = [str(int(v)) for v in self.values.tolist()]
        return "\n".join("    " + ", ".join(vals[i:i + 16]) + "," for i in range(0, len(vals), 16))


def variable_inits(graph: Graph, c_names: dict[int, str]) -> list[VariableInit]:
    """The reset code's view of every variable: its buffer's C name (`c_names`: tensor -> macro, the
    generator's), size and initial value, checked against the variable's type and shape."""
    values = initial_values(graph) if "CALL_ONCE" in graph.opcodes else {}
    inits = []
    for var in resource_variables(graph):
        handle = next((h for h in var.handles if h in c_names), None)
        if handle is None:
            continue  # never read nor assigned: no buffer
        initial = values.get(var.key)
        if initial is None:
            data = np.zeros(var.nbytes, np.int8)
        else:
            raw = np.ascontiguousarray(initial).reshape(-1).view(np.uint8)
            if raw.size != var.nbytes:
                raise TinypipeError(f"{graph.path}: resource variable '{var.name}' is initialised with "
                                    f"{raw.size} bytes but holds {var.tensor.dtype}{list(var.tensor.shape)} "
                                    f"({var.nbytes} bytes)", "re-convert the model")
            data = raw.view(np.int8)
        fill = int(data[0]) if data.size and np.all(data == data[0]) else None
        inits.append(VariableInit(var.name, c_names[handle], var.nbytes, fill, data))
    return inits
