/*
 * conv_s8_dsp.c - CONV_2D, DSP-extension variant (Armv7E-M, Armv8-M Mainline): a block of output
 * pixels' patches is widened once to int16 in the order SXTB16 extracts bytes (x0,x2 | x1,x3), so
 * each 4 weights cost one load + two SXTB16 and feed two SMLADs per pixel. Padding is resolved while
 * widening, so the inner loops have no bounds checks. The hot path (doubled accumulators, full int8
 * range: tp_conv_s8_dsp_doubled) takes TP_CONV_DSP_WIDE_PIXELS = 8 pixels per block, its inner loop
 * in assembly (27 instructions per 32 MACs); the general path 4 pixels (15 per 16). Same bytes as
 * conv_s8.c.
 */
#include "conv_s8_patch.h"

#if defined(TP_USE_DSP)

#define PIX TP_CONV_DSP_PIXELS
#define WIDE TP_CONV_DSP_WIDE_PIXELS


/* Scratch layout of a block `width` pixels wide: for each group of 4 patch elements (quad q) and
 * each pixel j, two words [x0 | x2] and [x1 | x3] (int16 halves), the pairs SXTB16 / SXTB16 ROR 8
 * extract from a weight word: word index (q * width + j) * 2. Patch values are stored times
 * `scale`: 2 when the layer's accumulators are doubled for the SMMLAR requantization (tp_smmlar),
 * else 1. */

/* `words` words of int8 patch from src into pixel column d: per word one LDR, two SXTB16 (two
 * SADD16 when doubled) and two stores. */
TP_INLINE void widen_words(int32_t *d, int32_t width, const int8_t *src, int32_t words, int32_t scale) {
    if (scale == 2) {
        for (; words > 0; --words, src += 4, d += 2 * width) {
            const int32_t v = tp_load32(src), lo = __sxtb16(v), hi = tp_sxtb16_ror8(v);
            d[0] = (int32_t)__sadd16(lo, lo);
            d[1] = (int32_t)__sadd16(hi, hi);
        }
        return;
    }
    for (; words > 0; --words, src += 4, d += 2 * width) {
        const int32_t v = tp_load32(src);
        d[0] = __sxtb16(v);
        d[1] = tp_sxtb16_ror8(v);
    }
}

/* A patch row of `run` bytes into d, in whole words (these cores load and store unaligned words):
 * up to 3 bytes past the row are read and written too (the next row overwrites them in d; the
 * caller zeroes them after the last row and keeps the reads inside the input). */
TP_INLINE int8_t *copy_row(int8_t *d, const int8_t *src, int32_t run) {
    int8_t *const end = d + run;
    for (int8_t *w = d; w < end; w += 4, src += 4) {
        const int32_t v = tp_load32(src);
        memcpy(w, &v, 4);
    }
    return end;
}

/* The zero padding of the patch in `col` up to a whole quad: a partial last quad's weights (the
 * next channel's, or the filter's 4 padding bytes) meet zeros. */
TP_INLINE void pad_quad(int8_t *col, int32_t k_size) {
    for (int32_t k = k_size; k & 3; ++k) {
        col[k] = 0;
    }
}

/* The patches of n output pixels in one output row, each inside the input with contiguous rows
 * (dilation_w 1), the first at src, the next sx bytes on, into columns 0..n-1: rows of whole words
 * (filter_w * input_c % 4 == 0) are widened straight from the input; other patches are copied a
 * word per row at a time into `col` and widened from there, unless the last copy would read past
 * the input (`left`: the input's bytes from src on): then nothing is done and 0 returned. */
TP_INLINE int widen_inside(const tp_conv_params_t *p, const int8_t *src, int32_t n, int32_t sx, int32_t left,
                           int32_t *s, int32_t width, int32_t scale, int8_t *col) {
    const int32_t run = p->filter_w * p->input_c, fh = p->filter_h, k_size = fh * run;
    const int32_t row_step = p->dilation_h * p->input_w * p->input_c, row_words = run >> 2;
    if ((run & 3) == 0) {
        for (int32_t ky = 0; ky < fh; ++ky) { /* row ky: quads from ky * run / 4 */
            int32_t *const d = s + ky * row_words * 2 * width;
            for (int32_t j = 0; j < n; ++j) {
                widen_words(d + 2 * j, width, src + ky * row_step + j * sx, row_words, scale);
            }
        }
        return 1;
    }
    if ((n - 1) * sx + (fh - 1) * row_step + ((run + 3) & ~3) > left) {
        return 0;
    }
    for (int32_t j = 0; j < n; ++j) {
        int8_t *c = col;
        for (int32_t ky = 0; ky < fh; ++ky) {
            c = copy_row(c, src + j * sx + ky * row_step, run);
        }
        pad_quad(col, k_size);
        widen_words(s + 2 * j, width, col, (k_size + 3) >> 2, scale);
    }
    return 1;
}

/* The widened patches of n output pixels from `pix` (row-major within the image) into columns
 * 0..n-1 of a block `width` pixels wide: the usual block, in one output row and inside the input,
 * at once (widen_inside); else pixel by pixel, those at the border gathered into `col`
 * (tp_conv_patch_s8). */
TP_INLINE void im2col_dsp(const tp_conv_params_t *p, const int8_t *in_b, int32_t pix, int32_t n, int32_t width,
                          int32_t *s, int32_t scale, int8_t *col) {
    const int32_t ic = p->input_c, k_size = p->filter_h * p->filter_w * ic, sx = p->stride_w * ic;
    const int32_t in_bytes = p->input_h * p->input_w * ic;
    const int32_t oy = pix / p->output_w, ox = pix - oy * p->output_w;
    const int32_t at = tp_conv_patches_inside(p, oy, ox, n);
    if (at >= 0 && widen_inside(p, in_b + at, n, sx, in_bytes - at, s, width, scale, col)) {
        return;
    }
    for (int32_t j = 0; j < n; ++j) {
        const int32_t y = (pix + j) / p->output_w, x = pix + j - y * p->output_w;
        const int32_t here = tp_conv_patches_inside(p, y, x, 1);
        if (here >= 0 && widen_inside(p, in_b + here, 1, sx, in_bytes - here, s + 2 * j, width, scale, col)) {
            continue;
        }
        const int8_t *patch = tp_conv_patch_s8(p, in_b, y, x, col);
        if (patch != col && (k_size & 3)) { /* a 1x1 patch inside the input, in the input */
            memcpy(col, patch, (size_t)k_size);
            patch = col;
        }
        pad_quad(col, k_size);
        widen_words(s + 2 * j, width, patch, (k_size + 3) >> 2, scale);
    }
}

/* One quad of 4 patch elements for a 4-pixel block: the weight word widened once (SXTB16,
 * SXTB16 ROR 8), 4 LDRD of the pixels' widened pairs, 8 SMLAD into a0..a3 (w, x advance). */
#define TP_CONV_QUAD()                                              \
    do {                                                            \
        const int32_t wq = tp_load32(w);                            \
        const int32_t w02 = __sxtb16(wq), w13 = tp_sxtb16_ror8(wq); \
        int32_t x0, x1;                                             \
        w += 4;                                                     \
        tp_ldrd_inc(&x, &x0, &x1);                                  \
        a0 = __smlad(w13, x1, __smlad(w02, x0, a0));                \
        tp_ldrd_inc(&x, &x0, &x1);                                  \
        a1 = __smlad(w13, x1, __smlad(w02, x0, a1));                \
        tp_ldrd_inc(&x, &x0, &x1);                                  \
        a2 = __smlad(w13, x1, __smlad(w02, x0, a2));                \
        tp_ldrd_inc(&x, &x0, &x1);                                  \
        a3 = __smlad(w13, x1, __smlad(w02, x0, a3));                \
    } while (0)

#if defined(__OPTIMIZE__) /* the assembly needs 14 registers: no frame pointer */
/* One quad for an 8-pixel block: 1 LDR + 2 SXTB16 + 8 LDRD + 16 SMLAD (27 instructions, 32 MACs). */
#define TP_CONV_PAIR_ASM(a)                          \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"            \
    "smlad  %[" a "], %[w02], %[x0], %[" a "]\n\t"   \
    "smlad  %[" a "], %[w13], %[x1], %[" a "]\n\t"
#define TP_CONV_QUAD8_ASM                                                                        \
    "ldr    %[w02], [%[w]], #4\n\t"                                                              \
    "sxtb16 %[w13], %[w02], ror #8\n\t"                                                          \
    "sxtb16 %[w02], %[w02]\n\t" TP_CONV_PAIR_ASM("a0") TP_CONV_PAIR_ASM("a1") TP_CONV_PAIR_ASM("a2") \
        TP_CONV_PAIR_ASM("a3") TP_CONV_PAIR_ASM("a4") TP_CONV_PAIR_ASM("a5") TP_CONV_PAIR_ASM("a6")  \
            TP_CONV_PAIR_ASM("a7")

/* Every quad of one output channel for an 8-pixel block: four at a time until x reaches `end4`,
 * then one at a time until `end`. The 8 accumulators, the weight pair, the patch pair and the two
 * pointers take 14 registers, so the loop bounds stay in memory (a stack slot: LDR + CMP + BNE per
 * loop pass). */
#define TP_CONV_QUADS8(end4, end)                                                                     \
    do {                                                                                            \
        int32_t w02_, w13_, x0_, x1_;                                                               \
        __asm__ volatile("ldr    %[x0], %[e4]\n\t"                                                  \
                         "cmp    %[x], %[x0]\n\t"                                                   \
                         "beq    2f\n"                                                              \
                         "1:\n\t" TP_CONV_QUAD8_ASM TP_CONV_QUAD8_ASM TP_CONV_QUAD8_ASM TP_CONV_QUAD8_ASM \
                         "ldr    %[x0], %[e4]\n\t"                                                  \
                         "cmp    %[x], %[x0]\n\t"                                                   \
                         "bne    1b\n"                                                              \
                         "2:\n\t"                                                                   \
                         "ldr    %[x0], %[e1]\n\t"                                                  \
                         "cmp    %[x], %[x0]\n\t"                                                   \
                         "beq    4f\n"                                                              \
                         "3:\n\t" TP_CONV_QUAD8_ASM                                                 \
                         "ldr    %[x0], %[e1]\n\t"                                                  \
                         "cmp    %[x], %[x0]\n\t"                                                   \
                         "bne    3b\n"                                                              \
                         "4:"                                                                       \
                         : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4), \
                           [a5] "+r"(a5), [a6] "+r"(a6), [a7] "+r"(a7), [w] "+r"(w), [x] "+r"(x),      \
                           [w02] "=&r"(w02_), [w13] "=&r"(w13_), [x0] "=&r"(x0_), [x1] "=&r"(x1_)     \
                         : [e4] "m"(end4), [e1] "m"(end)                                            \
                         : "cc", "memory");                                                         \
    } while (0)
#else /* unoptimized builds keep a frame pointer: the same sums in C */
#define TP_CONV_QUADS8(end4, end)                                                   \
    do {                                                                            \
        int32_t acc_[WIDE] = {a0, a1, a2, a3, a4, a5, a6, a7};                      \
        for (; x != (end); w += 4) {                                                \
            const int32_t wq_ = tp_load32(w);                                       \
            const int32_t w02_ = __sxtb16(wq_), w13_ = tp_sxtb16_ror8(wq_);         \
            for (int32_t j_ = 0; j_ < WIDE; ++j_, x += 2) {                         \
                acc_[j_] = __smlad(w13_, x[1], __smlad(w02_, x[0], acc_[j_]));      \
            }                                                                       \
        }                                                                           \
        (void)(end4);                                                               \
        a0 = acc_[0], a1 = acc_[1], a2 = acc_[2], a3 = acc_[3];                     \
        a4 = acc_[4], a5 = acc_[5], a6 = acc_[6], a7 = acc_[7];                     \
    } while (0)
#endif

#if !defined(TP_TFLM_ROUNDING) /* TFLite Micro's rounding takes the general path */
/* The hot path: every output channel of one 8-pixel block (doubled accumulators, full int8
 * range), kept out of the kernel so that its few live values stay in registers. Per output:
 * SMMLAR + ASR + SSAT + STRB. A partial last quad (k_size % 4 != 0) reads the next channel's first
 * weights (the generator pads the filter array by 4 bytes): they meet the patch's zero padding and
 * add nothing. */
static void __attribute__((noinline)) block_wide(const tp_conv_params_t *p, const int32_t *cols, const int8_t *w,
                                                 const int32_t *bias, const int32_t *multiplier,
                                                 const int32_t *shift, const int16_t *channels, int8_t *out) {
    const int32_t k_size = p->filter_h * p->filter_w * p->input_c, oc = p->output_c, zo = p->output_offset;
    const int32_t quads = (k_size + 3) >> 2, back = 4 * quads - k_size, live_c = p->live_c;
    const int32_t *const end4 = cols + (quads & ~3) * 2 * WIDE, *const end = cols + quads * 2 * WIDE;
    for (int32_t c = 0; c < live_c; ++c, w -= back) {
        int8_t *const o = out + (channels != NULL ? channels[c] : c);
        int32_t a0 = (int32_t)((uint32_t)bias[c] << 1), a1 = a0, a2 = a0, a3 = a0;
        int32_t a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        const int32_t *x = cols;
        TP_CONV_QUADS8(end4, end);
        const int32_t m = multiplier[c], sh = shift[c];
        const int32_t rnd = tp_round_doubled(sh, zo), r = -sh;
        o[0] = (int8_t)tp_requantize_doubled(a0, m, rnd, r);
        o[oc] = (int8_t)tp_requantize_doubled(a1, m, rnd, r);
        o[2 * oc] = (int8_t)tp_requantize_doubled(a2, m, rnd, r);
        o[3 * oc] = (int8_t)tp_requantize_doubled(a3, m, rnd, r);
        o[4 * oc] = (int8_t)tp_requantize_doubled(a4, m, rnd, r);
        o[5 * oc] = (int8_t)tp_requantize_doubled(a5, m, rnd, r);
        o[6 * oc] = (int8_t)tp_requantize_doubled(a6, m, rnd, r);
        o[7 * oc] = (int8_t)tp_requantize_doubled(a7, m, rnd, r);
    }
}
#endif

/* The last block of a layer whose pixel count is not a multiple of 8 ends at its last pixel and
 * computes again a few pixels of the block before it (the same bytes: the output never overlaps
 * the input), so every block is full. The generator picks this variant for layers of 8 pixels or
 * more, where its wider scratch does not enlarge the arena (tinypipe.aot.ops.conv.narrow). */
void tp_conv_s8_dsp_doubled(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            const int16_t *channels, const int8_t *fill, int8_t *output, void *scratch) {
#if defined(TP_TFLM_ROUNDING) /* TFLite Micro's ties-away rounding: the general path */
    tp_conv_s8_dsp(p, input, filter, bias, multiplier, shift, channels, fill, output, scratch);
#else
    const int32_t k_size = p->filter_h * p->filter_w * p->input_c, oc = p->output_c;
    const int32_t pixels = p->output_h * p->output_w;
    int32_t *s = (int32_t *)scratch;
    int8_t *col = (int8_t *)scratch + TP_CONV_SCRATCH_COLUMNS_BYTES(WIDE, k_size);
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->input_c;
        int8_t *out_b = output + b * pixels * oc;
        tp_conv_fill_pixels(fill, out_b, oc, pixels);
        for (int32_t next = 0; next < pixels; next += WIDE) {
            const int32_t pix = next + WIDE <= pixels ? next : pixels - WIDE;
            im2col_dsp(p, in_b, pix, WIDE, WIDE, s, 2, col);
            block_wide(p, s, filter, bias, multiplier, shift, channels, out_b + pix * oc);
        }
    }
#endif
}

void tp_conv_s8_dsp(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                const int32_t *bias, const int32_t *multiplier, const int32_t *shift, const int16_t *channels,
                const int8_t *fill, int8_t *output, void *scratch) {
    const int32_t k_size = p->filter_h * p->filter_w * p->input_c;
    const int32_t quads = k_size >> 2, rem = k_size & 3;
    const int32_t oc = p->output_c;
    const int32_t pixels = p->output_h * p->output_w;
    int32_t *s = (int32_t *)scratch;
    int8_t *col = (int8_t *)scratch + TP_CONV_SCRATCH_COLUMNS_BYTES(PIX, k_size);
    const int32_t zo = p->output_offset, lo = p->act_min, hi = p->act_max;
#if defined(TP_TFLM_ROUNDING)
    const int doubled = 0;
#else
    const int doubled = p->doubled, full_range = lo == TP_INT8_MIN && hi == TP_INT8_MAX;
#endif
    const int32_t scale = doubled ? 2 : 1;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->input_c;
        int8_t *out_b = output + b * pixels * oc;
        for (int32_t pix = 0; pix < pixels; pix += PIX) {
            const int32_t n = pixels - pix < PIX ? pixels - pix : PIX;
            im2col_dsp(p, in_b, pix, n, PIX, s, scale, col);
            int8_t *out = out_b + pix * oc;
            tp_conv_fill_pixels(fill, out, oc, n);
            const int8_t *w = filter;
            for (int32_t c = 0; c < p->live_c; ++c) {
                int8_t *const o = out + (channels != NULL ? channels[c] : c);
                int32_t a0 = (int32_t)((uint32_t)bias[c] * (uint32_t)scale), a1 = a0, a2 = a0, a3 = a0;
                const int32_t *x = s;
                TP_UNROLL(2)
                for (int32_t q = 0; q < quads; ++q) {
                    TP_CONV_QUAD();
                }
                if (rem) {
                    uint32_t wq = 0;
                    for (int32_t r = 0; r < rem; ++r) {
                        wq |= (uint32_t)(uint8_t)w[r] << (8 * r);
                    }
                    w += rem;
                    const int32_t w02 = __sxtb16((int32_t)wq), w13 = tp_sxtb16_ror8((int32_t)wq);
                    a0 = __smlad(w02, x[0], a0);
                    a0 = __smlad(w13, x[1], a0);
                    a1 = __smlad(w02, x[2], a1);
                    a1 = __smlad(w13, x[3], a1);
                    a2 = __smlad(w02, x[4], a2);
                    a2 = __smlad(w13, x[5], a2);
                    a3 = __smlad(w02, x[6], a3);
                    a3 = __smlad(w13, x[7], a3);
                }
                const int32_t m = multiplier[c], sh = shift[c];
                if (doubled) { /* SMMLAR + ASR + SSAT per output (tp_smmlar) */
                    const int32_t rnd = tp_round_doubled(sh, zo), r = -sh;
#if !defined(TP_TFLM_ROUNDING)
                    if (full_range && n == PIX) { /* SSAT is the clamp */
                        o[0] = (int8_t)tp_requantize_doubled(a0, m, rnd, r);
                        o[oc] = (int8_t)tp_requantize_doubled(a1, m, rnd, r);
                        o[2 * oc] = (int8_t)tp_requantize_doubled(a2, m, rnd, r);
                        o[3 * oc] = (int8_t)tp_requantize_doubled(a3, m, rnd, r);
                        continue;
                    }
#endif
                    const int32_t acc[PIX] = {a0, a1, a2, a3};
                    for (int32_t j = 0; j < n; ++j) {
                        o[j * oc] = (int8_t)tp_clamp(tp_requantize_doubled(acc[j], m, rnd, r), lo, hi);
                    }
                    continue;
                }
#if !defined(TP_TFLM_ROUNDING)
                if (full_range && sh < 0 && sh >= -23) {
                    /* the usual case: tp_scale_upward_r with the output offset folded into the 64-bit
                     * rounding constant (hi word + zo * 2^(r-1), r = -sh; no overflow for r <= 23),
                     * clamp = SSAT: SMLAL + ASR + SSAT per output */
                    const uint32_t r1 = (uint32_t)(-sh - 1);
                    const int64_t rnd = (int64_t)(((uint64_t)(uint32_t)((int32_t)((1u << r1) >> 1) +
                                                                        zo * (int32_t)(1u << r1)) << 32) |
                                                  (0x40000000u | ((1u << r1) << 31)));
#define TP_CONV_Q(a) (int8_t)__ssat((int32_t)(((int64_t)(a) * m + rnd) >> 32) >> r1, 8)
                    o[0] = TP_CONV_Q(a0);
                    if (n == PIX) {
                        o[oc] = TP_CONV_Q(a1);
                        o[2 * oc] = TP_CONV_Q(a2);
                        o[3 * oc] = TP_CONV_Q(a3);
                        continue;
                    }
#undef TP_CONV_Q
                }
                if (sh < 0) { /* one SMLAL + one shift per output */
                    const int64_t round = tp_round_upward(sh);
                    const int32_t rm1 = -sh - 1;
                    o[0] = (int8_t)tp_clamp(tp_scale_upward_r(a0, m, round, rm1) + zo, lo, hi);
                    if (n == PIX) {
                        o[oc] = (int8_t)tp_clamp(tp_scale_upward_r(a1, m, round, rm1) + zo, lo, hi);
                        o[2 * oc] = (int8_t)tp_clamp(tp_scale_upward_r(a2, m, round, rm1) + zo, lo, hi);
                        o[3 * oc] = (int8_t)tp_clamp(tp_scale_upward_r(a3, m, round, rm1) + zo, lo, hi);
                        continue;
                    }
                }
#endif
                const int32_t left = sh > 0 ? sh : 0, right = left - sh;
                const int32_t acc[PIX] = {a0, a1, a2, a3};
                for (int32_t j = 0; j < n; ++j) {
                    o[j * oc] = (int8_t)tp_clamp(tp_scale_upward(acc[j], m, left, right) + zo, lo, hi);
                }
            }
        }
    }
}


#endif /* TP_USE_DSP */
