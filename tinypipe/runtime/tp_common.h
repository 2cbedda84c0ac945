/*
 * tp_common.h - types and integer helpers shared by every tinypipe kernel.
 *
 * The requantization helpers reproduce TensorFlow Lite's integer arithmetic exactly, so a
 * kernel built on them gives the same int8 bytes as LiteRT's built-in kernels for every input.
 *
 * Rounding, measured against LiteRT (tinypipe.reference) on the MLPerf Tiny models:
 *   - element-wise kernels (ADD, QUANTIZE, ...) use TFLite's common.h MultiplyByQuantizedMultiplier:
 *     SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT (ties away from zero);
 *   - LiteRT's GEMM-based kernels (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) round the final
 *     right shift half *upward* (ties toward +inf, like ARM's rounding shifts / ruy):
 *     tp_requantize_upward(). TFLite Micro and CMSIS-NN round those ties away from zero
 *     instead; build with -DTP_TFLM_ROUNDING to reproduce TFLM bit for bit.
 * C99, no dynamic memory, no floating point: portable to any 32-bit MCU and to the host.
 */
#ifndef TP_COMMON_H
#define TP_COMMON_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TP_ALIGN(n) __attribute__((aligned(n)))
#define TP_INLINE static inline __attribute__((always_inline))
#else
#define TP_ALIGN(n)
#define TP_INLINE static inline
#endif

/* Alignment of every arena tensor and every constant array the generator emits. */
#define TP_ARENA_ALIGN 16

#define TP_INT8_MIN (-128)
#define TP_INT8_MAX 127

/* Per-layer profiling hooks around every layer call of a generated model. They compile to
 * nothing unless the harness defines TP_PROFILE and provides tp_profile.h defining
 * TP_LAYER_BEGIN(index) / TP_LAYER_END(index) (index into tp_<name>_layer_names). */
#if defined(TP_PROFILE)
#include "tp_profile.h"
#endif
#ifndef TP_LAYER_BEGIN
#define TP_LAYER_BEGIN(index) ((void)0)
#endif
#ifndef TP_LAYER_END
#define TP_LAYER_END(index) ((void)0)
#endif

TP_INLINE int32_t tp_max(int32_t a, int32_t b) { return a > b ? a : b; }
TP_INLINE int32_t tp_min(int32_t a, int32_t b) { return a < b ? a : b; }
TP_INLINE int32_t tp_clamp(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* (a * b * 2) >> 32 rounded to nearest, saturating the single overflow case INT32_MIN^2
 * (gemmlowp's SaturatingRoundingDoublingHighMul). */
TP_INLINE int32_t tp_saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero (gemmlowp's RoundingDivideByPOT). */
TP_INLINE int32_t tp_rounding_divide_by_pot(int32_t x, int exponent) {
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite's MultiplyByQuantizedMultiplier: x * multiplier * 2^shift, where multiplier is a Q31
 * fixed-point value in [2^30, 2^31) and shift in [-31, 30], both computed offline by the
 * generator (tinypipe.aot.quant.quantize_multiplier). The left shift wraps exactly as TFLite's
 * int32 multiply does on two's-complement targets, without signed-overflow UB. */
TP_INLINE int32_t tp_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift) {
    const int left_shift = shift > 0 ? shift : 0;
    const int right_shift = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)x << left_shift);
    return tp_rounding_divide_by_pot(tp_saturating_rounding_doubling_high_mul(shifted, multiplier),
                                     right_shift);
}

/* x / 2^exponent rounded to nearest, ties toward +infinity. */
TP_INLINE int32_t tp_rounding_divide_by_pot_upward(int32_t x, int exponent) {
#if defined(TP_TFLM_ROUNDING)
    return tp_rounding_divide_by_pot(x, exponent);
#else
    return exponent == 0 ? x : (int32_t)(((int64_t)x + ((int64_t)1 << (exponent - 1))) >> exponent);
#endif
}

/* Requantize an element-wise result to int8: scale (ties away), add the output zero point,
 * clamp to [act_min, act_max] (the fused activation, already in the output's domain). */
TP_INLINE int8_t tp_requantize(int32_t acc, int32_t multiplier, int shift, int32_t output_offset,
                               int32_t act_min, int32_t act_max) {
    const int32_t out = tp_multiply_by_quantized_multiplier(acc, multiplier, shift) + output_offset;
    return (int8_t)tp_clamp(out, act_min, act_max);
}

/* Requantize a convolution / matrix-product accumulator as LiteRT's GEMM kernels do: the same
 * doubling high multiply, then the right shift rounded half upward. */
TP_INLINE int8_t tp_requantize_upward(int32_t acc, int32_t multiplier, int shift, int32_t output_offset,
                                      int32_t act_min, int32_t act_max) {
    const int left_shift = shift > 0 ? shift : 0;
    const int right_shift = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)acc << left_shift);
    const int32_t scaled = tp_rounding_divide_by_pot_upward(
        tp_saturating_rounding_doubling_high_mul(shifted, multiplier), right_shift);
    return (int8_t)tp_clamp(scaled + output_offset, act_min, act_max);
}

#ifdef __cplusplus
}
#endif

#endif /* TP_COMMON_H */
