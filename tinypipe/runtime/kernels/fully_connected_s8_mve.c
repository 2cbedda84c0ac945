/*
 * fully_connected_s8_mve.c - FULLY_CONNECTED, Helium variant: 4 rows at a time; VLD4 (32-bit
 * lanes) de-interleaves 16 inputs x 4 rows into one vector per row, VMLADAVA.S8 (16 MACs per
 * instruction) shares the input vector; 4-lane VQRDMULH/VRSHL requantization. Same bytes as
 * fully_connected_s8.c.
 */
#include "fully_connected_s8.h"

#if defined(TP_USE_MVE)

void tp_fully_connected_s8_mve(const tp_fully_connected_params_t *p, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                               const int32_t *shift, int8_t *output) {
    const int32_t k_size = p->accum_depth, depth = p->output_depth;
    const int32_t k16 = k_size & ~15, k4 = k_size & ~3, tail = k_size - k4;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * k_size;
        int32_t o = 0;
        for (; o + 4 <= depth; o += 4) {
            const int8_t *w = weights + o * k_size;
            int32_t a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
            int32_t k = 0;
            for (; k < k16; k += 16) {
                const int8x16_t xv = vldrbq_s8(x + k);
                const int32x4x4_t rows = vld4q_s32((const int32_t *)(const void *)w);
                a0 = vmladavaq_s8(a0, xv, vreinterpretq_s8_s32(rows.val[0]));
                a1 = vmladavaq_s8(a1, xv, vreinterpretq_s8_s32(rows.val[1]));
                a2 = vmladavaq_s8(a2, xv, vreinterpretq_s8_s32(rows.val[2]));
                a3 = vmladavaq_s8(a3, xv, vreinterpretq_s8_s32(rows.val[3]));
                w += 64;
            }
            /* GCC 12 sign-extends a constant 0xF000 predicate into an invalid immediate: via a register */
            mve_pred16_t lanes3 = 0xF000;
            __asm__("" : "+r"(lanes3));
            for (; k < k4; k += 4) { /* one group: 4 rows x 4 inputs, each row's lanes predicated */
                const int8x16_t xv = vreinterpretq_s8_s32(vdupq_n_s32(tp_load32(x + k)));
                const int8x16_t wv = vldrbq_s8(w);
                a0 = vmladavaq_p_s8(a0, xv, wv, 0x000F);
                a1 = vmladavaq_p_s8(a1, xv, wv, 0x00F0);
                a2 = vmladavaq_p_s8(a2, xv, wv, 0x0F00);
                a3 = vmladavaq_p_s8(a3, xv, wv, lanes3);
                w += 16;
            }
            for (int32_t j = 0; j < tail; ++j) {
                const int32_t xv = x[k4 + j];
                a0 += xv * w[j];
                a1 += xv * w[tail + j];
                a2 += xv * w[2 * tail + j];
                a3 += xv * w[3 * tail + j];
            }
            int32x4_t acc = vdupq_n_s32(a0);
            acc = vsetq_lane_s32(a1, acc, 1);
            acc = vsetq_lane_s32(a2, acc, 2);
            acc = vsetq_lane_s32(a3, acc, 3);
            vstrbq_s32(output + o, tp_requantize_upward_x4(acc, vldrwq_s32(multiplier + o), vldrwq_s32(shift + o),
                                                           p->output_offset, p->act_min, p->act_max));
        }
        for (; o < depth; ++o) { /* the depth % 4 last rows: row-major */
            const int8_t *w = weights + o * k_size;
            int32_t acc = bias[o];
            for (int32_t k = 0; k < k_size; k += 16) {
                const mve_pred16_t pr = vctp8q((uint32_t)(k_size - k));
                acc = vmladavaq_s8(acc, vldrbq_z_s8(x + k, pr), vldrbq_z_s8(w + k, pr));
            }
            output[o] = tp_requantize_upward(acc, multiplier[o], shift[o], p->output_offset, p->act_min,
                                             p->act_max);
        }
        output += depth;
    }
}

#endif /* TP_USE_MVE */
