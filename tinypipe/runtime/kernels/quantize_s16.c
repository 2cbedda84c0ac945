#include "quantize_s16.h"

#include <math.h>

static int32_t requantize_one(const tp_requantize_params_t *p, int32_t x) {
    return tp_multiply_by_quantized_multiplier(x + p->input_offset, p->multiplier, p->shift) + p->output_offset;
}

void tp_requantize_s16_s8(const tp_requantize_params_t *p, const int16_t *input, int8_t *output) {
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (int8_t)tp_clamp(requantize_one(p, input[i]), TP_INT8_MIN, TP_INT8_MAX);
    }
}

/* The output is twice as wide as the input: run backwards so that an in-place call (input at the
 * start of the output buffer) reads element i before anything overwrites it. */
void tp_requantize_s8_s16(const tp_requantize_params_t *p, const int8_t *input, int16_t *output) {
    for (int32_t i = p->size - 1; i >= 0; --i) {
        output[i] = tp_clamp_s16(requantize_one(p, input[i]), TP_INT16_MIN, TP_INT16_MAX);
    }
}

void tp_requantize_s16_s16(const tp_requantize_params_t *p, const int16_t *input, int16_t *output) {
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = tp_clamp_s16(requantize_one(p, input[i]), TP_INT16_MIN, TP_INT16_MAX);
    }
}

/* Saturate a rounded float to the int16 range before the integer conversion (no UB for any input). */
static int16_t saturate_s16(float r) {
    r = r < (float)TP_INT16_MIN ? (float)TP_INT16_MIN : (r > (float)TP_INT16_MAX ? (float)TP_INT16_MAX : r);
    return (int16_t)r;
}

void tp_quantize_f32_s16(const tp_quantize_s16_params_t *p, const float *input, int16_t *output) {
    int32_t i = 0;
    for (; i < p->vector_size; ++i) {
        volatile float product = input[i] * p->inverse_scale; /* rounded to float, never fused */
        output[i] = saturate_s16(nearbyintf(product));         /* default mode: ties to even */
    }
    for (; i < p->size; ++i) { /* the scale widened to double: the division is in double, ties away */
        const double scaled = (double)input[i] / (double)p->scale;
        const double bounded = scaled < TP_INT16_MIN ? TP_INT16_MIN : (scaled > TP_INT16_MAX ? TP_INT16_MAX : scaled);
        output[i] = (int16_t)tp_round_double_to_int32(bounded);
    }
}

void tp_dequantize_s16_f32(const tp_float_quant_params_t *p, const int16_t *input, float *output) {
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = (float)input[i] * p->scale;
    }
}
