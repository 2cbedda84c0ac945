#include "add_s8.h"

/* tp_requantize's scaling for a right shift e >= 1 (the ADD output's case: it undoes the inputs'
 * 20-bit headroom) and |x| < 2^30 (a sum of two table entries): the doubling high multiply (no
 * saturation: multiplier < 2^31), then x / 2^e with ties away from zero as
 * (h + 2^(e-1) - [h < 0]) >> e, which is RoundingDivideByPOT's value. */
TP_INLINE int32_t scale_away(int32_t x, int32_t multiplier, int32_t half, int32_t e) {
    const int32_t h = (int32_t)(((int64_t)x * (int64_t)multiplier + ((int64_t)1 << 30)) >> 31);
    return (h + half + (h >> 31)) >> e;
}

static void add_flat(const tp_add_params_t *p, const int8_t *a, const int8_t *b, const int32_t *t1,
                     const int32_t *t2, int8_t *out, int32_t n) {
    const int32_t m = p->output_multiplier, e = -p->output_shift, half = (int32_t)1 << (e - 1);
    const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
    TP_UNROLL(4)
    for (int32_t i = 0; i < n; ++i) {
        const int32_t s = scale_away(t1[(uint8_t)a[i]] + t2[(uint8_t)b[i]], m, half, e) + off;
        out[i] = (int8_t)tp_clamp(s, lo, hi);
    }
}

void tp_add_s8(const tp_add_params_t *p, const int8_t *input1, const int8_t *input2, const int32_t *table1,
               const int32_t *table2, int8_t *output) {
    if (p->contiguous && p->output_shift < 0) {
        add_flat(p, input1, input2, table1, table2, output,
                 p->dims[0] * p->dims[1] * p->dims[2] * p->dims[3]);
        return;
    }
    for (int32_t i0 = 0; i0 < p->dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < p->dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < p->dims[2]; ++i2) {
                const int8_t *a = input1 + i0 * p->input1_strides[0] + i1 * p->input1_strides[1] +
                                  i2 * p->input1_strides[2];
                const int8_t *b = input2 + i0 * p->input2_strides[0] + i1 * p->input2_strides[1] +
                                  i2 * p->input2_strides[2];
                for (int32_t i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int32_t sum = table1[(uint8_t)a[i3 * p->input1_strides[3]]] +
                                        table2[(uint8_t)b[i3 * p->input2_strides[3]]];
                    *output++ = tp_requantize(sum, p->output_multiplier, p->output_shift, p->output_offset,
                                              p->act_min, p->act_max);
                }
            }
        }
    }
}
