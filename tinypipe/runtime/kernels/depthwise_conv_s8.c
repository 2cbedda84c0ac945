/*
 * depthwise_conv_s8.c - DEPTHWISE_CONV_2D. Variants (same arithmetic, same bytes):
 *
 *  - Helium (TP_USE_MVE, depth multiplier 1): 8 channels per vector (VLDRB.S16 widening loads,
 *    input offset added in int16, VMULLB/VMULLT into even/odd int32 accumulators), only the
 *    taps inside the input (padding clipped from the window: no bounds checks in the loop),
 *    tail-predicated channels, 4-lane VQRDMULH/VRSHL requantization, narrowing VMOVNB/VMOVNT.
 *  - DSP (TP_USE_DSP, depth multiplier 1): 4 channels per word: SXTAB16 adds the input offset
 *    while it sign-extends (free), SMLABB/SMLATT accumulate; clipped windows likewise.
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
                    *output++ = tp_requantize_upward(acc, multiplier[oc], shift[oc], p->output_offset,
                                                     p->act_min, p->act_max);
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

void tp_depthwise_conv_s8(const tp_depthwise_conv_params_t *p, const int8_t *input,
                          const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                          const int32_t *shift, int8_t *output) {
    if (p->depth_multiplier != 1) {
        depthwise_portable(p, input, filter, bias, multiplier, shift, output);
        return;
    }
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
                    output[c] = tp_requantize_upward(acc, multiplier[c], shift[c], p->output_offset, p->act_min,
                                                     p->act_max);
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
                          const int32_t *shift, int8_t *output) {
    depthwise_portable(p, input, filter, bias, multiplier, shift, output);
}

#endif
