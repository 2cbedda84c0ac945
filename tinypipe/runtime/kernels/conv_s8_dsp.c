/*
 * conv_s8_dsp.c - CONV_2D, DSP-extension variant (Armv7E-M, Armv8-M Mainline): a block of output
 * pixels' patches is widened once to int16 in the order SXTB16 extracts bytes (x0,x2 | x1,x3), so
 * each 4 weights cost one load + two SXTB16 and feed two SMLADs per pixel. Padding is resolved while
 * widening, so the inner loops have no bounds checks. The hot path (doubled accumulators, full int8
 * range: tp_conv_s8_dsp_doubled) takes TP_CONV_DSP_WIDE_PIXELS = 8 pixels per block and output
 * channels in pairs, their weights interleaved offline (TP_CONV_DSP_PAIRED_WEIGHTS): 4 pixels x 2
 * channels per pass, its inner loop in assembly (26 instructions per 32 MACs); its variant for
 * filters taller than the stride runs down strips, each block keeping the filter rows it shares
 * with the block above (tp_conv_s8_dsp_strips); the general path 4 pixels x 1 channel (15 per 16).
 * Same bytes as conv_s8.c.
 */
#include <stddef.h>

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

/* The pair SXTB16 extracts from bytes 0 and 2 of v (widen_lo) or 1 and 3 (widen_hi), scaled. */
TP_INLINE int32_t widen_lo(int32_t v, int32_t scale) {
    return tp_scaled_pair(__sxtb16(v), scale);
}

TP_INLINE int32_t widen_hi(int32_t v, int32_t scale) {
    return tp_scaled_pair(tp_sxtb16_ror8(v), scale);
}

/* One word v of int8 patch into the column at d: two SXTB16 (and two SADD16 when doubled), two
 * stores. */
TP_INLINE void widen_value(int32_t *d, int32_t v, int32_t scale) {
    d[0] = widen_lo(v, scale);
    d[4] = widen_hi(v, scale);
}

/* The same from the word at src (one LDR more). */
TP_INLINE void widen_word(int32_t *d, const int8_t *src, int32_t scale) {
    widen_value(d, tp_load32(src), scale);
}

/* A 3x3 patch over 3 channels (an RGB first layer: 3 rows of 9 bytes, row_step apart, not whole
 * words) widened straight from the input into its column at d, without copying it into `col`
 * first: its 7 words in patch order, two of them straddling rows (built from two unaligned loads:
 * BFI, PKHBT), the last word's fourth byte zeroed (the quad's padding, as pad_quad). It reads a
 * byte before rows 1 and 2 and up to 3 past each row's end: within the bytes widen_inside's bound
 * check covers. */
TP_INLINE void widen_rgb3x3(int32_t *d, const int8_t *src, int32_t row_step, int32_t scale) {
    const int8_t *const r1 = src + row_step, *const r2 = r1 + row_step;
    const int32_t w2 = tp_bfi_byte(tp_load32(r1 - 1), src[8]);      /* r0[8], r1[0..2] */
    const int32_t w4 = tp_pkhbt(tp_load32(r1 + 7), tp_load32(r2 - 2)); /* r1[7..8], r2[0..1] */
    widen_value(d, tp_load32(src), scale);
    widen_value(d + TP_QUAD_WORDS, tp_load32(src + 4), scale);
    widen_value(d + 2 * TP_QUAD_WORDS, w2, scale);
    widen_value(d + 3 * TP_QUAD_WORDS, tp_load32(r1 + 3), scale);
    widen_value(d + 4 * TP_QUAD_WORDS, w4, scale);
    widen_value(d + 5 * TP_QUAD_WORDS, tp_load32(r2 + 2), scale);
    widen_value(d + 6 * TP_QUAD_WORDS, (int32_t)((uint32_t)tp_load32(r2 + 6) & 0x00FFFFFFu), scale);
}

/* `words` words of int8 patch from src into the column at d, two at a time (the loop's count,
 * pointer steps and branch shared by two words). */
TP_INLINE void widen_words(int32_t *d, const int8_t *src, int32_t words, int32_t scale) {
    if (words & 1) {
        widen_word(d, src, scale);
        src += 4;
        d += TP_QUAD_WORDS;
    }
    for (const int8_t *const end = src + 4 * (words & ~1); src < end; src += 8, d += 2 * TP_QUAD_WORDS) {
        widen_word(d, src, scale);
        widen_word(d + TP_QUAD_WORDS, src + 4, scale);
    }
}

/* `words` words of the patch rows of a whole 4-pixel group, pixel j's at src + j * sx, into the
 * group's quads at d: per word the 4 pixels' pairs are side by side, so 4 LDR, 8 SXTB16 (and 8
 * SADD16 when doubled) and 8 stores in one loop pass. */
TP_INLINE void widen_group(int32_t *d, const int8_t *src, int32_t sx, int32_t words, int32_t scale) {
    for (const int8_t *const end = src + 4 * words; src < end; src += 4, d += TP_QUAD_WORDS) {
        const int32_t v0 = tp_load32(src), v1 = tp_load32(src + sx), v2 = tp_load32(src + 2 * sx);
        const int32_t v3 = tp_load32(src + 3 * sx);
        d[0] = widen_lo(v0, scale);
        d[1] = widen_lo(v1, scale);
        d[2] = widen_lo(v2, scale);
        d[3] = widen_lo(v3, scale);
        d[4] = widen_hi(v0, scale);
        d[5] = widen_hi(v1, scale);
        d[6] = widen_hi(v2, scale);
        d[7] = widen_hi(v3, scale);
    }
}

/* The patch rows of pixels 0..n-1 (pixel j's at src + j * sx) into their columns of the block at
 * d: an 8-pixel block's two groups at once (widen_group), others pixel by pixel (the 4-pixel
 * path keeps its code small). */
TP_INLINE void widen_pixels(int32_t *d, const int8_t *src, int32_t n, int32_t sx, int32_t words, int32_t group,
                            int32_t scale) {
    const int32_t whole = n == WIDE ? WIDE : 0;
    for (int32_t g = 0; g < whole; g += 4) {
        widen_group(d + (g >> 2) * group, src + g * sx, sx, words, scale);
    }
    for (int32_t j = whole; j < n; ++j) {
        widen_words(d + col_of(j, group), src + j * sx, words, scale);
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

/* widen_inside's patches whose rows are not whole words (filter_w * input_c % 4 != 0): 3x3 RGB
 * patches on the doubled paths widened straight from the input (widen_rgb3x3), others copied a
 * word per row at a time into `col` and widened from there. Out of line: its callers' loops keep
 * their registers. */
static void __attribute__((noinline)) widen_unaligned(const tp_conv_params_t *p, const int8_t *src, int32_t n,
                                                      int32_t sx, int32_t row_step, int32_t *s, int32_t group,
                                                      int32_t scale, int8_t *col) {
    const int32_t run = p->filter_w * p->input_c, fh = p->filter_h, k_size = fh * run;
    if (run == 9 && fh == 3 && p->input_c == 3 && scale == 2) {
        int32_t *d = s; /* column j: col_of(j, group) */
        for (int32_t j = 0; j < n; ++j, src += sx) {
            widen_rgb3x3(d, src, row_step, 2);
            d += (j & 3) == 3 ? group - 3 : 1;
        }
        return;
    }
    for (int32_t j = 0; j < n; ++j) {
        int8_t *c = col;
        for (int32_t ky = 0; ky < fh; ++ky) {
            c = copy_row(c, src + j * sx + ky * row_step, run);
        }
        pad_quad(col, k_size);
        widen_words(s + col_of(j, group), col, (k_size + 3) >> 2, scale);
    }
}

/* The patches of n output pixels in one output row, each inside the input with contiguous rows
 * (dilation_w 1), the first at src, the next sx bytes on, into columns 0..n-1: rows of whole words
 * (filter_w * input_c % 4 == 0) are widened straight from the input; other patches by
 * widen_unaligned, unless its reads (whole words per patch row) would pass the end of the input
 * (`left`: the input's bytes from src on): then nothing is done and 0 returned. */
TP_INLINE int widen_inside(const tp_conv_params_t *p, const int8_t *src, int32_t n, int32_t sx, int32_t left,
                           int32_t *s, int32_t group, int32_t scale, int8_t *col) {
    const int32_t run = p->filter_w * p->input_c, fh = p->filter_h;
    const int32_t row_step = p->dilation_h * p->input_w * p->input_c, row_words = run >> 2;
    if ((run & 3) == 0) {
        for (int32_t ky = 0; ky < fh; ++ky) { /* row ky: quads from ky * run / 4 */
            widen_pixels(s + ky * row_words * TP_QUAD_WORDS, src + ky * row_step, n, sx, row_words, group, scale);
        }
        return 1;
    }
    if ((n - 1) * sx + (fh - 1) * row_step + ((run + 3) & ~3) > left) {
        return 0;
    }
    widen_unaligned(p, src, n, sx, row_step, s, group, scale, col);
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
 * c1's, for the same patch pair. Patch elements past k_size and an odd last channel are 0.
 * tp_conv_s8_dsp_strips reads the same weights. */

/* What the passes of one channel pair read (and, for the outputs, advance) in memory: the
 * assembly has no register to spare, so it reaches them through one pointer at fixed offsets. */
typedef struct {
    int32_t bias0, bias1;  /* +0: the doubled biases, the accumulators' start */
    int32_t mult0, round0; /* +8: channel 0's requantization (tp_requantize_doubled) */
    int32_t right0;        /* +16 */
    int8_t *out0;          /* +20: channel 0's output of the pass's first pixel */
    int32_t mult1, round1; /* +24: channel 1's */
    int32_t right1;        /* +32 */
    int8_t *out1;          /* +36 */
    int32_t out_c;         /* +40: output pixel stride */
    int32_t group_bytes;   /* +44: patch bytes per pass (4 pixels) */
    const int8_t *weights; /* +48: the pair's weights */
} tp_conv_pair_t;

#if defined(__OPTIMIZE__) /* the assembly needs 14 registers: no frame pointer */
/* The assembly's offsets into tp_conv_pair_t (checked below). */
#define TP_PAIR_CH0 "8"
#define TP_PAIR_CH0_OUT "16"
#define TP_PAIR_CH1 "24"
#define TP_PAIR_CH1_OUT "32"
#define TP_PAIR_OUT_C "40"
#define TP_PAIR_GROUP "44"
#define TP_PAIR_WEIGHTS "48"
typedef char tp_conv_pair_layout_check[
    (offsetof(tp_conv_pair_t, mult0) == 8 && offsetof(tp_conv_pair_t, right0) == 16 &&
     offsetof(tp_conv_pair_t, out0) == 20 && offsetof(tp_conv_pair_t, mult1) == 24 &&
     offsetof(tp_conv_pair_t, right1) == 32 && offsetof(tp_conv_pair_t, out1) == 36 &&
     offsetof(tp_conv_pair_t, out_c) == 40 && offsetof(tp_conv_pair_t, group_bytes) == 44 &&
     offsetof(tp_conv_pair_t, weights) == 48) ? 1 : -1];

/* Two pixels' pairs of a half quad by one LDRD at AT into x0 and x1; one pixel's (in X) SMLADs
 * into both channels' accumulators i, onto their `from` (the accumulator itself, or the bias in a0
 * and b0). */
#define TP_CONV_LOAD_ASM(AT) "ldrd   %[x0], %[x1], " AT "\n\t"
#define TP_CONV_PIXEL_ASM(X, i, from)                                 \
    "smlad  %[a" i "], %[wa], %[" X "], %[a" from "]\n\t"           \
    "smlad  %[b" i "], %[wb], %[" X "], %[b" from "]\n\t"

/* Half a quad for 4 pixels x 2 channels: 1 LDR + 2 SXTB16 (wa: c0's pair, wb: c1's) + 2 LDRD +
 * 8 SMLAD. */
#define TP_CONV_HALF_ASM                                                                          \
    TP_CONV_WEIGHT_PAIRS_ASM("wa", "wb")                                                          \
    TP_CONV_LOAD_ASM("[%[x]], #8") TP_CONV_PIXEL_ASM("x0", "0", "0") TP_CONV_PIXEL_ASM("x1", "1", "1") \
    TP_CONV_LOAD_ASM("[%[x]], #8") TP_CONV_PIXEL_ASM("x0", "2", "2") TP_CONV_PIXEL_ASM("x1", "3", "3")
#define TP_CONV_PAIR_QUAD_ASM TP_CONV_HALF_ASM TP_CONV_HALF_ASM

/* A pass's first half quad, a0 and b0 holding the biases: every accumulator starts from them in
 * its first SMLAD (a0 and b0 last, so pixels 2 and 3 come first). */
#define TP_CONV_FIRST_HALF_ASM                                                                    \
    TP_CONV_WEIGHT_PAIRS_ASM("wa", "wb")                                                          \
    TP_CONV_LOAD_ASM("[%[x], #8]") TP_CONV_PIXEL_ASM("x0", "2", "0") TP_CONV_PIXEL_ASM("x1", "3", "0") \
    TP_CONV_LOAD_ASM("[%[x]], #16") TP_CONV_PIXEL_ASM("x1", "1", "0") TP_CONV_PIXEL_ASM("x0", "0", "0")

/* The same backwards (a pair's second pass): w and x moving down, a quad's second half first,
 * its pixels 2 and 3 first. */
#define TP_CONV_WEIGHT_PAIRS_DOWN_ASM                                                             \
    "ldr    %[wb], [%[w], #-4]!\n\t"                                                              \
    "sxtb16 %[wa], %[wb]\n\t"                                                                     \
    "sxtb16 %[wb], %[wb], ror #8\n\t"
#define TP_CONV_DOWN_AT "[%[x], #-8]!"
#define TP_CONV_HALF_DOWN_ASM                                                                     \
    TP_CONV_WEIGHT_PAIRS_DOWN_ASM                                                                 \
    TP_CONV_LOAD_ASM(TP_CONV_DOWN_AT) TP_CONV_PIXEL_ASM("x0", "2", "2") TP_CONV_PIXEL_ASM("x1", "3", "3") \
    TP_CONV_LOAD_ASM(TP_CONV_DOWN_AT) TP_CONV_PIXEL_ASM("x0", "0", "0") TP_CONV_PIXEL_ASM("x1", "1", "1")
#define TP_CONV_PAIR_QUAD_DOWN_ASM TP_CONV_HALF_DOWN_ASM TP_CONV_HALF_DOWN_ASM
#define TP_CONV_FIRST_HALF_DOWN_ASM                                                               \
    TP_CONV_WEIGHT_PAIRS_DOWN_ASM                                                                 \
    TP_CONV_LOAD_ASM(TP_CONV_DOWN_AT) TP_CONV_PIXEL_ASM("x0", "2", "0") TP_CONV_PIXEL_ASM("x1", "3", "0") \
    TP_CONV_LOAD_ASM(TP_CONV_DOWN_AT) TP_CONV_PIXEL_ASM("x1", "1", "0") TP_CONV_PIXEL_ASM("x0", "0", "0")

/* One channel's 4 outputs of a pass (w points at the tp_conv_pair_t): its constants by two LDRDs,
 * per output SMMLAR + ASR + SSAT + STRB, and its output pointer advanced 4 pixels. */
#define TP_CONV_STORE4_ASM(acc, consts, out)                \
    "ldrd   %[wa], %[wb], [%[w], #" consts "]\n\t"          \
    "ldrd   %[x0], %[x1], [%[w], #" out "]\n\t"             \
    "smmlar %[" acc "0], %[" acc "0], %[wa], %[wb]\n\t"     \
    "smmlar %[" acc "1], %[" acc "1], %[wa], %[wb]\n\t"     \
    "smmlar %[" acc "2], %[" acc "2], %[wa], %[wb]\n\t"     \
    "smmlar %[" acc "3], %[" acc "3], %[wa], %[wb]\n\t"     \
    "asr    %[" acc "0], %[" acc "0], %[x0]\n\t"            \
    "asr    %[" acc "1], %[" acc "1], %[x0]\n\t"            \
    "asr    %[" acc "2], %[" acc "2], %[x0]\n\t"            \
    "asr    %[" acc "3], %[" acc "3], %[x0]\n\t"            \
    "ldr    %[x0], [%[w], #" TP_PAIR_OUT_C "]\n\t"          \
    "ssat   %[" acc "0], #8, %[" acc "0]\n\t"               \
    "ssat   %[" acc "1], #8, %[" acc "1]\n\t"               \
    "ssat   %[" acc "2], #8, %[" acc "2]\n\t"               \
    "ssat   %[" acc "3], #8, %[" acc "3]\n\t"               \
    "strb   %[" acc "0], [%[x1]]\n\t"                       \
    "strb   %[" acc "1], [%[x1], %[x0]]\n\t"                \
    "add    %[x1], %[x1], %[x0], lsl #1\n\t"                \
    "strb   %[" acc "2], [%[x1]]\n\t"                       \
    "strb   %[" acc "3], [%[x1], %[x0]]\n\t"                \
    "add    %[x1], %[x1], %[x0], lsl #1\n\t"                \
    "str    %[x1], [%[w], #" out " + 4]\n\t"

/* The first pass, forward from x (w at the pair's weights), its 8 outputs stored; w ends at the
 * pair's tp_conv_pair_t. */
#define TP_CONV_PASS_UP_ASM                                                                           \
    "ldr    %[wa], %[k]\n\t"                                                                        \
    "ldrd   %[a0], %[b0], [%[wa]]\n\t" TP_CONV_FIRST_HALF_ASM TP_CONV_HALF_ASM                        \
    "ldr    %[x0], %[e4]\n\t"                                                                       \
    "cmp    %[x], %[x0]\n\t"                                                                        \
    "bhi    2f\n\t" /* fewer than 4 quads */                                                        \
    "b      6f\n"    /* the rest of the first 4 */                                                   \
    "1:\n\t" TP_CONV_PAIR_QUAD_ASM                                                                   \
    "6:\n\t" TP_CONV_PAIR_QUAD_ASM TP_CONV_PAIR_QUAD_ASM TP_CONV_PAIR_QUAD_ASM                         \
    "ldr    %[x0], %[e4]\n\t"                                                                       \
    "cmp    %[x], %[x0]\n\t"                                                                        \
    "bne    1b\n"                                                                                   \
    "2:\n\t"                                                                                        \
    "ldr    %[x0], %[e1]\n\t"                                                                       \
    "cmp    %[x], %[x0]\n\t"                                                                        \
    "beq    4f\n"                                                                                   \
    "3:\n\t" TP_CONV_PAIR_QUAD_ASM                                                                  \
    "ldr    %[x0], %[e1]\n\t"                                                                       \
    "cmp    %[x], %[x0]\n\t"                                                                        \
    "bne    3b\n"                                                                                   \
    "4:\n\t"                                                                                        \
    "ldr    %[w], %[k]\n\t" TP_CONV_STORE4_ASM("b", TP_PAIR_CH1, TP_PAIR_CH1_OUT)                    \
        TP_CONV_STORE4_ASM("a", TP_PAIR_CH0, TP_PAIR_CH0_OUT)

/* The passes of a channel pair over its blocks of 8 pixels, one assembly block: two per block, of
 * 4 pixels each. Per pass the accumulators start at the doubled biases in the first quad and end
 * in the 8 outputs (channel 1 first: see block_pairs). The first pass runs forward: four quads at
 * a time until x reaches `end4` (the first 4 entered after their first quad), then one at a time
 * until `end`. The second runs backwards from the end of its patch and of the pair's weights, so
 * that it starts with the weights the first read last, still in the flash accelerator's data
 * cache where the pair's weights are larger than it (256 B on the L4R5): single quads down to
 * `end4` (moved to the second patch), then four at a time down to `end` (the first patch's end,
 * the second's start; after the first quad, the rest of the top 4 when the quads are a multiple
 * of 4). Then, while the next block's patches start at or before `last`, the bounds move 2
 * patches on and the next block's first pass starts where this block's second pass ended, on the
 * pair's first weights. The 8 accumulators, the two weight pairs, the two patch pairs and the two
 * pointers take 14 registers, so everything else is in memory: the loop bounds cost LDR + CMP +
 * BNE per loop pass, the rest is read through `k`. */
#define TP_CONV_PAIR_PASSES()                                                                         \
    do {                                                                                              \
        int32_t a0_, a1_, a2_, a3_, b0_, b1_, b2_, b3_, wa_, wb_, x0_, x1_;                           \
        __asm__ volatile("20:\n\t" TP_CONV_PASS_UP_ASM                                                \
                         "ldr    %[x1], [%[w], #" TP_PAIR_GROUP "]\n\t"                               \
                         "ldr    %[w], [%[w], #" TP_PAIR_WEIGHTS "]\n\t"                              \
                         "add    %[w], %[w], %[x1], lsr #2\n\t" /* the end of the pair's weights */   \
                         "add    %[x], %[x], %[x1]\n\t"         /* the end of the second patch */     \
                         "ldr    %[x0], %[e4]\n\t"                                                    \
                         "add    %[x0], %[x0], %[x1]\n\t"                                             \
                         "str    %[x0], %[e4]\n\t"                                                    \
                         "ldr    %[wa], %[k]\n\t"                                                     \
                         "ldrd   %[a0], %[b0], [%[wa]]\n\t" TP_CONV_FIRST_HALF_DOWN_ASM TP_CONV_HALF_DOWN_ASM \
                         "ldr    %[x0], %[e4]\n\t"                                                    \
                         "cmp    %[x], %[x0]\n\t"                                                     \
                         "blo    16f\n\t" /* a multiple of 4 quads */                                  \
                         "beq    12f\n"                                                               \
                         "13:\n\t" TP_CONV_PAIR_QUAD_DOWN_ASM                                         \
                         "ldr    %[x0], %[e4]\n\t"                                                    \
                         "cmp    %[x], %[x0]\n\t"                                                     \
                         "bne    13b\n"                                                               \
                         "12:\n\t"                                                                    \
                         "ldr    %[x0], %[e1]\n\t"                                                    \
                         "cmp    %[x], %[x0]\n\t"                                                     \
                         "beq    14f\n"                                                               \
                         "11:\n\t" TP_CONV_PAIR_QUAD_DOWN_ASM                                         \
                         "16:\n\t" TP_CONV_PAIR_QUAD_DOWN_ASM TP_CONV_PAIR_QUAD_DOWN_ASM                \
                             TP_CONV_PAIR_QUAD_DOWN_ASM                                               \
                         "ldr    %[x0], %[e1]\n\t"                                                    \
                         "cmp    %[x], %[x0]\n\t"                                                     \
                         "bne    11b\n"                                                               \
                         "14:\n\t"                                                                    \
                         "ldr    %[w], %[k]\n\t" TP_CONV_STORE4_ASM("b", TP_PAIR_CH1, TP_PAIR_CH1_OUT) \
                             TP_CONV_STORE4_ASM("a", TP_PAIR_CH0, TP_PAIR_CH0_OUT)                   \
                         "ldr    %[x1], [%[w], #" TP_PAIR_GROUP "]\n\t"                               \
                         "add    %[x], %[x], %[x1]\n\t" /* the next block's first patch */           \
                         "ldr    %[x0], %[last]\n\t"                                                 \
                         "cmp    %[x], %[x0]\n\t"                                                    \
                         "bhi    21f\n\t"                                                            \
                         "ldr    %[x0], %[e4]\n\t"                                                   \
                         "add    %[x0], %[x0], %[x1]\n\t"                                            \
                         "str    %[x0], %[e4]\n\t"                                                   \
                         "ldr    %[x0], %[e1]\n\t"                                                   \
                         "add    %[x0], %[x0], %[x1], lsl #1\n\t"                                    \
                         "str    %[x0], %[e1]\n\t"                                                   \
                         "ldr    %[w], [%[w], #" TP_PAIR_WEIGHTS "]\n\t"                             \
                         "b      20b\n"                                                              \
                         "21:"                                                                        \
                         : [a0] "=&r"(a0_), [a1] "=&r"(a1_), [a2] "=&r"(a2_), [a3] "=&r"(a3_),           \
                           [b0] "=&r"(b0_), [b1] "=&r"(b1_), [b2] "=&r"(b2_), [b3] "=&r"(b3_),           \
                           [w] "+r"(wq), [x] "+r"(x), [wa] "=&r"(wa_), [wb] "=&r"(wb_), [x0] "=&r"(x0_), \
                           [x1] "=&r"(x1_), [e4] "+m"(end4), [e1] "+m"(end)                           \
                         : [k] "m"(kp), [last] "m"(last)                                              \
                         : "cc", "memory");                                                           \
    } while (0)
#else /* unoptimized builds keep a frame pointer: the same in C */
/* 4 outputs of one channel, 4 pixels apart from *o, which advances 4 pixels. */
TP_INLINE void store4(int8_t **o, int32_t oc, const int32_t acc[4], int32_t m, int32_t rnd, int32_t r) {
    for (int32_t j = 0; j < 4; ++j, *o += oc) {
        **o = (int8_t)tp_requantize_doubled(acc[j], m, rnd, r);
    }
}
#define TP_CONV_PAIR_PASSES()                                                                 \
    do {                                                                                      \
        for (const int32_t *stop_ = last + kp->group_bytes / 2; x != stop_;                     \
             wq = kp->weights, end += kp->group_bytes / 4) {                                  \
            int32_t a_[4] = {kp->bias0, kp->bias0, kp->bias0, kp->bias0};                     \
            int32_t b_[4] = {kp->bias1, kp->bias1, kp->bias1, kp->bias1};                     \
            for (; x != end; x += 4) {                                                        \
                const int32_t wq_ = tp_load32(wq);                                            \
                const int32_t wa_ = __sxtb16(wq_), wb_ = tp_sxtb16_ror8(wq_);                 \
                wq += 4;                                                                      \
                for (int32_t j_ = 0; j_ < 4; ++j_) {                                          \
                    a_[j_] = __smlad(wa_, x[j_], a_[j_]);                                     \
                    b_[j_] = __smlad(wb_, x[j_], b_[j_]);                                     \
                }                                                                             \
            }                                                                                 \
            store4(&k.out1, kp->out_c, b_, kp->mult1, kp->round1, kp->right1);                \
            store4(&k.out0, kp->out_c, a_, kp->mult0, kp->round0, kp->right0);                \
        }                                                                                     \
        (void)end4;                                                                           \
    } while (0)
#endif

/* The hot path: every output channel of `blocks` 8-pixel blocks (doubled accumulators, full int8
 * range), a channel pair at a time: per block two passes of 4 pixels over the pair's weights (the
 * second backwards, from the flash accelerator's data cache; the next block's first pass then
 * starts on the weights the one before ended on), the pair's constants set up once for all
 * blocks. */
static void __attribute__((noinline)) block_pairs(const tp_conv_params_t *p, const int32_t *cols, const int8_t *w,
                                                  const int32_t *bias, const int32_t *multiplier,
                                                  const int32_t *shift, const int16_t *channels, int8_t *out,
                                                  int32_t blocks) {
    const int32_t quads = (p->filter_h * p->filter_w * p->input_c + 3) >> 2, group = quads * TP_QUAD_WORDS;
    const int32_t live_c = p->live_c;
    const uint32_t zo = (uint32_t)(2 * p->output_offset + 1); /* tp_round_doubled's */
    const int32_t *const last = cols + (blocks - 1) * 2 * group;
    tp_conv_pair_t k;
    const tp_conv_pair_t *const kp = &k;
    k.out_c = p->output_c;
    k.group_bytes = group * 4;
    k.weights = w;
    for (int32_t c = 0; c < live_c; c += 2, k.weights += 2 * 4 * quads) {
        /* an odd last channel's partner has zero weights: its outputs go to the same place first,
         * then the real ones over them */
        const int32_t c1 = c + 1 < live_c ? c + 1 : c;
        k.out0 = out + (channels != NULL ? channels[c] : c);
        k.out1 = out + (channels != NULL ? channels[c1] : c1);
        k.bias0 = (int32_t)((uint32_t)bias[c] << 1);
        k.bias1 = (int32_t)((uint32_t)bias[c1] << 1);
        k.mult0 = multiplier[c];
        k.right0 = -shift[c];
        k.round0 = (int32_t)(zo << (k.right0 - 1));
        k.mult1 = multiplier[c1];
        k.right1 = -shift[c1];
        k.round1 = (int32_t)(zo << (k.right1 - 1));
        const int32_t *x = cols, *end4 = cols + (quads & ~3) * TP_QUAD_WORDS, *end = cols + group;
        const int8_t *wq = k.weights;
        TP_CONV_PAIR_PASSES();
    }
}

/* `words` words (a multiple of 8) from src down to d < src: LDM + STM of 8 registers per 32 bytes. */
TP_INLINE void move_down(int32_t *d, const int32_t *src, int32_t words) {
#if defined(__OPTIMIZE__)
    const int32_t *const end = src + words;
    if (words > 0) {
        __asm__ volatile("1:\n\t"
                         "ldmia  %[s]!, {r2-r6, r8-r10}\n\t"
                         "stmia  %[d]!, {r2-r6, r8-r10}\n\t"
                         "cmp    %[s], %[e]\n\t"
                         "bne    1b"
                         : [s] "+r"(src), [d] "+r"(d)
                         : [e] "r"(end)
                         : "r2", "r3", "r4", "r5", "r6", "r8", "r9", "r10", "cc", "memory");
    }
#else
    memmove(d, src, (size_t)words * 4);
#endif
}

/* Input row `iy` (all padding when outside the input) as filter row ky of the patches of the
 * WIDE output pixels from column x0: per pixel its filter_w input pixels widened (the input zero
 * point `pad`, widened and doubled, where outside), into the row's slot of its column. */
static void widen_slot(const tp_conv_params_t *p, const int8_t *in_b, int32_t iy, int32_t x0, int32_t *slot,
                       int32_t group, int32_t pad) {
    const int32_t ic = p->input_c, fw = p->filter_w, words = ic >> 2, iw = p->input_w;
    const int row_in = iy >= 0 && iy < p->input_h;
    const int8_t *const src = in_b + (row_in ? iy : 0) * iw * ic;
    for (int32_t j = 0; j < WIDE; ++j) {
        int32_t *d = slot + col_of(j, group);
        const int32_t ix0 = (x0 + j) * p->stride_w - p->pad_left;
        if (row_in && (j & 3) == 0 && ix0 >= 0 && ix0 + 3 * p->stride_w + fw <= iw) {
            /* the whole filter rows of a 4-pixel group inside: at once */
            widen_group(d, src + ix0 * ic, p->stride_w * ic, fw * words, 2);
            j += 3;
            continue;
        }
        if (row_in && ix0 >= 0 && ix0 + fw <= iw) { /* the whole filter row inside: one run */
            widen_words(d, src + ix0 * ic, fw * words, 2);
            continue;
        }
        for (int32_t ix = ix0; ix < ix0 + fw; ++ix) {
            if (row_in && ix >= 0 && ix < iw) {
                widen_words(d, src + ix * ic, words, 2);
                d += words * TP_QUAD_WORDS;
                continue;
            }
            for (int32_t q = 0; q < words; ++q, d += TP_QUAD_WORDS) {
                d[0] = pad;
                d[4] = pad;
            }
        }
    }
}

/* The doubled path down strips of WIDE output pixels (tp_conv_s8_dsp_strips), the last strip
 * ending at the last column (it computes again a few pixels of the one before: the same bytes):
 * a block's patches are stored filter row by filter row (row ky in the same slot of every
 * column); the first block of a strip widens every filter row, each block below moves the rows it
 * shares with the one above into the first slots (move_down, both 4-pixel groups) and widens only
 * the stride's new rows into the last. */
static void strips(const tp_conv_params_t *p, const int8_t *in_b, const int8_t *filter, const int32_t *bias,
                   const int32_t *multiplier, const int32_t *shift, const int16_t *channels, int8_t *out_b,
                   int32_t *s) {
    const int32_t ow = p->output_w, oc = p->output_c, fh = p->filter_h, sh = p->stride_h;
    const int32_t row_words = p->filter_w * (p->input_c >> 2) * TP_QUAD_WORDS, group = fh * row_words;
    const int32_t kept = (fh - sh) * row_words;
    const int32_t pad = (int32_t)(0x00010001u * (uint16_t)(2 * (int8_t)(-p->input_offset)));
    for (int32_t x0 = 0;; x0 += WIDE) {
        x0 = x0 + WIDE <= ow ? x0 : ow - WIDE;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            const int32_t top = oy * sh - p->pad_top;
            int32_t ky = 0;
            if (oy > 0) {
                move_down(s, s + sh * row_words, kept);
                move_down(s + group, s + group + sh * row_words, kept);
                ky = fh - sh;
            }
            for (; ky < fh; ++ky) {
                widen_slot(p, in_b, top + ky, x0, s + ky * row_words, group, pad);
            }
            block_pairs(p, s, filter, bias, multiplier, shift, channels, out_b + (oy * ow + x0) * oc, 1);
        }
        if (x0 + WIDE >= ow) {
            return;
        }
    }
}
#endif

/* The SMMLAR path in blocks of `blocks` x 8 pixels, each 8 widened on its own (im2col_dsp), the
 * channel pairs' constants set up once per block (block_pairs); 8 pixels or fewer left at the end
 * take one 8-pixel block. The last block of a layer whose pixel count is not a multiple of the
 * block's ends at its last pixel and computes again a few pixels of the block before it (the
 * same bytes: the output never overlaps the input), so every block is full. */
static void doubled_blocks(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                           const int32_t *multiplier, const int32_t *shift, const int16_t *channels,
                           const int8_t *fill, int8_t *output, void *scratch, int32_t blocks) {
#if defined(TP_TFLM_ROUNDING) /* TFLite Micro's ties-away rounding: the general path */
    (void)blocks;
    tp_conv_s8_dsp(p, input, filter, bias, multiplier, shift, channels, fill, output, scratch);
#else
    const int32_t k_size = p->filter_h * p->filter_w * p->input_c, oc = p->output_c;
    const int32_t pixels = p->output_h * p->output_w, group = ((k_size + 3) >> 2) * TP_QUAD_WORDS;
    int32_t *s = (int32_t *)scratch;
    int8_t *col = (int8_t *)scratch + TP_CONV_SCRATCH_COLUMNS_BYTES(blocks * WIDE, k_size);
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->input_c;
        int8_t *out_b = output + b * pixels * oc;
        tp_conv_fill_pixels(fill, out_b, oc, pixels);
        for (int32_t next = 0; next < pixels;) {
            const int32_t these = pixels - next > WIDE ? blocks : 1, n = these * WIDE;
            const int32_t pix = next + n <= pixels ? next : pixels - n;
            for (int32_t j = 0; j < these; ++j) {
                im2col_dsp(p, in_b, pix + j * WIDE, WIDE, group, s + j * 2 * group, 2, col);
            }
            block_pairs(p, s, filter, bias, multiplier, shift, channels, out_b + pix * oc, these);
            next = pix + n;
        }
    }
#endif
}

/* The generator picks these for layers of at least 8 (_doubled) or 16 (_doubled16) pixels, where
 * their scratch does not enlarge the arena much (tinypipe.aot.ops.conv.narrow). */
void tp_conv_s8_dsp_doubled(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            const int16_t *channels, const int8_t *fill, int8_t *output, void *scratch) {
    doubled_blocks(p, input, filter, bias, multiplier, shift, channels, fill, output, scratch, 1);
}

void tp_conv_s8_dsp_doubled16(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              const int16_t *channels, const int8_t *fill, int8_t *output, void *scratch) {
    doubled_blocks(p, input, filter, bias, multiplier, shift, channels, fill, output, scratch, 2);
}

/* The generator's pick for filters taller than the stride (conv_s8.h): every batch down strips. */
void tp_conv_s8_dsp_strips(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           const int16_t *channels, const int8_t *fill, int8_t *output, void *scratch) {
#if defined(TP_TFLM_ROUNDING) /* TFLite Micro's ties-away rounding: the general path */
    tp_conv_s8_dsp(p, input, filter, bias, multiplier, shift, channels, fill, output, scratch);
#else
    const int32_t pixels = p->output_h * p->output_w, oc = p->output_c;
    for (int32_t b = 0; b < p->batches; ++b) {
        int8_t *out_b = output + b * pixels * oc;
        tp_conv_fill_pixels(fill, out_b, oc, pixels);
        strips(p, input + b * p->input_h * p->input_w * p->input_c, filter, bias, multiplier, shift, channels, out_b,
               (int32_t *)scratch);
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
