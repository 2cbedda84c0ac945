#include "conv_s16.h"

void tp_conv_s16(const tp_conv_s16_params_t *p, const int16_t *input, const int8_t *weights, const int64_t *bias,
                 const int32_t *multiplier, const int32_t *shift, int16_t *output) {
    const int32_t patch = p->filter_h * p->filter_w * p->input_c;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *image = input + b * p->input_h * p->input_w * p->input_c;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->output_c; ++oc) {
                    const int8_t *filter = weights + oc * patch;
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
                            const int16_t *pixel = image + (y * p->input_w + x) * p->input_c;
                            const int8_t *tap = filter + (fy * p->filter_w + fx) * p->input_c;
                            int32_t sum = 0; /* at most input_c * 2^22: fits int32 below 512 channels */
                            for (int32_t ic = 0; ic < p->input_c; ++ic) {
                                sum += (int32_t)pixel[ic] * (int32_t)tap[ic];
                                if ((ic & 255) == 255) { /* flush before int32 could overflow */
                                    acc += sum;
                                    sum = 0;
                                }
                            }
                            acc += sum;
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
