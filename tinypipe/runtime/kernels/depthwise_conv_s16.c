#include "depthwise_conv_s16.h"

void tp_depthwise_conv_s16(const tp_depthwise_conv_s16_params_t *p, const int16_t *input, const int8_t *weights,
                           const int64_t *bias, const int32_t *multiplier, const int32_t *shift, int16_t *output) {
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *image = input + b * p->input_h * p->input_w * p->input_c;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->output_c; ++oc) {
                    const int32_t ic = oc / p->depth_multiplier;
                    int64_t acc = 0;
                    for (int32_t fy = 0; fy < p->filter_h; ++fy) {
                        const int32_t y = y0 + fy * p->dilation_h;
                        if (y < 0 || y >= p->input_h) {
                            continue;
                        }
                        for (int32_t fx = 0; fx < p->filter_w; ++fx) {
                            const int32_t x = x0 + fx * p->dilation_w;
                            if (x < 0 || x >= p->input_w) {
                                continue;
                            }
                            const int32_t value = image[(y * p->input_w + x) * p->input_c + ic];
                            acc += (int64_t)value * weights[(fy * p->filter_w + fx) * p->output_c + oc];
                        }
                    }
                    if (bias != NULL) {
                        acc += bias[oc];
                    }
                    const int32_t scaled = tp_multiply_by_quantized_multiplier_64(acc, multiplier[oc], shift[oc]);
                    *output++ = tp_clamp_s16(scaled, p->act_min, p->act_max);
                }
            }
        }
    }
}
