/* softmax_s8 - SOFTMAX, int8 in and out, as LiteRT's built-in int8 kernel computes it.
 *
 * LiteRT normalizes with a float table exp(-input_scale * beta * d) for d = 0..255 (the
 * distance to the row maximum). The generator computes the table offline with the same
 * float32 arithmetic and libm expf, so this kernel's float sum and product reproduce the
 * reference bit for bit. This is the one float kernel on an int8 path (on an FPU-less core
 * it costs a few hundred soft-float operations per row).
 */
#ifndef TP_SOFTMAX_S8_H
#define TP_SOFTMAX_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t rows;  /* product of all but the last dimension */
    int32_t depth; /* last dimension: softmax runs along it */
    float output_scale;
    int32_t output_zero_point;
} tp_softmax_params_t;

/* exp_table[255 - d] = expf(-input_scale * beta * d). */
void tp_softmax_s8(const tp_softmax_params_t *p, const int8_t *input, const float *exp_table, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_SOFTMAX_S8_H */
