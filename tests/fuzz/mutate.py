"""Hostile `.tflite` mutants of a seed model, independent of tinypipe.

Four kinds of mutation, each deterministic in (seed model, kind, seed):

* `truncate`    - the file cut at a random length;
* `bitflip`     - 1 to 8 random bits flipped;
* `overwrite32` - one aligned 32-bit word replaced by an interesting value (0, -1, INT32_MAX, ...);
* `structured`  - one field changed through the flatbuffer schema's object API and the model
  repacked, so the file still parses: tensor shapes, types, buffers, quantization, operator
  tensor indices, opcodes, builtin options, operator order, subgraph inputs/outputs, names,
  buffer contents. `structured_mutation()` names the field it changed.

The schema classes are LiteRT's generated Python schema (`ai_edge_litert.schema_py_generated`,
object API); nothing here imports tinypipe.
"""

from __future__ import annotations

import copy
import math
import random
import struct
from collections.abc import Callable
from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

KINDS = ("truncate", "bitflip", "overwrite32", "structured")
INTERESTING_32 = [0, 1, 2, 0xFF, 0x7F, 0x80, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE,
                  0x10000, 0x1000, 64, 1000]
HOSTILE_INTS = [0, -1, -2, 1, 2, 3, 7, 17, 99, 127, -128, 255, 1000, 65536, 2**31 - 1, -(2**31)]
HOSTILE_DIMS = [0, -1, -7, 65536, 2**31 - 1, 3, 1, 1000]
HOSTILE_SCALES = [0.0, -1.0, math.nan, math.inf, -math.inf, 1e-38, 1e-45, 1e30, 3.4e38]
HOSTILE_ZERO_POINTS = [-1000, -129, 128, 255, 300, 2**31 - 1, -(2**31), 1 << 40]
HOSTILE_NAMES = [b"[/x]", b"[bold red]boom[/bold red]", b"\xff\xfe\x80 bad utf-8", b"",
                 b"a" * 5000, b"name\nwith\nnewlines", b"[link=file:///etc/passwd]x[/link]", b"%s%n\x00"]


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    n = rng.choice([rng.randrange(len(data)), rng.randrange(64), len(data) - rng.randrange(1, 64)])
    return data[:max(0, n)], f"cut at {n}"


def bitflip(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    where = []
    for _ in range(rng.randint(1, 8)):
        # bias towards the first 4 KB: the tables live there, the weights behind them
        pos = rng.randrange(min(len(out), 4096)) if rng.random() < 0.7 else rng.randrange(len(out))
        out[pos] ^= 1 << rng.randrange(8)
        where.append(pos)
    return bytes(out), f"flipped bits at {where}"


def overwrite32(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    span = min(len(out), 4096) if rng.random() < 0.7 else len(out)
    pos = rng.randrange(max(1, span // 4)) * 4
    value = rng.choice(INTERESTING_32) if rng.random() < 0.8 else rng.getrandbits(32)
    out[pos:pos + 4] = struct.pack("<I", value)
    return bytes(out), f"word at {pos} = 0x{value:08x}"


# --- structured ----------------------------------------------------------------------------------


def unpack(data: bytes) -> Any:
    return schema.ModelT.InitFromPackedBuf(data, 0)


def pack(model: Any) -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _tensors(m: Any) -> list[Any]:
    return m.subgraphs[0].tensors or []


def _ops(m: Any) -> list[Any]:
    return m.subgraphs[0].operators or []


def _opname(m: Any, op: Any) -> str:
    code = m.operatorCodes[op.opcodeIndex]
    value = max(code.builtinCode, code.deprecatedBuiltinCode)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return names.get(value, str(value))


def _quantized(m: Any) -> list[int]:
    return [i for i, t in enumerate(_tensors(m))
            if t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale)]


def _const(m: Any) -> list[int]:
    return [i for i, t in enumerate(_tensors(m)) if t.buffer and m.buffers[t.buffer].data is not None
            and len(m.buffers[t.buffer].data)]


def m_tensor_shape(m: Any, rng: random.Random) -> str:
    i = rng.randrange(len(_tensors(m)))
    t = _tensors(m)[i]
    shape = [int(x) for x in t.shape] if t.shape is not None else []
    choice = rng.random()
    if choice < 0.15 or not shape:
        shape.append(rng.choice([1, 2, 0]))
        what = "added a dimension"
    elif choice < 0.3:
        shape.pop(rng.randrange(len(shape)))
        what = "dropped a dimension"
    else:
        d = rng.randrange(len(shape))
        shape[d] = rng.choice([*HOSTILE_DIMS, shape[d] + 1, shape[d] * 2, max(1, shape[d] // 2)])
        what = f"dim {d} = {shape[d]}"
    t.shape = shape
    return f"tensor {i} shape: {what}"


def m_output_inflate(m: Any, rng: random.Random) -> str:
    """An operator's output shape inflated (the FULLY_CONNECTED [1,65536] of issue 12)."""
    fcs = [op for op in _ops(m) if _opname(m, op) == "FULLY_CONNECTED"] or _ops(m)
    op = rng.choice(fcs)
    t = _tensors(m)[op.outputs[0]]
    t.shape = rng.choice([[1, 65536], [1, 2 * int(np.prod(t.shape))], [65536], [1, 1 << 20]])
    return f"output of {_opname(m, op)} shape {t.shape}"


def m_tensor_type(m: Any, rng: random.Random) -> str:
    i = rng.randrange(len(_tensors(m)))
    t = _tensors(m)[i]
    t.type = rng.choice([*range(0, 21), 99, 127])
    return f"tensor {i} type = {t.type}"


def m_const_type(m: Any, rng: random.Random) -> str:
    consts = _const(m)
    i = rng.choice(consts)
    t = _tensors(m)[i]
    t.type = rng.choice([0, 1, 2, 3, 4, 6, 7, 9, 10, 11, 17])
    return f"constant tensor {i} type = {t.type}"


def m_tensor_buffer(m: Any, rng: random.Random) -> str:
    i = rng.randrange(len(_tensors(m)))
    t = _tensors(m)[i]
    t.buffer = rng.choice([0, len(m.buffers), len(m.buffers) + 100, rng.randrange(len(m.buffers)), 2**31 - 1])
    return f"tensor {i} buffer = {t.buffer}"


def m_quant_scale(m: Any, rng: random.Random) -> str:
    i = rng.choice(_quantized(m))
    q = _tensors(m)[i].quantization
    scale = list(q.scale)
    k = rng.randrange(len(scale))
    scale[k] = rng.choice(HOSTILE_SCALES)
    q.scale = scale
    return f"tensor {i} scale[{k}] = {scale[k]}"


def m_quant_zero_point(m: Any, rng: random.Random) -> str:
    i = rng.choice(_quantized(m))
    q = _tensors(m)[i].quantization
    zp = list(q.zeroPoint) if q.zeroPoint is not None and len(q.zeroPoint) else [0]
    k = rng.randrange(len(zp))
    zp[k] = rng.choice(HOSTILE_ZERO_POINTS)
    q.zeroPoint = zp
    return f"tensor {i} zero_point[{k}] = {zp[k]}"


def m_quant_channels(m: Any, rng: random.Random) -> str:
    i = rng.choice(_quantized(m))
    q = _tensors(m)[i].quantization
    scale = list(q.scale)
    zp = list(q.zeroPoint) if q.zeroPoint is not None else []
    choice = rng.randrange(4)
    if choice == 0 and len(scale) > 1:
        q.scale, q.zeroPoint = scale[:-1], zp[:-1]
        return f"tensor {i}: one per-channel scale dropped"
    if choice == 1:
        q.scale, q.zeroPoint = [*scale, scale[-1]], [*zp, 0]
        return f"tensor {i}: one scale added ({len(scale) + 1})"
    if choice == 2:
        q.quantizedDimension = rng.choice([1, 2, 3, 7, -1, 1000])
        return f"tensor {i}: quantized dimension {q.quantizedDimension}"
    q.zeroPoint = zp[:-1] if zp else [0, 0]
    return f"tensor {i}: zero point count {len(q.zeroPoint)} for {len(scale)} scales"


def m_op_io(m: Any, rng: random.Random) -> str:
    k = rng.randrange(len(_ops(m)))
    op = _ops(m)[k]
    field = "inputs" if rng.random() < 0.6 else "outputs"
    lst = [int(x) for x in getattr(op, field)]
    if not lst:
        lst = [0]
    j = rng.randrange(len(lst))
    lst[j] = rng.choice([-1, -2, len(_tensors(m)), len(_tensors(m)) + 7, 2**31 - 1,
                         rng.randrange(len(_tensors(m)))])
    if rng.random() < 0.1:
        lst = lst[:j] if j else []
    setattr(op, field, lst)
    return f"op {k} {field} = {lst}"


def m_op_opcode(m: Any, rng: random.Random) -> str:
    k = rng.randrange(len(_ops(m)))
    op = _ops(m)[k]
    op.opcodeIndex = rng.choice([len(m.operatorCodes), len(m.operatorCodes) + 3, 2**31 - 1,
                                 rng.randrange(len(m.operatorCodes))])
    return f"op {k} opcode index = {op.opcodeIndex}"


def m_opcode_builtin(m: Any, rng: random.Random) -> str:
    k = rng.randrange(len(m.operatorCodes))
    code = m.operatorCodes[k]
    value = rng.choice([0, 1, 3, 4, 9, 17, 22, 25, 32, 40, 97, 114, 126, 200, 1000])
    code.builtinCode = value
    code.deprecatedBuiltinCode = min(value, 127)
    return f"operator code {k} builtin = {value}"


def m_options_missing(m: Any, rng: random.Random) -> str:
    """Builtin options removed, or replaced by a default table of another operator's options."""
    k = rng.randrange(len(_ops(m)))
    op = _ops(m)[k]
    if rng.random() < 0.5:
        op.builtinOptions, op.builtinOptionsType = None, 0
        return f"op {k} builtin options removed"
    names = {v: n for n, v in vars(schema.BuiltinOptions).items() if not n.startswith("_") and v}
    kind = rng.choice([1, 2, 5, 8, 9, 10, 11, 22, 29])
    op.builtinOptionsType, op.builtinOptions = kind, getattr(schema, names[kind] + "T")()
    return f"op {k} builtin options = default {names[kind]}"


def m_options_value(m: Any, rng: random.Random) -> str:
    candidates = [(k, op) for k, op in enumerate(_ops(m)) if op.builtinOptions is not None
                  and any(isinstance(v, int | float) for v in vars(op.builtinOptions).values())]
    k, op = rng.choice(candidates)
    fields = [f for f, v in vars(op.builtinOptions).items() if isinstance(v, int | float)]
    name = rng.choice(fields)
    old = getattr(op.builtinOptions, name)
    if isinstance(old, bool):
        value: Any = not old
    elif isinstance(old, float):
        value = rng.choice([0.0, -1.0, math.nan, math.inf, 1e30])
    else:
        value = rng.choice(HOSTILE_INTS)
    setattr(op.builtinOptions, name, value)
    return f"op {k} {_opname(m, op)} option {name} = {value}"


def m_op_order(m: Any, rng: random.Random) -> str:
    ops = _ops(m)
    a = rng.randrange(len(ops))
    b = rng.choice([x for x in range(len(ops)) if x != a] or [a])
    if rng.random() < 0.2:  # an operator run twice
        ops.insert(b, copy.deepcopy(ops[a]))
        return f"op {a} duplicated at {b}"
    if rng.random() < 0.2 and len(ops) > 1:
        del ops[a]
        return f"op {a} removed"
    ops[a], ops[b] = ops[b], ops[a]
    return f"ops {a} and {b} swapped"


def m_subgraph_io(m: Any, rng: random.Random) -> str:
    sg = m.subgraphs[0]
    field = rng.choice(["inputs", "outputs"])
    n = len(_tensors(m))
    value = rng.choice([[], [n], [-1], [0], [rng.randrange(n)], [*getattr(sg, field), rng.randrange(n)],
                        [*getattr(sg, field)] * 2])
    setattr(sg, field, value)
    return f"subgraph {field} = {value}"


def m_tensor_name(m: Any, rng: random.Random) -> str:
    i = rng.randrange(len(_tensors(m)))
    _tensors(m)[i].name = rng.choice(HOSTILE_NAMES)
    return f"tensor {i} name = {_tensors(m)[i].name[:40]!r}"


def m_buffer_data(m: Any, rng: random.Random) -> str:
    i = rng.choice(_const(m))
    buf = m.buffers[_tensors(m)[i].buffer]
    data = np.asarray(buf.data, np.uint8)
    choice = rng.randrange(4)
    if choice == 0:
        buf.data = data[:-rng.choice([1, 4, len(data) // 2 or 1])]
        return f"tensor {i} data shortened to {len(buf.data)} bytes"
    if choice == 1:
        buf.data = np.concatenate([data, np.zeros(rng.choice([1, 4, 64]), np.uint8)])
        return f"tensor {i} data lengthened to {len(buf.data)} bytes"
    if choice == 2:
        buf.data = None
        return f"tensor {i} data removed"
    data = data.copy()
    data[:] = rng.choice([0x00, 0x7F, 0x80, 0xFF])
    buf.data = data
    return f"tensor {i} data all 0x{data[0]:02x}"


def m_weights_shape(m: Any, rng: random.Random) -> str:
    """A filter or bias given the wrong rank or length (its data unchanged)."""
    weighted = [op for op in _ops(m) if _opname(m, op) in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    op = rng.choice(weighted)
    pos = rng.choice([1, 2]) if len(op.inputs) > 2 else 1
    t = _tensors(m)[op.inputs[pos]] if op.inputs[pos] >= 0 else _tensors(m)[op.inputs[1]]
    shape = [int(x) for x in t.shape]
    choice = rng.randrange(3)
    if choice == 0:
        t.shape = [int(np.prod(shape))]
    elif choice == 1:
        t.shape = [1, *shape]
    else:
        d = rng.randrange(len(shape))
        shape[d] = max(1, shape[d] - 1) if shape[d] > 1 else shape[d] + 1
        t.shape = shape
    return f"{_opname(m, op)} input {pos} shape = {t.shape}"


STRUCTURED: dict[str, Callable[[Any, random.Random], str]] = {
    "tensor_shape": m_tensor_shape,
    "output_inflate": m_output_inflate,
    "tensor_type": m_tensor_type,
    "const_type": m_const_type,
    "tensor_buffer": m_tensor_buffer,
    "quant_scale": m_quant_scale,
    "quant_zero_point": m_quant_zero_point,
    "quant_channels": m_quant_channels,
    "op_io": m_op_io,
    "op_opcode": m_op_opcode,
    "opcode_builtin": m_opcode_builtin,
    "options_missing": m_options_missing,
    "options_value": m_options_value,
    "op_order": m_op_order,
    "subgraph_io": m_subgraph_io,
    "tensor_name": m_tensor_name,
    "buffer_data": m_buffer_data,
    "weights_shape": m_weights_shape,
}


def structured(data: bytes, rng: random.Random, field: str | None = None) -> tuple[bytes, str]:
    """One field changed through the object API; retried until the model repacks."""
    for _ in range(20):
        name = field or rng.choice(sorted(STRUCTURED))
        m = unpack(data)
        try:
            what = STRUCTURED[name](m, rng)
            return pack(m), f"{name}: {what}"
        except (IndexError, ValueError, struct.error, TypeError, AttributeError, OverflowError):
            continue  # the field does not exist in this model, or the value does not fit its type
    return data, "unmutated"


MUTATORS: dict[str, Callable[[bytes, random.Random], tuple[bytes, str]]] = {
    "truncate": truncate, "bitflip": bitflip, "overwrite32": overwrite32, "structured": structured,
}


def mutate(data: bytes, kind: str, seed: int | str) -> tuple[bytes, str]:
    """The mutant of `data` for (`kind`, `seed`) and a description of what changed."""
    return MUTATORS[kind](data, random.Random(f"{kind}:{seed}"))


def parses(data: bytes) -> bool:
    """Whether the schema's object API can unpack the bytes (the mutant 'still parses')."""
    try:
        unpack(data)
    except Exception:
        return False
    return True
