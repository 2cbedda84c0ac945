#include "quantize.h"

#include <math.h>

void tp_requantize_s8(const tp_requantize_params_t *p, const int8_t *input, int8_t *output) {
    int32_t i = 0;
    for (; i < p->vector_size; ++i) {
        output[i] = tp_requantize_upward((int32_t)input[i] + p->input_offset, p->multiplier, p->shift,
                                         p->output_offset, TP_INT8_MIN, TP_INT8_MAX);
    }
    for (; i < p->size; ++i) {
        output[i] = tp_requantize((int32_t)input[i] + p->input_offset, p->multiplier, p->shift,
                                  p->output_offset, TP_INT8_MIN, TP_INT8_MAX);
    }
}

#define TP_UINT8_MIN 0
#define TP_UINT8_MAX 255

/* (x - input zero point) rescaled plus the output zero point, before the clamp: the final shift's
 * ties upward (LiteRT's NEON part, as tp_requantize_upward) or away from zero (its scalar tail). */
static int32_t requantized(const tp_requantize_params_t *p, int32_t x, int upward) {
    const int32_t acc = x + p->input_offset;
    if (!upward) {
        return tp_multiply_by_quantized_multiplier(acc, p->multiplier, p->shift) + p->output_offset;
    }
    const int left_shift = p->shift > 0 ? p->shift : 0;
    const int right_shift = p->shift > 0 ? 0 : -p->shift;
    const int32_t shifted = (int32_t)((uint32_t)acc << left_shift);
    return tp_rounding_divide_by_pot_upward(tp_saturating_rounding_doubling_high_mul(shifted, p->multiplier),
                                            right_shift) + p->output_offset;
}

void tp_requantize_s8_u8(const tp_requantize_params_t *p, const int8_t *input, int8_t *output) {
    uint8_t *out = (uint8_t *)output;
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = (uint8_t)tp_clamp(requantized(p, input[i], i < p->vector_size), TP_UINT8_MIN, TP_UINT8_MAX);
    }
}

void tp_requantize_u8_s8(const tp_requantize_params_t *p, const int8_t *input, int8_t *output) {
    const uint8_t *in = (const uint8_t *)input;
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (int8_t)tp_clamp(requantized(p, in[i], i < p->vector_size), TP_INT8_MIN, TP_INT8_MAX);
    }
}

void tp_quantize_f32_s8(const tp_float_quant_params_t *p, const float *input, int8_t *output) {
    for (int32_t i = 0; i < p->size; ++i) {
        float r = roundf(input[i] / p->scale); /* division in float, as TFLite's AffineQuantize */
        r = r < -256.0f ? -256.0f : (r > 256.0f ? 256.0f : r); /* saturate before the int cast */
        output[i] = (int8_t)tp_clamp((int32_t)r + p->zero_point, TP_INT8_MIN, TP_INT8_MAX);
    }
}

/* LiteRT's DEQUANTIZE (our oracle) computes whole blocks of 8 elements as q*scale + (-zp*scale),
 * two float roundings, and the size % 8 elements after them as scale*(q - zp), one rounding
 * (measured on its x86 build). The product goes through a volatile so that no compiler fuses
 * the multiply-add into an FMA, which would round once and differ by an ulp. */
#define TP_DEQUANTIZE_BLOCK 8

void tp_dequantize_s8_f32(const tp_float_quant_params_t *p, const int8_t *input, float *output) {
    const float zero_term = (float)(-p->zero_point) * p->scale;
    const int32_t blocked = p->size - p->size % TP_DEQUANTIZE_BLOCK;
    for (int32_t i = 0; i < blocked; ++i) {
        volatile float product = (float)input[i] * p->scale;
        output[i] = product + zero_term;
    }
    for (int32_t i = blocked; i < p->size; ++i) {
        output[i] = p->scale * (float)((int32_t)input[i] - p->zero_point);
    }
}
