/* conv_s8 - CONV_2D, int8 activations, per-channel int8 weights (TFLite ConvPerChannel). */
#ifndef TP_CONV_S8_H
#define TP_CONV_S8_H

#include "../tp_common.h"

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
    int32_t pad_top, pad_left; /* padded positions read the input zero point (contribute 0) */
    int32_t input_offset;      /* -input zero point */
    int32_t output_offset;     /* output zero point */
    int32_t act_min, act_max;
} tp_conv_params_t;

/* Pixels per block of the DSP variant (im2col of this many output pixels, widened to int16). */
#define TP_CONV_DSP_PIXELS 4

/* Scratch bytes tp_conv_s8 needs (the generator reserves it in the arena): room for
 * TP_CONV_DSP_PIXELS int16 im2col columns, which also holds the Helium variant's int8 column. */
#define TP_CONV_SCRATCH_BYTES(filter_h, filter_w, input_c) \
    (2 * TP_CONV_DSP_PIXELS * (((filter_h) * (filter_w) * (input_c) + 3) / 4 * 4))

/* input NHWC, filter OHWI [output_c][filter_h][filter_w][input_c] (int8, as in the .tflite), output
 * NHWC. `bias` has the input zero point folded in offline: bias[o] - input_zp * sum(filter[o]),
 * so every variant computes bias + sum(x * w) over the raw int8 inputs, a padded tap reading x =
 * input_zp (it then contributes 0 overall). multiplier/shift per output channel. */
void tp_conv_s8(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output,
                void *scratch);

#ifdef __cplusplus
}
#endif

#endif /* TP_CONV_S8_H */
