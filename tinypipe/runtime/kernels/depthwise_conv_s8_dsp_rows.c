/*
 * depthwise_conv_s8_dsp_rows.c - DEPTHWISE_CONV_2D, DSP-extension variant for 3x3 filters at
 * stride 1 or 2, no dilation, depth multiplier 1, channels % 4 == 0 (the TP_DW3_PLANAR and
 * TP_DW3_PLANAR_S2 shapes, in their scratch): 4 channels at a time over a ring of the 3 input rows
 * a window reads, zero-point padded in scratch, so that every pixel, border or not, runs the same
 * 9 taps.
 */
#include "depthwise_conv_s8_taps.h"

#include <stddef.h>

#if defined(TP_USE_DSP)

/* Per channel: tp_requantize_doubled's constants. */
typedef struct {
    int32_t mult, round, right;
} tp_dw_rows_rq_t;

/* What the passes of a row (one pixel, 4 channels each) read: the accumulators' start and the 9
 * taps as tp_dw_tap_pairs gives them (4 pairs of 4 words, the last tap's 2), doubled on the
 * SMMLAR path, whose constants and output bounds follow. */
typedef struct {
    int32_t bias[4];       /* +0 */
    int32_t taps[18];      /* +16: pair i at +16 + 16 * i, the last tap at +80 */
    int32_t step;          /* +88: bytes from one pixel's window to the next one's in a ring row */
    tp_dw_rows_rq_t rq[4]; /* +92: channel j's at +92 + 12 * j */
    int32_t out_step;      /* +140: output pixel stride */
    int8_t *out_end;       /* +144: one pixel past the row's last output */
} tp_dw_rows_taps_t;

typedef char tp_dw_rows_layout_check[(offsetof(tp_dw_rows_taps_t, taps) == 16 &&
                                      offsetof(tp_dw_rows_taps_t, step) == 88 &&
                                      offsetof(tp_dw_rows_taps_t, rq) == 92 &&
                                      offsetof(tp_dw_rows_taps_t, out_step) == 140 &&
                                      offsetof(tp_dw_rows_taps_t, out_end) == 144) ? 1 : -1];

#if defined(__OPTIMIZE__) /* the assembly takes 13 registers: no frame pointer */
/* Taps 2i and 2i + 1 from the words at A and B: PKHBT/PKHTB put each channel's two input bytes in
 * one halfword pair, SXTB16 widens them, one SMLAD per channel. */
#define TP_DW_ROWS_PAIR(A, B, OFF)                           \
    "ldr    %[x0], " A "\n\t"                                \
    "ldr    %[x1], " B "\n\t"                                \
    "pkhbt  %[t], %[x0], %[x1], lsl #16\n\t"                 \
    "pkhtb  %[x0], %[x1], %[x0], asr #16\n\t"                \
    "ldrd   %[w0], %[w1], [%[k], #" OFF "]\n\t"              \
    "sxtb16 %[x1], %[t]\n\t"                                 \
    "smlad  %[a0], %[x1], %[w0], %[a0]\n\t"                  \
    "sxtb16 %[x1], %[t], ror #8\n\t"                         \
    "smlad  %[a1], %[x1], %[w1], %[a1]\n\t"                  \
    "ldrd   %[w0], %[w1], [%[k], #" OFF " + 8]\n\t"          \
    "sxtb16 %[x1], %[x0]\n\t"                                \
    "smlad  %[a2], %[x1], %[w0], %[a2]\n\t"                  \
    "sxtb16 %[x1], %[x0], ror #8\n\t"                        \
    "smlad  %[a3], %[x1], %[w1], %[a3]\n\t"

/* One pixel's 4 accumulators (a0..a3) from the window at r0, r1, r2 (its 3 rows in the ring),
 * which then move on by S bytes, the next pixel's window (4 * stride, or 0 where the caller moves
 * them): 9 LDR, each row's first post-indexed, 4 x (2 PKH + 2 LDRD + 4 SXTB16 + 4 SMLAD), the last
 * tap by SMLABB/SMLATT. */
#define TP_DW_ROWS_TAPS_ASM(S)                                              \
    "ldrd   %[a0], %[a1], [%[k]]\n\t"                                       \
    "ldrd   %[a2], %[a3], [%[k], #8]\n\t"                                   \
    TP_DW_ROWS_PAIR("[%[r0]], #" S, "[%[r0], #4 - " S "]", "16")              \
    TP_DW_ROWS_PAIR("[%[r0], #8 - " S "]", "[%[r1]], #" S, "32")              \
    TP_DW_ROWS_PAIR("[%[r1], #4 - " S "]", "[%[r1], #8 - " S "]", "48")       \
    TP_DW_ROWS_PAIR("[%[r2]], #" S, "[%[r2], #4 - " S "]", "64")              \
    "ldr    %[x0], [%[r2], #8 - " S "]\n\t"                                 \
    "ldrd   %[w0], %[w1], [%[k], #80]\n\t"                                  \
    "sxtb16 %[x1], %[x0]\n\t"                                               \
    "smlabb %[a0], %[x1], %[w0], %[a0]\n\t"                                 \
    "smlatt %[a2], %[x1], %[w0], %[a2]\n\t"                                 \
    "sxtb16 %[x1], %[x0], ror #8\n\t"                                       \
    "smlabb %[a1], %[x1], %[w1], %[a1]\n\t"                                 \
    "smlatt %[a3], %[x1], %[w1], %[a3]\n\t"

#define TP_DW_ROWS_OPERANDS(A0, A1, A2, A3, R0, R1, R2)                                               \
    [a0] "=&r"(A0), [a1] "=&r"(A1), [a2] "=&r"(A2), [a3] "=&r"(A3), [r0] "+r"(R0), [r1] "+r"(R1),        \
        [r2] "+r"(R2), [x0] "=&r"(x0_), [x1] "=&r"(x1_), [t] "=&r"(t_), [w0] "=&r"(w0_), [w1] "=&r"(w1_)

/* One pass: the 4 accumulators back to C. */
#define TP_DW_ROWS_PASS(K, R0, R1, R2, A0, A1, A2, A3)                                              \
    do {                                                                                          \
        int32_t x0_, x1_, t_, w0_, w1_;                                                           \
        __asm__(TP_DW_ROWS_TAPS_ASM("0") : TP_DW_ROWS_OPERANDS(A0, A1, A2, A3, R0, R1, R2) : [k] "r"(K) \
                : "memory");                                                                      \
        R0 += (K)->step;                                                                          \
        R1 += (K)->step;                                                                          \
        R2 += (K)->step;                                                                          \
    } while (0)

/* Channel j's output of a pass from accumulator ACC: SMMLAR + ASR + SSAT + STRB, its constants
 * read at OFF (tp_dw_rows_taps_t.rq[j]). */
#define TP_DW_ROWS_STORE_ASM(ACC, OFF, J)                    \
    "ldrd   %[x0], %[x1], [%[k], #" OFF "]\n\t"              \
    "smmlar %[" ACC "], %[" ACC "], %[x0], %[x1]\n\t"       \
    "ldr    %[x0], [%[k], #" OFF " + 8]\n\t"                 \
    "asr    %[" ACC "], %[" ACC "], %[x0]\n\t"              \
    "ssat   %[" ACC "], #8, %[" ACC "]\n\t"                 \
    "strb   %[" ACC "], [%[out], #" J "]\n\t"

/* A whole row of passes on the SMMLAR path, out advancing to k->out_end, the window S bytes a
 * pixel (4 * stride: an immediate): 93 instructions per pixel of 4 channels, everything in 14
 * registers. */
#define TP_DW_ROWS_FAST_ROW(K, R0, R1, R2, OUT, S)                                                     \
    do {                                                                                             \
        int32_t a0_, a1_, a2_, a3_, x0_, x1_, t_, w0_, w1_;                                          \
        __asm__ volatile("1:\n\t" TP_DW_ROWS_TAPS_ASM(S) TP_DW_ROWS_STORE_ASM("a0", "92", "0")            \
                             TP_DW_ROWS_STORE_ASM("a1", "104", "1") TP_DW_ROWS_STORE_ASM("a2", "116", "2") \
                                 TP_DW_ROWS_STORE_ASM("a3", "128", "3")                               \
                         "ldrd   %[x0], %[x1], [%[k], #140]\n\t"                                      \
                         "add    %[out], %[out], %[x0]\n\t"                                           \
                         "cmp    %[out], %[x1]\n\t"                                                   \
                         "bne    1b"                                                                  \
                         : TP_DW_ROWS_OPERANDS(a0_, a1_, a2_, a3_, R0, R1, R2), [out] "+r"(OUT)        \
                         : [k] "r"(K)                                                                 \
                         : "cc", "memory");                                                           \
    } while (0)
#else /* unoptimized builds keep a frame pointer: the same in C */
TP_INLINE void rows_pair(int32_t x0, int32_t x1, const int32_t w[4], int32_t a[4]) {
    const int32_t xa = tp_pkhbt16(x0, x1), xb = tp_pkhtb16(x1, x0);
    a[0] = __smlad(__sxtb16(xa), w[0], a[0]);
    a[1] = __smlad(tp_sxtb16_ror8(xa), w[1], a[1]);
    a[2] = __smlad(__sxtb16(xb), w[2], a[2]);
    a[3] = __smlad(tp_sxtb16_ror8(xb), w[3], a[3]);
}
#define TP_DW_ROWS_PASS(K, R0, R1, R2, A0, A1, A2, A3)                                      \
    do {                                                                                    \
        int32_t pass_[4] = {(K)->bias[0], (K)->bias[1], (K)->bias[2], (K)->bias[3]};        \
        rows_pair(tp_load32(R0), tp_load32((R0) + 4), (K)->taps, pass_);                    \
        rows_pair(tp_load32((R0) + 8), tp_load32(R1), (K)->taps + 4, pass_);                \
        rows_pair(tp_load32((R1) + 4), tp_load32((R1) + 8), (K)->taps + 8, pass_);          \
        rows_pair(tp_load32(R2), tp_load32((R2) + 4), (K)->taps + 12, pass_);               \
        const int32_t x_ = tp_load32((R2) + 8), e_ = __sxtb16(x_), o_ = tp_sxtb16_ror8(x_); \
        A0 = __smlabb(e_, (K)->taps[16], pass_[0]);                                         \
        A2 = __smlatt(e_, (K)->taps[16], pass_[2]);                                         \
        A1 = __smlabb(o_, (K)->taps[17], pass_[1]);                                         \
        A3 = __smlatt(o_, (K)->taps[17], pass_[3]);                                         \
        R0 += (K)->step;                                                                    \
        R1 += (K)->step;                                                                    \
        R2 += (K)->step;                                                                    \
    } while (0)
#define TP_DW_ROWS_FAST_ROW(K, R0, R1, R2, OUT, S)                                              \
    do {                                                                                      \
        for (; (OUT) != (K)->out_end; (OUT) += (K)->out_step) {                               \
            int32_t a_[4];                                                                    \
            TP_DW_ROWS_PASS(K, R0, R1, R2, a_[0], a_[1], a_[2], a_[3]);                       \
            for (int32_t j_ = 0; j_ < 4; ++j_) {                                              \
                (OUT)[j_] = (int8_t)tp_requantize_doubled(a_[j_], (K)->rq[j_].mult, (K)->rq[j_].round, \
                                                          (K)->rq[j_].right);                 \
            }                                                                                 \
        }                                                                                     \
    } while (0)
#endif

/* `cols` words of a ring row from d <- the 4 channels of as many input pixels from s, ch bytes
 * apart: 4 pixels per loop pass, its bound a pointer. */
TP_INLINE void rows_copy(int32_t *d, const int8_t *s, int32_t ch, int32_t cols) {
    int32_t *const end4 = d + (cols & ~3), *const end = d + cols;
    while (d != end4) {
        const int32_t v0 = tp_load32(s), v1 = tp_load32(s + ch), v2 = tp_load32(s + 2 * ch), v3 = tp_load32(s + 3 * ch);
        s += 4 * ch;
        d[0] = v0;
        d[1] = v1;
        d[2] = v2;
        d[3] = v3;
        d += 4;
    }
    for (; d != end; ++d, s += ch) {
        *d = tp_load32(s);
    }
}

/* Ring row `row` (pitch words, the padding columns already the zero point word zp) <- input row
 * iy of the 4 channels at `in` (all zero point outside the input). */
TP_INLINE void rows_load(const tp_depthwise_conv_params_t *p, const int8_t *in, int32_t iy, int32_t *row,
                         int32_t cols, int32_t zp) {
    int32_t *const d = row + p->pad_left;
    if (iy < 0 || iy >= p->input_h) {
        for (int32_t x = 0; x < cols; ++x) {
            d[x] = zp;
        }
        return;
    }
    rows_copy(d, in + iy * p->input_w * p->input_c, p->input_c, cols);
}

/* DSP depthwise 3x3, stride 1 or 2, depth multiplier 1, channels % 4 == 0. Per group of 4
 * channels: the taps widened once into int16 pairs (tp_dw_tap_pairs); the input rows the windows read
 * copied, a word (4 channels) per pixel, into a ring of 3 rows of (output_w - 1) * stride + 3
 * words in scratch, whose columns outside the input hold the input zero point (so that
 * (zp + input_offset) * w = 0, as in TFLite): no pixel is a border pixel. Per pixel one pass of
 * 9 LDR, 8 PKH, 18 SXTB16, 9 LDRD of taps and 20 multiplies (TP_DW_ROWS_PASS), then per channel
 * SMMLAR + ASR + SSAT + STRB, or the general requantization. */
void tp_depthwise_conv_s8_dsp_rows(const tp_depthwise_conv_params_t *p, const int8_t *input,
                                   const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                   const int32_t *shift, int8_t *output, void *scratch) {
    const int32_t ch = p->input_c, ow = p->output_w, sh = p->stride_h;
    const int32_t pitch = (ow - 1) * p->stride_w + 3;
    const int32_t cols = tp_max(0, tp_min(p->input_w, pitch - p->pad_left)); /* input columns read */
    const int32_t zp = (int32_t)(0x01010101u * (uint32_t)(uint8_t)(int8_t)(-p->input_offset));
    int32_t *const ring = (int32_t *)scratch;
#if defined(TP_TFLM_ROUNDING) /* TFLite Micro's ties-away rounding: no SMMLAR */
    const int doubled = 0;
#else
    const int doubled = p->doubled && p->act_min == TP_INT8_MIN && p->act_max == TP_INT8_MAX;
#endif
    tp_dw_rows_taps_t k;
    k.step = 4 * p->stride_w;
    k.out_step = ch;
    for (int32_t i = 0; i < 3 * pitch; ++i) {
        ring[i] = zp;
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * ch;
        int8_t *out_b = output + b * p->output_h * ow * ch;
        for (int32_t c = 0; c < ch; c += 4) {
            const int fast = doubled && c + 4 <= p->upward_channels;
            tp_dw_tap_pairs(filter, ch, c, 9, bias, p->input_offset, fast ? 2 : 1, k.taps, k.bias);
            for (int32_t j = 0; fast && j < 4; ++j) {
                k.rq[j] = (tp_dw_rows_rq_t){multiplier[c + j], tp_round_doubled(shift[c + j], p->output_offset),
                                          -shift[c + j]};
            }
            int32_t *ring_rows[3] = {ring, ring + pitch, ring + 2 * pitch}; /* the window's rows, top first */
            int32_t next = -p->pad_top; /* the next input row to load */
            for (int32_t oy = 0; oy < p->output_h; ++oy) {
                for (; next < oy * sh - p->pad_top + 3; ++next) { /* 3 rows first, then `stride` */
                    int32_t *const row = ring_rows[0];
                    ring_rows[0] = ring_rows[1];
                    ring_rows[1] = ring_rows[2];
                    ring_rows[2] = row;
                    rows_load(p, in_b + c, next, row, cols, zp);
                }
                const int8_t *r0 = (const int8_t *)ring_rows[0], *r1 = (const int8_t *)ring_rows[1];
                const int8_t *r2 = (const int8_t *)ring_rows[2];
                int8_t *out = out_b + oy * ow * ch + c;
                if (fast) {
                    k.out_end = out + ow * ch;
                    if (p->stride_w == 1) {
                        TP_DW_ROWS_FAST_ROW(&k, r0, r1, r2, out, "4");
                    } else {
                        TP_DW_ROWS_FAST_ROW(&k, r0, r1, r2, out, "8");
                    }
                    continue;
                }
                for (int32_t ox = 0; ox < ow; ++ox, out += ch) {
                    int32_t a[4];
                    TP_DW_ROWS_PASS(&k, r0, r1, r2, a[0], a[1], a[2], a[3]);
                    for (int32_t j = 0; j < 4; ++j) {
                        out[j] = tp_requantize_either(a[j], multiplier[c + j], shift[c + j], p->output_offset,
                                                      p->act_min, p->act_max, c + j < p->upward_channels);
                    }
                }
            }
        }
    }
}

#endif /* TP_USE_DSP */
