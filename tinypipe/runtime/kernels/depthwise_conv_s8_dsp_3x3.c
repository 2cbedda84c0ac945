/*
 * depthwise_conv_s8_dsp_3x3.c - DEPTHWISE_CONV_2D, DSP-extension variant for 3x3, stride 1, no
 * dilation, depth multiplier 1, channels % 4 == 0 (TP_DW3_PLANAR): planar, in scratch
 * (TP_DW3_SCRATCH_BYTES).
 */
#include "depthwise_conv_s8_planar.h"

#if defined(TP_USE_DSP)

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
    /* tap (v, u) at filter + c + v * step_v + u * step_u */
    const int32_t ch = p->output_c, step_u = g->transposed ? 3 * ch : ch, step_v = g->transposed ? ch : 3 * ch;
    const int8_t *const f = filter + c;
    int32_t w[3][3], wsum = 0, wabs = 0;
    TP_UNROLL(3)
    for (int32_t v = 0; v < 3; ++v) {
        TP_UNROLL(3)
        for (int32_t u = 0; u < 3; ++u) {
            const int32_t t = f[v * step_v + u * step_u];
            w[v][u] = t;
            wsum += t;
            wabs += t < 0 ? -t : t;
        }
    }
    tp_dw3_channel_t k;
    const int32_t r = -shift[c];
#if defined(TP_TFLM_ROUNDING)
    (void)wabs;
    k.fast = 0;
#else
    const int64_t bound = (int64_t)(bias[c] < 0 ? -(int64_t)bias[c] : bias[c]) + (int64_t)wabs * 256;
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

/* Two outputs per step from one word per filter line, (p0 p1 p2 p3): SXTB16 gives (p0, p2) and
 * (p1, p3); output u = SMLAD((p0,p2), (w0,w2)) + p1 * w1, output u + 1 = SMLAD((p1,p3), (w0,w2)) +
 * p2 * w1: 1 LDR + 2 SXTB16 + 4 multiplies per line, until acc reaches `end` (an odd count computes
 * one spare output). Out of line: its assembly takes 14 registers (taps, bias, pointers, pitch).
 * The unrotated SXTB16 comes first, into another register: on the Cortex-M7 the rotated one would
 * wait a cycle on the load just before it (the same cycles on the M4). */
static void __attribute__((noinline)) dw3_accumulate(const int8_t *x, int32_t pw, int32_t *acc, int32_t *end,
                                                     const tp_dw3_channel_t *k) {
    const int32_t w00 = k->w02[0], w10 = k->w02[1], w20 = k->w02[2], w1a = k->w1_01, w1b = k->w1_2;
    const int32_t bias = k->bias;
#if defined(__OPTIMIZE__) /* 24 instructions per 2 outputs; unoptimized builds keep a frame pointer */
    int32_t t, e, a, b;
    __asm__ volatile("1:\n\t"
                     "ldr    %[t], [%[x], %[pw], lsl #1]\n\t" /* line 2 */
                     "sxtb16 %[e], %[t]\n\t"
                     "sxtb16 %[t], %[t], ror #8\n\t"
                     "smlad  %[a], %[e], %[w20], %[bias]\n\t"
                     "smlad  %[b], %[t], %[w20], %[bias]\n\t"
                     "smlabb %[a], %[t], %[w1b], %[a]\n\t"
                     "smlatb %[b], %[e], %[w1b], %[b]\n\t"
                     "ldr    %[t], [%[x], %[pw]]\n\t" /* line 1 */
                     "sxtb16 %[e], %[t]\n\t"
                     "sxtb16 %[t], %[t], ror #8\n\t"
                     "smlad  %[a], %[e], %[w10], %[a]\n\t"
                     "smlad  %[b], %[t], %[w10], %[b]\n\t"
                     "smlabt %[a], %[t], %[w1a], %[a]\n\t"
                     "smlatt %[b], %[e], %[w1a], %[b]\n\t"
                     "ldr    %[t], [%[x]], #2\n\t" /* line 0 */
                     "sxtb16 %[e], %[t]\n\t"
                     "sxtb16 %[t], %[t], ror #8\n\t"
                     "smlad  %[a], %[e], %[w00], %[a]\n\t"
                     "smlad  %[b], %[t], %[w00], %[b]\n\t"
                     "smlabb %[a], %[t], %[w1a], %[a]\n\t"
                     "smlatb %[b], %[e], %[w1a], %[b]\n\t"
                     "strd   %[a], %[b], [%[acc]], #8\n\t"
                     "cmp    %[acc], %[end]\n\t"
                     "blo    1b"
                     : [x] "+r"(x), [acc] "+r"(acc), [t] "=&r"(t), [e] "=&r"(e), [a] "=&r"(a), [b] "=&r"(b)
                     : [pw] "r"(pw), [end] "r"(end), [w00] "r"(w00), [w10] "r"(w10), [w20] "r"(w20),
                       [w1a] "r"(w1a), [w1b] "r"(w1b), [bias] "r"(bias)
                     : "cc", "memory");
#else
    for (; acc < end; acc += 2, x += 2) {
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
        acc[0] = __smlabb(o2, w1b, a);
        acc[1] = __smlatb(e2, w1b, b);
    }
#endif
}

#define TP_DW3_CHUNK 32 /* outputs per accumulate / requantize pass */

/* One channel's plane -> its outputs, line by line in chunks: first the accumulators (only the taps
 * and the input live in registers: dw3_accumulate), then their requantization (only its constants
 * live). */
TP_INLINE void dw3_plane(const tp_depthwise_conv_params_t *p, const tp_dw3_geometry_t *g,
                         const tp_dw3_channel_t *k, const int8_t *plane, int8_t *out, int32_t c, int fast,
                         int full_range) {
    const int32_t pw = g->pitch;
    int32_t acc[TP_DW3_CHUNK];
    for (int32_t v = 0; v < g->n_v; ++v, plane += pw, out += g->out_v) {
        for (int32_t u0 = 0; u0 < g->n_u; u0 += TP_DW3_CHUNK) {
            const int32_t n = tp_min(TP_DW3_CHUNK, g->n_u - u0);
            const int8_t *x = plane + u0;
            int32_t *const a_end = acc + n;
            dw3_accumulate(x, pw, acc, a_end, k);
            const int32_t step = g->out_u;
            int8_t *o = out + u0 * step;
            if (fast && full_range) { /* four outputs per step: two LDRD, no spare output written */
                const int32_t m = k->mult, rnd = k->round, r = k->shift;
                const int32_t *a = acc;
                while (a + 3 < a_end) {
                    int32_t a0, a1, a2, a3;
                    tp_ldrd_inc(&a, &a0, &a1);
                    tp_ldrd_inc(&a, &a2, &a3);
                    o[0] = (int8_t)tp_requantize_doubled(a0, m, rnd, r);
                    o[step] = (int8_t)tp_requantize_doubled(a1, m, rnd, r);
                    o += 2 * step;
                    o[0] = (int8_t)tp_requantize_doubled(a2, m, rnd, r);
                    o[step] = (int8_t)tp_requantize_doubled(a3, m, rnd, r);
                    o += 2 * step;
                }
                if (a + 1 < a_end) {
                    int32_t a0, a1;
                    tp_ldrd_inc(&a, &a0, &a1);
                    o[0] = (int8_t)tp_requantize_doubled(a0, m, rnd, r);
                    o[step] = (int8_t)tp_requantize_doubled(a1, m, rnd, r);
                    o += 2 * step;
                }
                if (a < a_end) {
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
void tp_depthwise_conv_s8_dsp_3x3(const tp_depthwise_conv_params_t *p, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                  const int32_t *shift, int8_t *output, void *scratch) {
    int8_t *const planes = (int8_t *)scratch;
    const int32_t ch = p->input_c, iw = p->input_w, ih = p->input_h, ow = p->output_w, oh = p->output_h;
    const int32_t pw = TP_DW3_PLANE_W(ow), ph = TP_DW3_PLANE_H(oh);
    const int32_t plane = pw * ph;
    tp_dw3_geometry_t g;
    TP_DW3_GEOMETRY(g, ch, ow, oh, pw, ph);
    const int32_t step_x = g.transposed ? ph : 1, step_y = g.transposed ? 1 : pw; /* plane steps of x, y */
    const int full_range = p->act_min == TP_INT8_MIN && p->act_max == TP_INT8_MAX;
    /* input columns / rows no output reads are not copied */
    const int32_t cols = tp_min(iw, pw - p->pad_left), rows = tp_min(ih, ph - p->pad_top);
    memset(planes, (int8_t)(-p->input_offset), (size_t)(4 * plane));
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * ih * iw * ch;
        int8_t *out_b = output + b * oh * ow * ch;
        for (int32_t c = 0; c < ch; c += 4) {
            for (int32_t iy = 0; iy < rows; ++iy) {
                int8_t *d = planes + (iy + p->pad_top) * step_y + p->pad_left * step_x;
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
                const int8_t *pl = planes + j * plane;
                if (k.fast && full_range) {
                    dw3_plane(p, &g, &k, pl, out_b + c + j, c + j, 1, 1);
                } else {
                    dw3_plane(p, &g, &k, pl, out_b + c + j, c + j, k.fast, 0);
                }
            }
        }
    }
}

#endif /* TP_USE_DSP */
