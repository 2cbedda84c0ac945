/*
 * depthwise_conv_s8.c - DEPTHWISE_CONV_2D. Variants (same arithmetic, same bytes):
 *
 *  - Helium (TP_USE_MVE, depth multiplier 1): 8 channels per vector (VLDRB.S16 widening loads,
 *    input offset added in int16, VMULLB/VMULLT into even/odd int32 accumulators), only the
 *    taps inside the input (padding clipped from the window: no bounds checks in the loop),
 *    tail-predicated channels, 4-lane VQRDMULH/VRSHL requantization, narrowing VMOVNB/VMOVNT.
 *  - DSP (TP_USE_DSP, depth multiplier 1, channels % 4 == 0, <= 25 taps): depthwise_dsp_pairs,
 *    kernel taps paired for SMLAD (see there); other shapes: 4 channels per word, SXTAB16 adds
 *    the input offset while it sign-extends, SMLABB/SMLATT accumulate, clipped windows.
 *  Every variant rounds output channels >= upward_channels ties-away, like LiteRT (README).
 *  - portable C99 (and any depth multiplier).
 */
#include "depthwise_conv_s8.h"

static void depthwise_portable(const tp_depthwise_conv_params_t *p, const int8_t *input,
                               const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                               const int32_t *shift, int8_t *output) {
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->input_c;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            const int32_t in_y0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                const int32_t in_x0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->output_c; ++oc) {
                    const int32_t ic = oc / p->depth_multiplier;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < p->filter_h; ++ky) {
                        const int32_t iy = in_y0 + ky * p->dilation_h;
                        if (iy < 0 || iy >= p->input_h) {
                            continue;
                        }
                        for (int32_t kx = 0; kx < p->filter_w; ++kx) {
                            const int32_t ix = in_x0 + kx * p->dilation_w;
                            if (ix < 0 || ix >= p->input_w) {
                                continue;
                            }
                            const int32_t x = in_b[(iy * p->input_w + ix) * p->input_c + ic];
                            const int32_t w = filter[(ky * p->filter_w + kx) * p->output_c + oc];
                            acc += (x + p->input_offset) * w;
                        }
                    }
                    acc += bias[oc];
                    *output++ = tp_requantize_either(acc, multiplier[oc], shift[oc], p->output_offset,
                                                     p->act_min, p->act_max, oc < p->upward_channels);
                }
            }
        }
    }
}

#if defined(TP_USE_MVE) || defined(TP_USE_DSP)

/* The filter taps [k0, k1) of one axis whose input coordinate o + k * dilation is inside [0, n). */
static void clip(int32_t o, int32_t taps, int32_t dilation, int32_t n, int32_t *k0, int32_t *k1) {
    int32_t lo = 0, hi = taps;
    while (lo < hi && o + lo * dilation < 0) {
        ++lo;
    }
    while (hi > lo && o + (hi - 1) * dilation >= n) {
        --hi;
    }
    *k0 = lo;
    *k1 = hi;
}

#if defined(TP_USE_DSP) && !defined(TP_USE_MVE)
#define TP_DW_MAX_TAPS 25

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
static void depthwise_dsp_pairs(const tp_depthwise_conv_params_t *p, const int8_t *input,
                                   const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                   const int32_t *shift, int8_t *output) {
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
            int32_t wq[(TP_DW_MAX_TAPS / 2) * 4 + 2];
            tp_dw_rq_t rq[4];
            uint32_t bf[4];
            for (int32_t j = 0; j < 4; ++j) {
                int32_t wsum = 0;
                for (int32_t t = 0; t < taps; ++t) {
                    wsum += filter[t * ch + c + j];
                }
                bf[j] = (uint32_t)bias[c + j] + (uint32_t)p->input_offset * (uint32_t)wsum;
            }
            for (int32_t i = 0; i < pairs; ++i) {
                const int8_t *w0 = filter + 2 * i * ch + c, *w1 = w0 + ch;
                for (int32_t j = 0; j < 4; ++j) {
                    wq[4 * i + j] = (int32_t)((uint32_t)(uint16_t)(int16_t)w0[j] | ((uint32_t)(uint16_t)(int16_t)w1[j] << 16));
                }
            }
            if (taps & 1) {
                const int8_t *w = filter + (taps - 1) * ch + c;
                wq[4 * pairs] = (int32_t)((uint32_t)(uint16_t)(int16_t)w[0] | ((uint32_t)(uint16_t)(int16_t)w[2] << 16));
                wq[4 * pairs + 1] = (int32_t)((uint32_t)(uint16_t)(int16_t)w[1] | ((uint32_t)(uint16_t)(int16_t)w[3] << 16));
            }
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
                            int32_t a0 = (int32_t)bf[0], a1 = (int32_t)bf[1], a2 = (int32_t)bf[2], a3 = (int32_t)bf[3];
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
                    int32_t a0 = (int32_t)bf[0], a1 = (int32_t)bf[1], a2 = (int32_t)bf[2], a3 = (int32_t)bf[3];
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


/* The planar path's geometry. A plane holds one channel's zero-point-padded input as lines
 * of `pitch` bytes: image rows (row-major) or, when the output is taller than wide, image columns
 * (column-major, the filter transposed with it), so that the inner loop runs along the longer
 * axis. u: along a line, v: across lines. */
typedef struct {
    int32_t pitch, n_u, n_v; /* line length (bytes), outputs along a line, lines of outputs */
    int32_t out_u, out_v; /* output steps (bytes) of one u / v */
    int transposed;
} tp_dw3_geometry_t;

/* Per-channel constants: the 9 taps as int16 pairs for SMLAD / SMLAxy, the bias with the input
 * offset folded in, and the requantization. Taps indexed (v, u): w[v][u] = filter[ky][kx], or
 * filter[kx][ky] transposed. */
typedef struct {
    int32_t w02[3];   /* line v: (w[v][0], w[v][2]) */
    int32_t w1_01;    /* (w[0][1], w[1][1]) */
    int32_t w1_2;     /* (w[2][1], 0) */
    int32_t bias;     /* bias + input_offset * sum(w) (mod 2^32, like TFLite's int32 sum) */
    int32_t mult, round, shift; /* fast path: round = 2^(r-1) + output_offset * 2^r, shift = r */
    int fast;
} tp_dw3_channel_t;

TP_INLINE int32_t dw3_pair(int32_t lo, int32_t hi) {
    return (int32_t)((uint32_t)(uint16_t)(int16_t)lo | ((uint32_t)(uint16_t)(int16_t)hi << 16));
}

/* The fast requantization (tp_smmlar): weights and bias doubled, so the accumulator is 2 * acc;
 * one SMMLAR + ASR + SSAT per output. Needs 1 <= r <= 22, |acc| < 2^30 (checked per channel from
 * the bias and the taps' bound) and ties upward (not TP_TFLM_ROUNDING). */
static tp_dw3_channel_t dw3_channel(const tp_depthwise_conv_params_t *p, const tp_dw3_geometry_t *g,
                                    const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                    const int32_t *shift, int32_t c) {
    const int32_t ch = p->output_c;
    int32_t w[3][3], wsum = 0, wabs = 0;
    for (int32_t ky = 0; ky < 3; ++ky) {
        for (int32_t kx = 0; kx < 3; ++kx) {
            const int32_t v = filter[(ky * 3 + kx) * ch + c];
            w[g->transposed ? kx : ky][g->transposed ? ky : kx] = v;
            wsum += v;
            wabs += v < 0 ? -v : v;
        }
    }
    tp_dw3_channel_t k;
    const int32_t r = -shift[c];
    const int64_t bound = (int64_t)(bias[c] < 0 ? -(int64_t)bias[c] : bias[c]) + (int64_t)wabs * 256;
#if defined(TP_TFLM_ROUNDING)
    k.fast = 0;
#else
    k.fast = c < p->upward_channels && r >= 1 && r <= 22 && bound < ((int64_t)1 << 30);
#endif
    const int32_t d = k.fast ? 2 : 1;
    for (int32_t v = 0; v < 3; ++v) {
        k.w02[v] = dw3_pair(d * w[v][0], d * w[v][2]);
    }
    k.w1_01 = dw3_pair(d * w[0][1], d * w[1][1]);
    k.w1_2 = dw3_pair(d * w[2][1], 0);
    k.bias = (int32_t)((uint32_t)d * ((uint32_t)bias[c] + (uint32_t)p->input_offset * (uint32_t)wsum));
    k.mult = multiplier[c];
    k.shift = k.fast ? r : shift[c];
    k.round = k.fast ? tp_round_doubled(shift[c], p->output_offset) : 0;
    return k;
}

#define TP_DW3_CHUNK 32 /* outputs per accumulate / requantize pass */

/* One channel's plane -> its outputs, line by line in chunks: first the accumulators (only the taps
 * and the input live in registers), then their requantization (only its constants live). Stride
 * 1: two outputs per step share one word per filter line, (p0 p1 p2 p3): SXTB16 gives (p0, p2)
 * and (p1, p3); output u = SMLAD((p0,p2), (w0,w2)) + p1 * w1, output u + 1 = SMLAD((p1,p3),
 * (w0,w2)) + p2 * w1: 1 LDR + 2 SXTB16 + 4 multiplies per 6 MACs. */
TP_INLINE void dw3_plane(const tp_depthwise_conv_params_t *p, const tp_dw3_geometry_t *g,
                         const tp_dw3_channel_t *k, const int8_t *plane, int8_t *out, int32_t c, int fast,
                         int full_range) {
    const int32_t pw = g->pitch;
    const int32_t w00 = k->w02[0], w10 = k->w02[1], w20 = k->w02[2], w1a = k->w1_01, w1b = k->w1_2;
    const int32_t bias = k->bias;
    int32_t acc[TP_DW3_CHUNK];
    for (int32_t v = 0; v < g->n_v; ++v, plane += pw, out += g->out_v) {
        for (int32_t u0 = 0; u0 < g->n_u; u0 += TP_DW3_CHUNK) {
            const int32_t n = tp_min(TP_DW3_CHUNK, g->n_u - u0);
            const int8_t *x = plane + u0;
            int32_t *a_out = acc;
            int32_t *const a_end = acc + n;
            for (; a_out < a_end; a_out += 2, x += 2) { /* an odd n computes one spare output */
                const int32_t r0 = tp_load32(x), r1 = tp_load32(x + pw), r2 = tp_load32(x + 2 * pw);
                const int32_t e0 = __sxtb16(r0), o0 = tp_sxtb16_ror8(r0);
                int32_t a = __smlad(e0, w00, bias), b = __smlad(o0, w00, bias);
                a = __smlabb(o0, w1a, a);
                b = __smlatb(e0, w1a, b);
                const int32_t e1 = __sxtb16(r1), o1 = tp_sxtb16_ror8(r1);
                a = __smlad(e1, w10, a);
                b = __smlad(o1, w10, b);
                a = __smlabt(o1, w1a, a);
                b = __smlatt(e1, w1a, b);
                const int32_t e2 = __sxtb16(r2), o2 = tp_sxtb16_ror8(r2);
                a = __smlad(e2, w20, a);
                b = __smlad(o2, w20, b);
                a_out[0] = __smlabb(o2, w1b, a);
                a_out[1] = __smlatb(e2, w1b, b);
            }
            const int32_t step = g->out_u;
            int8_t *o = out + u0 * step;
            if (fast && full_range) {
                const int32_t m = k->mult, rnd = k->round, r = k->shift;
                for (const int32_t *a = acc; a < a_end; ++a, o += step) {
                    *o = (int8_t)tp_requantize_doubled(*a, m, rnd, r);
                }
            } else {
                for (const int32_t *a = acc; a < a_end; ++a, o += step) {
                    if (fast) {
                        *o = (int8_t)tp_clamp(tp_requantize_doubled(*a, k->mult, k->round, k->shift), p->act_min,
                                              p->act_max);
                    } else {
                        *o = tp_requantize_either(*a, k->mult, k->shift, p->output_offset, p->act_min, p->act_max,
                                                  c < p->upward_channels);
                    }
                }
            }
        }
    }
}

/* DSP depthwise 3x3, stride 1, no dilation, depth multiplier 1, channels % 4 == 0: planar.
 * Per group of 4 channels the input is transposed into 4 zero-point-padded planes in scratch
 * (one LDR + 4 STRB per pixel; the padding is written once), then each plane is convolved with
 * its 9 taps held in 5 registers (dw3_plane): no bounds checks, no per-pixel weight loads. */
static void depthwise_dsp_3x3(const tp_depthwise_conv_params_t *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              int8_t *output, int8_t *scratch) {
    const int32_t ch = p->input_c, iw = p->input_w, ih = p->input_h, ow = p->output_w, oh = p->output_h;
    const int32_t pw = TP_DW3_PLANE_W(ow), ph = TP_DW3_PLANE_H(oh);
    const int32_t plane = pw * ph;
    tp_dw3_geometry_t g;
    g.transposed = oh > ow;
    if (g.transposed) { /* lines are image columns */
        g = (tp_dw3_geometry_t){ph, oh, ow, ow * ch, ch, 1};
    } else {
        g = (tp_dw3_geometry_t){pw, ow, oh, ch, ow * ch, 0};
    }
    const int32_t step_x = g.transposed ? ph : 1, step_y = g.transposed ? 1 : pw; /* plane steps of x, y */
    const int full_range = p->act_min == TP_INT8_MIN && p->act_max == TP_INT8_MAX;
    /* input columns / rows no output reads are not copied */
    const int32_t cols = tp_min(iw, pw - p->pad_left), rows = tp_min(ih, ph - p->pad_top);
    memset(scratch, (int8_t)(-p->input_offset), (size_t)(4 * plane));
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * ih * iw * ch;
        int8_t *out_b = output + b * oh * ow * ch;
        for (int32_t c = 0; c < ch; c += 4) {
            for (int32_t iy = 0; iy < rows; ++iy) {
                int8_t *d = scratch + (iy + p->pad_top) * step_y + p->pad_left * step_x;
                const int8_t *s = in_b + iy * iw * ch + c;
                for (int32_t ix = 0; ix < cols; ++ix, s += ch, d += step_x) {
                    const uint32_t v = (uint32_t)tp_load32(s);
                    d[0] = (int8_t)v;
                    d[plane] = (int8_t)(v >> 8);
                    d[2 * plane] = (int8_t)(v >> 16);
                    d[3 * plane] = (int8_t)(v >> 24);
                }
            }
            for (int32_t j = 0; j < 4; ++j) {
                const tp_dw3_channel_t k = dw3_channel(p, &g, filter, bias, multiplier, shift, c + j);
                const int8_t *pl = scratch + j * plane;
                if (k.fast && full_range) {
                    dw3_plane(p, &g, &k, pl, out_b + c + j, c + j, 1, 1);
                } else {
                    dw3_plane(p, &g, &k, pl, out_b + c + j, c + j, k.fast, 0);
                }
            }
        }
    }
}
#endif

void tp_depthwise_conv_s8(const tp_depthwise_conv_params_t *p, const int8_t *input,
                          const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                          const int32_t *shift, int8_t *output, void *scratch) {
    (void)scratch; /* the planar 3x3 path's (DSP only) */
    if (p->depth_multiplier != 1) {
        depthwise_portable(p, input, filter, bias, multiplier, shift, output);
        return;
    }
#if defined(TP_USE_DSP) && !defined(TP_USE_MVE)
    if (scratch != NULL && TP_DW3_PLANAR(p->filter_h, p->filter_w, p->stride_h, p->stride_w, p->dilation_h,
                                         p->dilation_w, p->depth_multiplier, p->input_c)) {
        depthwise_dsp_3x3(p, input, filter, bias, multiplier, shift, output, (int8_t *)scratch);
        return;
    }
    if (p->depth_multiplier == 1 && p->input_c % 4 == 0 && p->filter_h * p->filter_w <= TP_DW_MAX_TAPS) {
        depthwise_dsp_pairs(p, input, filter, bias, multiplier, shift, output);
        return;
    }
#endif
    const int32_t ch = p->input_c;
    const int32_t row_step = p->dilation_h * p->input_w * ch, col_step = p->dilation_w * ch;
    const int32_t frow_step = p->filter_w * ch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * ch;
        for (int32_t oy = 0; oy < p->output_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            clip(iy0, p->filter_h, p->dilation_h, p->input_h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->output_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                clip(ix0, p->filter_w, p->dilation_w, p->input_w, &kx0, &kx1);
                const int8_t *in0 = in_b + ((iy0 + ky0 * p->dilation_h) * p->input_w + ix0 + kx0 * p->dilation_w) * ch;
                const int8_t *f0 = filter + (ky0 * p->filter_w + kx0) * ch;
                const int32_t rows = ky1 - ky0, cols = kx1 - kx0;
#if defined(TP_USE_MVE)
                const uint32x4_t even = vidupq_n_u32(0, 2), odd = vaddq_n_u32(even, 1);
                for (int32_t c = 0; c < ch; c += 8) {
                    const uint32_t n = (uint32_t)(ch - c);
                    const mve_pred16_t pr = vctp16q(n);
                    const mve_pred16_t pe = vcmphiq_u32(vdupq_n_u32(n), even), po = vcmphiq_u32(vdupq_n_u32(n), odd);
                    int32x4_t ae = vldrwq_gather_shifted_offset_z_s32(bias + c, even, pe);
                    int32x4_t ao = vldrwq_gather_shifted_offset_z_s32(bias + c, odd, po);
                    const int8_t *xr = in0 + c, *wr = f0 + c;
                    for (int32_t r = 0; r < rows; ++r, xr += row_step, wr += frow_step) {
                        const int8_t *x = xr, *w = wr;
                        for (int32_t k = 0; k < cols; ++k, x += col_step, w += ch) {
                            /* (x + offset) * w fits in int16 lanes' operands; products widen to s32 */
                            const int16x8_t xv = vaddq_n_s16(vldrbq_z_s16(x, pr), (int16_t)p->input_offset);
                            const int16x8_t wv = vldrbq_z_s16(w, pr);
                            ae = vaddq_s32(ae, vmullbq_int_s16(xv, wv));
                            ao = vaddq_s32(ao, vmulltq_int_s16(xv, wv));
                        }
                    }
                    const int32x4_t re = tp_requantize_upward_x4(
                        ae, vldrwq_gather_shifted_offset_z_s32(multiplier + c, even, pe),
                        vldrwq_gather_shifted_offset_z_s32(shift + c, even, pe), p->output_offset, p->act_min,
                        p->act_max);
                    const int32x4_t ro = tp_requantize_upward_x4(
                        ao, vldrwq_gather_shifted_offset_z_s32(multiplier + c, odd, po),
                        vldrwq_gather_shifted_offset_z_s32(shift + c, odd, po), p->output_offset, p->act_min,
                        p->act_max);
                    vstrbq_p_s16(output + c, vmovntq_s32(vmovnbq_s32(vdupq_n_s16(0), re), ro), pr);
                    if (c + 8 > p->upward_channels) { /* LiteRT's leftover channels: ties away */
                        int32_t e[4], o[4];
                        vstrwq_s32(e, ae);
                        vstrwq_s32(o, ao);
                        for (int32_t i = 0; i < 8 && c + i < ch; ++i) {
                            if (c + i >= p->upward_channels) {
                                output[c + i] = tp_requantize((i & 1) ? o[i >> 1] : e[i >> 1], multiplier[c + i],
                                                              shift[c + i], p->output_offset, p->act_min,
                                                              p->act_max);
                            }
                        }
                    }
                }
#else
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
#endif
                output += ch;
            }
        }
    }
}

#else /* portable C99 */

void tp_depthwise_conv_s8(const tp_depthwise_conv_params_t *p, const int8_t *input,
                          const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                          const int32_t *shift, int8_t *output, void *scratch) {
    (void)scratch;
    depthwise_portable(p, input, filter, bias, multiplier, shift, output);
}

#endif
