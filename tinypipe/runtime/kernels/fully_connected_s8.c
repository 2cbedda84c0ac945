/*
 * fully_connected_s8.c - FULLY_CONNECTED, portable C99. The bias has the input zero point folded
 * in, so every variant (fully_connected_s8_dsp.c, fully_connected_s8_mve.c; the generator picks
 * one per layer) computes bias + raw int8 dot products (same bytes). Weights in the interleaved
 * layout of fully_connected_s8.h (blocks of 4 rows, groups of 4 inputs).
 */
#include "fully_connected_s8.h"

void tp_fully_connected_s8(const tp_fully_connected_params_t *p, const int8_t *input,
                           const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                           const int32_t *shift, int8_t *output) {
    const int32_t k_size = p->accum_depth, depth = p->output_depth;
    const int32_t k4 = k_size & ~3, tail = k_size - k4;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * k_size;
        int32_t o = 0;
        for (; o + 4 <= depth; o += 4) {
            const int8_t *w = weights + o * k_size;
            int32_t acc[4] = {bias[o], bias[o + 1], bias[o + 2], bias[o + 3]};
            for (int32_t k = 0; k < k4; k += 4, w += 16) { /* [r0 k..k+3][r1 ..][r2 ..][r3 ..] */
                for (int32_t r = 0; r < 4; ++r) {
                    acc[r] += (int32_t)x[k] * w[4 * r] + (int32_t)x[k + 1] * w[4 * r + 1] +
                              (int32_t)x[k + 2] * w[4 * r + 2] + (int32_t)x[k + 3] * w[4 * r + 3];
                }
            }
            for (int32_t r = 0; r < 4; ++r) { /* [r0 tail][r1 tail][r2 tail][r3 tail] */
                for (int32_t j = 0; j < tail; ++j) {
                    acc[r] += (int32_t)x[k4 + j] * w[r * tail + j];
                }
                output[o + r] = tp_requantize_upward(acc[r], multiplier[o + r], shift[o + r], p->output_offset,
                                                     p->act_min, p->act_max);
            }
        }
        for (; o < depth; ++o) { /* the depth % 4 last rows: row-major */
            const int8_t *w = weights + o * k_size;
            int32_t acc = bias[o];
            for (int32_t k = 0; k < k_size; ++k) {
                acc += (int32_t)x[k] * (int32_t)w[k];
            }
            output[o] = tp_requantize_upward(acc, multiplier[o], shift[o], p->output_offset, p->act_min,
                                             p->act_max);
        }
        output += depth;
    }
}

