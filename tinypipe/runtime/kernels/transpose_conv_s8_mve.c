/*
 * transpose_conv_s8_mve.c - TRANSPOSE_CONV, Helium variant: the portable gather of taps, 4 output
 * channels at a time; per tap, 16 input bytes at a time (tail-predicated with VCTP, zeroing loads)
 * are shared by the 4 channels, each doing VMLADAVA.S8 (16 MACs) of the raw bytes and VADDVA.S8 of
 * its weights: the input zero point is applied once per channel as offset * sum(w) (the same int32
 * sum as transpose_conv_s8.c, whose bytes it gives).
 */
#include "transpose_conv_s8.h"

#if defined(TP_USE_MVE)

#define CHANNEL_BLOCK 4 /* output channels sharing each input vector */
#define LANES 16        /* int8 lanes per vector */

void tp_transpose_conv_s8_mve(const tp_transpose_conv_params_t *p, const int8_t *input, const int8_t *weights,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              int8_t *output) {
    const int32_t ic = p->input_c, taps = p->filter_h * p->filter_w;
    const int32_t channel_bytes = taps * ic; /* one output channel's weights (OHWI) */
    const int32_t offset = p->input_offset;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = input + b * p->input_h * p->input_w * ic;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                for (int32_t oc = 0; oc < p->output_c; oc += CHANNEL_BLOCK) {
                    const int32_t block = p->output_c - oc < CHANNEL_BLOCK ? p->output_c - oc : CHANNEL_BLOCK;
                    int32_t acc[CHANNEL_BLOCK] = {0, 0, 0, 0}, wsum[CHANNEL_BLOCK] = {0, 0, 0, 0};
                    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                        const int32_t iy = tp_transpose_conv_source(oy, ky, p->pad_top, p->stride_h, p->input_h);
                        if (iy < 0) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                            const int32_t ix =
                                tp_transpose_conv_source(ox, kx, p->pad_left, p->stride_w, p->input_w);
                            if (ix < 0) {
                                continue;
                            }
                            const int8_t *x = image + (iy * p->input_w + ix) * ic;
                            const int8_t *w = weights + oc * channel_bytes + (ky * p->filter_w + kx) * ic;
                            for (int32_t i = 0; i < ic; i += LANES) {
                                const mve_pred16_t lanes = vctp8q((uint32_t)(ic - i));
                                const int8x16_t xv = vldrbq_z_s8(x + i, lanes);
                                for (int32_t k = 0; k < block; ++k) {
                                    const int8x16_t wv = vldrbq_z_s8(w + k * channel_bytes + i, lanes);
                                    acc[k] = vmladavaq_s8(acc[k], xv, wv);
                                    wsum[k] = vaddvaq_s8(wsum[k], wv);
                                }
                            }
                        }
                    }
                    for (int32_t k = 0; k < block; ++k) {
                        const int32_t c = oc + k;
                        const int32_t sum = acc[k] + offset * wsum[k] + (bias ? bias[c] : 0);
                        *output++ = tp_requantize_either(sum, multiplier[c], shift[c], p->output_offset, p->act_min,
                                                         p->act_max, c < p->upward_channels);
                    }
                }
            }
        }
    }
}

#endif /* TP_USE_MVE */
