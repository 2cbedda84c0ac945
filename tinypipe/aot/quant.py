"""TFLite's offline quantization arithmetic, reproduced exactly for the code generator.

Everything here runs at generation time in Python; the C kernels only see the resulting
integers. Each function mirrors one TFLite routine (named in its docstring) down to the
float/double precision of every intermediate, because that decides the last bit.
"""

from __future__ import annotations

import math

import numpy as np

from tinypipe.graph import Tensor

INT8_MIN, INT8_MAX = -128, 127


def tflite_round(x: float) -> int:
    """std::round: nearest, ties away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def doubling_high_mul(acc: int, multiplier: int, shift: int) -> int:
    """The first step of MultiplyByQuantizedMultiplier on Python ints: acc shifted left by
    max(shift, 0) (int32 wrap, as the C code), then SaturatingRoundingDoublingHighMul. The right
    shift by max(-shift, 0) that follows is rounded per kernel family."""
    x = ((acc << max(shift, 0)) + 2**31) % 2**32 - 2**31
    return 2**31 - 1 if x == multiplier == -(2**31) else (x * multiplier + 2**30) >> 31


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier on Python ints (tp_multiply_by_quantized_multiplier):
    the doubling high multiply, then the right shift rounded half away from zero."""
    high = doubling_high_mul(x, multiplier, shift)
    exponent = max(-shift, 0)
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> exponent) + (1 if (high & mask) > threshold else 0)


def requantize_upward(acc: int, multiplier: int, shift: int, output_offset: int, act_min: int,
                      act_max: int) -> int:
    """tp_requantize_upward (runtime/tp_common.h): LiteRT's conv requantization of one accumulator."""
    h, right = doubling_high_mul(acc, multiplier, shift), max(-shift, 0)
    scaled = (h >> right) + ((h >> (right - 1)) & 1) if right else h
    return min(max(scaled + output_offset, act_min), act_max)


def is_rounding_tie(acc: int, multiplier: int, shift: int) -> bool:
    """Whether the final right shift of this requantization lands exactly on a half (where the
    ties-upward and ties-away rules differ)."""
    h, right = doubling_high_mul(acc, multiplier, shift), max(-shift, 0)
    return right > 0 and h % (1 << right) == 1 << (right - 1)


def doubled_requant_ok(bias: np.ndarray, weights: np.ndarray, shift: np.ndarray) -> bool:
    """tp_smmlar's conditions for every output channel: |acc| < 2^30 for any int8 input (bias plus
    128 * sum |w|) and a right shift of 1..22 (the `doubled` field of the convolution, depthwise and
    fully connected params)."""
    if bias.size == 0:
        return False
    bound = np.abs(bias.astype(np.int64)) + 128 * np.abs(weights.astype(np.int64)).sum(axis=1)
    return bool(bound.max() < 2**30 and shift.max() <= -1 and shift.min() >= -22)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: real (double) -> (Q31 multiplier, shift) with real ~ m * 2^(shift-31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    assert q_fixed <= 1 << 31
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:  # TFLite clamps: such a multiplier saturates every input anyway
        return (1 << 31) - 1, 30
    return q_fixed, shift


def float_ratio(a: float, b: float) -> float:
    """a / b divided in float32 then widened, as kernels that compute `input->params.scale /
    output->params.scale` (both float) before QuantizeMultiplier do."""
    return float(np.float32(a) / np.float32(b))


def scale_of(t: Tensor) -> float:
    """The per-tensor scale as TFLite stores it (float32), returned as a Python float."""
    assert t.quant is not None
    return float(np.float32(t.quant.scale[0]))


def zero_point_of(t: Tensor) -> int:
    assert t.quant is not None
    return int(t.quant.zero_point[0])


def folded_bias(bias: np.ndarray, rows: np.ndarray, inp: Tensor) -> np.ndarray:
    """Per output channel (rows: its weights), the bias with the input zero point folded in,
    bias - zp * sum(w), in int64: what the kernels start their accumulators from."""
    return bias.astype(np.int64) - zero_point_of(inp) * rows.astype(np.int64).sum(axis=1)


def quantize_value(t: Tensor, value: float) -> int:
    """zero_point + round(value / scale), with the division in float32 as TFLite does."""
    return zero_point_of(t) + tflite_round(float(np.float32(value) / np.float32(scale_of(t))))


def activation_range(fused: str | None, out: Tensor, bounds: tuple[int, int] = (INT8_MIN, INT8_MAX)
                     ) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for a fused activation name and an output of the type
    whose range is `bounds` (int8 by default)."""
    lo, hi = bounds
    if fused == "RELU":
        return max(lo, quantize_value(out, 0.0)), hi
    if fused == "RELU6":
        return max(lo, quantize_value(out, 0.0)), min(hi, quantize_value(out, 6.0))
    if fused == "RELU_N1_TO_1":
        return max(lo, quantize_value(out, -1.0)), min(hi, quantize_value(out, 1.0))
    if fused in ("NONE", "", None):
        return lo, hi
    raise ValueError(fused)


def per_channel_multipliers(inp: Tensor, weights: Tensor, out: Tensor,
                            channels: int) -> tuple[np.ndarray, np.ndarray]:
    """PopulateConvolutionQuantizationParams: one (multiplier, shift) per output channel.

    effective = double(input_scale) * double(filter_scale[c]) / double(output_scale); a
    per-tensor filter scale is broadcast over the channels.
    """
    assert weights.quant is not None
    scales = weights.quant.scale.astype(np.float32)
    mults, shifts = [], []
    for c in range(channels):
        fs = float(scales[c if scales.size > 1 else 0])
        m, s = quantize_multiplier(scale_of(inp) * fs / scale_of(out))
        mults.append(m)
        shifts.append(s)
    return np.array(mults, dtype=np.int32), np.array(shifts, dtype=np.int32)


def per_tensor_multiplier(inp: Tensor, weights: Tensor, out: Tensor) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler: the input*filter product is taken in float32 first."""
    product = float(np.float32(scale_of(inp)) * np.float32(scale_of(weights)))
    return quantize_multiplier(product / scale_of(out))
