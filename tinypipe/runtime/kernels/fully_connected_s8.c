/*
 * fully_connected_s8.c - FULLY_CONNECTED; the bias has the input zero point folded in, so all
 * variants compute bias + raw int8 dot products (same bytes):
 *
 *  - Helium (TP_USE_MVE): 4 rows at a time, VMLADAVA.S8 (16 MACs per instruction) sharing each
 *    input vector, tail-predicated; 4-lane VQRDMULH/VRSHL requantization.
 *  - DSP (TP_USE_DSP): 4 rows at a time; each input word is sign-extended once (SXTB16 /
 *    SXTB16 ROR 8) and feeds 8 SMLADs with the 4 rows' weight words.
 *  - portable C99.
 */
#include "fully_connected_s8.h"

#if defined(TP_USE_MVE)

void tp_fully_connected_s8(const tp_fully_connected_params_t *p, const int8_t *input,
                           const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                           const int32_t *shift, int8_t *output) {
    const int32_t k_size = p->accum_depth, depth = p->output_depth;
    const int32_t k_full = k_size & ~15;
    const mve_pred16_t tail = vctp8q((uint32_t)(k_size - k_full));
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * k_size;
        int32_t o = 0;
        for (; o + 4 <= depth; o += 4) {
            const int8_t *w = weights + o * k_size;
            int32_t a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
            int32_t k = 0;
            for (; k < k_full; k += 16) {
                const int8x16_t xv = vldrbq_s8(x + k);
                a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w + k));
                a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w + k_size + k));
                a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w + 2 * k_size + k));
                a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w + 3 * k_size + k));
            }
            if (k < k_size) {
                const int8x16_t xv = vldrbq_z_s8(x + k, tail);
                a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w + k, tail));
                a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w + k_size + k, tail));
                a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w + 2 * k_size + k, tail));
                a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(w + 3 * k_size + k, tail));
            }
            int32x4_t acc = vdupq_n_s32(a0);
            acc = vsetq_lane_s32(a1, acc, 1);
            acc = vsetq_lane_s32(a2, acc, 2);
            acc = vsetq_lane_s32(a3, acc, 3);
            vstrbq_s32(output + o, tp_requantize_upward_x4(acc, vldrwq_s32(multiplier + o), vldrwq_s32(shift + o),
                                                           p->output_offset, p->act_min, p->act_max));
        }
        for (; o < depth; ++o) {
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

#elif defined(TP_USE_DSP)

void tp_fully_connected_s8(const tp_fully_connected_params_t *p, const int8_t *input,
                           const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                           const int32_t *shift, int8_t *output) {
    const int32_t k_size = p->accum_depth, depth = p->output_depth;
    const int32_t k4 = k_size & ~3;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * k_size;
        int32_t o = 0;
        for (; o + 4 <= depth; o += 4) {
            const int8_t *w0 = weights + o * k_size, *w1 = w0 + k_size, *w2 = w1 + k_size, *w3 = w2 + k_size;
            int32_t a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
            int32_t k = 0;
            /* one walking weight pointer, the other rows at fixed register offsets (no spills) */
            const int8_t *wk = w0, *xk = x, *const xend = x + k4;
            const int32_t s1 = k_size, s2 = 2 * k_size, s3 = 3 * k_size;
            while (xk < xend) {
                const int32_t xv = tp_load32(xk);
                const int32_t x02 = __sxtb16(xv), x13 = tp_sxtb16_ror8(xv);
                int32_t wv = tp_load32(wk);
                a0 = __smlad(__sxtb16(wv), x02, a0);
                a0 = __smlad(tp_sxtb16_ror8(wv), x13, a0);
                wv = tp_load32(wk + s1);
                a1 = __smlad(__sxtb16(wv), x02, a1);
                a1 = __smlad(tp_sxtb16_ror8(wv), x13, a1);
                wv = tp_load32(wk + s2);
                a2 = __smlad(__sxtb16(wv), x02, a2);
                a2 = __smlad(tp_sxtb16_ror8(wv), x13, a2);
                wv = tp_load32(wk + s3);
                a3 = __smlad(__sxtb16(wv), x02, a3);
                a3 = __smlad(tp_sxtb16_ror8(wv), x13, a3);
                xk += 4;
                wk += 4;
            }
            k = k4;
            for (; k < k_size; ++k) {
                const int32_t xv = x[k];
                a0 += xv * w0[k];
                a1 += xv * w1[k];
                a2 += xv * w2[k];
                a3 += xv * w3[k];
            }
            const int32_t acc[4] = {a0, a1, a2, a3};
            for (int32_t i = 0; i < 4; ++i) {
                const int32_t left = shift[o + i] > 0 ? shift[o + i] : 0, right = left - shift[o + i];
                output[o + i] = (int8_t)tp_clamp(tp_scale_upward(acc[i], multiplier[o + i], left, right) +
                                                 p->output_offset, p->act_min, p->act_max);
            }
        }
        for (; o < depth; ++o) {
            const int8_t *w = weights + o * k_size;
            int32_t acc = bias[o];
            int32_t k = 0;
            for (; k < k4; k += 4) {
                const int32_t xv = tp_load32(x + k), wv = tp_load32(w + k);
                acc = __smlad(__sxtb16(wv), __sxtb16(xv), acc);
                acc = __smlad(tp_sxtb16_ror8(wv), tp_sxtb16_ror8(xv), acc);
            }
            for (; k < k_size; ++k) {
                acc += (int32_t)x[k] * (int32_t)w[k];
            }
            output[o] = tp_requantize_upward(acc, multiplier[o], shift[o], p->output_offset, p->act_min, p->act_max);
        }
        output += depth;
    }
}

#else /* portable C99 */

void tp_fully_connected_s8(const tp_fully_connected_params_t *p, const int8_t *input,
                           const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                           const int32_t *shift, int8_t *output) {
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * p->accum_depth;
        for (int32_t o = 0; o < p->output_depth; ++o) {
            const int8_t *w = weights + o * p->accum_depth;
            int32_t acc = bias[o];
            for (int32_t i = 0; i < p->accum_depth; ++i) {
                acc += (int32_t)x[i] * (int32_t)w[i];
            }
            *output++ = tp_requantize_upward(acc, multiplier[o], shift[o], p->output_offset, p->act_min,
                                             p->act_max);
        }
    }
}

#endif
