#include "fully_connected_s16.h"

void tp_fully_connected_s16(const tp_fully_connected_s16_params_t *p, const int16_t *input, const int8_t *weights,
                            const int64_t *bias, const double *scale, int16_t *output) {
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *x = input + b * p->accum_depth;
        for (int32_t o = 0; o < p->output_depth; ++o) {
            const int8_t *row = weights + o * p->accum_depth;
            int64_t acc = 0;
            int32_t sum = 0;
            for (int32_t k = 0; k < p->accum_depth; ++k) {
                sum += (int32_t)x[k] * (int32_t)row[k];
                if ((k & 255) == 255) { /* 256 products of at most 2^22 each fit int32 */
                    acc += sum;
                    sum = 0;
                }
            }
            acc += sum;
            if (bias != NULL) {
                acc += bias[o];
            }
            /* one double multiply (no add to fuse), rounded half away from zero like std::round */
            const int32_t scaled = tp_round_double_to_int32((double)acc * scale[o]);
            *output++ = tp_clamp_s16(scaled, p->act_min, p->act_max);
        }
    }
}
