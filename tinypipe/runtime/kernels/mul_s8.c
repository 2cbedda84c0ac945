#include "mul_s8.h"

/* LiteRT's NEON narrowing of a scaled product: VQMOVN to int16, VADD.I16 of the offset (wraps),
 * VQMOVN to int8, then the activation clamp. */
static int8_t narrow_like_neon(int32_t scaled, const tp_mul_params_t *p) {
    const int32_t v16 = tp_clamp(scaled, INT16_MIN, INT16_MAX);
    const int32_t sum16 = (int32_t)(int16_t)(uint16_t)(uint32_t)(v16 + p->output_offset);
    return (int8_t)tp_clamp(tp_clamp(sum16, TP_INT8_MIN, TP_INT8_MAX), p->act_min, p->act_max);
}

void tp_mul_s8(const tp_mul_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
    int32_t index = 0;
    for (int32_t i0 = 0; i0 < p->dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < p->dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < p->dims[2]; ++i2) {
                const int8_t *a = tp_broadcast_row(input1, p->input1_strides, i0, i1, i2);
                const int8_t *b = tp_broadcast_row(input2, p->input2_strides, i0, i1, i2);
                for (int32_t i3 = 0; i3 < p->dims[3]; ++i3, ++index) {
                    const int32_t x1 = a[i3 * p->input1_strides[3]] + p->input1_offset;
                    const int32_t x2 = b[i3 * p->input2_strides[3]] + p->input2_offset;
                    if (index < p->vector_size) {
                        *output++ = narrow_like_neon(
                            tp_multiply_by_quantized_multiplier(x1 * x2, p->output_multiplier, p->output_shift), p);
                    } else {
                        *output++ = tp_requantize(x1 * x2, p->output_multiplier, p->output_shift,
                                                  p->output_offset, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}
