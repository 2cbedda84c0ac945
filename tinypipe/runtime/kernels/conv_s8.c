/*
 * conv_s8.c - CONV_2D. Three variants, same arithmetic (acc = folded bias + sum of raw int8
 * products, then tp_requantize_upward's rounding), same bytes:
 *
 *  - Helium (TP_USE_MVE): per output pixel, the int8 patch (im2col into scratch, or the input
 *    itself for an unpadded 1x1 convolution), 4 output channels at a time with VMLADAVA.S8
 *    (16 MACs per instruction, tail-predicated), requantization of 4 channels with
 *    VQRDMULH + VRSHL (exactly the ties-upward rule).
 *  - DSP (TP_USE_DSP): TP_CONV_DSP_PIXELS output pixels' patches widened once to int16 in the
 *    order SXTB16 extracts bytes (x0,x2 | x1,x3), so each 4 weights cost one load + two SXTB16
 *    and feed 8 SMLADs (4 pixels x 2): ~15 instructions per 16 MACs. Padding is resolved while
 *    widening, so the inner loop has no bounds checks.
 *  - portable C99.
 */
#include "conv_s8.h"

#include <string.h>

/* The constant outputs of the elided all-zero channels (fill, NULL when there are none) into
 * `pixels` output pixels; the live channels are written after. */
static void fill_pixels(const int8_t *fill, int8_t *out, int32_t oc, int32_t pixels) {
    for (; fill != NULL && pixels > 0; --pixels, out += oc) {
        memcpy(out, fill, (size_t)oc);
    }
}

#if defined(TP_USE_MVE) || defined(TP_USE_DSP)
/* The int8 patch of output pixel (oy, ox) in filter order, the raw input zero point where padded;
 * for a 1x1 convolution inside the input: the input itself. */
static const int8_t *patch_s8(const tp_conv_params_t *p, const int8_t *in_b, int32_t oy, int32_t ox,
                              int8_t *col) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ic = p->input_c;
    if (p->filter_h == 1 && p->filter_w == 1 && iy0 >= 0 && iy0 < p->input_h && ix0 >= 0 && ix0 < p->input_w) {
        return in_b + (iy0 * p->input_w + ix0) * ic;
    }
    const int zp = (int8_t)(-p->input_offset);
    /* an unpadded, undilated row of the patch is one run of filter_w * input_c bytes */
    const int row_run = p->dilation_w == 1 && ix0 >= 0 && ix0 + p->filter_w <= p->input_w;
    int8_t *dst = col;
    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        const int row_in = iy >= 0 && iy < p->input_h;
        if (row_run || !row_in) {
            const int32_t n = ic * p->filter_w;
            if (row_in) {
                memcpy(dst, in_b + (iy * p->input_w + ix0) * ic, (size_t)n);
            } else {
                memset(dst, zp, (size_t)n);
            }
            dst += n;
            continue;
        }
        for (int32_t kx = 0; kx < p->filter_w; ++kx, dst += ic) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            if (ix < 0 || ix >= p->input_w) {
                memset(dst, zp, (size_t)ic);
            } else {
                memcpy(dst, in_b + (iy * p->input_w + ix) * ic, (size_t)ic);
            }
        }
    }
    return col;
}
#endif

#if defined(TP_USE_MVE)

void tp_conv_s8(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                const int32_t *bias, const int32_t *multiplier, const int32_t *shift, const int16_t *channels,
                const int8_t *fill, int8_t *output, void *scratch) {
    const int32_t k_size = p->filter_h * p->filter_w * p->input_c;
    const int32_t oc = p->output_c;
    const int32_t k_full = k_size & ~15;
    const mve_pred16_t tail = vctp8q((uint32_t)(k_size - k_full));
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->input_c;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                const int8_t *col = patch_s8(p, in_b, oy, ox, (int8_t *)scratch);
                const int32_t live = p->live_c;
                fill_pixels(fill, output, oc, 1);
                int32_t c = 0;
                for (; c + 4 <= live; c += 4) {
                    const int8_t *w = filter + c * k_size;
                    int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
                    int32_t k = 0;
                    for (; k < k_full; k += 16) {
                        const int8x16_t x = vldrbq_s8(col + k);
                        a0 = vmladavaq_s8(a0, x, vldrbq_s8(w + k));
                        a1 = vmladavaq_s8(a1, x, vldrbq_s8(w + k_size + k));
                        a2 = vmladavaq_s8(a2, x, vldrbq_s8(w + 2 * k_size + k));
                        a3 = vmladavaq_s8(a3, x, vldrbq_s8(w + 3 * k_size + k));
                    }
                    if (k < k_size) {
                        const int8x16_t x = vldrbq_z_s8(col + k, tail);
                        a0 = vmladavaq_s8(a0, x, vldrbq_z_s8(w + k, tail));
                        a1 = vmladavaq_s8(a1, x, vldrbq_z_s8(w + k_size + k, tail));
                        a2 = vmladavaq_s8(a2, x, vldrbq_z_s8(w + 2 * k_size + k, tail));
                        a3 = vmladavaq_s8(a3, x, vldrbq_z_s8(w + 3 * k_size + k, tail));
                    }
                    int32x4_t acc = vdupq_n_s32(a0);
                    acc = vsetq_lane_s32(a1, acc, 1);
                    acc = vsetq_lane_s32(a2, acc, 2);
                    acc = vsetq_lane_s32(a3, acc, 3);
                    const int32x4_t q = tp_requantize_upward_x4(acc, vldrwq_s32(multiplier + c), vldrwq_s32(shift + c),
                                                                p->output_offset, p->act_min, p->act_max);
                    if (channels != NULL) { /* live channels scattered to their positions */
                        vstrbq_scatter_offset_s32(output, vreinterpretq_u32_s32(vldrhq_s32(channels + c)), q);
                    } else {
                        vstrbq_s32(output + c, q);
                    }
                }
                for (; c < live; ++c) {
                    const int8_t *w = filter + c * k_size;
                    int32_t acc = bias[c];
                    for (int32_t k = 0; k < k_size; k += 16) {
                        const mve_pred16_t pr = vctp8q((uint32_t)(k_size - k));
                        acc = vmladavaq_s8(acc, vldrbq_z_s8(col + k, pr), vldrbq_z_s8(w + k, pr));
                    }
                    output[channels != NULL ? channels[c] : c] = tp_requantize_upward(
                        acc, multiplier[c], shift[c], p->output_offset, p->act_min, p->act_max);
                }
                output += oc;
            }
        }
    }
}

#elif defined(TP_USE_DSP)

#define PIX TP_CONV_DSP_PIXELS


/* Scratch layout: for each group of 4 patch elements (quad q) and each pixel j, two words
 * [x0 | x2] and [x1 | x3] (int16 halves), the pairs SXTB16 / SXTB16 ROR 8 extract from a weight
 * word: word index (q * PIX + j) * 2. */
static void put16(int32_t *s, int32_t j, int32_t k, int32_t v) { /* v already scaled */
    static const uint8_t half[4] = {0, 2, 1, 3};
    const int16_t h = (int16_t)v;
    memcpy((int16_t *)(void *)s + ((k >> 2) * PIX + j) * 4 + half[k & 3], &h, 2);
}

/* Patch values are stored times `scale`: 2 when the layer's accumulators are doubled for the
 * SMMLAR requantization (tp_smmlar), else 1. */
static void widen_run(int32_t *s, int32_t j, int32_t k, const int8_t *src, int32_t n, int32_t scale) {
    for (; n > 0 && (k & 3); --n) {
        put16(s, j, k++, scale * *src++);
    }
    int32_t *d = s + ((k >> 2) * PIX + j) * 2;
    if (scale == 2) {
        for (; n >= 4; n -= 4, k += 4, src += 4, d += 2 * PIX) {
            const int32_t v = tp_load32(src), lo = __sxtb16(v), hi = tp_sxtb16_ror8(v);
            d[0] = (int32_t)__sadd16(lo, lo);
            d[1] = (int32_t)__sadd16(hi, hi);
        }
    } else {
        for (; n >= 4; n -= 4, k += 4, src += 4, d += 2 * PIX) {
            const int32_t v = tp_load32(src);
            d[0] = __sxtb16(v);
            d[1] = tp_sxtb16_ror8(v);
        }
    }
    for (; n > 0; --n) {
        put16(s, j, k++, scale * *src++);
    }
}

static void fill_run(int32_t *s, int32_t j, int32_t k, int32_t v, int32_t n) { /* v already scaled */
    for (; n > 0; --n) {
        put16(s, j, k++, v);
    }
}

/* Widened patch of output pixel `pix` (row-major within the image) into column j: the int8 patch
 * (patch_s8, gathered into `col` unless it is the input itself) widened in one aligned run. */
static void im2col_dsp(const tp_conv_params_t *p, const int8_t *in_b, int32_t pix, int32_t j, int32_t *s,
                       int32_t scale, int8_t *col) {
    const int32_t oy = pix / p->output_w, ox = pix - oy * p->output_w;
    widen_run(s, j, 0, patch_s8(p, in_b, oy, ox, col), p->filter_h * p->filter_w * p->input_c, scale);
}

/* One quad of 4 patch elements for the block's 4 pixels: the weight word widened once (SXTB16,
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

/* The hot path of a full block (PIX pixels, doubled accumulators, full int8 range): every output
 * channel of the block, kept out of tp_conv_s8 so that its few live values stay in registers. Per
 * quad: one weight load + 2 SXTB16 + 4 LDRD + 8 SMLAD; per output: SMMLAR + ASR + SSAT + STRB.
 * A partial last quad (k_size % 4 != 0) reads the next channel's first weights (the generator
 * pads the filter array by 4 bytes): they meet the patch's zero padding and add nothing. */
static void __attribute__((noinline)) block_doubled(const tp_conv_params_t *p, const int32_t *cols,
                                                    const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                                                    const int32_t *shift, const int16_t *channels, int8_t *out) {
    const int32_t k_size = p->filter_h * p->filter_w * p->input_c, oc = p->output_c, zo = p->output_offset;
    const int32_t quads = (k_size + 3) >> 2, back = 4 * quads - k_size;
    for (int32_t c = 0; c < p->live_c; ++c, w -= back) {
        int8_t *const o = out + (channels != NULL ? channels[c] : c);
        int32_t a0 = (int32_t)((uint32_t)*bias++ << 1), a1 = a0, a2 = a0, a3 = a0;
        const int32_t *x = cols;
        const int8_t *const w_end = w + 4 * quads;
        TP_UNROLL(2)
        while (w < w_end) {
            TP_CONV_QUAD();
        }
        const int32_t m = *multiplier++, sh = *shift++;
        const int32_t rnd = tp_round_doubled(sh, zo), r = -sh;
        o[0] = (int8_t)tp_requantize_doubled(a0, m, rnd, r);
        o[oc] = (int8_t)tp_requantize_doubled(a1, m, rnd, r);
        o[2 * oc] = (int8_t)tp_requantize_doubled(a2, m, rnd, r);
        o[3 * oc] = (int8_t)tp_requantize_doubled(a3, m, rnd, r);
    }
}

void tp_conv_s8(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                const int32_t *bias, const int32_t *multiplier, const int32_t *shift, const int16_t *channels,
                const int8_t *fill, int8_t *output, void *scratch) {
    const int32_t k_size = p->filter_h * p->filter_w * p->input_c;
    const int32_t quads = k_size >> 2, rem = k_size & 3;
    const int32_t oc = p->output_c;
    const int32_t pixels = p->output_h * p->output_w;
    int32_t *s = (int32_t *)scratch;
    int8_t *col = (int8_t *)scratch + TP_CONV_SCRATCH_COLUMNS_BYTES(k_size);
    const int32_t zo = p->output_offset, lo = p->act_min, hi = p->act_max;
    const int full_range = lo == TP_INT8_MIN && hi == TP_INT8_MAX;
#if defined(TP_TFLM_ROUNDING)
    const int doubled = 0;
#else
    const int doubled = p->doubled;
#endif
    const int32_t scale = doubled ? 2 : 1;
    /* the partial last quad's missing elements are 0 for every pixel (weights read as 0 too) */
    for (int32_t j = 0; j < PIX; ++j) {
        fill_run(s, j, k_size, 0, (4 - rem) & 3);
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->input_c;
        int8_t *out_b = output + b * pixels * oc;
        for (int32_t pix = 0; pix < pixels; pix += PIX) {
            const int32_t n = pixels - pix < PIX ? pixels - pix : PIX;
            for (int32_t j = 0; j < n; ++j) {
                im2col_dsp(p, in_b, pix + j, j, s, scale, col);
            }
            int8_t *out = out_b + pix * oc;
            fill_pixels(fill, out, oc, n);
            if (doubled && full_range && n == PIX) {
                block_doubled(p, s, filter, bias, multiplier, shift, channels, out);
                continue;
            }
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
                    const int32_t acc[PIX] = {a0, a1, a2, a3};
                    for (int32_t j = 0; j < n; ++j) { /* the full-block, full-range case is block_doubled */
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

#else /* portable C99 */

void tp_conv_s8(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                const int32_t *bias, const int32_t *multiplier, const int32_t *shift, const int16_t *channels,
                const int8_t *fill, int8_t *output, void *scratch) {
    const int32_t filter_size = p->filter_h * p->filter_w * p->input_c;
    const int32_t pad = -p->input_offset; /* the raw value of a padded tap */
    (void)scratch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->input_c;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_left;
                fill_pixels(fill, output, p->output_c, 1);
                for (int32_t oc = 0; oc < p->live_c; ++oc) {
                    const int8_t *w = filter + oc * filter_size;
                    int32_t acc = bias[oc];
                    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                        const int32_t iy = in_y0 + ky * p->dilation_h;
                        for (int32_t kx = 0; kx < p->filter_w; ++kx, w += p->input_c) {
                            const int32_t ix = in_x0 + kx * p->dilation_w;
                            if (iy < 0 || iy >= p->input_h || ix < 0 || ix >= p->input_w) {
                                for (int32_t ic = 0; ic < p->input_c; ++ic) {
                                    acc += pad * (int32_t)w[ic];
                                }
                                continue;
                            }
                            const int8_t *x = in_b + (iy * p->input_w + ix) * p->input_c;
                            for (int32_t ic = 0; ic < p->input_c; ++ic) {
                                acc += (int32_t)x[ic] * (int32_t)w[ic];
                            }
                        }
                    }
                    output[channels != NULL ? channels[oc] : oc] = tp_requantize_upward(
                        acc, multiplier[oc], shift[oc], p->output_offset, p->act_min, p->act_max);
                }
                output += p->output_c;
            }
        }
    }
}

#endif
