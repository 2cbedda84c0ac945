/* conv_s16 - CONV_2D with int16 activations and int8 weights (16x8 quantization), LiteRT's
 * reference_integer_ops::ConvPerChannel: int64 accumulators, per-channel requantization with
 * tp_multiply_by_quantized_multiplier_64. Zero points are 0, so padding contributes nothing. */
#ifndef TP_CONV_S16_H
#define TP_CONV_S16_H

#include "common_s16.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t batches;
    int32_t input_h, input_w, input_c;
    int32_t output_h, output_w, output_c;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max; /* fused activation within int16 */
} tp_conv_s16_params_t;

/* weights: [output_c][filter_h][filter_w][input_c] int8; bias: [output_c] int64 or NULL;
 * multiplier/shift: per output channel. */
void tp_conv_s16(const tp_conv_s16_params_t *p, const int16_t *input, const int8_t *weights, const int64_t *bias,
                 const int32_t *multiplier, const int32_t *shift, int16_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_CONV_S16_H */
