"""TILE (int8, int16 in 16x8 models; constant multiples) -> kernels/tile.

What the converter emits for UpSampling1D and for `tf.tile`: the input repeated along each
dimension. LiteRT's tile.cc moves the values unchanged (the output keeps the input's
quantization), so the kernel is block copies."""

from __future__ import annotations

import numpy as np

from tinypipe.aot.lowering import Const, Layer, const_input, register, unsupported
from tinypipe.aot.ops.layout import same_quantization
from tinypipe.graph import Graph, Operator

MAX_RANK = 6  # TP_TILE_MAX_RANK in tile.h
ELEMENT_BYTES = {"int8": 1, "int16": 2}


@register("TILE", prefix="tile")
def lower_tile(graph: Graph, op: Operator, name: str) -> Layer:
    inp, repeats = graph.op_inputs(op)[:2]
    out = graph.op_outputs(op)[0]
    assert inp is not None
    if inp.dtype not in ELEMENT_BYTES or out.dtype != inp.dtype or inp.quant is None:
        raise unsupported(graph, op, f"tensor '{inp.name}' is {inp.dtype}; only quantized int8 and int16 are "
                                     "supported")
    same_quantization(graph, op, inp, out)
    if inp.is_const:
        raise unsupported(graph, op, "tiling a constant tensor is not supported")
    multiples = const_input(graph, op, repeats, "multiples").reshape(-1).astype(np.int64)
    rank = len(inp.shape)
    if not 1 <= rank <= MAX_RANK or multiples.size != rank:
        raise unsupported(graph, op, f"{multiples.size} multiples for a rank-{rank} input "
                                     f"(ranks 1..{MAX_RANK}, one multiple per dimension)")
    if multiples.min() < 1:
        raise unsupported(graph, op, f"multiples {multiples.tolist()}: each must be at least 1")
    if tuple(int(d * m) for d, m in zip(inp.shape, multiples, strict=True)) != tuple(out.shape):
        raise unsupported(graph, op, f"output {out.shape} is not {inp.shape} tiled by {multiples.tolist()}")
    return Layer(
        op, name, kernel="tp_tile", inputs=[inp.index], outputs=[out.index],
        params_type="tp_tile_params_t", params={"rank": rank, "element_bytes": ELEMENT_BYTES[inp.dtype]},
        consts=[Const("dims", "int32_t", np.array(inp.shape, np.int64)),
                Const("multiples", "int32_t", multiples)],
    )
