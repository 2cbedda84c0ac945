/*
 * fully_connected_s8_dsp.c - FULLY_CONNECTED, DSP-extension variant: 4 rows at a time; each input
 * word is sign-extended once (SXTB16 / SXTB16 ROR 8) and feeds 8 SMLADs; one LDRD fetches 2 rows
 * x 4 inputs: 1 LDR + 2 LDRD + 10 SXTB16 + 8 SMLAD per 16 MACs, 16 inputs per loop pass. Same
 * bytes as fully_connected_s8.c.
 */
#include "fully_connected_s8.h"

#if defined(TP_USE_DSP)

/* The block's requantization: for a layer proved `doubled`, SMMLAR + ASR + SSAT of twice the
 * accumulator (zo = 2 * output_offset + 1: tp_round_doubled's); else SMLAL + shift for a right
 * shift (the usual case), else the general branch-free scaling. */
TP_INLINE int8_t fc_requantize(int32_t acc, int32_t multiplier, int32_t shift, int doubled, uint32_t zo,
                               int32_t offset, int32_t lo, int32_t hi) {
    int32_t v;
#if !defined(TP_TFLM_ROUNDING)
    if (doubled) {
        const int32_t round = (int32_t)(zo << (-shift - 1));
        return (int8_t)tp_clamp(tp_requantize_doubled((int32_t)((uint32_t)acc << 1), multiplier, round, -shift),
                                lo, hi);
    }
    if (shift < 0) {
        v = tp_scale_upward_r(acc, multiplier, tp_round_upward(shift), -shift - 1);
    } else
#else
    (void)doubled;
    (void)zo;
#endif
    {
        v = tp_scale_upward(acc, multiplier, shift > 0 ? shift : 0, shift > 0 ? 0 : -shift);
    }
    return (int8_t)tp_clamp(v + offset, lo, hi);
}

/* 4 inputs at xk into the 4 rows' accumulators: the input word widened once (SXTB16 / SXTB16
 * ROR 8), the rows' 4 weight words by two LDRDs (wp advances), 8 SMLADs. */
TP_INLINE void fc_step4(const int32_t **wp, const int8_t *xk, int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3) {
    const int32_t xv = tp_load32(xk);
    const int32_t x02 = __sxtb16(xv), x13 = tp_sxtb16_ror8(xv);
    int32_t w0, w1;
    tp_ldrd_inc(wp, &w0, &w1);
    *a0 = __smlad(tp_sxtb16_ror8(w0), x13, __smlad(__sxtb16(w0), x02, *a0));
    *a1 = __smlad(tp_sxtb16_ror8(w1), x13, __smlad(__sxtb16(w1), x02, *a1));
    tp_ldrd_inc(wp, &w0, &w1);
    *a2 = __smlad(tp_sxtb16_ror8(w0), x13, __smlad(__sxtb16(w0), x02, *a2));
    *a3 = __smlad(tp_sxtb16_ror8(w1), x13, __smlad(__sxtb16(w1), x02, *a3));
}

void tp_fully_connected_s8_dsp(const tp_fully_connected_params_t *p, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                               const int32_t *shift, int8_t *output) {
    const int32_t k_size = p->accum_depth, depth = p->output_depth;
    const int32_t k4 = k_size & ~3, tail = k_size - k4;
    const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max, doubled = p->doubled;
    const uint32_t zo = (uint32_t)(2 * off + 1);
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * k_size;
        int32_t o = 0;
        for (; o + 4 <= depth; o += 4) {
            /* word-aligned: the array is TP_ARENA_ALIGN-aligned and each block is 4 * k_size bytes */
            const int32_t *wp = (const int32_t *)(const void *)(weights + o * k_size);
            int32_t a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
            const int8_t *xk = x;
            for (const int8_t *const xend16 = x + (k_size & ~15); xk < xend16; xk += 16) {
                fc_step4(&wp, xk, &a0, &a1, &a2, &a3);
                fc_step4(&wp, xk + 4, &a0, &a1, &a2, &a3);
                fc_step4(&wp, xk + 8, &a0, &a1, &a2, &a3);
                fc_step4(&wp, xk + 12, &a0, &a1, &a2, &a3);
            }
            for (; xk < x + k4; xk += 4) {
                fc_step4(&wp, xk, &a0, &a1, &a2, &a3);
            }
            const int8_t *wt = (const int8_t *)(const void *)wp;
            for (int32_t j = 0; j < tail; ++j) {
                const int32_t xv = x[k4 + j];
                a0 += xv * wt[j];
                a1 += xv * wt[tail + j];
                a2 += xv * wt[2 * tail + j];
                a3 += xv * wt[3 * tail + j];
            }
            const int32_t acc[4] = {a0, a1, a2, a3};
            for (int32_t j = 0; j < 4; ++j) { /* a loop: one copy of the requantization */
                output[o + j] = fc_requantize(acc[j], multiplier[o + j], shift[o + j], doubled, zo, off, lo, hi);
            }
        }
        for (; o < depth; ++o) { /* the depth % 4 last rows: row-major */
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
            output[o] = fc_requantize(acc, multiplier[o], shift[o], doubled, zo, off, lo, hi);
        }
        output += depth;
    }
}

#endif /* TP_USE_DSP */
