/*
 * conv_s8.c - CONV_2D, portable C99 (TFLite's ConvPerChannel over the raw int8 input with the
 * input zero point folded into the bias). The DSP and Helium variants (conv_s8_dsp.c,
 * conv_s8_mve.c) compute the same bytes; the generated code picks one per layer (TP_VARIANT).
 */
#include "conv_s8_patch.h"

void tp_conv_s8(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                const int32_t *bias, const int32_t *multiplier, const int32_t *shift, const int16_t *channels,
                const int8_t *fill, int8_t *output, void *scratch) {
    const int32_t filter_size = p->filter_h * p->filter_w * p->input_c;
    const int32_t pad = -p->input_offset; /* the raw value of a padded tap */
    (void)scratch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->input_c;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_left;
                tp_conv_fill_pixels(fill, output, p->output_c, 1);
                for (int32_t oc = 0; oc < p->live_c; ++oc) {
                    const int8_t *w = filter + oc * filter_size;
                    int32_t acc = bias[oc];
                    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                        const int32_t iy = in_y0 + ky * p->dilation_h;
                        for (int32_t kx = 0; kx < p->filter_w; ++kx, w += p->input_c) {
                            const int32_t ix = in_x0 + kx * p->dilation_w;
                            if (iy < 0 || iy >= p->input_h || ix < 0 || ix >= p->input_w) {
                                for (int32_t ic = 0; ic < p->input_c; ++ic) {
                                    acc += pad * (int32_t)w[ic];
                                }
                                continue;
                            }
                            const int8_t *x = in_b + (iy * p->input_w + ix) * p->input_c;
                            for (int32_t ic = 0; ic < p->input_c; ++ic) {
                                acc += (int32_t)x[ic] * (int32_t)w[ic];
                            }
                        }
                    }
                    output[channels != NULL ? channels[oc] : oc] = tp_requantize_upward(
                        acc, multiplier[oc], shift[oc], p->output_offset, p->act_min, p->act_max);
                }
                output += p->output_c;
            }
        }
    }
}
