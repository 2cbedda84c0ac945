#include "mean_s16.h"

/* Sum of the int16 values in the window at `base` spanned by reduce_dims (wrapping like LiteRT's
 * int32 accumulator). */
static int32_t window_sum(const tp_mean_params_t *p, const int16_t *base) {
    const int32_t *n = p->reduce_dims, *s = p->input_strides;
    uint32_t acc = 0;
    for (int32_t r0 = 0; r0 < n[0]; ++r0) {
        for (int32_t r1 = 0; r1 < n[1]; ++r1) {
            for (int32_t r2 = 0; r2 < n[2]; ++r2) {
                const int16_t *row = base + r0 * s[0] + r1 * s[1] + r2 * s[2];
                for (int32_t r3 = 0; r3 < n[3]; ++r3) {
                    acc += (uint32_t)(int32_t)row[r3 * s[3]];
                }
            }
        }
    }
    return (int32_t)acc;
}

void tp_mean_s16(const tp_mean_params_t *p, const int16_t *input, int16_t *output) {
    const int32_t *n = p->output_dims, *s = p->input_strides;
    for (int32_t o0 = 0; o0 < n[0]; ++o0) {
        for (int32_t o1 = 0; o1 < n[1]; ++o1) {
            for (int32_t o2 = 0; o2 < n[2]; ++o2) {
                for (int32_t o3 = 0; o3 < n[3]; ++o3) {
                    const int16_t *base = input + o0 * s[0] + o1 * s[1] + o2 * s[2] + o3 * s[3];
                    const int32_t mean = tp_multiply_by_quantized_multiplier(
                        window_sum(p, base) + p->sum_offset, p->multiplier, p->shift) + p->output_offset;
                    *output++ = tp_clamp_s16(mean, TP_INT16_MIN, TP_INT16_MAX);
                }
            }
        }
    }
}
