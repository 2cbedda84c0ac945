/*
 * depthwise_conv_s8.c - DEPTHWISE_CONV_2D, portable C99, any depth multiplier. The variants
 * (same bytes; the generator picks one per layer, see depthwise_conv_s8.h): Helium
 * (depthwise_conv_s8_mve.c), DSP (depthwise_conv_s8_dsp.c: generic and tap pairs;
 * depthwise_conv_s8_dsp_3x3.c: planar 3x3). Every variant rounds output channels >=
 * upward_channels ties-away, like LiteRT (README).
 */
#include "depthwise_conv_s8.h"

void tp_depthwise_conv_s8(const tp_depthwise_conv_params_t *p, const int8_t *input,
                          const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                          const int32_t *shift, int8_t *output, void *scratch) {
    (void)scratch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->input_c;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->output_c; ++oc) {
                    const int32_t ic = oc / p->depth_multiplier;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                        const int32_t iy = in_y0 + ky * p->dilation_h;
                        if (iy < 0 || iy >= p->input_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                            const int32_t ix = in_x0 + kx * p->dilation_w;
                            if (ix < 0 || ix >= p->input_w) {
                                continue;
                            }
                            const int32_t x = in_b[(iy * p->input_w + ix) * p->input_c + ic];
                            const int32_t w = filter[(ky * p->filter_w + kx) * p->output_c + oc];
                            acc += (x + p->input_offset) * w;
                        }
                    }
                    acc += bias[oc];
                    *output++ = tp_requantize_either(acc, multiplier[oc], shift[oc], p->output_offset,
                                                     p->act_min, p->act_max, oc < p->upward_channels);
                }
            }
        }
    }
}
