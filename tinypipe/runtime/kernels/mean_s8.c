#include "mean_s8.h"

/* Sum of the int8 values in the window at `base` spanned by reduce_dims. */
static int32_t window_sum(const tp_mean_params_t *p, const int8_t *base) {
    const int32_t *n = p->reduce_dims, *s = p->input_strides;
    int32_t acc = 0;
    for (int32_t r0 = 0; r0 < n[0]; ++r0) {
        for (int32_t r1 = 0; r1 < n[1]; ++r1) {
            for (int32_t r2 = 0; r2 < n[2]; ++r2) {
                const int8_t *row = base + r0 * s[0] + r1 * s[1] + r2 * s[2];
                for (int32_t r3 = 0; r3 < n[3]; ++r3) {
                    acc += row[r3 * s[3]];
                }
            }
        }
    }
    return acc;
}

void tp_mean_s8(const tp_mean_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t *n = p->output_dims, *s = p->input_strides;
    for (int32_t o0 = 0; o0 < n[0]; ++o0) {
        for (int32_t o1 = 0; o1 < n[1]; ++o1) {
            for (int32_t o2 = 0; o2 < n[2]; ++o2) {
                for (int32_t o3 = 0; o3 < n[3]; ++o3) {
                    const int8_t *base = input + o0 * s[0] + o1 * s[1] + o2 * s[2] + o3 * s[3];
                    *output++ = tp_requantize_either(window_sum(p, base) + p->sum_offset, p->multiplier,
                                                     p->shift, p->output_offset, TP_INT8_MIN, TP_INT8_MAX,
                                                     o3 < p->upward_channels);
                }
            }
        }
    }
}
