#include "prelu_s8.h"

void tp_prelu_s8(const tp_prelu_params_t *p, const int8_t *input, const int8_t *alpha, int8_t *output) {
    for (int32_t i0 = 0; i0 < p->dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < p->dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < p->dims[2]; ++i2) {
                const int8_t *x = tp_broadcast_row(input, p->input_strides, i0, i1, i2);
                const int8_t *a = tp_broadcast_row(alpha, p->alpha_strides, i0, i1, i2);
                for (int32_t i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int32_t v = x[i3 * p->input_strides[3]] + p->input_offset;
                    int32_t y;
                    if (v >= 0) {
                        y = tp_multiply_by_quantized_multiplier(v, p->identity_multiplier, p->identity_shift);
                    } else {
                        const int32_t slope = a[i3 * p->alpha_strides[3]] + p->alpha_offset;
                        y = tp_multiply_by_quantized_multiplier(v * slope, p->alpha_multiplier, p->alpha_shift);
                    }
                    *output++ = (int8_t)tp_clamp(y + p->output_offset, TP_INT8_MIN, TP_INT8_MAX);
                }
            }
        }
    }
}
