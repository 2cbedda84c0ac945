#include "softmax_s8.h"

#include <math.h>

void tp_softmax_s8(const tp_softmax_params_t *p, const int8_t *input, const float *exp_table, int8_t *output) {
    for (int32_t r = 0; r < p->rows; ++r) {
        int32_t max_val = TP_INT8_MIN;
        for (int32_t j = 0; j < p->depth; ++j) {
            max_val = tp_max(max_val, input[j]);
        }
        /* exp_table[255 - max_val + x] = exp(-scale * beta * (max_val - x)) */
        const float *table = exp_table + (255 - max_val);
        float sum_exp = 0.0f;
        for (int32_t j = 0; j < p->depth; ++j) {
            sum_exp += table[input[j]];
        }
        const float inv_sum_exp = 1.0f / (sum_exp * p->output_scale);
        for (int32_t j = 0; j < p->depth; ++j) {
            const float prob_rescaled = table[input[j]] * inv_sum_exp;
            const int32_t q = (int32_t)roundf(prob_rescaled) + p->output_zero_point;
            output[j] = (int8_t)tp_clamp(q, TP_INT8_MIN, TP_INT8_MAX);
        }
        input += p->depth;
        output += p->depth;
    }
}
