/*
 * depthwise_conv_s8_mve.c - DEPTHWISE_CONV_2D, Helium variant, depth multiplier 1: 8 channels per
 * vector (VLDRB.S16 widening loads, input offset added in int16, VMULLB/VMULLT into even/odd int32
 * accumulators), only the taps inside the input (tp_dw_clip). Full vectors: VLD2 of the bias into
 * even/odd lanes, VST2 of the sums back into channel order, then 4-lane VQRDMULH/VRSHL
 * requantization with contiguous loads; the last channels tail-predicated. Output pixels whose
 * 3x3 window lies inside the input take window3x3: the 9 taps unrolled, each 8 channels'
 * sums requantized as soon as they are made.
 */
#include "depthwise_conv_s8_window.h"

#if defined(TP_USE_MVE)

#define TP_DW_MVE_CHUNK 64 /* channels accumulated before they are requantized (stack: 4 B each) */

/* The layer's constants for window3x3, read once (an int8 store may alias the params struct, so
 * the compiler would otherwise reload them after every output). */
typedef struct {
    int32_t row_step, col_step, frow_step, ch;
    int32_t channels; /* [0, channels): rounded ties upward, a multiple of 8 */
    int32_t output_offset, act_min, act_max;
    int16_t input_offset;
} tp_dw_mve_window_t;

/* One tap of 8 channels into the even / odd channel accumulators: VLDRB.S16 widening loads (their
 * base must be r0-r7: "l"), the input offset added in int16, VMULLB / VMULLT products. One asm
 * statement per tap: written in C, GCC hoists a window's 18 loads and reassociates its sums into a
 * tree, keeping every product live at once, and spills Helium's 8 vector registers (KWS on
 * qemu-m55: 511,428 instructions in window3x3 that way, 341,136 this way). */
TP_INLINE int32x4x2_t dw_tap8(int32x4x2_t a, const int8_t *x, const int8_t *w, int16_t offset) {
    int16x8_t xv, wv;
    int32x4_t t;
    __asm__("vldrb.s16 %q[xv], [%[x]]\n\t"
            "vldrb.s16 %q[wv], [%[w]]\n\t"
            "vadd.i16 %q[xv], %q[xv], %[off]\n\t"
            "vmullb.s16 %q[t], %q[xv], %q[wv]\n\t"
            "vadd.i32 %q[a0], %q[a0], %q[t]\n\t"
            "vmullt.s16 %q[t], %q[xv], %q[wv]\n\t"
            "vadd.i32 %q[a1], %q[a1], %q[t]"
            : [a0] "+w"(a.val[0]), [a1] "+w"(a.val[1]), [xv] "=&w"(xv), [wv] "=&w"(wv), [t] "=&w"(t)
            : [x] "l"(x), [w] "l"(w), [off] "r"((int32_t)offset), "m"(*(const int8_t(*)[8])x),
              "m"(*(const int8_t(*)[8])w));
    return a;
}

/* 4 channels' sums (acc, channel order) requantized ties upward and stored at out. */
TP_INLINE void requantize_store4(int8_t *out, const int32_t *acc, const int32_t *multiplier, const int32_t *shift,
                                 int32_t output_offset, int32_t act_min, int32_t act_max) {
    vstrbq_s32(out, tp_requantize_upward_x4(vldrwq_s32(acc), vldrwq_s32(multiplier), vldrwq_s32(shift),
                                            output_offset, act_min, act_max));
}

/* Channels [0, k->channels) of one output pixel whose whole 3x3 window is inside the input (x: the
 * window's top-left input pixel): per 8 channels the 9 taps unrolled (no loop control, no bounds),
 * VST2 back to channel order, 2 x 4-lane requantization. */
static void __attribute__((noinline)) window3x3(const tp_dw_mve_window_t *k, const int8_t *x, const int8_t *w,
                                                const int32_t *bias, const int32_t *multiplier,
                                                const int32_t *shift, int8_t *out) {
    const int32_t rs = k->row_step, cs = k->col_step, fs = k->frow_step, ch = k->ch, n = k->channels;
    const int16_t offset = k->input_offset;
    const int32_t zo = k->output_offset, lo = k->act_min, hi = k->act_max;
    int32_t acc[8] __attribute__((aligned(16)));
    for (int32_t c = 0; c < n; c += 8, x += 8, w += 8) {
        int32x4x2_t a = vld2q_s32(bias + c); /* val[0]: even channels, val[1]: odd */
        const int8_t *xr = x, *wr = w;
        /* opaque to the optimizer: the 18 tap addresses are made from xr / wr here, each iteration,
         * instead of 18 induction variables that do not fit in the registers */
        __asm__("" : "+r"(xr), "+r"(wr));
        TP_UNROLL(3)
        for (int32_t r = 0; r < 3; ++r, xr += rs, wr += fs) {
            a = dw_tap8(a, xr, wr, offset);
            a = dw_tap8(a, xr + cs, wr + ch, offset);
            a = dw_tap8(a, xr + 2 * cs, wr + 2 * ch, offset);
        }
        vst2q_s32(acc, a);
        requantize_store4(out + c, acc, multiplier + c, shift + c, zo, lo, hi);
        requantize_store4(out + c + 4, acc + 4, multiplier + c + 4, shift + c + 4, zo, lo, hi);
    }
}

void tp_depthwise_conv_s8_mve(const tp_depthwise_conv_params_t *p, const int8_t *input,
                              const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                              const int32_t *shift, int8_t *output, void *scratch) {
    (void)scratch;
    const int32_t ch = p->input_c;
    const int32_t row_step = p->dilation_h * p->input_w * ch, col_step = p->dilation_w * ch;
    const int32_t frow_step = p->filter_w * ch;
    const int16_t offset = (int16_t)p->input_offset;
    const uint32x4_t even = vidupq_n_u32(0, 2), odd = vaddq_n_u32(even, 1);
    int32_t acc[TP_DW_MVE_CHUNK] __attribute__((aligned(16))); /* one chunk's accumulators */
    const int32_t upward = (ch < p->upward_channels ? ch : p->upward_channels) & ~7;
    const tp_dw_mve_window_t window = {row_step, col_step, frow_step, ch, upward, p->output_offset, p->act_min,
                                       p->act_max, offset};
    const int full_3x3 = p->filter_h == 3 && p->filter_w == 3;
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
                /* full vectors of 8 channels rounded ties upward, in chunks: accumulate (even and
                 * odd channels interleaved back by VST2), then requantize the chunk 4 at a time */
                int32_t c = 0;
                if (full_3x3 && rows == 3 && cols == 3) {
                    window3x3(&window, in0, f0, bias, multiplier, shift, output);
                    c = upward;
                }
                for (int32_t c0 = c; c0 < upward; c0 += TP_DW_MVE_CHUNK) {
                    const int32_t c1 = upward - c0 < TP_DW_MVE_CHUNK ? upward : c0 + TP_DW_MVE_CHUNK;
                    for (c = c0; c < c1; c += 8) {
                        int32x4x2_t a = vld2q_s32(bias + c); /* val[0]: even channels, val[1]: odd */
                        const int8_t *xr = in0 + c, *wr = f0 + c;
                        for (int32_t r = 0; r < rows; ++r, xr += row_step, wr += frow_step) {
                            const int8_t *x = xr, *w = wr;
                            for (int32_t k = 0; k < cols; ++k, x += col_step, w += ch) {
                                const int16x8_t xv = vaddq_n_s16(vldrbq_s16(x), offset);
                                const int16x8_t wv = vldrbq_s16(w);
                                a.val[0] = vaddq_s32(a.val[0], vmullbq_int_s16(xv, wv));
                                a.val[1] = vaddq_s32(a.val[1], vmulltq_int_s16(xv, wv));
                            }
                        }
                        vst2q_s32(acc + (c - c0), a);
                    }
                    for (c = c0; c < c1; c += 4) {
                        requantize_store4(output + c, acc + (c - c0), multiplier + c, shift + c,
                                          p->output_offset, p->act_min, p->act_max);
                    }
                }
                /* the last channels: tail-predicated, LiteRT's leftover channels rounded ties away */
                for (; c < ch; c += 8) {
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
                            const int16x8_t xv = vaddq_n_s16(vldrbq_z_s16(x, pr), offset);
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
                    if (c + 8 > p->upward_channels) {
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
                output += ch;
            }
        }
    }
}

#endif /* TP_USE_MVE */
