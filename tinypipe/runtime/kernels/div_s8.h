/* div_s8 - DIV, int8, with up to 4-D broadcasting (LiteRT's reference DivElementwise). */
#ifndef TP_DIV_S8_H
#define TP_DIV_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* reciprocal_shift[] entries: the reciprocal's exponent in bits 0-3, TP_DIV_NEGATE when the divisor
 * (q - zero point) is negative (the dividend's sign is flipped instead, as LiteRT does). */
#define TP_DIV_NEGATE 16

typedef struct {
    int32_t dims[4];           /* output shape, padded to 4-D on the left with 1s */
    int32_t input1_strides[4]; /* element strides per output dim; 0 where input1 is broadcast */
    int32_t input2_strides[4];
    int32_t input1_offset;     /* -zero point of the dividend */
    int32_t output_offset, output_multiplier, output_shift; /* scale1 / (scale2 * output scale) */
    int32_t act_min, act_max;
} tp_div_params_t;

/* Per divisor byte v (index (uint8_t)v): reciprocal[v] = gemmlowp's fixed-point 1 / (v - zp2)
 * (GetReciprocal, computed offline) and reciprocal_shift[v] its exponent and sign. Per element:
 * the dividend is normalized by its leading sign bits, multiplied by the reciprocal, and
 * requantized with the combined shift (ties away from zero). LiteRT divides by zero where the
 * divisor equals its zero point (undefined); this kernel outputs output_offset there. */
void tp_div_s8(const tp_div_params_t *p, const int8_t *input1, const int8_t *input2, const int32_t *reciprocal,
               const int8_t *reciprocal_shift, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_DIV_S8_H */
