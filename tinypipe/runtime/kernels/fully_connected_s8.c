#include "fully_connected_s8.h"

void tp_fully_connected_s8(const tp_fully_connected_params_t *p, const int8_t *input,
                           const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                           const int32_t *shift, int8_t *output) {
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * p->accum_depth;
        for (int32_t o = 0; o < p->output_depth; ++o) {
            const int8_t *w = weights + o * p->accum_depth;
            int32_t acc = bias[o];
            for (int32_t i = 0; i < p->accum_depth; ++i) {
                acc += (int32_t)x[i] * (int32_t)w[i];
            }
            *output++ = tp_requantize_upward(acc, multiplier[o], shift[o], p->output_offset, p->act_min,
                                             p->act_max);
        }
    }
}
