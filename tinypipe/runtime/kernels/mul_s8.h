/* mul_s8 - MUL, int8, with up to 4-D broadcasting (TFLite's quantized Mul arithmetic). */
#ifndef TP_MUL_S8_H
#define TP_MUL_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t dims[4];           /* output shape, padded to 4-D on the left with 1s */
    int32_t input1_strides[4]; /* element strides per output dim; 0 where input1 is broadcast */
    int32_t input2_strides[4];
    int32_t input1_offset, input2_offset; /* minus the inputs' zero points */
    int32_t output_offset, output_multiplier, output_shift; /* input1 * input2 scale / output scale */
    int32_t act_min, act_max;
    int32_t vector_size; /* leading elements computed as LiteRT's 16-wide NEON loop does (below) */
} tp_mul_params_t;

/* output = requantize((input1 - zp1) * (input2 - zp2)); same-shape inputs may alias the output.
 * LiteRT's optimized same-shape MulElementwise does blocks of 16 with NEON: the scaled product
 * (same rounding as the scalar path) is saturated to int16, the output offset added with a
 * WRAPPING int16 add, then saturated to int8 and clamped; the size % 16 tail adds the offset in
 * int32. They differ only for products beyond the int16 range (an output scale far finer than
 * the inputs'); the generator passes vector_size = size - size % 16 for same-shape inputs. */
void tp_mul_s8(const tp_mul_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_MUL_S8_H */
