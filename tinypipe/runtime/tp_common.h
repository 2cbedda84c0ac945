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
 *     tp_requantize_upward(); DEPTHWISE_CONV_2D only for output channels < output_c & ~7, its
 *     output_c % 8 leftover channels tie away (tp_requantize_either, per channel).
 *     TFLite Micro and CMSIS-NN round those ties away from zero
 *     instead; build with -DTP_TFLM_ROUNDING to reproduce TFLM bit for bit.
 * C99, no dynamic memory, no floating point: portable to any 32-bit MCU and to the host.
 */
#ifndef TP_COMMON_H
#define TP_COMMON_H

#include <stdint.h>
#include <string.h>

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

/* Loop unrolling hint for the optimized variants' inner loops. */
#if defined(__GNUC__) && !defined(__clang__)
#define TP_PRAGMA(x) _Pragma(#x)
#define TP_UNROLL(n) TP_PRAGMA(GCC unroll n)
#else
#define TP_UNROLL(n)
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

/* Optimized kernel variants: Helium (MVE) on Armv8.1-M, the DSP extension (SMLAD & co.) on
 * Armv7E-M / Armv8-M Mainline; the portable C99 path otherwise, or everywhere with -DTP_PORTABLE.
 * Every variant gives the same bytes (same integer arithmetic). */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(TP_PORTABLE)
#define TP_USE_MVE 1
#include <arm_mve.h>
#endif
#if defined(__ARM_FEATURE_DSP) && !defined(TP_PORTABLE)
#define TP_USE_DSP 1 /* kernels test TP_USE_MVE first: the M55 has both */
#include <arm_acle.h>
#endif

/* TP_VARIANT(portable, dsp, helium): the kernel variant a generated layer calls on this core.
 * The generator names, per layer, the variants that apply to its shape (e.g.
 * TP_VARIANT(tp_conv_s8, tp_conv_s8_dsp, tp_conv_s8_mve)); the compiler keeps exactly one, and the
 * linker (--gc-sections) only the variants some layer calls. Variants live in their own files
 * (kernels/<op>_s8.c, <op>_s8_dsp.c, <op>_s8_mve.c) with the same signature and the same bytes. */
#if defined(TP_USE_MVE)
#define TP_VARIANT(portable, dsp, helium) helium
#elif defined(TP_USE_DSP)
#define TP_VARIANT(portable, dsp, helium) dsp
#else
#define TP_VARIANT(portable, dsp, helium) portable
#endif

/* Start of row (i0, i1, i2) of a broadcast operand of an element-wise kernel: `strides` are its
 * element strides per 4-D output dimension, 0 where the operand is broadcast. */
TP_INLINE const int8_t *tp_broadcast_row(const int8_t *base, const int32_t strides[4], int32_t i0, int32_t i1,
                                         int32_t i2) {
    return base + i0 * strides[0] + i1 * strides[1] + i2 * strides[2];
}

TP_INLINE int32_t tp_max(int32_t a, int32_t b) { return a > b ? a : b; }
TP_INLINE int32_t tp_min(int32_t a, int32_t b) { return a < b ? a : b; }
TP_INLINE int32_t tp_clamp(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* (a * b * 2) >> 32 rounded to nearest, saturating the single overflow case INT32_MIN^2
 * (gemmlowp's SaturatingRoundingDoublingHighMul). gemmlowp adds a nudge of 2^30 (ab >= 0) or
 * 1 - 2^30 (ab < 0) and divides by 2^31 truncating toward zero; for ab < 0 that truncation is a
 * ceiling, and ceil((ab + 1 - 2^30) / 2^31) == floor((ab + 2^30) / 2^31), so both cases are one
 * floor: ties round up. This is also exactly what Helium's VQRDMULH computes. */
TP_INLINE int32_t tp_saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
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

/* x / 2^exponent rounded to nearest, ties toward +infinity: floor((x + 2^(e-1)) / 2^e), computed
 * in 32 bits without overflow as floor(x / 2^e) + bit (e-1) of x (like Arm's rounding shifts,
 * e.g. Helium's VRSHL by -e). */
TP_INLINE int32_t tp_rounding_divide_by_pot_upward(int32_t x, int exponent) {
#if defined(TP_TFLM_ROUNDING)
    return tp_rounding_divide_by_pot(x, exponent);
#else
    return exponent == 0 ? x : (x >> exponent) + ((x >> (exponent - 1)) & 1);
#endif
}

/* tp_requantize_upward's scaling for the optimized kernels' per-channel loops: the channel's shift
 * split once into left = max(shift, 0) and right = max(-shift, 0), and a multiplier from
 * quantize_multiplier (in [0, 2^31), so the doubling high multiply's saturation case cannot occur).
 * Branch-free; the same value as tp_requantize_upward before the offset and clamp. */
TP_INLINE int32_t tp_scale_upward(int32_t acc, int32_t multiplier, int left, int right) {
    const int32_t x = (int32_t)((uint32_t)acc << left);
    const int32_t h = (int32_t)(((int64_t)x * (int64_t)multiplier + ((int64_t)1 << 30)) >> 31);
#if defined(TP_TFLM_ROUNDING)
    return tp_rounding_divide_by_pot(h, right);
#else
    return (h >> right) + (int32_t)((((uint32_t)h << 1) >> right) & 1u); /* + bit (right - 1) of h */
#endif
}

/* tp_scale_upward for a right shift r = -shift >= 1 (left shift 0), in one 64-bit multiply-accumulate
 * (SMLAL) and one shift: floor((acc * m + 2^30 + 2^(30 + r)) / 2^(31 + r)) equals the doubling high
 * multiply floor((acc * m + 2^30) / 2^31) followed by the ties-upward division by 2^r, and that is
 * the high word shifted right by r - 1. `round` = tp_round_upward(shift), computed once per channel;
 * no overflow: |acc * m| < 2^62. */
TP_INLINE int64_t tp_round_upward(int32_t shift) {
    return ((int64_t)1 << 30) + ((int64_t)1 << (30 - shift));
}

TP_INLINE int32_t tp_scale_upward_r(int32_t acc, int32_t multiplier, int64_t round, int32_t r_minus_1) {
    return (int32_t)(((int64_t)acc * (int64_t)multiplier + round) >> 32) >> r_minus_1;
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

/* tp_requantize_upward (upward != 0) or tp_requantize (ties away from zero), chosen per channel. */
TP_INLINE int8_t tp_requantize_either(int32_t acc, int32_t multiplier, int shift, int32_t output_offset,
                                      int32_t act_min, int32_t act_max, int upward) {
    return upward ? tp_requantize_upward(acc, multiplier, shift, output_offset, act_min, act_max)
                  : tp_requantize(acc, multiplier, shift, output_offset, act_min, act_max);
}

#if defined(TP_USE_DSP)
/* SXTB16 of x rotated right by 8: bytes 1 and 3 sign-extended to two int16 halves (one
 * instruction; GCC 12 would emit a separate rotate for __sxtb16(__ror(x, 8))). */
TP_INLINE int32_t tp_sxtb16_ror8(int32_t x) {
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* SXTAB16 with ROR 8: acc halves + bytes 1 and 3 of x sign-extended. */
TP_INLINE int32_t tp_sxtab16_ror8(int32_t acc, int32_t x) {
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}

/* PKHBT r, a, b, LSL #16: low half of a, low half of b in the high half. */
TP_INLINE int32_t tp_pkhbt16(int32_t a, int32_t b) {
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* PKHBT r, a, b: low half of a, high half of b. */
TP_INLINE int32_t tp_pkhbt(int32_t a, int32_t b) {
    int32_t r;
    __asm__("pkhbt %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* BFI: `word` with its low byte replaced by b's. */
TP_INLINE int32_t tp_bfi_byte(int32_t word, int32_t b) {
    __asm__("bfi %0, %1, #0, #8" : "+r"(word) : "r"(b));
    return word;
}

/* An int16 pair times `scale` (1, or 2 for doubled accumulators: SADD16). */
TP_INLINE int32_t tp_scaled_pair(int32_t pair, int32_t scale) {
    return scale == 2 ? (int32_t)__sadd16(pair, pair) : pair;
}

/* PKHTB r, a, b, ASR #16: high half of a, high half of b in the low half. */
TP_INLINE int32_t tp_pkhtb16(int32_t a, int32_t b) {
    int32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* SMMLAR: (acc_hi * 2^32 + a * b + 2^31) >> 32, the high word of a product rounded to nearest, plus
 * acc_hi. With a = 2 * acc it is tp_saturating_rounding_doubling_high_mul(acc, b) + acc_hi exactly
 * (floor((2 * acc * b + 2^31) / 2^32) = floor((acc * b + 2^30) / 2^31)); with acc_hi =
 * tp_round_doubled(shift, output_offset) an arithmetic shift right by -shift then completes
 * tp_requantize_upward before the clamp: the optimized kernels' requantization of a doubled
 * accumulator (needs |acc| < 2^30 and 1 <= -shift <= 22: the generator checks it offline). */
TP_INLINE int32_t tp_smmlar(int32_t a, int32_t b, int32_t acc_hi) {
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc_hi));
    return r;
}

/* 2^(r-1) (the ties-upward rounding of the shift by r = -shift) + output_offset * 2^r. */
TP_INLINE int32_t tp_round_doubled(int32_t shift, int32_t output_offset) {
    return (int32_t)((uint32_t)(2 * output_offset + 1) << (-shift - 1));
}

/* tp_requantize_upward of a doubled accumulator acc2 = 2 * acc, clamped to the int8 range:
 * SMMLAR + ASR + SSAT (r = -shift, round = tp_round_doubled(shift, output_offset)). */
TP_INLINE int32_t tp_requantize_doubled(int32_t acc2, int32_t multiplier, int32_t round, int32_t r) {
    return __ssat(tp_smmlar(acc2, multiplier, round) >> r, 8);
}

TP_INLINE int32_t tp_load32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4); /* LDR: unaligned accesses are fine on Armv7E-M / Armv8-M Mainline */
    return v;
}

/* Two words from a word-aligned pointer with one LDRD, post-incrementing the pointer. */
TP_INLINE void tp_ldrd_inc(const int32_t **p, int32_t *a, int32_t *b) {
    __asm__ volatile("ldrd %0, %1, [%2], #8" : "=r"(*a), "=r"(*b), "+r"(*p) : "m"(*(const int32_t(*)[2]) * p));
}
#endif

#if defined(TP_USE_MVE)
/* tp_requantize_upward on 4 lanes (multiplier/shift: the 4 lanes' per-channel values): VSHL by the left
 * shift (wrapping, like the scalar code), VQRDMULH (= the doubling high multiply, saturation
 * included), VRSHL by -right shift (adds 2^(e-1) in full precision: ties toward +inf). */
TP_INLINE int32x4_t tp_requantize_upward_x4(int32x4_t acc, int32x4_t multiplier, int32x4_t shift,
                                            int32_t output_offset, int32_t act_min, int32_t act_max) {
#if defined(TP_TFLM_ROUNDING)
    int32_t lanes[4], m[4], sh[4];
    vstrwq_s32(lanes, acc);
    vstrwq_s32(m, multiplier);
    vstrwq_s32(sh, shift);
    for (int i = 0; i < 4; ++i) {
        lanes[i] = tp_requantize_upward(lanes[i], m[i], sh[i], output_offset, act_min, act_max);
    }
    return vldrwq_s32(lanes);
#else
    const int32x4_t sh = shift;
    const int32x4_t zero = vdupq_n_s32(0);
    int32x4_t x = vshlq_s32(acc, vmaxq_s32(sh, zero));
    x = vqrdmulhq_s32(x, multiplier);
    x = vrshlq_s32(x, vminq_s32(sh, zero));
    x = vaddq_n_s32(x, output_offset);
    x = vmaxq_s32(x, vdupq_n_s32(act_min));
    return vminq_s32(x, vdupq_n_s32(act_max));
#endif
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* TP_COMMON_H */
