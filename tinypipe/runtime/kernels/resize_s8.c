#include "resize_s8.h"

#include <string.h>

void tp_resize_nearest_s8(const tp_resize_params_t *p, const int8_t *input, const int16_t *rows,
                          const int16_t *cols, int8_t *output) {
    const int32_t row_bytes = p->input_w * p->channels;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = input + b * p->input_h * row_bytes;
        for (int32_t y = 0; y < p->output_h; ++y) {
            const int8_t *row = image + rows[y] * row_bytes;
            for (int32_t x = 0; x < p->output_w; ++x) {
                memcpy(output, row + cols[x] * p->channels, (size_t)p->channels);
                output += p->channels;
            }
        }
    }
}

void tp_resize_bilinear_s8(const tp_resize_params_t *p, const int8_t *input, const int16_t *rows,
                           const int16_t *cols, int8_t *output) {
    const int32_t c_count = p->channels, row_bytes = p->input_w * p->channels;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *image = input + b * p->input_h * row_bytes;
        for (int32_t y = 0; y < p->output_h; ++y) {
            const int8_t *top = image + rows[3 * y] * row_bytes, *bottom = image + rows[3 * y + 1] * row_bytes;
            const int32_t wy = rows[3 * y + 2];
            for (int32_t x = 0; x < p->output_w; ++x) {
                const int32_t left = cols[3 * x] * c_count, right = cols[3 * x + 1] * c_count;
                const int32_t wx = cols[3 * x + 2];
                /* the four corner weights, products of two 10-bit factors */
                const int32_t w_tl = (TP_RESIZE_ONE - wy) * (TP_RESIZE_ONE - wx);
                const int32_t w_bl = wy * (TP_RESIZE_ONE - wx);
                const int32_t w_tr = (TP_RESIZE_ONE - wy) * wx;
                const int32_t w_br = wy * wx;
                for (int32_t c = 0; c < c_count; ++c) {
                    const int32_t sum = top[left + c] * w_tl + bottom[left + c] * w_bl + top[right + c] * w_tr +
                                        bottom[right + c] * w_br;
                    const int32_t half = sum > 0 ? (1 << 19) : -(1 << 19);
                    *output++ = (int8_t)((sum + half) / (1 << 20)); /* C division: truncates toward 0 */
                }
            }
        }
    }
}
