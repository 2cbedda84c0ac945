/* mul_s16 - MUL with int16 activations (16x8 quantization, zero points 0), LiteRT's
 * reference_integer_ops::Mul<int16_t>: the int32 product of both inputs requantized once
 * (MultiplyByQuantizedMultiplier, ties away from zero); up to 4-D broadcasting. */
#ifndef TP_MUL_S16_H
#define TP_MUL_S16_H

#include "common_s16.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t dims[4];           /* output shape, padded to 4-D on the left with 1s */
    int32_t input1_strides[4]; /* element strides per output dim; 0 where input1 is broadcast */
    int32_t input2_strides[4];
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} tp_mul_s16_params_t;

/* Same-shape inputs may alias the output: element k is read before it is written. */
void tp_mul_s16(const tp_mul_s16_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_MUL_S16_H */
