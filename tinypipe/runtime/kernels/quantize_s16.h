/* quantize_s16 - QUANTIZE and DEQUANTIZE at int16 tensors (16x8 quantization): int16 <-> int8
 * and int16 -> int16 requantization (LiteRT's scalar Requantize: MultiplyByQuantizedMultiplier,
 * ties away from zero), float -> int16 and int16 -> float. int16 zero points are 0. The
 * requantizations take quantize.h's tp_requantize_params_t (vector_size unused: LiteRT has no
 * vector loop for these types). */
#ifndef TP_QUANTIZE_S16_H
#define TP_QUANTIZE_S16_H

#include "common_s16.h"
#include "quantize.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t size;
    int32_t vector_size;  /* leading elements LiteRT's 8-wide NEON loop quantizes */
    float scale;          /* the output scale: the scalar tail divides by it (in double) */
    float inverse_scale;  /* float(1.0 / double(scale)): the vector loop multiplies by it */
} tp_quantize_s16_params_t;

void tp_requantize_s16_s8(const tp_requantize_params_t *p, const int16_t *input, int8_t *output);
void tp_requantize_s8_s16(const tp_requantize_params_t *p, const int8_t *input, int16_t *output);
void tp_requantize_s16_s16(const tp_requantize_params_t *p, const int16_t *input, int16_t *output);

/* float -> int16 as LiteRT's optimized AffineQuantize<int16_t>: round(x * inverse_scale) in float
 * (nearest, ties to even) for the first vector_size elements, round(double(x) / double(scale))
 * (ties away from zero) for the rest; saturated. */
void tp_quantize_f32_s16(const tp_quantize_s16_params_t *p, const float *input, int16_t *output);

/* int16 -> float: q * scale (zero point 0; one rounding in both of LiteRT's loops). */
void tp_dequantize_s16_f32(const tp_float_quant_params_t *p, const int16_t *input, float *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_QUANTIZE_S16_H */
