/*
 * conv_s8_dsp.c - CONV_2D, DSP-extension variant (Armv7E-M, Armv8-M Mainline): a block of output
 * pixels' patches is widened once to int16 in the order SXTB16 extracts bytes (x0,x2 | x1,x3), so
 * each 4 weights cost one load + two SXTB16 and feed two SMLADs per pixel. Padding is resolved while
 * widening, so the inner loops have no bounds checks. The hot path (doubled accumulators, full int8
 * range: tp_conv_s8_dsp_doubled) takes TP_CONV_DSP_WIDE_PIXELS = 8 pixels per block and output
 * channels in pairs, their weights interleaved offline (TP_CONV_DSP_PAIRED_WEIGHTS): 4 pixels x 2
 * channels per pass, its inner loop in assembly (26 instructions per 32 MACs); the general path
 * 4 pixels x 1 channel (15 per 16). Same bytes as conv_s8.c.
 */
#include "conv_s8_patch.h"

#if defined(TP_USE_DSP)

#define PIX TP_CONV_DSP_PIXELS
#define WIDE TP_CONV_DSP_WIDE_PIXELS

/* Scratch layout: pixels in groups of 4, group g from word g * group (group = 8 words per quad of
 * 4 patch elements); quad q of a group: words 8q..8q+3 hold its pixels' [x0 | x2] and words
 * 8q+4..8q+7 their [x1 | x3] (int16 halves), the pairs SXTB16 / SXTB16 ROR 8 extract from a weight
 * word, so 4 pixels' pairs for one weight pair are 2 LDRDs. Patch values are stored times `scale`:
 * 2 when the layer's accumulators are doubled for the SMMLAR requantization (tp_smmlar), else 1. */
#define TP_QUAD_WORDS 8

/* Word offset of pixel j's first pair in a block whose 4-pixel groups are `group` words apart. */
TP_INLINE int32_t col_of(int32_t j, int32_t group) {
    return (j >> 2) * group + (j & 3);
}

/* `words` words of int8 patch from src into the column at d: per word one LDR, two SXTB16 (two
 * SADD16 when doubled) and two stores. */
TP_INLINE void widen_words(int32_t *d, const int8_t *src, int32_t words, int32_t scale) {
    if (scale == 2) {
        for (; words > 0; --words, src += 4, d += TP_QUAD_WORDS) {
            const int32_t v = tp_load32(src), lo = __sxtb16(v), hi = tp_sxtb16_ror8(v);
            d[0] = (int32_t)__sadd16(lo, lo);
            d[4] = (int32_t)__sadd16(hi, hi);
        }
        return;
    }
    for (; words > 0; --words, src += 4, d += TP_QUAD_WORDS) {
        const int32_t v = tp_load32(src);
        d[0] = __sxtb16(v);
        d[4] = tp_sxtb16_ror8(v);
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
                           int32_t *s, int32_t group, int32_t scale, int8_t *col) {
    const int32_t run = p->filter_w * p->input_c, fh = p->filter_h, k_size = fh * run;
    const int32_t row_step = p->dilation_h * p->input_w * p->input_c, row_words = run >> 2;
    if ((run & 3) == 0) {
        for (int32_t ky = 0; ky < fh; ++ky) { /* row ky: quads from ky * run / 4 */
            int32_t *const d = s + ky * row_words * TP_QUAD_WORDS;
            for (int32_t j = 0; j < n; ++j) {
                widen_words(d + col_of(j, group), src + ky * row_step + j * sx, row_words, scale);
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
        widen_words(s + col_of(j, group), col, (k_size + 3) >> 2, scale);
    }
    return 1;
}

/* The widened patches of n output pixels from `pix` (row-major within the image) into columns
 * 0..n-1 of a block whose 4-pixel groups are `group` words apart: the usual block, in one output
 * row and inside the input, at once (widen_inside); else pixel by pixel, those at the border
 * gathered into `col` (tp_conv_patch_s8). */
TP_INLINE void im2col_dsp(const tp_conv_params_t *p, const int8_t *in_b, int32_t pix, int32_t n, int32_t group,
                          int32_t *s, int32_t scale, int8_t *col) {
    const int32_t ic = p->input_c, k_size = p->filter_h * p->filter_w * ic, sx = p->stride_w * ic;
    const int32_t in_bytes = p->input_h * p->input_w * ic;
    const int32_t oy = pix / p->output_w, ox = pix - oy * p->output_w;
    const int32_t at = tp_conv_patches_inside(p, oy, ox, n);
    if (at >= 0 && widen_inside(p, in_b + at, n, sx, in_bytes - at, s, group, scale, col)) {
        return;
    }
    for (int32_t j = 0; j < n; ++j) {
        const int32_t y = (pix + j) / p->output_w, x = pix + j - y * p->output_w;
        const int32_t here = tp_conv_patches_inside(p, y, x, 1);
        int32_t *const d = s + col_of(j, group);
        if (here >= 0 && widen_inside(p, in_b + here, 1, sx, in_bytes - here, d, group, scale, col)) {
            continue;
        }
        const int8_t *patch = tp_conv_patch_s8(p, in_b, y, x, col);
        if (patch != col && (k_size & 3)) { /* a 1x1 patch inside the input, in the input */
            memcpy(col, patch, (size_t)k_size);
            patch = col;
        }
        pad_quad(col, k_size);
        widen_words(d, patch, (k_size + 3) >> 2, scale);
    }
}

/* The next weight word (w advances) widened into its pairs lo = (b0, b2) and hi = (b1, b3): the
 * unrotated SXTB16 first, into the other register, so that on the Cortex-M7 no rotated operand
 * waits on the load just before it (the same cycles on the M4). */
#define TP_CONV_WEIGHT_PAIRS_ASM(lo, hi)            \
    "ldr    %[" hi "], [%[w]], #4\n\t"              \
    "sxtb16 %[" lo "], %[" hi "]\n\t"               \
    "sxtb16 %[" hi "], %[" hi "], ror #8\n\t"

/* One quad of 4 patch elements for a 4-pixel block: the weight word widened once, 4 LDRD of two
 * pixels' pairs, 8 SMLAD into a0..a3 (w, x advance); in assembly, as GCC kept x in memory. */
#define TP_CONV_QUAD()                                                                            \
    do {                                                                                        \
        int32_t w02_, w13_, x0_, x1_;                                                           \
        __asm__(TP_CONV_WEIGHT_PAIRS_ASM("w02", "w13")                                           \
                "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                            \
                "smlad  %[a0], %[w02], %[x0], %[a0]\n\t"                                         \
                "smlad  %[a1], %[w02], %[x1], %[a1]\n\t"                                         \
                "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                            \
                "smlad  %[a2], %[w02], %[x0], %[a2]\n\t"                                         \
                "smlad  %[a3], %[w02], %[x1], %[a3]\n\t"                                         \
                "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                            \
                "smlad  %[a0], %[w13], %[x0], %[a0]\n\t"                                         \
                "smlad  %[a1], %[w13], %[x1], %[a1]\n\t"                                         \
                "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                            \
                "smlad  %[a2], %[w13], %[x0], %[a2]\n\t"                                         \
                "smlad  %[a3], %[w13], %[x1], %[a3]"                                               \
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w), [x] "+r"(x), \
                  [w02] "=&r"(w02_), [w13] "=&r"(w13_), [x0] "=&r"(x0_), [x1] "=&r"(x1_)                \
                :                                                                               \
                : "memory");                                                                    \
    } while (0)

#if !defined(TP_TFLM_ROUNDING) /* TFLite Micro's rounding takes the general path */
/* The weights of tp_conv_s8_dsp_doubled (TP_CONV_DSP_PAIRED_WEIGHTS, tinypipe.aot.ops.conv):
 * output channels in pairs (c0, c1), per quad of 4 patch elements two words, (c0 k0, c1 k0,
 * c0 k2, c1 k2) and (c0 k1, c1 k1, c0 k3, c1 k3): SXTB16 gives c0's weight pair and SXTB16 ROR 8
 * c1's, for the same patch pair. Patch elements past k_size and an odd last channel are 0. */
#if defined(__OPTIMIZE__) /* the assembly needs 14 registers: no frame pointer */
/* Half a quad for 4 pixels x 2 channels: 1 LDR + 2 SXTB16 (wa: c0's pair, wb: c1's) + 2 LDRD +
 * 8 SMLAD. */
#define TP_CONV_HALF_ASM                           \
    TP_CONV_WEIGHT_PAIRS_ASM("wa", "wb")           \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"          \
    "smlad  %[a0], %[wa], %[x0], %[a0]\n\t"        \
    "smlad  %[b0], %[wb], %[x0], %[b0]\n\t"        \
    "smlad  %[a1], %[wa], %[x1], %[a1]\n\t"        \
    "smlad  %[b1], %[wb], %[x1], %[b1]\n\t"        \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"          \
    "smlad  %[a2], %[wa], %[x0], %[a2]\n\t"        \
    "smlad  %[b2], %[wb], %[x0], %[b2]\n\t"        \
    "smlad  %[a3], %[wa], %[x1], %[a3]\n\t"        \
    "smlad  %[b3], %[wb], %[x1], %[b3]\n\t"
#define TP_CONV_PAIR_QUAD_ASM TP_CONV_HALF_ASM TP_CONV_HALF_ASM

/* Every quad of a channel pair for 4 pixels, from the accumulators' start (the doubled biases) to
 * the 8 outputs: four quads at a time until x reaches `end4`, then one at a time until `end`, then
 * per output SMMLAR + ASR + SSAT + STRB (channel 1 first: see block_pairs). The 8 accumulators, the
 * two weight pairs, the two patch pairs and the two pointers take 14 registers, so everything else
 * stays in memory (stack slots: the loop bounds cost LDR + CMP + BNE per loop pass, each
 * channel's requantization constants 4 LDRs). */
#define TP_CONV_INIT4_ASM(acc, ch)                          \
    "ldr    %[" acc "0], %[bias" ch "]\n\t"                 \
    "mov    %[" acc "1], %[" acc "0]\n\t"                   \
    "mov    %[" acc "2], %[" acc "0]\n\t"                   \
    "mov    %[" acc "3], %[" acc "0]\n\t"
#define TP_CONV_STORE4_ASM(acc, ch)                         \
    "ldr    %[wa], %[m" ch "]\n\t"                          \
    "ldr    %[wb], %[rnd" ch "]\n\t"                        \
    "ldr    %[x0], %[r" ch "]\n\t"                          \
    "ldr    %[x1], %[o" ch "]\n\t"                          \
    "smmlar %[" acc "0], %[" acc "0], %[wa], %[wb]\n\t"     \
    "smmlar %[" acc "1], %[" acc "1], %[wa], %[wb]\n\t"     \
    "smmlar %[" acc "2], %[" acc "2], %[wa], %[wb]\n\t"     \
    "smmlar %[" acc "3], %[" acc "3], %[wa], %[wb]\n\t"     \
    "asr    %[" acc "0], %[" acc "0], %[x0]\n\t"            \
    "asr    %[" acc "1], %[" acc "1], %[x0]\n\t"            \
    "asr    %[" acc "2], %[" acc "2], %[x0]\n\t"            \
    "asr    %[" acc "3], %[" acc "3], %[x0]\n\t"            \
    "ssat   %[" acc "0], #8, %[" acc "0]\n\t"               \
    "ssat   %[" acc "1], #8, %[" acc "1]\n\t"               \
    "ssat   %[" acc "2], #8, %[" acc "2]\n\t"               \
    "ssat   %[" acc "3], #8, %[" acc "3]\n\t"               \
    "strb   %[" acc "0], [%[x1]]\n\t"                       \
    "strb   %[" acc "1], [%[x1], %[w]]\n\t"                 \
    "add    %[x1], %[x1], %[w], lsl #1\n\t"                 \
    "strb   %[" acc "2], [%[x1]]\n\t"                       \
    "strb   %[" acc "3], [%[x1], %[w]]\n\t"
#define TP_CONV_PAIR_PASS()                                                                           \
    do {                                                                                              \
        int32_t a0_, a1_, a2_, a3_, b0_, b1_, b2_, b3_, wa_, wb_, x0_, x1_;                           \
        __asm__ volatile(TP_CONV_INIT4_ASM("a", "0") TP_CONV_INIT4_ASM("b", "1")                      \
                         "ldr    %[x0], %[e4]\n\t"                                                    \
                         "cmp    %[x], %[x0]\n\t"                                                     \
                         "beq    2f\n"                                                                \
                         "1:\n\t" TP_CONV_PAIR_QUAD_ASM TP_CONV_PAIR_QUAD_ASM TP_CONV_PAIR_QUAD_ASM      \
                             TP_CONV_PAIR_QUAD_ASM                                                    \
                         "ldr    %[x0], %[e4]\n\t"                                                    \
                         "cmp    %[x], %[x0]\n\t"                                                     \
                         "bne    1b\n"                                                                \
                         "2:\n\t"                                                                     \
                         "ldr    %[x0], %[e1]\n\t"                                                    \
                         "cmp    %[x], %[x0]\n\t"                                                     \
                         "beq    4f\n"                                                                \
                         "3:\n\t" TP_CONV_PAIR_QUAD_ASM                                               \
                         "ldr    %[x0], %[e1]\n\t"                                                    \
                         "cmp    %[x], %[x0]\n\t"                                                     \
                         "bne    3b\n"                                                                \
                         "4:\n\t"                                                                     \
                         "ldr    %[w], %[oc]\n\t" TP_CONV_STORE4_ASM("b", "1") TP_CONV_STORE4_ASM("a", "0") \
                         : [a0] "=&r"(a0_), [a1] "=&r"(a1_), [a2] "=&r"(a2_), [a3] "=&r"(a3_),           \
                           [b0] "=&r"(b0_), [b1] "=&r"(b1_), [b2] "=&r"(b2_), [b3] "=&r"(b3_),           \
                           [w] "+r"(wq), [x] "+r"(x), [wa] "=&r"(wa_), [wb] "=&r"(wb_), [x0] "=&r"(x0_), \
                           [x1] "=&r"(x1_)                                                            \
                         : [e4] "m"(end4), [e1] "m"(end), [oc] "m"(oc), [bias0] "m"(bias0),            \
                           [bias1] "m"(bias1), [m0] "m"(m0), [rnd0] "m"(rnd0), [r0] "m"(r0),           \
                           [o0] "m"(o0), [m1] "m"(m1), [rnd1] "m"(rnd1), [r1] "m"(r1), [o1] "m"(o1)    \
                         : "cc", "memory");                                                           \
    } while (0)
#else /* unoptimized builds keep a frame pointer: the same in C */
/* 4 outputs of one channel, 4 pixels apart in `o` (SMMLAR + ASR + SSAT + STRB each). */
TP_INLINE void store4(int8_t *o, int32_t oc, const int32_t acc[4], int32_t m, int32_t rnd, int32_t r) {
    for (int32_t j = 0; j < 4; ++j) {
        o[j * oc] = (int8_t)tp_requantize_doubled(acc[j], m, rnd, r);
    }
}
#define TP_CONV_PAIR_PASS()                                                           \
    do {                                                                              \
        int32_t a_[4] = {bias0, bias0, bias0, bias0}, b_[4] = {bias1, bias1, bias1, bias1}; \
        for (; x != end; x += 4) {                                                    \
            const int32_t wq_ = tp_load32(wq);                                        \
            const int32_t wa_ = __sxtb16(wq_), wb_ = tp_sxtb16_ror8(wq_);             \
            wq += 4;                                                                  \
            for (int32_t j_ = 0; j_ < 4; ++j_) {                                      \
                a_[j_] = __smlad(wa_, x[j_], a_[j_]);                                 \
                b_[j_] = __smlad(wb_, x[j_], b_[j_]);                                 \
            }                                                                         \
        }                                                                             \
        (void)end4;                                                                   \
        store4(o1, oc, b_, m1, rnd1, r1);                                             \
        store4(o0, oc, a_, m0, rnd0, r0);                                             \
    } while (0)
#endif

/* The hot path: every output channel of one 8-pixel block (doubled accumulators, full int8 range),
 * a channel pair at a time, each pair in two passes of 4 pixels over the same weights (the second
 * from the flash accelerator's data cache where they fit). */
static void __attribute__((noinline)) block_pairs(const tp_conv_params_t *p, const int32_t *cols, const int8_t *w,
                                                  const int32_t *bias, const int32_t *multiplier,
                                                  const int32_t *shift, const int16_t *channels, int8_t *out) {
    const int32_t quads = (p->filter_h * p->filter_w * p->input_c + 3) >> 2, group = quads * TP_QUAD_WORDS;
    const int32_t oc = p->output_c, zo = p->output_offset, live_c = p->live_c;
    for (int32_t c = 0; c < live_c; c += 2, w += 2 * 4 * quads) {
        /* an odd last channel's partner has zero weights: its outputs go to the same place first,
         * then the real ones over them */
        const int32_t c1 = c + 1 < live_c ? c + 1 : c;
        int8_t *o0 = out + (channels != NULL ? channels[c] : c), *o1 = out + (channels != NULL ? channels[c1] : c1);
        const int32_t bias0 = (int32_t)((uint32_t)bias[c] << 1), bias1 = (int32_t)((uint32_t)bias[c1] << 1);
        const int32_t m0 = multiplier[c], r0 = -shift[c], rnd0 = tp_round_doubled(shift[c], zo);
        const int32_t m1 = multiplier[c1], r1 = -shift[c1], rnd1 = tp_round_doubled(shift[c1], zo);
        for (int32_t h = 0; h < WIDE / 4; ++h, o0 += 4 * oc, o1 += 4 * oc) {
            const int32_t *x = cols + h * group;
            const int32_t *const end4 = x + (quads & ~3) * TP_QUAD_WORDS, *const end = x + group;
            const int8_t *wq = w;
            TP_CONV_PAIR_PASS();
        }
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
    const int32_t pixels = p->output_h * p->output_w, group = ((k_size + 3) >> 2) * TP_QUAD_WORDS;
    int32_t *s = (int32_t *)scratch;
    int8_t *col = (int8_t *)scratch + TP_CONV_SCRATCH_COLUMNS_BYTES(WIDE, k_size);
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->input_c;
        int8_t *out_b = output + b * pixels * oc;
        tp_conv_fill_pixels(fill, out_b, oc, pixels);
        for (int32_t next = 0; next < pixels; next += WIDE) {
            const int32_t pix = next + WIDE <= pixels ? next : pixels - WIDE;
            im2col_dsp(p, in_b, pix, WIDE, group, s, 2, col);
            block_pairs(p, s, filter, bias, multiplier, shift, channels, out_b + pix * oc);
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
            im2col_dsp(p, in_b, pix, n, ((k_size + 3) >> 2) * TP_QUAD_WORDS, s, scale, col);
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
                    a0 = __smlad(w13, x[4], __smlad(w02, x[0], a0));
                    a1 = __smlad(w13, x[5], __smlad(w02, x[1], a1));
                    a2 = __smlad(w13, x[6], __smlad(w02, x[2], a2));
                    a3 = __smlad(w13, x[7], __smlad(w02, x[3], a3));
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
