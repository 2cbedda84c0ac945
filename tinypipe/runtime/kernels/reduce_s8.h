/* reduce_s8 - SUM, REDUCE_MAX and REDUCE_MIN over any set of axes, int8 (MEAN: mean_s8). */
#ifndef TP_REDUCE_S8_H
#define TP_REDUCE_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t output_dims[4];   /* input shape padded to 4-D, with 1 along every reduced axis */
    int32_t reduce_dims[4];   /* input shape along reduced axes, 1 along kept axes */
    int32_t input_strides[4]; /* element strides of the 4-D input */
} tp_reduce_params_t;

typedef struct {
    int32_t output_dims[4];
    int32_t reduce_dims[4];
    int32_t input_strides[4];
    float scale;              /* input_scale / output_scale (float32) */
    float bias;               /* -input_zero_point * scale * elements per window (float32) */
    int32_t output_zero_point;
} tp_sum_params_t;

/* REDUCE_MAX / REDUCE_MIN: the largest / smallest raw int8 value of each window (LiteRT requires
 * input and output to share their quantization). Outputs in row-major order. */
void tp_reduce_max_s8(const tp_reduce_params_t *p, const int8_t *input, int8_t *output);
void tp_reduce_min_s8(const tp_reduce_params_t *p, const int8_t *input, int8_t *output);

/* SUM: LiteRT's optimized int8 sum (optimized_ops::QuantizedMeanOrSum, compute_sum) is float:
 * output = roundf((float)window_sum * scale + bias) + output_zero_point, saturated, with the
 * multiply and the add rounded separately (never fused into an FMA). */
void tp_sum_s8(const tp_sum_params_t *p, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_REDUCE_S8_H */
