#include "pooling_s16.h"

/* The window of output (oy, ox) clipped to the input: [y_start, y_end) x [x_start, x_end). */
typedef struct {
    int32_t y_start, y_end, x_start, x_end;
} window_t;

static window_t clip_window(const tp_pool_params_t *p, int32_t oy, int32_t ox) {
    const int32_t y0 = oy * p->stride_h - p->pad_top;
    const int32_t x0 = ox * p->stride_w - p->pad_left;
    window_t w;
    w.y_start = tp_max(0, y0);
    w.y_end = tp_min(p->input_h, y0 + p->filter_h);
    w.x_start = tp_max(0, x0);
    w.x_end = tp_min(p->input_w, x0 + p->filter_w);
    return w;
}

void tp_average_pool_s16(const tp_pool_params_t *p, const int16_t *input, int16_t *output) {
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *image = input + b * p->input_h * p->input_w * p->channels;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                const window_t w = clip_window(p, oy, ox);
                const int32_t count = (w.y_end - w.y_start) * (w.x_end - w.x_start);
                for (int32_t c = 0; c < p->channels; ++c) {
                    int32_t acc = 0;
                    for (int32_t y = w.y_start; y < w.y_end; ++y) {
                        for (int32_t x = w.x_start; x < w.x_end; ++x) {
                            acc += image[(y * p->input_w + x) * p->channels + c];
                        }
                    }
                    /* count >= 1: the generator checked every window overlaps the input */
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    *output++ = tp_clamp_s16(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void tp_max_pool_s16(const tp_pool_params_t *p, const int16_t *input, int16_t *output) {
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *image = input + b * p->input_h * p->input_w * p->channels;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                const window_t w = clip_window(p, oy, ox);
                for (int32_t c = 0; c < p->channels; ++c) {
                    int32_t best = TP_INT16_MIN;
                    for (int32_t y = w.y_start; y < w.y_end; ++y) {
                        for (int32_t x = w.x_start; x < w.x_end; ++x) {
                            best = tp_max(best, image[(y * p->input_w + x) * p->channels + c]);
                        }
                    }
                    *output++ = tp_clamp_s16(best, p->act_min, p->act_max);
                }
            }
        }
    }
}
