#include "transpose_conv_s8.h"

void tp_transpose_conv_s8(const tp_transpose_conv_params_t *p, const int8_t *input, const int8_t *weights,
                          const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                          int8_t *output) {
    const int32_t ic = p->input_c, taps = p->filter_h * p->filter_w;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = input + b * p->input_h * p->input_w * ic;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                for (int32_t oc = 0; oc < p->output_c; ++oc) {
                    int32_t acc = bias ? bias[oc] : 0;
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
                            const int8_t *in = image + (iy * p->input_w + ix) * ic;
                            const int8_t *w = weights + (oc * taps + ky * p->filter_w + kx) * ic;
                            for (int32_t i = 0; i < ic; ++i) {
                                acc += ((int32_t)in[i] + p->input_offset) * w[i];
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
