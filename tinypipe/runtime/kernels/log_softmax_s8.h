/* log_softmax_s8 - LOG_SOFTMAX, int8 in and out, as LiteRT's built-in int8 kernel computes it.
 *
 * LiteRT's built-in (optimized) int8 LogSoftmax is float arithmetic over the SOFTMAX exp table:
 * per row, sum_exp = sum of exp(input_scale * (x - max)) from the table, then every output is
 * rint(input_scale / output_scale * x - (input_scale * max + logf(sum_exp)) / output_scale) + zero
 * point, saturated to int8 (output scale 16/256 and zero point 127, which LiteRT requires). The
 * generator computes the table offline with the same float32 arithmetic and libm expf; the
 * remaining float operations run here in LiteRT's order, each rounded on its own (no FMA).
 */
#ifndef TP_LOG_SOFTMAX_S8_H
#define TP_LOG_SOFTMAX_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t rows;  /* product of all but the last dimension */
    int32_t depth; /* last dimension: log-softmax runs along it */
    float input_scale;
    float output_scale;
    int32_t output_zero_point;
} tp_log_softmax_params_t;

/* exp_table[255 - d] = expf(-input_scale * d) (SOFTMAX's table with beta 1). */
void tp_log_softmax_s8(const tp_log_softmax_params_t *p, const int8_t *input, const float *exp_table,
                       int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_LOG_SOFTMAX_S8_H */
