/* fully_connected_s16 - FULLY_CONNECTED with int16 activations and int8 weights (16x8
 * quantization). LiteRT's int16 path (reference_integer_ops::FullyConnected[PerChannel] with
 * float scales) requantizes in double precision: round(acc * scale[c]) with
 * scale[c] = double(input_scale) * double(filter_scale[c]) / double(output_scale), computed
 * offline; the accumulator is int64. */
#ifndef TP_FULLY_CONNECTED_S16_H
#define TP_FULLY_CONNECTED_S16_H

#include "common_s16.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t batches;
    int32_t accum_depth;  /* inputs per row */
    int32_t output_depth; /* rows */
    int32_t act_min, act_max;
} tp_fully_connected_s16_params_t;

/* weights: [output_depth][accum_depth] int8 (row-major); bias: [output_depth] int64 or NULL;
 * scale: [output_depth] effective output scale per row. */
void tp_fully_connected_s16(const tp_fully_connected_s16_params_t *p, const int16_t *input, const int8_t *weights,
                            const int64_t *bias, const double *scale, int16_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_FULLY_CONNECTED_S16_H */
