#include "log_softmax_s8.h"

#include <math.h>

/* Saturation bound before the float -> int conversion (any |value| past the int8 range will do). */
#define LOG_SOFTMAX_FLOAT_LIMIT 1024.0f

void tp_log_softmax_s8(const tp_log_softmax_params_t *p, const int8_t *input, const float *exp_table,
                       int8_t *output) {
    /* float / float, as LiteRT computes it per row (the same value every row) */
    const float scale = p->input_scale / p->output_scale;
    for (int32_t r = 0; r < p->rows; ++r) {
        int32_t max_val = TP_INT8_MIN;
        for (int32_t j = 0; j < p->depth; ++j) {
            max_val = tp_max(max_val, input[j]);
        }
        /* table[x] = exp(input_scale * (x - max_val)) */
        const float *table = exp_table + (255 - max_val);
        float sum_exp = 0.0f;
        for (int32_t j = 0; j < p->depth; ++j) {
            sum_exp += table[input[j]];
        }
        const float log_sum_exp = logf(sum_exp);
        /* the volatile products keep the compiler from fusing a multiply and an add (FMA) */
        volatile float max_scaled = p->input_scale * (float)max_val;
        const float precomputed = (max_scaled + log_sum_exp) / p->output_scale;
        for (int32_t j = 0; j < p->depth; ++j) {
            volatile float x_scaled = scale * (float)input[j];
            float q = rintf(x_scaled - precomputed) + (float)p->output_zero_point;
            q = q < -LOG_SOFTMAX_FLOAT_LIMIT ? -LOG_SOFTMAX_FLOAT_LIMIT
                                             : (q > LOG_SOFTMAX_FLOAT_LIMIT ? LOG_SOFTMAX_FLOAT_LIMIT : q);
            output[j] = (int8_t)tp_clamp((int32_t)q, TP_INT8_MIN, TP_INT8_MAX);
        }
        input += p->depth;
        output += p->depth;
    }
}
