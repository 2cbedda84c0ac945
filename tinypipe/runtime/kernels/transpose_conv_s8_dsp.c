/*
 * transpose_conv_s8_dsp.c - TRANSPOSE_CONV, DSP-extension variant: the portable gather of taps, 4
 * output channels at a time. Each word of 4 input bytes is widened once (SXTB16 / SXTB16 ROR 8) and
 * offset by the input zero point (SADD16: |x - zp| <= 255 fits int16), then shared by the 4
 * channels: 1 LDR + 2 SXTB16 + 2 SADD16, and per channel 1 LDR + 2 SXTB16 + 2 SMLAD, per 4 MACs.
 * The same int32 sums and requantization as transpose_conv_s8.c: same bytes.
 */
#include "transpose_conv_s8.h"

#if defined(TP_USE_DSP)

#define CHANNEL_BLOCK 4 /* output channels sharing each widened input word */

/* (x + offset) * w summed over n bytes, for one channel (the output_c % 4 last ones). */
static int32_t dot_offset(const int8_t *x, const int8_t *w, int32_t n, int32_t offset2, int32_t offset) {
    int32_t acc = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        const int32_t xw = tp_load32(x + i), ww = tp_load32(w + i);
        acc = __smlad(__sadd16(__sxtb16(xw), offset2), __sxtb16(ww), acc);
        acc = __smlad(__sadd16(tp_sxtb16_ror8(xw), offset2), tp_sxtb16_ror8(ww), acc);
    }
    for (; i < n; ++i) {
        acc += ((int32_t)x[i] + offset) * w[i];
    }
    return acc;
}

void tp_transpose_conv_s8_dsp(const tp_transpose_conv_params_t *p, const int8_t *input, const int8_t *weights,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              int8_t *output) {
    const int32_t ic = p->input_c, ic4 = ic & ~3, taps = p->filter_h * p->filter_w;
    const int32_t channel_bytes = taps * ic; /* one output channel's weights (OHWI) */
    const int32_t offset = p->input_offset;
    const int32_t offset2 = (int32_t)(((uint32_t)offset << 16) | ((uint32_t)offset & 0xFFFFu));
    const int32_t last_block = p->output_c - p->output_c % CHANNEL_BLOCK;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = input + b * p->input_h * p->input_w * ic;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                int32_t oc = 0;
                for (; oc < last_block; oc += CHANNEL_BLOCK) {
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
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
                            const int8_t *w0 = weights + oc * channel_bytes + (ky * p->filter_w + kx) * ic;
                            const int8_t *w1 = w0 + channel_bytes, *w2 = w1 + channel_bytes;
                            const int8_t *w3 = w2 + channel_bytes;
                            int32_t i = 0;
                            for (; i < ic4; i += 4) {
                                const int32_t xw = tp_load32(x + i);
                                const int32_t x02 = __sadd16(__sxtb16(xw), offset2);
                                const int32_t x13 = __sadd16(tp_sxtb16_ror8(xw), offset2);
                                int32_t ww = tp_load32(w0 + i);
                                a0 = __smlad(x13, tp_sxtb16_ror8(ww), __smlad(x02, __sxtb16(ww), a0));
                                ww = tp_load32(w1 + i);
                                a1 = __smlad(x13, tp_sxtb16_ror8(ww), __smlad(x02, __sxtb16(ww), a1));
                                ww = tp_load32(w2 + i);
                                a2 = __smlad(x13, tp_sxtb16_ror8(ww), __smlad(x02, __sxtb16(ww), a2));
                                ww = tp_load32(w3 + i);
                                a3 = __smlad(x13, tp_sxtb16_ror8(ww), __smlad(x02, __sxtb16(ww), a3));
                            }
                            for (; i < ic; ++i) {
                                const int32_t v = (int32_t)x[i] + offset;
                                a0 += v * w0[i];
                                a1 += v * w1[i];
                                a2 += v * w2[i];
                                a3 += v * w3[i];
                            }
                        }
                    }
                    const int32_t acc[CHANNEL_BLOCK] = {a0, a1, a2, a3};
                    for (int32_t k = 0; k < CHANNEL_BLOCK; ++k) {
                        const int32_t c = oc + k;
                        *output++ = tp_requantize_either(acc[k] + (bias ? bias[c] : 0), multiplier[c], shift[c],
                                                         p->output_offset, p->act_min, p->act_max,
                                                         c < p->upward_channels);
                    }
                }
                for (; oc < p->output_c; ++oc) {
                    int32_t acc = bias ? bias[oc] : 0;
                    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                        const int32_t iy = tp_transpose_conv_source(oy, ky, p->pad_top, p->stride_h, p->input_h);
                        if (iy < 0) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                            const int32_t ix =
                                tp_transpose_conv_source(ox, kx, p->pad_left, p->stride_w, p->input_w);
                            if (ix >= 0) {
                                acc += dot_offset(image + (iy * p->input_w + ix) * ic,
                                                  weights + oc * channel_bytes + (ky * p->filter_w + kx) * ic, ic,
                                                  offset2, offset);
                            }
                        }
                    }
                    *output++ = tp_requantize_either(acc, multiplier[oc], shift[oc], p->output_offset, p->act_min,
                                                     p->act_max, oc < p->upward_channels);
                }
            }
        }
    }
}

#endif /* TP_USE_DSP */
