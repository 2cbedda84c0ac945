#include "add_s16.h"

/* int32 x shifted by `shift` bits as NEON's VSHL does: left (wrapping) when positive, an
 * arithmetic right shift (truncating) when negative. */
static int32_t shift_signed(int32_t x, int32_t shift) {
    return shift >= 0 ? (int32_t)((uint32_t)x << shift) : x >> -shift;
}

/* LiteRT's scalar rule (reference_ops::AddElementwise / SubElementwiseInt16). */
static int32_t scalar_element(const tp_add_s16_params_t *p, int32_t a, int32_t b) {
    const int32_t x1 = tp_multiply_by_quantized_multiplier(a * (1 << TP_ADD_S16_LEFT_SHIFT), p->input1_multiplier,
                                                           p->input1_shift);
    const int32_t x2 = tp_multiply_by_quantized_multiplier(b * (1 << TP_ADD_S16_LEFT_SHIFT), p->input2_multiplier,
                                                           p->input2_shift);
    const int32_t sum = p->subtract ? x1 - x2 : x1 + x2;
    return tp_multiply_by_quantized_multiplier(sum, p->output_multiplier, p->output_shift);
}

/* LiteRT's NEON loop (optimized_integer_ops::AddElementwiseInt16): the input shift is applied
 * with VSHL before VQRDMULH, and the output goes through VQRDMULH then a ties-away shift. */
static int32_t vector_element(const tp_add_s16_params_t *p, int32_t a, int32_t b) {
    const int32_t x1 = tp_saturating_rounding_doubling_high_mul(
        shift_signed(a, TP_ADD_S16_LEFT_SHIFT + p->input1_shift), p->input1_multiplier);
    const int32_t x2 = tp_saturating_rounding_doubling_high_mul(
        shift_signed(b, TP_ADD_S16_LEFT_SHIFT + p->input2_shift), p->input2_multiplier);
    const int32_t sum = (int32_t)((uint32_t)x1 + (uint32_t)x2);
    return tp_rounding_divide_by_pot(tp_saturating_rounding_doubling_high_mul(sum, p->output_multiplier),
                                     -p->output_shift);
}

void tp_add_s16(const tp_add_s16_params_t *p, const int16_t *input1, const int16_t *input2, int16_t *output) {
    int32_t k = 0;
    for (int32_t i0 = 0; i0 < p->dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < p->dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < p->dims[2]; ++i2) {
                const int16_t *a = tp_broadcast_row_s16(input1, p->input1_strides, i0, i1, i2);
                const int16_t *b = tp_broadcast_row_s16(input2, p->input2_strides, i0, i1, i2);
                for (int32_t i3 = 0; i3 < p->dims[3]; ++i3, ++k) {
                    const int32_t x = a[i3 * p->input1_strides[3]];
                    const int32_t y = b[i3 * p->input2_strides[3]];
                    const int32_t r = k < p->vector_size ? vector_element(p, x, y) : scalar_element(p, x, y);
                    output[k] = tp_clamp_s16(r, p->act_min, p->act_max);
                }
            }
        }
    }
}
