#include "add_s8.h"

static int8_t add_one(const tp_add_params_t *p, int32_t a, int32_t b) {
    const int32_t x1 = (a + p->input1_offset) * (1 << p->left_shift);
    const int32_t x2 = (b + p->input2_offset) * (1 << p->left_shift);
    const int32_t s1 = tp_multiply_by_quantized_multiplier(x1, p->input1_multiplier, p->input1_shift);
    const int32_t s2 = tp_multiply_by_quantized_multiplier(x2, p->input2_multiplier, p->input2_shift);
    return tp_requantize(s1 + s2, p->output_multiplier, p->output_shift, p->output_offset, p->act_min,
                         p->act_max);
}

void tp_add_s8(const tp_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
    for (int32_t i0 = 0; i0 < p->dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < p->dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < p->dims[2]; ++i2) {
                const int8_t *a = input1 + i0 * p->input1_strides[0] + i1 * p->input1_strides[1] +
                                  i2 * p->input1_strides[2];
                const int8_t *b = input2 + i0 * p->input2_strides[0] + i1 * p->input2_strides[1] +
                                  i2 * p->input2_strides[2];
                for (int32_t i3 = 0; i3 < p->dims[3]; ++i3) {
                    *output++ = add_one(p, a[i3 * p->input1_strides[3]], b[i3 * p->input2_strides[3]]);
                }
            }
        }
    }
}
