#include "add_s8.h"

/* tp_requantize's scaling for a right shift e >= 1 (the ADD output's case: it undoes the inputs'
 * 20-bit headroom) and |x| < 2^30 (a sum of two table entries): the doubling high multiply (no
 * saturation: multiplier < 2^31), then x / 2^e with ties away from zero as
 * (h + 2^(e-1) - [h < 0]) >> e, which is RoundingDivideByPOT's value. */
TP_INLINE int32_t scale_away(int32_t y, int32_t multiplier, int32_t half, int32_t e) {
    /* y = 2x (doubled tables): floor((x * m + 2^30) / 2^31) = floor((y * m + 2^31) / 2^32) */
    const int32_t h = (int32_t)(((int64_t)y * (int64_t)multiplier + ((int64_t)1 << 31)) >> 32);
    return (h + half + (h >> 31)) >> e;
}

#if defined(TP_USE_DSP)
/* DSP: 4 elements per iteration from one word of each input. scale_away(x) + off fused: with
 * y = 2x (the tables are doubled) and the integer A = half - [y < 0] + off * 2^e,
 *   scale_away(x) + off = floor((floor((y * m + 2^31) / 2^32) + A) / 2^e) = SMMLAR(y, m, A) >> e
 * (nested floors; [h < 0] may be replaced by [y < 0]: they differ only when h = 0, and then both
 * give 0 since half < 2^e): ADD + SMMLAR + ASR + SSAT per element. 4 bytes packed, clamped to the
 * activation range with SSUB8/SEL unless it is the whole int8 range, one STR.
 * Needs 1 <= e <= 23 (|A| < 2^31): otherwise the C loop. */
#define TP_ADD_SCALE(y) __ssat(tp_smmlar((y), m, base + ((y) >> 31)) >> e, 8)
#define TP_ADD_LOOP(CLAMP)                                                                            \
    for (; i + 4 <= n; i += 4) {                                                                      \
        const uint32_t va = (uint32_t)tp_load32(a + i), vb = (uint32_t)tp_load32(b + i);             \
        const int32_t v0 = TP_ADD_SCALE(t1[va & 0xFFu] + t2[vb & 0xFFu]);                              \
        const int32_t v2 = TP_ADD_SCALE(t1[(va >> 16) & 0xFFu] + t2[(vb >> 16) & 0xFFu]);              \
        const int32_t w02 = (int32_t)__uxtb16(tp_pkhbt16(v0, v2));                                     \
        const int32_t v1 = TP_ADD_SCALE(t1[(va >> 8) & 0xFFu] + t2[(vb >> 8) & 0xFFu]);                \
        const int32_t v3 = TP_ADD_SCALE(t1[va >> 24] + t2[vb >> 24]);                                  \
        int32_t word = (int32_t)((uint32_t)w02 | (__uxtb16(tp_pkhbt16(v1, v3)) << 8));                 \
        if (CLAMP) {                                                                                  \
            (void)__ssub8(word, lo4);                                                                 \
            word = (int32_t)__sel(word, lo4);                                                         \
            (void)__ssub8(hi4, word);                                                                 \
            word = (int32_t)__sel(word, hi4);                                                         \
        }                                                                                             \
        memcpy(out + i, &word, 4);                                                                    \
    }

static void add_flat(const tp_add_params_t *p, const int8_t *a, const int8_t *b, const int32_t *t1,
                     const int32_t *t2, int8_t *out, int32_t n) {
    const int32_t m = p->output_multiplier, e = -p->output_shift, half = (int32_t)1 << (e - 1);
    const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
    int32_t i = 0;
    if (e <= 23) {
        const int32_t base = half + off * ((int32_t)1 << e);
        const int32_t lo4 = (int32_t)(0x01010101u * (uint8_t)lo), hi4 = (int32_t)(0x01010101u * (uint8_t)hi);
        if (lo == -128 && hi == 127) {
            TP_ADD_LOOP(0)
        } else {
            TP_ADD_LOOP(1)
        }
    }
    for (; i < n; ++i) {
        const int32_t s = scale_away(t1[(uint8_t)a[i]] + t2[(uint8_t)b[i]], m, half, e) + off;
        out[i] = (int8_t)tp_clamp(s, lo, hi);
    }
}
#undef TP_ADD_LOOP
#undef TP_ADD_SCALE
#else
static void add_flat(const tp_add_params_t *p, const int8_t *a, const int8_t *b, const int32_t *t1,
                     const int32_t *t2, int8_t *out, int32_t n) {
    const int32_t m = p->output_multiplier, e = -p->output_shift, half = (int32_t)1 << (e - 1);
    const int32_t off = p->output_offset, lo = p->act_min, hi = p->act_max;
    TP_UNROLL(4)
    for (int32_t i = 0; i < n; ++i) {
        const int32_t s = scale_away(t1[(uint8_t)a[i]] + t2[(uint8_t)b[i]], m, half, e) + off;
        out[i] = (int8_t)tp_clamp(s, lo, hi);
    }
}
#endif

void tp_add_s8(const tp_add_params_t *p, const int8_t *input1, const int8_t *input2, const int32_t *table1,
               const int32_t *table2, int8_t *output) {
    if (p->contiguous && p->output_shift < 0) {
        add_flat(p, input1, input2, table1, table2, output,
                 p->dims[0] * p->dims[1] * p->dims[2] * p->dims[3]);
        return;
    }
    for (int32_t i0 = 0; i0 < p->dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < p->dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < p->dims[2]; ++i2) {
                const int8_t *a = tp_broadcast_row(input1, p->input1_strides, i0, i1, i2);
                const int8_t *b = tp_broadcast_row(input2, p->input2_strides, i0, i1, i2);
                for (int32_t i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int32_t sum = (table1[(uint8_t)a[i3 * p->input1_strides[3]]] +
                                         table2[(uint8_t)b[i3 * p->input2_strides[3]]]) / 2; /* exact */
                    *output++ = tp_requantize(sum, p->output_multiplier, p->output_shift, p->output_offset,
                                              p->act_min, p->act_max);
                }
            }
        }
    }
}
