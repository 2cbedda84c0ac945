"""How much tensor arena to reserve for TensorFlow Lite Micro on the target.

The measured figure is TFLite Micro's own allocation recorder on the host (reference kernels,
a 64-bit build). The target differs in two ways, and the reserve covers both by rule rather
than by a percentage that works by luck:

* 32-bit pointers make every persistent structure smaller: the host figure is an upper bound.
* CMSIS-NN kernels request scratch buffers the reference kernels do not (im2col columns,
  depthwise planes, pooling sums) and, on Helium, persistent kernel sums. Scratch buffers live
  in the non-persistent region, where at most one operator's are alive at a time: the peak grows
  by at most the largest operator's scratch. Persistent sums add up over operators.

The bounds below are the maxima over CMSIS-NN's DSP and MVE paths of its `*_get_buffer_size`
functions (third_party/cmsis_nn/Source/*/arm_*_get_buffer_sizes_s8.c at the pinned commit).
Each request also costs a handle and up to one alignment's padding: REQUEST_OVERHEAD_BYTES.
The firmware reports `arena_used_bytes()` so reserved and used are shown side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinypipe import graph as graph_mod

ARENA_ALIGNMENT = 16
REQUEST_OVERHEAD_BYTES = 32  # a scratch handle, an OpData larger than the reference one, padding
MVE_DEPTHWISE_CHANNEL_BLOCK = 128  # CH_IN_BLOCK_MVE, rounded up
INT16_BYTES, INT32_BYTES = 2, 4


def _align(n: int, to: int) -> int:
    return -(-n // to) * to


def _conv_scratch(k_h: int, k_w: int, in_c: int, mve: bool) -> int:
    """im2col: two int16 columns (DSP) or four 16-lane int8 columns (MVE) of kh*kw*cin."""
    cols = k_h * k_w * in_c
    return 4 * _align(cols, 16) if mve else 2 * _align(cols, 4) * INT16_BYTES


@dataclass(frozen=True)
class OpBuffers:
    scratch: int  # non-persistent, alive during the operator only
    persistent: int  # for the lifetime of the interpreter


def cmsis_nn_buffers(g: graph_mod.Graph, op: graph_mod.Operator, mve: bool) -> OpBuffers:
    """Upper bounds of the buffers the CMSIS-NN version of `op` asks for beyond the reference kernel,
    on a core with MVE (Helium) or with the DSP extension."""
    ins = g.op_inputs(op)
    outs = g.op_outputs(op)
    if len(ins) < 2 or ins[1] is None or not outs:
        return OpBuffers(0, 0)
    filt, out = ins[1], outs[0]
    out_c = out.shape[-1] if out.shape else 1
    sums = out_c * INT32_BYTES if mve else 0  # Helium kernels keep per-channel kernel sums
    if op.opcode in ("CONV_2D", "TRANSPOSE_CONV") and len(filt.shape) == 4:
        _, k_h, k_w, in_c = filt.shape
        return OpBuffers(_conv_scratch(k_h, k_w, in_c, mve), sums)
    if op.opcode == "DEPTHWISE_CONV_2D" and len(filt.shape) == 4:
        _, k_h, k_w, _ = filt.shape
        inp = ins[0]
        in_c = inp.shape[-1] if inp is not None and inp.shape else out_c
        if not mve:
            return OpBuffers(in_c * k_h * k_w * INT16_BYTES, 0)
        planes = 4 * MVE_DEPTHWISE_CHANNEL_BLOCK * k_h * k_w
        one_channel = _conv_scratch(k_h, k_w, 1, mve) + out_c * k_h * k_w  # run as a convolution
        return OpBuffers(max(planes, one_channel), sums)
    if op.opcode in ("FULLY_CONNECTED", "BATCH_MATMUL", "SVDF", "UNIDIRECTIONAL_SEQUENCE_LSTM"):
        return OpBuffers(out_c * INT32_BYTES, sums)
    if op.opcode == "AVERAGE_POOL_2D":
        return OpBuffers(out_c * INT32_BYTES, 0)
    return OpBuffers(0, 0)


def arena_reserve(g: graph_mod.Graph, measured: int, kernels: str, mve: bool = False) -> int:
    """Bytes of arena to reserve on a 32-bit target for a model TFLite Micro measured at `measured`
    bytes on the host, with `kernels` ("cmsis-nn" or "reference") on a core with or without MVE."""
    extra = REQUEST_OVERHEAD_BYTES * len(g.operators)
    if kernels == "cmsis-nn":
        buffers = [cmsis_nn_buffers(g, op, mve) for op in g.operators]
        extra += max((b.scratch for b in buffers), default=0) + sum(b.persistent for b in buffers)
    return _align(measured + extra, ARENA_ALIGNMENT)
