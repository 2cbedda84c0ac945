/* quantize - QUANTIZE (float->int8, int8->int8, int8<->uint8 requantize) and DEQUANTIZE (int8->float). */
#ifndef TP_QUANTIZE_H
#define TP_QUANTIZE_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t size;
    int32_t input_offset; /* -input zero point */
    int32_t output_offset;
    int32_t multiplier, shift; /* input_scale / output_scale */
    int32_t vector_size;       /* leading elements rounded as LiteRT's 16-wide NEON loop does */
} tp_requantize_params_t;

typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} tp_float_quant_params_t;

/* int8 -> int8 with a new scale/zero point; may run in place. LiteRT's optimized Requantize
 * (our oracle) converts whole blocks of 16 elements with NEON (VQRDMULH + VRSHL: both roundings
 * ties upward, tp_requantize_upward) and the size % 16 elements after them with scalar
 * MultiplyByQuantizedMultiplier (final shift ties away from zero, tp_requantize); the generator
 * passes vector_size = size - size % 16. TFLite Micro rounds every element the scalar way:
 * -DTP_TFLM_ROUNDING makes tp_requantize_upward tie away too. */
void tp_requantize_s8(const tp_requantize_params_t *p, const int8_t *input, int8_t *output);

/* int8 -> uint8 and uint8 -> int8 (a model's uint8 outputs or inputs), the same arithmetic and
 * the same vector/tail rounding split as tp_requantize_s8 (measured on LiteRT's optimized
 * Requantize for both type pairs); the usual case, one scale and zero points 128 apart, is the
 * sign bit flipped. `input` / `output` point at the uint8 side's raw bytes. */
void tp_requantize_s8_u8(const tp_requantize_params_t *p, const int8_t *input, int8_t *output);
void tp_requantize_u8_s8(const tp_requantize_params_t *p, const int8_t *input, int8_t *output);

/* float -> int8: round(x / scale) + zero_point, saturated (model inputs of float models). */
void tp_quantize_f32_s8(const tp_float_quant_params_t *p, const float *input, int8_t *output);

/* int8 -> float: scale * (q - zero_point) (model outputs of float models). */
void tp_dequantize_s8_f32(const tp_float_quant_params_t *p, const int8_t *input, float *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_QUANTIZE_H */
