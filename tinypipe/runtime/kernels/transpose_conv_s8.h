/* transpose_conv_s8 - TRANSPOSE_CONV, int8 activations, int8 per-channel weights (OHWI), int32 bias. */
#ifndef TP_TRANSPOSE_CONV_S8_H
#define TP_TRANSPOSE_CONV_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t batches, input_h, input_w, input_c;
    int32_t output_h, output_w, output_c;
    int32_t filter_h, filter_w, stride_h, stride_w;
    int32_t pad_top, pad_left;         /* of the equivalent forward convolution (TFLite's padding) */
    int32_t input_offset;              /* -input zero point */
    int32_t output_offset;
    int32_t act_min, act_max;
    int32_t upward_channels;           /* channels below this round ties upward (LiteRT's NEON Quantize) */
} tp_transpose_conv_params_t;

/* Output pixel (oy, ox) gathers every input pixel (iy, ix) and tap (ky, kx) with
 * oy = iy * stride_h + ky - pad_top (likewise x): the same int32 sums as LiteRT's GEMM + col2im
 * scatter, then bias and the per-channel requantization. LiteRT requantizes 8 channels at a time
 * with NEON (ties upward) and the output_c % 8 last ones with the scalar rule (ties away):
 * upward_channels = output_c & ~7. bias may be NULL. */
void tp_transpose_conv_s8(const tp_transpose_conv_params_t *p, const int8_t *input, const int8_t *weights,
                          const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                          int8_t *output);

/* The same call, DSP extension (transpose_conv_s8_dsp.c: 4 channels share each input word, SMLAD)
 * and Helium (transpose_conv_s8_mve.c: VMLADAVA.S8, 16 MACs per instruction) variants: same bytes. */
void tp_transpose_conv_s8_dsp(const tp_transpose_conv_params_t *p, const int8_t *input, const int8_t *weights,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              int8_t *output);
void tp_transpose_conv_s8_mve(const tp_transpose_conv_params_t *p, const int8_t *input, const int8_t *weights,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              int8_t *output);

/* The input index whose tap k lands on output index o, or -1: o = i * stride + k - pad. */
TP_INLINE int32_t tp_transpose_conv_source(int32_t o, int32_t k, int32_t pad, int32_t stride, int32_t size) {
    const int32_t t = o + pad - k;
    if (t < 0 || t % stride != 0 || t / stride >= size) {
        return -1;
    }
    return t / stride;
}

#ifdef __cplusplus
}
#endif

#endif /* TP_TRANSPOSE_CONV_S8_H */
