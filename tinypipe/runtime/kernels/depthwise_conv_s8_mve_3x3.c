/*
 * depthwise_conv_s8_mve_3x3.c - DEPTHWISE_CONV_2D, Helium variant for 3x3, stride 1, no dilation,
 * depth multiplier 1, channels % 4 == 0 (TP_DW3_PLANAR): the DSP variant's planar layout (each
 * channel's zero-point-padded input as a plane in scratch, lines along the longer axis), each
 * plane convolved in place as one flat run, 4 outputs of one channel per vector: 9 VLDRB.S32 +
 * 9 VMLA.S32 by the taps as scalars (in two passes), one requantization with the channel's scalar
 * multiplier and shift, one VSTRB.32; the output planes gathered back into the channels' places.
 * Stride 2 (TP_DW3_PLANAR_S2) the same way on planes split by input row and column parity.
 */
#include "depthwise_conv_s8_planar.h"

#if defined(TP_USE_MVE)

/* One channel's constants: the 9 taps in plane order (w[v * 3 + u]), the bias with the input
 * offset folded in (the planes hold the raw input, their padding -input_offset), the
 * requantization, and whether its ties round upward (LiteRT's vector rule) or away (its scalar
 * rule, the output_c % 8 leftover channels). */
typedef struct {
    int32_t w[9];
    int32_t bias, multiplier, left, right; /* left = max(shift, 0), right = min(shift, 0) */
    int upward;
} tp_dw3_mve_channel_t;

#define TP_DW3_MVE_CHUNK 192 /* plane positions per pass (a multiple of 4; 768 B of stack) */

/* The bias plus the first two rows of the window at plane positions [0, n) (rounded up to 4; x: the
 * first position; tap: the window's 9 plane offsets, plane order): 6 VLDRB.S32 + 6 VMLA.S32 per 4
 * positions. The window is summed in two passes so that each keeps its taps in registers (with all
 * 9 taps at once GCC spills taps and pointers). */
TP_INLINE void rows01(const tp_dw3_mve_channel_t *k, const int8_t *x, const int32_t *tap, int32_t *acc, int32_t n) {
    const int32_t w0 = k->w[0], w1 = k->w[1], w2 = k->w[2], w3 = k->w[3], w4 = k->w[4], w5 = k->w[5];
    const int32_t t0 = tap[0], t1 = tap[1], t2 = tap[2], t3 = tap[3], t4 = tap[4], t5 = tap[5];
    const int32x4_t bias = vdupq_n_s32(k->bias);
    for (int32_t *const end = acc + n; acc < end; acc += 4, x += 4) {
        int32x4_t a = vmlaq_n_s32(bias, vldrbq_s32(x + t0), w0);
        a = vmlaq_n_s32(a, vldrbq_s32(x + t1), w1);
        a = vmlaq_n_s32(a, vldrbq_s32(x + t2), w2);
        a = vmlaq_n_s32(a, vldrbq_s32(x + t3), w3);
        a = vmlaq_n_s32(a, vldrbq_s32(x + t4), w4);
        vstrwq_s32(acc, vmlaq_n_s32(a, vldrbq_s32(x + t5), w5));
    }
}

/* The third row (x: the position) added to 4 sums of rows01. */
TP_INLINE int32x4_t row2(const int32_t *acc, const int8_t *x, const int32_t *tap, const tp_dw3_mve_channel_t *k) {
    int32x4_t a = vmlaq_n_s32(vldrwq_s32(acc), vldrbq_s32(x + tap[6]), k->w[6]);
    a = vmlaq_n_s32(a, vldrbq_s32(x + tap[7]), k->w[7]);
    return vmlaq_n_s32(a, vldrbq_s32(x + tap[8]), k->w[8]);
}

/* One channel's plane convolved in C over n flat positions, the window's taps at plane offsets
 * tap[0..8] from each position, each output written over its position, which no later window
 * reads (plane3x3 and plane3x3_s2 for the channels not rounded upward, and every channel of
 * TP_TFLM_ROUNDING and unoptimized builds): requantized output by output, or in unoptimized builds
 * 4 at a time for upward channels (tp_requantize_upward_x4 with the channel's scalars). */
TP_INLINE void plane3x3_c(const tp_dw3_mve_channel_t *k, int8_t *plane, const int32_t *tap, int32_t n,
                       int32_t output_offset, int32_t act_min, int32_t act_max) {
    int32_t acc[TP_DW3_MVE_CHUNK] __attribute__((aligned(16)));
    const tp_dw3_mve_channel_t c = *k; /* in registers: the stores below may not change it */
    for (int32_t f0 = 0; f0 < n; f0 += TP_DW3_MVE_CHUNK, plane += TP_DW3_MVE_CHUNK) {
        const int32_t m = tp_min(TP_DW3_MVE_CHUNK, n - f0);
        rows01(&c, plane, tap, acc, m);
#if !defined(TP_TFLM_ROUNDING) && !defined(__OPTIMIZE__) /* unoptimized builds: the assembly in C */
        if (c.upward) {
            const int32x4_t lo = vdupq_n_s32(act_min), hi = vdupq_n_s32(act_max);
            for (int32_t i = 0; i < m; i += 4) {
                int32x4_t q = vshlq_r_s32(row2(acc + i, plane + i, tap, &c), c.left);
                q = vrshlq_n_s32(vqrdmulhq_n_s32(q, c.multiplier), c.right);
                vstrbq_s32(plane + i, vminq_s32(vmaxq_s32(vaddq_n_s32(q, output_offset), lo), hi));
            }
            continue;
        }
#endif
        for (int32_t i = 0; i < m; i += 4) {
            vstrwq_s32(acc + i, row2(acc + i, plane + i, tap, &c));
        }
        for (int32_t i = 0; i < m; ++i) {
            plane[i] = (int8_t)tp_requantize_either(acc[i], c.multiplier, c.left + c.right, output_offset, act_min,
                                                    act_max, c.upward);
        }
    }
}

#if defined(__OPTIMIZE__) && !defined(TP_TFLM_ROUNDING)
/* The two passes of an upward channel in assembly (GCC spent 5 more instructions per 4 positions on
 * pointer copies and increments): the loads at +1 and +2 first, then the one at +0 advances the
 * pointer (VLDRB.S32 takes a low register); a low-overhead loop of `iters` 4-position steps. */

/* The loops of both passes (at stride 1 and 2), around the tap loads LOADS_*, each filling t0..t2
 * with 4 positions of one filter row's 3 taps (advancing the pointers by 4): */
/* rows 0 and 1 from the bias, into acc: 6 VLDRB.S32 + 6 VMLA + VMOV + VSTRW + LE per 4 positions */
#define TP_DW3_ROWS01_ASM(LOADS_0, LOADS_1)      \
    "dls    lr, %[n]\n"                          \
    "1:\n\t"                                     \
    LOADS_0                                      \
    "vmov   %q[a], %q[bias]\n\t"                 \
    "vmla.s32 %q[a], %q[t0], %[w0]\n\t"          \
    "vmla.s32 %q[a], %q[t1], %[w1]\n\t"          \
    "vmla.s32 %q[a], %q[t2], %[w2]\n\t"          \
    LOADS_1                                      \
    "vmla.s32 %q[a], %q[t0], %[w3]\n\t"          \
    "vmla.s32 %q[a], %q[t1], %[w4]\n\t"          \
    "vmla.s32 %q[a], %q[t2], %[w5]\n\t"          \
    "vstrw.32 %q[a], [%[acc]], #16\n\t"          \
    "le     lr, 1b"
#define TP_DW3_ROWS01_INPUTS(k)                                                                         \
    [n] "r"(iters), [bias] "w"(vdupq_n_s32((k)->bias)), [w0] "r"((k)->w[0]), [w1] "r"((k)->w[1]),      \
        [w2] "r"((k)->w[2]), [w3] "r"((k)->w[3]), [w4] "r"((k)->w[4]), [w5] "r"((k)->w[5])
/* row 2 added to acc, requantized (tp_requantize_upward_x4 with the channel's scalars) and stored at
 * out: 3 VLDRB.S32 + VLDRW + 3 VMLA + VSHL + VQRDMULH + VRSHL + VADD + VMAX + VMIN + VSTRB.32 + LE */
#define TP_DW3_ROW2_ASM(LOADS_2)                 \
    "dls    lr, %[n]\n"                          \
    "1:\n\t"                                     \
    LOADS_2                                      \
    "vldrw.u32 %q[a], [%[acc]], #16\n\t"         \
    "vmla.s32 %q[a], %q[t0], %[w6]\n\t"          \
    "vmla.s32 %q[a], %q[t1], %[w7]\n\t"          \
    "vmla.s32 %q[a], %q[t2], %[w8]\n\t"          \
    "vshl.s32 %q[a], %[left]\n\t"                \
    "vqrdmulh.s32 %q[a], %q[a], %[mult]\n\t"     \
    "vrshl.s32 %q[a], %[right]\n\t"              \
    "vadd.i32 %q[a], %q[a], %q[zo]\n\t"          \
    "vmax.s32 %q[a], %q[a], %q[lo]\n\t"          \
    "vmin.s32 %q[a], %q[a], %q[hi]\n\t"          \
    "vstrb.32 %q[a], [%[out]], #4\n\t"           \
    "le     lr, 1b"
#define TP_DW3_ROW2_INPUTS(k)                                                                           \
    [n] "r"(iters), [w6] "r"((k)->w[6]), [w7] "r"((k)->w[7]), [w8] "r"((k)->w[8]), [left] "r"((k)->left), \
        [mult] "r"((k)->multiplier), [right] "r"((k)->right), [zo] "w"(zo), [lo] "w"(lo), [hi] "w"(hi)
/* a filter row's taps at +0, +1, +2 of one line (x) at stride 1 */
#define TP_DW3_LOADS_S1(x)                       \
    "vldrb.s32 %q[t1], [%[" x "], #1]\n\t"        \
    "vldrb.s32 %q[t2], [%[" x "], #2]\n\t"        \
    "vldrb.s32 %q[t0], [%[" x "]], #4\n\t"

/* rows01 in assembly. */
TP_INLINE void rows01_asm(const tp_dw3_mve_channel_t *k, const int8_t *line0, const int8_t *line1, int32_t *acc,
                          int32_t iters) {
    register const int8_t *x0 __asm__("r4") = line0, *x1 __asm__("r5") = line1; /* low registers */
    int32x4_t a, t0, t1, t2;
    __asm__ volatile(TP_DW3_ROWS01_ASM(TP_DW3_LOADS_S1("x0"), TP_DW3_LOADS_S1("x1"))
                     : [x0] "+r"(x0), [x1] "+r"(x1), [acc] "+r"(acc), [a] "=&w"(a), [t0] "=&w"(t0),
                       [t1] "=&w"(t1), [t2] "=&w"(t2)
                     : TP_DW3_ROWS01_INPUTS(k)
                     : "lr", "memory");
}

/* The third row added to rows01's sums, requantized and stored over the plane at out. */
TP_INLINE void row2_asm(const tp_dw3_mve_channel_t *k, const int8_t *line2, const int32_t *acc, int8_t *plane,
                        int32_t iters, int32x4_t zo, int32x4_t lo, int32x4_t hi) {
    register const int8_t *x2 __asm__("r4") = line2;
    register int8_t *out __asm__("r5") = plane; /* low registers */
    int32x4_t a, t0, t1, t2;
    __asm__ volatile(TP_DW3_ROW2_ASM(TP_DW3_LOADS_S1("x2"))
                     : [x2] "+r"(x2), [acc] "+r"(acc), [out] "+r"(out), [a] "=&w"(a), [t0] "=&w"(t0),
                       [t1] "=&w"(t1), [t2] "=&w"(t2)
                     : TP_DW3_ROW2_INPUTS(k)
                     : "lr", "memory");
}

/* plane3x3 for an upward channel: both passes per chunk in assembly (a function of its own: inlined
 * into plane3x3, GCC finds no registers for the operands). */
static void __attribute__((noinline)) plane3x3_upward(const tp_dw3_mve_channel_t *k, int8_t *plane, int32_t pitch,
                                                      int32_t n, int32_t output_offset, int32_t act_min,
                                                      int32_t act_max) {
    int32_t acc[TP_DW3_MVE_CHUNK];
    const int32x4_t zo = vdupq_n_s32(output_offset), lo = vdupq_n_s32(act_min), hi = vdupq_n_s32(act_max);
    for (int32_t f0 = 0; f0 < n; f0 += TP_DW3_MVE_CHUNK, plane += TP_DW3_MVE_CHUNK) {
        const int32_t iters = (tp_min(TP_DW3_MVE_CHUNK, n - f0) + 3) >> 2;
        rows01_asm(k, plane, plane + pitch, acc, iters);
        row2_asm(k, plane + 2 * pitch, acc, plane, iters, zo, lo, hi);
    }
}
#endif

/* One channel's plane convolved in place: the output of the window at position f (lines of `pitch`
 * bytes, f = v * pitch + u) replaces the input byte at f, which no later window reads. Positions
 * [0, n) are computed, the 2 past each line's last output included (their bytes are never read
 * again): one flat loop per plane instead of one per line. Upward channels: the requantization of
 * tp_requantize_upward_x4 with the channel's scalar multiplier and shift (VSHL, VQRDMULH, VRSHL by
 * registers), 4 outputs per VSTRB.32, in assembly; the others (and TP_TFLM_ROUNDING builds) in C. */
static void __attribute__((noinline)) plane3x3(const tp_dw3_mve_channel_t *k, int8_t *plane, int32_t pitch,
                                               int32_t n, int32_t output_offset, int32_t act_min, int32_t act_max) {
#if defined(__OPTIMIZE__) && !defined(TP_TFLM_ROUNDING)
    if (k->upward) {
        plane3x3_upward(k, plane, pitch, n, output_offset, act_min, act_max);
        return;
    }
#endif
    const int32_t tap[9] = {0, 1, 2, pitch, pitch + 1, pitch + 2, 2 * pitch, 2 * pitch + 1, 2 * pitch + 2};
    plane3x3_c(k, plane, tap, n, output_offset, act_min, act_max);
}

/* The constants of channels c..c+3 (k[0..3]), 4 lanes at a time: each tap's 4 channels by one
 * VLDRB.S32 and one VSTRW.32 scatter into the 4 structs, in plane order (transposed with the plane). */
TP_INLINE void channels4(const tp_depthwise_conv_params_t *p, const tp_dw3_geometry_t *g, const int8_t *filter,
                         const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int32_t c,
                         tp_dw3_mve_channel_t k[4]) {
    const uint32x4_t structs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)sizeof(tp_dw3_mve_channel_t));
    const int32x4_t zero = vdupq_n_s32(0);
    int32x4_t wsum = zero;
    for (int32_t ky = 0; ky < 3; ++ky) {
        for (int32_t kx = 0; kx < 3; ++kx) {
            const int32x4_t w = vldrbq_s32(filter + (ky * 3 + kx) * p->output_c + c);
            vstrwq_scatter_offset_s32(&k[0].w[g->transposed ? kx * 3 + ky : ky * 3 + kx], structs, w);
            wsum = vaddq_s32(wsum, w);
        }
    }
    /* bias + input_offset * sum(w), mod 2^32 like TFLite's int32 sum */
    vstrwq_scatter_offset_s32(&k[0].bias, structs, vmlaq_n_s32(vldrwq_s32(bias + c), wsum, p->input_offset));
    vstrwq_scatter_offset_s32(&k[0].multiplier, structs, vldrwq_s32(multiplier + c));
    const int32x4_t sh = vldrwq_s32(shift + c);
    vstrwq_scatter_offset_s32(&k[0].left, structs, vmaxq_s32(sh, zero));
    vstrwq_scatter_offset_s32(&k[0].right, structs, vminq_s32(sh, zero));
    for (int32_t j = 0; j < 4; ++j) {
        k[j].upward = c + j < p->upward_channels;
    }
}

/* Fill `bytes` bytes with `value`, 16 per VSTRB.8 (the last store predicated). */
TP_INLINE void fill(int8_t *d, int8_t value, int32_t bytes) {
    const int8x16_t v = vdupq_n_s8(value);
    int8_t *const end = d + (bytes & ~15);
    for (; d < end; d += 16) {
        vstrbq_s8(d, v);
    }
    vstrbq_p_s8(d, v, vctp8q((uint32_t)(bytes & 15)));
}

/* The 16-bit offsets of two pixels' 4 channels: lane j (0..3) at j * scale, lane 4 + j one `step`
 * on (the second pixel). */
TP_INLINE uint16x8_t pair_offsets(int32_t scale, int32_t step) {
    const uint16x8_t lane = vmulq_n_u16(vandq_u16(vidupq_n_u16(0, 1), vdupq_n_u16(3)), (uint16_t)scale);
    return vaddq_m_n_u16(lane, lane, (uint16_t)step, (mve_pred16_t)~vctp16q(4));
}

/* The 4 output planes (n_v lines of n_u outputs from planes, `pitch` apart; `plane` bytes each)
 * gathered back into channels 0..3 of out (steps out_u along a line, out_v across): two outputs per
 * VLDRB.S16 gather and VSTRB.16 scatter along the line where `pairs`, else (and an odd last one) a
 * VLDRB.S32 gather and a VSTRB.32. */
static void __attribute__((noinline)) planes_to_channels(const int8_t *planes, int32_t plane, int32_t pitch,
                                                         int32_t n_u, int32_t n_v, int8_t *out, int32_t out_u,
                                                         int32_t out_v, int pairs) {
    const uint32x4_t from_planes = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)plane);
    const uint16x8_t from_pair = pair_offsets(plane, 1), out_pair = pair_offsets(1, out_u);
    const int32_t n_u2 = pairs ? n_u & ~1 : 0;
    for (int32_t v = 0; v < n_v; ++v) {
        const int8_t *s = planes + v * pitch;
        int8_t *o = out + v * out_v;
        int32_t u = 0;
        for (; u < n_u2; u += 2, s += 2, o += 2 * out_u) {
            vstrbq_scatter_offset_s16(o, out_pair, vldrbq_gather_offset_s16(s, from_pair));
        }
        for (; u < n_u; ++u, ++s, o += out_u) {
            vstrbq_s32(o, vldrbq_gather_offset_s32(s, from_planes));
        }
    }
}

/* Stride 2: a channel's padded input split by row and column parity into 4 sub-planes of lines of
 * q = output_w + 1 bytes (TP_DW3_S2_PITCH): even rows' even columns (ee), even rows' odd columns
 * (eo), odd rows' even (oe) and odd (oo) columns. Output (v, u) at flat position f = v * q + u then
 * reads ee[f], eo[f], ee[f + 1] (filter row 0), oe[f], oo[f], oe[f + 1] (row 1), ee[f + q],
 * eo[f + q], ee[f + q + 1] (row 2): 4 outputs per VLDRB.S32 from fixed offsets, one flat run over
 * the outputs as at stride 1 (1 position past each line computed and never read), the output
 * written over ee[f], which no later window reads. */
typedef struct {
    int32_t q, eo, oe, oo; /* line bytes; the sub-planes' offsets from ee (the plane's start) */
} tp_dw3_s2_planes_t;

TP_INLINE tp_dw3_s2_planes_t s2_planes(int32_t ow, int32_t oh) {
    const int32_t q = TP_DW3_S2_PITCH(ow), even = (oh + 1) * q;
    return (tp_dw3_s2_planes_t){q, even, 2 * even, 2 * even + oh * q};
}

/* Where padded input (yp, xp) goes in a plane. */
TP_INLINE int32_t s2_at(const tp_dw3_s2_planes_t *sp, int32_t yp, int32_t xp) {
    const int32_t base = (yp & 1) ? ((xp & 1) ? sp->oo : sp->oe) : ((xp & 1) ? sp->eo : 0);
    return base + (yp >> 1) * sp->q + (xp >> 1);
}

#if defined(__OPTIMIZE__) && !defined(TP_TFLM_ROUNDING)
/* A filter row's taps at stride 2: e[+0], o[+0], e[+1] of its even- and odd-column sub-planes. */
#define TP_DW3_LOADS_S2(e, o)                    \
    "vldrb.s32 %q[t2], [%[" e "], #1]\n\t"        \
    "vldrb.s32 %q[t0], [%[" e "]], #4\n\t"        \
    "vldrb.s32 %q[t1], [%[" o "]], #4\n\t"

/* rows01_asm and row2_asm at stride 2, from the sub-planes at the chunk's first position. Functions
 * of their own: inlined, their 12 registers are not to be found. */
static void __attribute__((noinline)) rows01_s2_asm(const tp_dw3_mve_channel_t *k, const int8_t *ee_,
                                                    const int8_t *eo_, const int8_t *oe_, const int8_t *oo_,
                                                    int32_t *acc, int32_t iters) {
    register const int8_t *ee __asm__("r4") = ee_, *eo __asm__("r5") = eo_; /* low registers */
    register const int8_t *oe __asm__("r6") = oe_, *oo __asm__("r7") = oo_;
    int32x4_t a, t0, t1, t2;
    __asm__ volatile(TP_DW3_ROWS01_ASM(TP_DW3_LOADS_S2("ee", "eo"), TP_DW3_LOADS_S2("oe", "oo"))
                     : [ee] "+r"(ee), [eo] "+r"(eo), [oe] "+r"(oe), [oo] "+r"(oo), [acc] "+r"(acc), [a] "=&w"(a),
                       [t0] "=&w"(t0), [t1] "=&w"(t1), [t2] "=&w"(t2)
                     : TP_DW3_ROWS01_INPUTS(k)
                     : "lr", "memory");
}

static void __attribute__((noinline)) row2_s2_asm(const tp_dw3_mve_channel_t *k, const int8_t *ee_, const int8_t *eo_,
                                                  const int32_t *acc, int8_t *plane, int32_t iters, int32x4_t zo,
                                                  int32x4_t lo, int32x4_t hi) {
    register const int8_t *ee __asm__("r4") = ee_, *eo __asm__("r5") = eo_;
    register int8_t *out __asm__("r6") = plane; /* low registers */
    int32x4_t a, t0, t1, t2;
    __asm__ volatile(TP_DW3_ROW2_ASM(TP_DW3_LOADS_S2("ee", "eo"))
                     : [ee] "+r"(ee), [eo] "+r"(eo), [acc] "+r"(acc), [out] "+r"(out), [a] "=&w"(a),
                       [t0] "=&w"(t0), [t1] "=&w"(t1), [t2] "=&w"(t2)
                     : TP_DW3_ROW2_INPUTS(k)
                     : "lr", "memory");
}

/* plane3x3_s2 for an upward channel, both passes per chunk in assembly (apart, as plane3x3_upward). */
static void __attribute__((noinline)) plane3x3_s2_upward(const tp_dw3_mve_channel_t *k, const tp_dw3_s2_planes_t *sp,
                                                         int8_t *plane, int32_t n, int32_t output_offset,
                                                         int32_t act_min, int32_t act_max) {
    int32_t acc[TP_DW3_MVE_CHUNK];
    const int32x4_t zo = vdupq_n_s32(output_offset), lo = vdupq_n_s32(act_min), hi = vdupq_n_s32(act_max);
    for (int32_t f0 = 0; f0 < n; f0 += TP_DW3_MVE_CHUNK, plane += TP_DW3_MVE_CHUNK) {
        const int32_t iters = (tp_min(TP_DW3_MVE_CHUNK, n - f0) + 3) >> 2;
        rows01_s2_asm(k, plane, plane + sp->eo, plane + sp->oe, plane + sp->oo, acc, iters);
        row2_s2_asm(k, plane + sp->q, plane + sp->eo + sp->q, acc, plane, iters, zo, lo, hi);
    }
}
#endif

/* One channel's sub-planes convolved at stride 2, n flat positions (as plane3x3): upward channels
 * in assembly, the others (and TP_TFLM_ROUNDING builds) in C. */
static void __attribute__((noinline)) plane3x3_s2(const tp_dw3_mve_channel_t *k, const tp_dw3_s2_planes_t *sp,
                                                  int8_t *plane, int32_t n, int32_t output_offset,
                                                  int32_t act_min, int32_t act_max) {
#if defined(__OPTIMIZE__) && !defined(TP_TFLM_ROUNDING)
    if (k->upward) {
        plane3x3_s2_upward(k, sp, plane, n, output_offset, act_min, act_max);
        return;
    }
#endif
    const int32_t q = sp->q;
    const int32_t tap[9] = {0, sp->eo, 1, sp->oe, sp->oo, sp->oe + 1, q, sp->eo + q, q + 1};
    plane3x3_c(k, plane, tap, n, output_offset, act_min, act_max);
}

/* Helium depthwise 3x3, stride 2 (TP_DW3_PLANAR_S2): as stride 1 below, on the 4 sub-planes
 * (plane3x3_s2); a pair of input pixels (even column, odd column) per VLDRB.S16 gather and VSTRB.16
 * scatter (ee / eo or oe / oo), a VLDRB.S32 + VSTRB.32 scatter for a single one. */
void tp_depthwise_conv_s8_mve_3x3_s2(const tp_depthwise_conv_params_t *p, const int8_t *input,
                                     const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                     const int32_t *shift, int8_t *output, void *scratch) {
    int8_t *const planes = (int8_t *)scratch;
    const int32_t ch = p->input_c, iw = p->input_w, ih = p->input_h, ow = p->output_w, oh = p->output_h;
    const tp_dw3_s2_planes_t sp = s2_planes(ow, oh);
    const int32_t plane = TP_DW3_S2_PITCH(ow) * TP_DW3_S2_LINES(oh);
    const tp_dw3_geometry_t g = {sp.q, ow, oh, ch, ow * ch, 0};
    const int32_t positions = (oh - 1) * sp.q + ow; /* through the last output */
    /* the input columns and rows an output reads; an odd first padded column alone, then pairs */
    const int32_t cols = tp_min(iw, 2 * ow + 1 - p->pad_left), rows = tp_min(ih, 2 * oh + 1 - p->pad_top);
    const int32_t first = p->pad_left & 1, pairs_end = first + (cols - first) / 2 * 2;
    const uint32x4_t to_planes = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)plane);
    const uint16x8_t in_pair = pair_offsets(1, ch);
    const uint16x8_t to_even_pair = pair_offsets(plane, sp.eo), to_odd_pair = pair_offsets(plane, sp.oo - sp.oe);
    tp_dw3_mve_channel_t k[4];
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * ih * iw * ch;
        int8_t *out_b = output + b * oh * ow * ch;
        for (int32_t c = 0; c < ch; c += 4) {
            fill(planes, (int8_t)(-p->input_offset), 4 * plane);
            for (int32_t y = 0; y < rows; ++y) {
                const int32_t yp = y + p->pad_top;
                const uint16x8_t to_pair = (yp & 1) ? to_odd_pair : to_even_pair;
                const int8_t *s = in_b + y * iw * ch + c;
                if (first) {
                    vstrbq_scatter_offset_s32(planes + s2_at(&sp, yp, p->pad_left), to_planes, vldrbq_s32(s));
                    s += ch;
                }
                int8_t *d = planes + s2_at(&sp, yp, first + p->pad_left);
                for (int32_t x = first; x < pairs_end; x += 2, s += 2 * ch, ++d) {
                    vstrbq_scatter_offset_s16(d, to_pair, vldrbq_gather_offset_s16(s, in_pair));
                }
                if (pairs_end < cols) {
                    vstrbq_scatter_offset_s32(planes + s2_at(&sp, yp, pairs_end + p->pad_left), to_planes,
                                              vldrbq_s32(in_b + (y * iw + pairs_end) * ch + c));
                }
            }
            channels4(p, &g, filter, bias, multiplier, shift, c, k);
            for (int32_t j = 0; j < 4; ++j) {
                plane3x3_s2(&k[j], &sp, planes + j * plane, positions, p->output_offset, p->act_min, p->act_max);
            }
            planes_to_channels(planes, plane, sp.q, ow, oh, out_b + c, ch, ow * ch, 1);
        }
    }
}

/* Helium depthwise 3x3, stride 1, no dilation, depth multiplier 1, channels % 4 == 0. Per group of
 * 4 channels: the planes are padded and the input scattered into them, each plane is convolved in
 * place (plane3x3), and the 4 output planes are gathered back into the channels' places; two
 * pixels per VLDRB.S16 gather and VSTRB.16 scatter where the 4 planes span at most 64 KiB, else
 * one (a VLDRB.S32 of the pixel's 4 channels, a VSTRB.32 scatter to the 4 planes). */
void tp_depthwise_conv_s8_mve_3x3(const tp_depthwise_conv_params_t *p, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                  const int32_t *shift, int8_t *output, void *scratch) {
    int8_t *const planes = (int8_t *)scratch;
    const int32_t ch = p->input_c, iw = p->input_w, ih = p->input_h, ow = p->output_w, oh = p->output_h;
    const int32_t pw = TP_DW3_PLANE_W(ow), ph = TP_DW3_PLANE_H(oh), plane = pw * ph;
    tp_dw3_geometry_t g;
    TP_DW3_GEOMETRY(g, ch, ow, oh, pw, ph);
    /* the input along the planes' lines (u) and across them (v): steps, and the pixels no output
     * reads left out */
    const int32_t cols = tp_min(iw, pw - p->pad_left), rows = tp_min(ih, ph - p->pad_top);
    const int32_t in_u = g.transposed ? iw * ch : ch, in_v = g.transposed ? ch : iw * ch;
    const int32_t len_u = g.transposed ? rows : cols, len_v = g.transposed ? cols : rows;
    const int32_t at0 = g.transposed ? p->pad_left * g.pitch + p->pad_top : p->pad_top * g.pitch + p->pad_left;
    const int32_t positions = (g.n_v - 1) * g.pitch + g.n_u; /* through the last output */
    const uint32x4_t to_planes = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)plane);
    /* pairs of pixels along u where 16-bit offsets reach them and every plane */
    const int pairs = 3 * plane + 1 < 65536 && in_u + 3 < 65536 && g.out_u + 3 < 65536;
    const uint16x8_t in_pair = pair_offsets(1, in_u), plane_pair = pair_offsets(plane, 1);
    const int32_t len_u2 = pairs ? len_u & ~1 : 0;
    tp_dw3_mve_channel_t k[4];
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * ih * iw * ch;
        int8_t *out_b = output + b * oh * ow * ch;
        for (int32_t c = 0; c < ch; c += 4) {
            fill(planes, (int8_t)(-p->input_offset), 4 * plane);
            for (int32_t v = 0; v < len_v; ++v) {
                int8_t *d = planes + at0 + v * g.pitch;
                const int8_t *s = in_b + v * in_v + c;
                int32_t u = 0;
                for (; u < len_u2; u += 2, s += 2 * in_u, d += 2) {
                    vstrbq_scatter_offset_s16(d, plane_pair, vldrbq_gather_offset_s16(s, in_pair));
                }
                for (; u < len_u; ++u, s += in_u, ++d) {
                    vstrbq_scatter_offset_s32(d, to_planes, vldrbq_s32(s));
                }
            }
            channels4(p, &g, filter, bias, multiplier, shift, c, k);
            for (int32_t j = 0; j < 4; ++j) {
                plane3x3(&k[j], planes + j * plane, g.pitch, positions, p->output_offset, p->act_min, p->act_max);
            }
            planes_to_channels(planes, plane, g.pitch, g.n_u, g.n_v, out_b + c, g.out_u, g.out_v, pairs);
        }
    }
}

#endif /* TP_USE_MVE */
