/* add_s16 - ADD and SUB with int16 activations (16x8 quantization, zero points 0), LiteRT's
 * general int16 path: both inputs rescaled to twice the larger input scale with 15 bits of
 * headroom, summed (or subtracted), requantized; up to 4-D broadcasting. */
#ifndef TP_ADD_S16_H
#define TP_ADD_S16_H

#include "common_s16.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_ADD_S16_LEFT_SHIFT 15

typedef struct {
    int32_t dims[4];           /* output shape, padded to 4-D on the left with 1s */
    int32_t input1_strides[4]; /* element strides per output dim; 0 where input1 is broadcast */
    int32_t input2_strides[4];
    int32_t input1_multiplier, input1_shift; /* each input's rescaling (shift <= 0) */
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift; /* output_shift <= 0 */
    int32_t subtract;    /* 1: SUB (input1 - input2) */
    int32_t vector_size; /* ADD of same-shape inputs: LiteRT's NEON loop computes the first
                          * vector_size elements with the shift folded before the high multiply */
    int32_t act_min, act_max;
} tp_add_s16_params_t;

/* Same-shape inputs may alias the output: element k is read before it is written. */
void tp_add_s16(const tp_add_s16_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_ADD_S16_H */
