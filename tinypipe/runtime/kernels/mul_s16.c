#include "mul_s16.h"

void tp_mul_s16(const tp_mul_s16_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output) {
    int32_t k = 0;
    for (int32_t i0 = 0; i0 < p->dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < p->dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < p->dims[2]; ++i2) {
                const int16_t *a = tp_broadcast_row_s16(input1, p->input1_strides, i0, i1, i2);
                const int16_t *b = tp_broadcast_row_s16(input2, p->input2_strides, i0, i1, i2);
                for (int32_t i3 = 0; i3 < p->dims[3]; ++i3, ++k) {
                    const int32_t product = (int32_t)a[i3 * p->input1_strides[3]] * b[i3 * p->input2_strides[3]];
                    const int32_t r = tp_multiply_by_quantized_multiplier(product, p->output_multiplier,
                                                                          p->output_shift);
                    output[k] = tp_clamp_s16(r, p->act_min, p->act_max);
                }
            }
        }
    }
}
