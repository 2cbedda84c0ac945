/*
 * pooling_s8.c - AVERAGE_POOL_2D and MAX_POOL_2D: portable C99, and a DSP variant of the average
 * (4 channels per word, SXTAB16 sums).
 */
#include "pooling_s8.h"

typedef enum { TP_POOL_AVERAGE, TP_POOL_MAX } tp_pool_kind_t;

/* TFLite's average: the window sum divided by its count, rounded half away from zero. */
TP_INLINE int32_t average(int32_t sum, int32_t count) {
    return count == 0 ? 0 : (sum > 0 ? sum + count / 2 : sum - count / 2) / count;
}

static void pool_s8(const tp_pool_params_t *p, const int8_t *input, int8_t *output, tp_pool_kind_t kind) {
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->channels;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_top;
            const int32_t y_start = tp_max(0, y0);
            const int32_t y_end = tp_min(p->input_h, y0 + p->filter_h);
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_left;
                const int32_t x_start = tp_max(0, x0);
                const int32_t x_end = tp_min(p->input_w, x0 + p->filter_w);
                const int32_t count = (y_end - y_start) * (x_end - x_start);
                int32_t c = 0;
#if defined(TP_USE_DSP)
                /* DSP: 4 channels per word, summed as int16 pairs by SXTAB16 (exact while the
                 * window has <= 256 elements: |sum| <= 128 * 256) */
                for (; kind == TP_POOL_AVERAGE && count <= 256 && c + 4 <= p->channels; c += 4) {
                    int32_t s02 = 0, s13 = 0;
                    for (int32_t y = y_start; y < y_end; ++y) {
                        const int8_t *x = in_b + (y * p->input_w + x_start) * p->channels + c;
                        for (int32_t n = x_end - x_start; n > 0; --n, x += p->channels) {
                            const int32_t v = tp_load32(x);
                            s02 = __sxtab16(s02, v);
                            s13 = tp_sxtab16_ror8(s13, v);
                        }
                    }
                    const int32_t sums[4] = {(int16_t)s02, (int16_t)s13, s02 >> 16, s13 >> 16};
                    for (int32_t j = 0; j < 4; ++j) {
                        *output++ = (int8_t)tp_clamp(average(sums[j], count), p->act_min, p->act_max);
                    }
                }
#endif
                for (; c < p->channels; ++c) {
                    int32_t acc = kind == TP_POOL_MAX ? TP_INT8_MIN : 0;
                    for (int32_t y = y_start; y < y_end; ++y) {
                        for (int32_t x = x_start; x < x_end; ++x) {
                            const int32_t v = in_b[(y * p->input_w + x) * p->channels + c];
                            acc = kind == TP_POOL_MAX ? tp_max(acc, v) : acc + v;
                        }
                    }
                    if (kind == TP_POOL_AVERAGE) {
                        acc = average(acc, count);
                    }
                    *output++ = (int8_t)tp_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void tp_average_pool_s8(const tp_pool_params_t *p, const int8_t *input, int8_t *output) {
    pool_s8(p, input, output, TP_POOL_AVERAGE);
}

void tp_max_pool_s8(const tp_pool_params_t *p, const int8_t *input, int8_t *output) {
    pool_s8(p, input, output, TP_POOL_MAX);
}
