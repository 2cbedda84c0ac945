/*
 * depthwise_conv_s8_dsp.c - DEPTHWISE_CONV_2D, DSP-extension variants, depth multiplier 1:
 *  - tp_depthwise_conv_s8_dsp_pairs (channels % 4 == 0, <= TP_DW_MAX_TAPS taps): kernel taps
 *    paired for SMLAD (see there);
 *  - tp_depthwise_conv_s8_dsp (any channel count): 4 channels per word, SXTAB16 adds the input
 *    offset while it sign-extends, SMLABB/SMLATT accumulate, clipped windows.
 */
#include "depthwise_conv_s8_taps.h"
#include "depthwise_conv_s8_window.h"

#if defined(TP_USE_DSP)

/* The first output coordinate whose window starts inside the input, and one past the last whose
 * window ends inside it: [lo, hi) are the interior outputs of one axis. */
static void interior(int32_t pad, int32_t stride, int32_t span, int32_t in, int32_t out, int32_t *lo, int32_t *hi) {
    int32_t a = 0, b;
    while (a < out && a * stride - pad < 0) {
        ++a;
    }
    b = a;
    while (b < out && b * stride - pad + span <= in) {
        ++b;
    }
    *lo = a;
    *hi = b;
}

/* Per-channel requantization constants of the fast path: (acc * mult + round) >> 32 >> sh is
 * tp_requantize_upward's scaled value plus the output offset (folded into round: exact, no
 * overflow for right shifts up to 24). */
typedef struct {
    int64_t round;
    int32_t mult, sh;
} tp_dw_rq_t;

/* DSP depthwise, depth multiplier 1, channels % 4 == 0, <= TP_DW_MAX_TAPS taps: 4 channels per
 * pass, the kernel taps paired for SMLAD. Per 4-channel group the weights are widened once into
 * int16 pairs (w[t0][c], w[t1][c]) on the stack and the input offset is folded into the group's
 * bias (bias + input_offset * sum_t w[t][c], modulo 2^32 like TFLite's int32 accumulation); per
 * pixel, two input words (taps t0, t1) are interleaved with PKHBT/PKHTB so that SXTB16 yields
 * (x[t0][c], x[t1][c]): 2 LDR + 2 PKH + 4 SXTB16 + 2 LDRD + 4 SMLAD per 8 MACs. Rows are walked in
 * segments: interior pixels with a running input pointer and fixed tap offsets, border pixels
 * with a tap bitmask (row mask & column mask); padded taps read a word of raw input zero points
 * (so (zp + offset) * w = 0, as in TFLite). Requantization: one SMLAL (output offset folded into
 * the rounding constant) + ASR + SSAT per channel, 4 bytes packed (PKHBT/UXTB16) and clamped with
 * SSUB8/SEL, one STR. */
void tp_depthwise_conv_s8_dsp_pairs(const tp_depthwise_conv_params_t *p, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                    const int32_t *shift, int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t ch = p->input_c, iw = p->input_w, ih = p->input_h, fw = p->filter_w;
    const int32_t taps = p->filter_h * fw, pairs = taps / 2;
    int32_t toff[TP_DW_MAX_TAPS + 1];
    for (int32_t t = 0; t < taps; ++t) {
        toff[t] = ((t / fw) * p->dilation_h * iw + (t % fw) * p->dilation_w) * ch;
    }
    uint32_t col_pattern = 0; /* bits kx = 0 of every filter row */
    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
        col_pattern |= 1u << (ky * fw);
    }
    const uint32_t row_pattern = (1u << fw) - 1u;
    const int32_t zp_word = (int32_t)(0x01010101u * (uint32_t)(uint8_t)(int8_t)(-p->input_offset));
    const int32_t lo4 = (int32_t)(0x01010101u * (uint32_t)(uint8_t)(int8_t)p->act_min);
    const int32_t hi4 = (int32_t)(0x01010101u * (uint32_t)(uint8_t)(int8_t)p->act_max);
    int32_t oy_lo, oy_hi, ox_lo, ox_hi;
    interior(p->pad_top, p->stride_h, (p->filter_h - 1) * p->dilation_h + 1, ih, p->output_h, &oy_lo, &oy_hi);
    interior(p->pad_left, p->stride_w, (fw - 1) * p->dilation_w + 1, iw, p->output_w, &ox_lo, &ox_hi);
    const int32_t out_row = p->output_w * ch, in_step = p->stride_w * ch, ow = p->output_w;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * ih * iw * ch;
        int8_t *out_b = output + b * p->output_h * out_row;
        for (int32_t c = 0; c < ch; c += 4) {
            int32_t wq[(TP_DW_MAX_TAPS / 2) * 4 + 2], bf[4];
            tp_dw_rq_t rq[4];
            tp_dw_tap_pairs(filter, ch, c, taps, bias, p->input_offset, 1, wq, bf);
            int fast = c + 4 <= p->upward_channels;
            for (int32_t j = 0; j < 4; ++j) {
                const int32_t r = -shift[c + j];
                fast = fast && r >= 1 && r <= 24;
                if (r >= 1 && r <= 24) {
                    rq[j].round = tp_round_upward(shift[c + j]) + (int64_t)p->output_offset * ((int64_t)1 << (31 + r));
                    rq[j].mult = multiplier[c + j];
                    rq[j].sh = r - 1;
                }
            }
#define TP_DW_PAIR(X0, X1, w)                                                 \
    do {                                                                      \
        const int32_t xa = tp_pkhbt16(X0, X1), xb = tp_pkhtb16(X1, X0);       \
        a0 = __smlad(__sxtb16(xa), (w)[0], a0);                               \
        a1 = __smlad(tp_sxtb16_ror8(xa), (w)[1], a1);                         \
        a2 = __smlad(__sxtb16(xb), (w)[2], a2);                               \
        a3 = __smlad(tp_sxtb16_ror8(xb), (w)[3], a3);                         \
    } while (0)
#define TP_DW_SINGLE(X, w)                                                    \
    do {                                                                      \
        const int32_t x02 = __sxtb16(X), x13 = tp_sxtb16_ror8(X);             \
        a0 = __smlabb(x02, (w)[0], a0);                                       \
        a2 = __smlatt(x02, (w)[0], a2);                                       \
        a1 = __smlabb(x13, (w)[1], a1);                                       \
        a3 = __smlatt(x13, (w)[1], a3);                                       \
    } while (0)
#define TP_DW_STORE(out)                                                                                  \
    do {                                                                                                  \
        if (fast) {                                                                                       \
            const int32_t v0 = __ssat((int32_t)(((int64_t)a0 * rq[0].mult + rq[0].round) >> 32) >> rq[0].sh, 8); \
            const int32_t v1 = __ssat((int32_t)(((int64_t)a1 * rq[1].mult + rq[1].round) >> 32) >> rq[1].sh, 8); \
            const int32_t v2 = __ssat((int32_t)(((int64_t)a2 * rq[2].mult + rq[2].round) >> 32) >> rq[2].sh, 8); \
            const int32_t v3 = __ssat((int32_t)(((int64_t)a3 * rq[3].mult + rq[3].round) >> 32) >> rq[3].sh, 8); \
            int32_t word = (int32_t)(__uxtb16(tp_pkhbt16(v0, v2)) | (__uxtb16(tp_pkhbt16(v1, v3)) << 8)); \
            (void)__ssub8(word, lo4);                                                                     \
            word = (int32_t)__sel(word, lo4);                                                             \
            (void)__ssub8(hi4, word);                                                                     \
            word = (int32_t)__sel(word, hi4);                                                             \
            memcpy((out), &word, 4);                                                                      \
        } else {                                                                                          \
            const int32_t acc[4] = {a0, a1, a2, a3};                                                      \
            for (int32_t j = 0; j < 4; ++j) {                                                             \
                (out)[j] = tp_requantize_either(acc[j], multiplier[c + j], shift[c + j], p->output_offset, \
                                                p->act_min, p->act_max, c + j < p->upward_channels);      \
            }                                                                                             \
        }                                                                                                 \
    } while (0)
            for (int32_t oy = 0; oy < p->output_h; ++oy) {
                const int32_t iy0 = oy * p->stride_h - p->pad_top;
                const int yin = oy >= oy_lo && oy < oy_hi;
                uint32_t row_mask = 0;
                for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                    const int32_t iy = iy0 + ky * p->dilation_h;
                    row_mask |= (iy >= 0 && iy < ih) ? row_pattern << (ky * fw) : 0u;
                }
                int8_t *out = out_b + oy * out_row + c;
                const int32_t seg_lo = yin ? ox_lo : ow, seg_hi = yin ? ox_hi : ow;
                for (int32_t ox = 0; ox < ow; ++ox, out += ch) {
                    if (ox == seg_lo && seg_lo < seg_hi) { /* the interior run of this row */
                        const int8_t *base = in_b + (iy0 * iw + ox * p->stride_w - p->pad_left) * ch + c;
                        for (; ox < seg_hi; ++ox, out += ch, base += in_step) {
                            int32_t a0 = bf[0], a1 = bf[1], a2 = bf[2], a3 = bf[3];
                            if (pairs == 4) { /* 3x3 */
                                TP_UNROLL(4)
                                for (int32_t i = 0; i < 4; ++i) {
                                    TP_DW_PAIR(tp_load32(base + toff[2 * i]), tp_load32(base + toff[2 * i + 1]), wq + 4 * i);
                                }
                            } else {
                                for (int32_t i = 0; i < pairs; ++i) {
                                    TP_DW_PAIR(tp_load32(base + toff[2 * i]), tp_load32(base + toff[2 * i + 1]), wq + 4 * i);
                                }
                            }
                            if (taps & 1) {
                                TP_DW_SINGLE(tp_load32(base + toff[taps - 1]), wq + 4 * pairs);
                            }
                            TP_DW_STORE(out);
                        }
                        if (ox >= ow) {
                            break;
                        }
                    }
                    /* border pixel: taps outside the input read the zero point */
                    const int32_t ix0 = ox * p->stride_w - p->pad_left;
                    uint32_t col_mask = 0;
                    for (int32_t kx = 0; kx < fw; ++kx) {
                        const int32_t ix = ix0 + kx * p->dilation_w;
                        col_mask |= (ix >= 0 && ix < iw) ? col_pattern << kx : 0u;
                    }
                    const uint32_t mask = row_mask & col_mask;
                    const int32_t pix = (iy0 * iw + ix0) * ch + c;
#define TP_DW_X(t) tp_load32(((mask >> (t)) & 1u) ? in_b + (pix + toff[t]) : (const int8_t *)&zp_word)
                    int32_t a0 = bf[0], a1 = bf[1], a2 = bf[2], a3 = bf[3];
                    if (pairs == 4) { /* 3x3: constant tap bits */
                        TP_UNROLL(4)
                        for (int32_t i = 0; i < 4; ++i) {
                            TP_DW_PAIR(TP_DW_X(2 * i), TP_DW_X(2 * i + 1), wq + 4 * i);
                        }
                    } else {
                        for (int32_t i = 0; i < pairs; ++i) {
                            TP_DW_PAIR(TP_DW_X(2 * i), TP_DW_X(2 * i + 1), wq + 4 * i);
                        }
                    }
                    if (taps & 1) {
                        TP_DW_SINGLE(TP_DW_X(taps - 1), wq + 4 * pairs);
                    }
#undef TP_DW_X
                    TP_DW_STORE(out);
                }
            }
#undef TP_DW_PAIR
#undef TP_DW_SINGLE
#undef TP_DW_STORE
        }
    }
}

void tp_depthwise_conv_s8_dsp(const tp_depthwise_conv_params_t *p, const int8_t *input,
                              const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                              const int32_t *shift, int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t ch = p->input_c;
    const int32_t row_step = p->dilation_h * p->input_w * ch, col_step = p->dilation_w * ch;
    const int32_t frow_step = p->filter_w * ch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * ch;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            tp_dw_clip(iy0, p->filter_h, p->dilation_h, p->input_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                tp_dw_clip(ix0, p->filter_w, p->dilation_w, p->input_w, &kx0, &kx1);
                const int8_t *in0 = in_b + ((iy0 + ky0 * p->dilation_h) * p->input_w + ix0 + kx0 * p->dilation_w) * ch;
                const int8_t *f0 = filter + (ky0 * p->filter_w + kx0) * ch;
                const int32_t rows = ky1 - ky0, cols = kx1 - kx0;
                const int32_t off2 = (int32_t)(((uint32_t)p->input_offset & 0xFFFFu) | ((uint32_t)p->input_offset << 16));
                int32_t c = 0;
                const int full3x3 = rows == 3 && cols == 3;
                for (; c + 4 <= ch; c += 4) {
                    int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
                    const int8_t *xr = in0 + c, *wr = f0 + c;
#define TP_DW_TAP(xp, wp)                                                                   \
    do {                                                                                    \
        const int32_t xv = tp_load32(xp), wv = tp_load32(wp);                               \
        const int32_t x02 = __sxtab16(off2, xv), x13 = tp_sxtab16_ror8(off2, xv);           \
        const int32_t w02 = __sxtb16(wv), w13 = tp_sxtb16_ror8(wv);                         \
        a0 = __smlabb(x02, w02, a0);                                                        \
        a2 = __smlatt(x02, w02, a2);                                                        \
        a1 = __smlabb(x13, w13, a1);                                                        \
        a3 = __smlatt(x13, w13, a3);                                                        \
    } while (0)
                    if (full3x3) { /* the interior of a 3x3 depthwise: 9 taps unrolled */
                        for (int32_t r = 0; r < 3; ++r, xr += row_step, wr += frow_step) {
                            TP_DW_TAP(xr, wr);
                            TP_DW_TAP(xr + col_step, wr + ch);
                            TP_DW_TAP(xr + 2 * col_step, wr + 2 * ch);
                        }
                    } else {
                        for (int32_t r = 0; r < rows; ++r, xr += row_step, wr += frow_step) {
                            const int8_t *x = xr, *w = wr;
                            for (int32_t k = 0; k < cols; ++k, x += col_step, w += ch) {
                                TP_DW_TAP(x, w);
                            }
                        }
                    }
#undef TP_DW_TAP
                    const int32_t acc[4] = {a0, a1, a2, a3};
                    if (c + 4 > p->upward_channels) {
                        for (int32_t i = 0; i < 4; ++i) {
                            output[c + i] = tp_requantize_either(acc[i], multiplier[c + i], shift[c + i],
                                                                 p->output_offset, p->act_min, p->act_max,
                                                                 c + i < p->upward_channels);
                        }
                        continue;
                    }
                    for (int32_t i = 0; i < 4; ++i) {
                        const int32_t left = shift[c + i] > 0 ? shift[c + i] : 0, right = left - shift[c + i];
                        output[c + i] = (int8_t)tp_clamp(tp_scale_upward(acc[i], multiplier[c + i], left, right) +
                                                         p->output_offset, p->act_min, p->act_max);
                    }
                }
                for (; c < ch; ++c) {
                    int32_t acc = bias[c];
                    const int8_t *xr = in0 + c, *wr = f0 + c;
                    for (int32_t r = 0; r < rows; ++r, xr += row_step, wr += frow_step) {
                        for (int32_t k = 0; k < cols; ++k) {
                            acc += ((int32_t)xr[k * col_step] + p->input_offset) * (int32_t)wr[k * ch];
                        }
                    }
                    output[c] = tp_requantize_either(acc, multiplier[c], shift[c], p->output_offset, p->act_min,
                                                     p->act_max, c < p->upward_channels);
                }
                output += ch;
            }
        }
    }
}

#endif /* TP_USE_DSP */
