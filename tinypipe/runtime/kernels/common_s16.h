/* common_s16 - arithmetic shared by the int16-activation kernels (16x8 quantization: int16
 * activations with zero point 0, int8 weights, int64 biases). */
#ifndef TP_COMMON_S16_H
#define TP_COMMON_S16_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_INT16_MIN (-32768)
#define TP_INT16_MAX 32767

/* TFLite's MultiplyByQuantizedMultiplier for an int64 accumulator (16x8 convolutions): the Q31
 * multiplier reduced to Q15 (rounded, saturating at 0x7FFF), then one multiply and one shift by
 * 15 - shift with ties toward +infinity. shift is in [-31, 7] (checked by the generator); the
 * product is formed in unsigned arithmetic so that no input can overflow signed int64. */
TP_INLINE int32_t tp_multiply_by_quantized_multiplier_64(int64_t acc, int32_t multiplier, int32_t shift) {
    const int32_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
    const int total_shift = 15 - shift;
    const uint64_t rounded = (uint64_t)acc * (uint64_t)(int64_t)reduced + ((uint64_t)1 << (total_shift - 1));
    return (int32_t)((int64_t)rounded >> total_shift);
}

/* std::round of a double (nearest, ties away from zero) to int32 as LiteRT's x86 build converts it:
 * a value outside the int32 range becomes INT32_MIN (cvttsd2si's "integer indefinite"). Exact for
 * every double, without libm. */
TP_INLINE int32_t tp_round_double_to_int32(double x) {
    if (!(x > -2147483648.5 && x < 2147483647.5)) {
        return INT32_MIN;
    }
    const double whole = (double)(int64_t)x; /* truncated toward zero, exact */
    const double frac = x - whole;           /* exact: |x| < 2^32 */
    int64_t r = (int64_t)whole;
    if (frac >= 0.5) {
        r += 1;
    } else if (frac <= -0.5) {
        r -= 1;
    }
    return r > INT32_MAX || r < INT32_MIN ? INT32_MIN : (int32_t)r;
}

TP_INLINE int16_t tp_clamp_s16(int32_t x, int32_t lo, int32_t hi) { return (int16_t)tp_clamp(x, lo, hi); }

/* tp_broadcast_row for int16 operands: the start of row (i0, i1, i2) of a broadcast operand. */
TP_INLINE const int16_t *tp_broadcast_row_s16(const int16_t *base, const int32_t strides[4], int32_t i0, int32_t i1,
                                              int32_t i2) {
    return base + i0 * strides[0] + i1 * strides[1] + i2 * strides[2];
}

#ifdef __cplusplus
}
#endif

#endif /* TP_COMMON_S16_H */
