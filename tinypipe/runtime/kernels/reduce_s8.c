#include "reduce_s8.h"

#include <math.h>

enum { REDUCE_SUM, REDUCE_MAX, REDUCE_MIN };

/* The sum, max or min of the int8 values in the window at `base` spanned by reduce_dims. */
static int32_t window_reduce(const int32_t reduce_dims[4], const int32_t strides[4], const int8_t *base,
                             int kind) {
    const int32_t *n = reduce_dims, *s = strides;
    int32_t acc = kind == REDUCE_SUM ? 0 : base[0];
    for (int32_t r0 = 0; r0 < n[0]; ++r0) {
        for (int32_t r1 = 0; r1 < n[1]; ++r1) {
            for (int32_t r2 = 0; r2 < n[2]; ++r2) {
                const int8_t *row = base + r0 * s[0] + r1 * s[1] + r2 * s[2];
                for (int32_t r3 = 0; r3 < n[3]; ++r3) {
                    const int32_t v = row[r3 * s[3]];
                    acc = kind == REDUCE_SUM ? acc + v : kind == REDUCE_MAX ? tp_max(acc, v) : tp_min(acc, v);
                }
            }
        }
    }
    return acc;
}

/* Run STATEMENT for every output position in row-major order, with `base` at its window's first element. */
#define TP_FOR_EACH_WINDOW(P, INPUT, STATEMENT)                                                        \
    for (int32_t o0 = 0; o0 < (P)->output_dims[0]; ++o0) {                                            \
        for (int32_t o1 = 0; o1 < (P)->output_dims[1]; ++o1) {                                        \
            for (int32_t o2 = 0; o2 < (P)->output_dims[2]; ++o2) {                                    \
                for (int32_t o3 = 0; o3 < (P)->output_dims[3]; ++o3) {                                \
                    const int8_t *base = (INPUT) + o0 * (P)->input_strides[0] +                       \
                                         o1 * (P)->input_strides[1] + o2 * (P)->input_strides[2] +    \
                                         o3 * (P)->input_strides[3];                                  \
                    STATEMENT;                                                                        \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
    }

void tp_reduce_max_s8(const tp_reduce_params_t *p, const int8_t *input, int8_t *output) {
    TP_FOR_EACH_WINDOW(p, input, *output++ = (int8_t)window_reduce(p->reduce_dims, p->input_strides, base,
                                                                   REDUCE_MAX))
}

void tp_reduce_min_s8(const tp_reduce_params_t *p, const int8_t *input, int8_t *output) {
    TP_FOR_EACH_WINDOW(p, input, *output++ = (int8_t)window_reduce(p->reduce_dims, p->input_strides, base,
                                                                   REDUCE_MIN))
}

/* roundf(sum * scale + bias) + zero point, saturated to int8; the volatile keeps the compiler from
 * contracting the multiply-add into an FMA (one rounding instead of LiteRT's two). */
static int8_t sum_to_int8(const tp_sum_params_t *p, int32_t sum) {
    volatile float product = (float)sum * p->scale;
    float r = roundf(product + p->bias);
    r = r < -512.0f ? -512.0f : (r > 512.0f ? 512.0f : r); /* saturate before the int cast */
    return (int8_t)tp_clamp((int32_t)r + p->output_zero_point, TP_INT8_MIN, TP_INT8_MAX);
}

void tp_sum_s8(const tp_sum_params_t *p, const int8_t *input, int8_t *output) {
    TP_FOR_EACH_WINDOW(p, input,
                       *output++ = sum_to_int8(p, window_reduce(p->reduce_dims, p->input_strides, base,
                                                                REDUCE_SUM)))
}
