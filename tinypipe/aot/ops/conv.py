"""CONV_2D and DEPTHWISE_CONV_2D -> kernels/conv_s8, kernels/depthwise_conv_s8.

CONV_2D's bias holds the input zero point folded in offline (bias - input_zp * sum(w), exact in
int32), so every kernel variant runs a plain int8 dot product; its scratch (arena) holds the
optimized variants' im2col columns (TP_CONV_SCRATCH_BYTES in conv_s8.h).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tinypipe.aot import s16
from tinypipe.aot.lowering import Const, Layer, const_input, expect_int8, padding, register, unsupported
from tinypipe.aot.quant import (
    activation_range,
    doubled_requant_ok,
    folded_bias,
    is_rounding_tie,
    per_channel_multipliers,
    requantize_upward,
    zero_point_of,
)
from tinypipe.graph import Graph, Operator, Tensor


def _weights_and_bias(graph: Graph, op: Operator, channels: int) -> tuple[Tensor, np.ndarray, np.ndarray]:
    ins = graph.op_inputs(op)
    w, b = ins[1], ins[2] if len(ins) > 2 else None
    weights = const_input(graph, op, w, "filter")
    assert w is not None
    if w.dtype != "int8" or w.quant is None or np.any(w.quant.zero_point != 0):
        raise unsupported(graph, op, f"filter '{w.name}' must be int8 with zero point 0")
    if b is None:
        bias = np.zeros(channels, np.int32)
    elif b.dtype != "int32":
        raise unsupported(graph, op, f"bias '{b.name}' is {b.dtype}; only int32 is supported")
    else:
        bias = const_input(graph, op, b, "bias")
    return w, weights, bias


def _common(graph: Graph, op: Operator, inp: Tensor, out: Tensor, filter_hw: tuple[int, int],
            w: Tensor) -> tuple[dict[str, int], list[Const]]:
    """Geometry + quantization params shared by both convolutions, and multiplier/shift arrays."""
    _, ih, iw, ic = inp.shape
    n, oh, ow, oc = out.shape
    pad_top, pad_left = padding(graph, op, (ih, iw), filter_hw, (oh, ow))
    act_min, act_max = activation_range(op.options.get("fused_activation_function", "NONE"), out)
    o = op.options
    geometry = {
        "batches": n, "input_h": ih, "input_w": iw, "input_c": ic, "output_h": oh, "output_w": ow,
        "output_c": oc, "filter_h": filter_hw[0], "filter_w": filter_hw[1],
        "stride_h": o.get("stride_h", 1), "stride_w": o.get("stride_w", 1),
        "dilation_h": o.get("dilation_h_factor", 1), "dilation_w": o.get("dilation_w_factor", 1),
        "pad_top": pad_top, "pad_left": pad_left,
    }
    quant = {"input_offset": -zero_point_of(inp), "output_offset": zero_point_of(out),
             "act_min": act_min, "act_max": act_max}
    mult, shift = per_channel_multipliers(inp, w, out, oc)
    requant = [Const("multiplier", "int32_t", mult), Const("shift", "int32_t", shift)]
    return {**as_row(geometry), **quant}, requant


_AXES = [("input_h", "input_w"), ("output_h", "output_w"), ("filter_h", "filter_w"), ("stride_h", "stride_w"),
         ("dilation_h", "dilation_w"), ("pad_top", "pad_left")]


def as_row(geometry: dict[str, int]) -> dict[str, int]:
    """A column image (input, output and filter one pixel wide: a 1-D convolution over time, as
    streaming audio models lay it out) as the same image lying in one row. Its NHWC bytes and
    its filter's are the same either way (y * C + c), and the optimized kernels' blocks and
    segments run along rows: along a column every pixel was a row of its own, with a row's setup."""
    g = geometry
    if not (g["input_w"] == g["output_w"] == g["filter_w"] == 1 and g["input_h"] > 1):
        return geometry
    row = dict(geometry)
    for h, w in _AXES:
        row[h], row[w] = geometry[w], geometry[h]
    return row


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT16_MAX = 2**15 - 1
DSP_PIXELS, DSP_WIDE_PIXELS = 4, 8  # TP_CONV_DSP_PIXELS, TP_CONV_DSP_WIDE_PIXELS in conv_s8.h
# the DSP variants: 4-pixel blocks; 8-pixel blocks; 16; 8-pixel blocks down strips, keeping filter rows
DSP_GENERAL, DSP_WIDE, DSP_WIDE16 = "tp_conv_s8_dsp", "tp_conv_s8_dsp_doubled", "tp_conv_s8_dsp_doubled16"
DSP_STRIPS = "tp_conv_s8_dsp_strips"
DSP_PAIRS = (DSP_WIDE, DSP_WIDE16, DSP_STRIPS)  # the SMMLAR paths: channel-pair weights
DSP_BLOCK_PIXELS = {DSP_GENERAL: DSP_PIXELS, DSP_WIDE: DSP_WIDE_PIXELS, DSP_WIDE16: 2 * DSP_WIDE_PIXELS,
                    DSP_STRIPS: DSP_WIDE_PIXELS}
# narrow(): the variant one step down in scratch
DSP_NARROWER = {DSP_WIDE16: DSP_WIDE, DSP_WIDE: DSP_GENERAL, DSP_STRIPS: DSP_GENERAL}


def conv_scratch_bytes(filter_h: int, filter_w: int, input_c: int, variant: str) -> int:
    """TP_CONV_SCRATCH_BYTES: the int16 im2col columns of the DSP variant's block (16 or 8 pixels
    on its SMMLAR paths, else 4), then one int8 patch."""
    k4 = (filter_h * filter_w * input_c + 3) // 4 * 4
    return 2 * DSP_BLOCK_PIXELS[variant] * k4 + k4


def depthwise_scratch_bytes(p: dict[str, int]) -> int:
    """TP_DW3_SCRATCH_BYTES for the planar 3x3 variants (TP_DW3_PLANAR), TP_DW3_S2_SCRATCH_BYTES
    for Helium's stride 2 (TP_DW3_PLANAR_S2), else 0: the scratch of a layer on its planar paths
    (depthwise_call_scratch_bytes), 0 where it has none."""
    if not (p["filter_h"] == p["filter_w"] == 3 and p["stride_h"] == p["stride_w"] in (1, 2)
            and p["dilation_h"] == p["dilation_w"] == 1 and p["depth_multiplier"] == 1
            and p["input_c"] % 4 == 0):
        return 0
    if p["stride_w"] == 2:  # a plane's bytes within reach of 16-bit offsets from the first plane
        plane = (p["output_w"] + 1) * (4 * p["output_h"] + 2)
        return 4 * plane + 4 if 4 * plane < 2**16 else 0
    return 4 * (p["output_w"] + 2) * (p["output_h"] + 2) + 4


def depthwise_call_scratch_bytes(p: dict[str, int], variants: tuple[str, ...] | None) -> int:
    """The scratch a depthwise layer's call reserves: the most any of its variants (one per core)
    takes. The planar ones take the planes (depthwise_scratch_bytes), the DSP's ring of rows 3
    rows of (output_w - 1) * stride + 3 words (TP_DW3_ROWS_SCRATCH_BYTES), the others none."""
    need = {DW_ROWS: 4 * 3 * ((p["output_w"] - 1) * p["stride_w"] + 3)}
    need.update(dict.fromkeys(DW_PLANAR_VARIANTS, depthwise_scratch_bytes(p)))
    return max((need.get(v, 0) for v in variants or ()), default=0)


PAIRED_WEIGHTS = "TP_CONV_DSP_PAIRED_WEIGHTS"  # conv_s8.h: builds where the 8-pixel paths read channel pairs


def paired_weights(rows: np.ndarray) -> np.ndarray:
    """The filter rows (live channels x patch) in the order the SMMLAR paths (DSP_PAIRS) read them
    (conv_s8_dsp.c): channels in pairs (c0, c1), per quad of 4 patch elements the bytes (c0 k0,
    c1 k0, c0 k2, c1 k2, c0 k1, c1 k1, c0 k3, c1 k3); patch elements past the end and an odd last
    channel are 0."""
    channels, k = rows.shape
    padded = np.zeros((channels + channels % 2, -(-k // 4) * 4), np.int8)
    padded[:channels, :k] = rows
    quads = padded.reshape(-1, 2, padded.shape[1] // 4, 4)  # pair, channel, quad, element
    return quads.transpose(0, 2, 3, 1)[:, :, [0, 2, 1, 3], :].reshape(-1)


def conv_dsp_variant(p: dict[str, int]) -> str:
    """The SMMLAR-only DSP kernel where every channel was proved `doubled`, the activation range is
    all of int8 (its SSAT is the clamp) and there is at least one 8-pixel block, else the general
    one; of the SMMLAR kernels the one down strips where a block shares filter rows with the block
    below it (a filter taller than the stride, no dilation, input channels % 4 == 0, output rows of
    8 pixels or more), else 16-pixel blocks where there are 16 pixels (the last 8 or fewer in an
    8-pixel block, so that they compute no more pixels than 8-pixel blocks)."""
    full_range = (p["act_min"], p["act_max"]) == (-128, 127)
    pixels = p["output_h"] * p["output_w"]
    if not (p["doubled"] and full_range and pixels >= DSP_WIDE_PIXELS):
        return DSP_GENERAL
    keeps_rows = (p["dilation_h"] == p["dilation_w"] == 1 and p["input_c"] % 4 == 0
                  and p["output_w"] >= DSP_WIDE_PIXELS and p["filter_h"] > p["stride_h"])
    if keeps_rows:
        return DSP_STRIPS
    return DSP_WIDE16 if pixels >= 2 * DSP_WIDE_PIXELS else DSP_WIDE


def is_wide(layer: Layer) -> bool:
    """Whether `layer` takes scratch for speed alone: a CONV_2D on the DSP's 8- or 16-pixel paths
    (DSP_PAIRS), or a DEPTHWISE_CONV_2D on Helium's planar path at stride 2."""
    if layer.kernel == "tp_depthwise_conv_s8":
        return bool(layer.variants) and layer.variants[1] == "tp_depthwise_conv_s8_mve_3x3_s2"
    return bool(layer.variants) and layer.variants[0] in DSP_PAIRS


def narrow(layer: Layer) -> Layer:
    """`layer` (is_wide) on the path one step down in scratch: 16-pixel blocks to 8, 8 to the
    general DSP convolution's 4 (half the im2col scratch each), Helium's planar depthwise to its
    generic one (none; the DSP variant keeps what it takes): the generator's choice where the
    faster path's scratch would enlarge the model's arena (codegen.narrow_where_it_saves_ram)."""
    p = layer.params
    if layer.kernel == "tp_depthwise_conv_s8":
        variants = (layer.variants[0], "tp_depthwise_conv_s8_mve")
        return dataclasses.replace(layer, variants=variants,
                                   scratch_bytes=depthwise_call_scratch_bytes(p, variants))
    variant = DSP_NARROWER[layer.variants[0]]
    consts = (layer.consts if variant in DSP_PAIRS
              else [dataclasses.replace(c, layout=None) for c in layer.consts])
    return dataclasses.replace(layer, variants=(variant, *layer.variants[1:]), consts=consts,
                               scratch_bytes=conv_scratch_bytes(p["filter_h"], p["filter_w"], p["input_c"],
                                                                variant))


DW_MAX_TAPS = 25  # TP_DW_MAX_TAPS in depthwise_conv_s8.h
DW_ROWS = "tp_depthwise_conv_s8_dsp_rows"
DW_PLANAR_VARIANTS = ("tp_depthwise_conv_s8_dsp_3x3", "tp_depthwise_conv_s8_mve_3x3",
                      "tp_depthwise_conv_s8_mve_3x3_s2")
# The planar DSP 3x3 spends ~40 instructions per line of every channel's plane outside its inner
# loop; _dsp_rows ~100 per pixel of 4 channels, borders included. Measured on VWW (qemu-m4,
# instructions per output, rows against planar): 6x6 32.2 against 37.2, 3x3 42.0 against 68.6,
# 12x12 a tie (+760 instructions for the layer), 24x24 and 48x48 planar ahead: stride 1 takes
# _dsp_rows up to outputs of 8 x 8.
DW_ROWS_MAX_SIDE = 8


def depthwise_variants(p: dict[str, int]) -> tuple[str, str] | None:
    """(DSP, Helium) kernels for this depthwise layer: where a 3x3 has scratch, Helium's planar
    variants (stride 1 and 2) and the DSP's planar one (stride 1, outputs larger than 8 x 8) or its
    ring of rows (the rest); else DSP tap pairs for channels % 4 == 0 and small windows or the
    generic DSP path, and the generic Helium one; none (portable everywhere) for depth multipliers
    above 1."""
    if p["depth_multiplier"] != 1:
        return None
    if depthwise_scratch_bytes(p):
        if p["stride_w"] == 2:
            return DW_ROWS, "tp_depthwise_conv_s8_mve_3x3_s2"
        small = max(p["output_h"], p["output_w"]) <= DW_ROWS_MAX_SIDE
        return DW_ROWS if small else "tp_depthwise_conv_s8_dsp_3x3", "tp_depthwise_conv_s8_mve_3x3"
    if p["input_c"] % 4 == 0 and p["filter_h"] * p["filter_w"] <= DW_MAX_TAPS:
        return "tp_depthwise_conv_s8_dsp_pairs", "tp_depthwise_conv_s8_mve"
    return "tp_depthwise_conv_s8_dsp", "tp_depthwise_conv_s8_mve"


def _dead_channels(rows: np.ndarray, bias: np.ndarray, mult: np.ndarray, shift: np.ndarray,
                   p: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(live output channels, per-channel constant outputs): a channel whose weights are all zero
    outputs requantize(bias) for every input, so the kernel writes that byte instead of computing
    it (`channels`, `fill` of tp_conv_s8). A channel whose constant would round differently under
    TFLite Micro's rule (a tie) stays live, so -DTP_TFLM_ROUNDING builds stay exact too."""
    fill = np.zeros(len(rows), np.int8)
    live = []
    for c, row in enumerate(rows):
        args = (int(bias[c]), int(mult[c]), int(shift[c]))
        if row.any() or is_rounding_tie(*args):
            live.append(c)
        else:
            fill[c] = requantize_upward(*args, p["output_offset"], p["act_min"], p["act_max"])
    return np.array(live, np.int64), fill


def _check_4d(graph: Graph, op: Operator, *tensors: Tensor) -> None:
    for t in tensors:
        if len(t.shape) != 4:
            raise unsupported(graph, op, f"tensor '{t.name}' has shape {t.shape}; 4-D NHWC expected")


def _operands(graph: Graph, op: Operator) -> tuple[Tensor, Tensor, int, Tensor, np.ndarray, np.ndarray]:
    """(input, output, output channels, filter tensor, filter values, bias) of a 4-D int8 conv."""
    inp, out = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    expect_int8(graph, op, inp, out)
    assert inp is not None
    oc = out.shape[-1]
    w, weights, bias = _weights_and_bias(graph, op, oc)
    _check_4d(graph, op, inp, out, w)
    return inp, out, oc, w, weights, bias


@register("CONV_2D", prefix="conv")
def lower_conv(graph: Graph, op: Operator, name: str) -> Layer:
    if s16.is_s16(graph, op):  # 16x8: int16 activations
        return s16.lower_conv(graph, op, name)
    inp, out, oc, w, weights, bias = _operands(graph, op)
    if weights.shape[3] != inp.shape[3] or weights.shape[0] != oc:
        raise unsupported(graph, op, f"filter {weights.shape} does not match input {inp.shape} "
                                     "(grouped convolution)")
    params, requant = _common(graph, op, inp, out, (weights.shape[1], weights.shape[2]), w)
    rows = weights.reshape(oc, -1)
    folded = folded_bias(bias, rows, inp)
    if folded.min() < INT32_MIN or folded.max() > INT32_MAX:
        raise unsupported(graph, op, "bias with the input zero point folded in overflows int32")
    mult, shift = requant[0].values, requant[1].values
    live, fill = _dead_channels(rows, folded, mult, shift, params)
    params["live_c"] = len(live)
    params["doubled"] = int(doubled_requant_ok(folded[live], rows[live], shift[live]))
    elided = len(live) < oc
    if elided and oc > INT16_MAX + 1:  # the live channel list is int16_t
        raise unsupported(graph, op, f"{oc} output channels with all-zero ones elided: "
                                     f"at most {INT16_MAX + 1}")
    dsp = conv_dsp_variant(params)
    pairs = dsp in DSP_PAIRS and len(live)
    paired = (PAIRED_WEIGHTS, paired_weights(rows[live])) if pairs else None
    return Layer(op, name, kernel="tp_conv_s8", inputs=[inp.index], outputs=[out.index],
                 variants=(dsp, "tp_conv_s8_mve"),
                 params_type="tp_conv_params_t", params=params,
                 consts=[Const("weights", "int8_t", np.append(rows[live].reshape(-1), np.zeros(4, np.int8)),
                               paired),
                         Const("bias", "int32_t", folded[live]), Const("multiplier", "int32_t", mult[live]),
                         Const("shift", "int32_t", shift[live]),
                         Const("channels", "int16_t", live if elided else np.zeros(0)),
                         Const("fill", "int8_t", fill if elided else np.zeros(0))],
                 macs=out.size * int(np.prod(weights.shape[1:])),
                 scratch_bytes=conv_scratch_bytes(weights.shape[1], weights.shape[2], inp.shape[3], dsp))


@register("DEPTHWISE_CONV_2D", prefix="dwconv")
def lower_depthwise_conv(graph: Graph, op: Operator, name: str) -> Layer:
    if s16.is_s16(graph, op):  # 16x8: int16 activations
        return s16.lower_depthwise_conv(graph, op, name)
    inp, out, oc, w, weights, bias = _operands(graph, op)
    multiplier = oc // inp.shape[3]
    if weights.shape[3] != oc or multiplier * inp.shape[3] != oc:
        raise unsupported(graph, op, f"filter {weights.shape} does not match input {inp.shape}")
    params, requant = _common(graph, op, inp, out, (weights.shape[1], weights.shape[2]), w)
    # LiteRT's optimized depthwise requantizes 8 output channels at a time with NEON (ties upward)
    # and the output_c % 8 leftover channels with scalar MultiplyByQuantizedMultiplier (ties away):
    # measured over depth multipliers 1-3, 1..27 channels, 1x2 / 3x3 kernels (README, "Rounding").
    params = {**params, "depth_multiplier": multiplier, "upward_channels": oc // 8 * 8}
    rows = weights.reshape(-1, oc).T  # per output channel, its taps
    params["doubled"] = int(multiplier == 1 and doubled_requant_ok(folded_bias(bias, rows, inp), rows,
                                                                      requant[1].values))
    return Layer(op, name, kernel="tp_depthwise_conv_s8", inputs=[inp.index], outputs=[out.index],
                 variants=depthwise_variants(params),
                 params_type="tp_depthwise_conv_params_t", params=params,
                 consts=[Const("weights", "int8_t", weights), Const("bias", "int32_t", bias), *requant],
                 macs=out.size * weights.shape[1] * weights.shape[2], takes_scratch=True,
                 scratch_bytes=depthwise_call_scratch_bytes(params, depthwise_variants(params)))
