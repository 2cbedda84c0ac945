/*
 * conv_s8_mve.c - CONV_2D, Helium variant (Armv8.1-M MVE): output pixels in pairs, each pixel's
 * int8 patch (im2col into scratch, or the input itself for an unpadded 1x1 convolution), 4 output
 * channels x 2 pixels at a time with VMLADAVA.S8 (16 MACs per instruction, tail-predicated; each
 * weight load feeds both pixels), requantization of 4 channels with VQRDMULH + VRSHL (exactly the
 * ties-upward rule). Same bytes as conv_s8.c.
 */
#include "conv_s8_patch.h"

#if defined(TP_USE_MVE)

/* The 4 channels' sums as one vector. */
static inline int32x4_t lanes4(int32_t a0, int32_t a1, int32_t a2, int32_t a3) {
    int32x4_t acc = vdupq_n_s32(a0);
    acc = vsetq_lane_s32(a1, acc, 1);
    acc = vsetq_lane_s32(a2, acc, 2);
    return vsetq_lane_s32(a3, acc, 3);
}

/* Store 4 requantized channels at `out` (channel c onwards). */
static inline void store4(int8_t *out, int32x4_t q, const int16_t *channels, int32_t c) {
    if (channels != NULL) { /* live channels scattered to their positions */
        vstrbq_scatter_offset_s32(out, vreinterpretq_u32_s32(vldrhq_s32(channels + c)), q);
    } else {
        vstrbq_s32(out + c, q);
    }
}

/* One weight row's 16 bytes `load` into both pixels' sums a (patch xu) and b (patch xv). */
#define TP_MAC_ROW(load, a, b)                 \
    do {                                       \
        const int8x16_t wv_ = (load);          \
        (a) = vmladavaq_s8((a), xu, wv_);      \
        (b) = vmladavaq_s8((b), xv, wv_);      \
    } while (0)

/* Two output pixels (patches x0, x1; outputs o0, o1, or o1 == NULL for one pixel: x1 is then x0)
 * at once: each 16-byte weight load feeds both pixels, 4 channels x 2 pixels = 8 VMLADAVA.S8 per
 * 2 patch loads + 4 weight loads (128 MACs); the 4 weight rows and both patches are walked with
 * post-incremented pointers, and the two pixels' 4 sums are requantized with one load of the
 * channels' multipliers and shifts. */
static void __attribute__((noinline)) pixel_pair(const tp_conv_params_t *p, const int8_t *x0, const int8_t *x1,
                                                 const int8_t *filter, const int32_t *bias,
                                                 const int32_t *multiplier, const int32_t *shift,
                                                 const int16_t *channels, int8_t *o0, int8_t *o1) {
    const int32_t k_size = p->filter_h * p->filter_w * p->input_c, live = p->live_c;
    const int32_t blocks = k_size >> 4, rest = k_size & 15;
    const mve_pred16_t tail = vctp8q((uint32_t)rest);
    int32_t c = 0;
    for (; c + 4 <= live; c += 4) {
        const int8_t *w0 = filter + c * k_size, *w1 = w0 + k_size, *w2 = w1 + k_size, *w3 = w2 + k_size;
        const int8_t *u = x0, *v = x1;
        int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
        int32_t b0 = a0, b1 = a1, b2 = a2, b3 = a3;
        for (int32_t n = blocks; n > 0; --n) {
            const int8x16_t xu = vldrbq_s8(u), xv = vldrbq_s8(v);
            u += 16;
            v += 16;
            TP_MAC_ROW(vldrbq_s8(w0), a0, b0);
            TP_MAC_ROW(vldrbq_s8(w1), a1, b1);
            TP_MAC_ROW(vldrbq_s8(w2), a2, b2);
            TP_MAC_ROW(vldrbq_s8(w3), a3, b3);
            w0 += 16;
            w1 += 16;
            w2 += 16;
            w3 += 16;
        }
        if (rest) {
            const int8x16_t xu = vldrbq_z_s8(u, tail), xv = vldrbq_z_s8(v, tail);
            TP_MAC_ROW(vldrbq_z_s8(w0, tail), a0, b0);
            TP_MAC_ROW(vldrbq_z_s8(w1, tail), a1, b1);
            TP_MAC_ROW(vldrbq_z_s8(w2, tail), a2, b2);
            TP_MAC_ROW(vldrbq_z_s8(w3, tail), a3, b3);
        }
        const int32x4_t m = vldrwq_s32(multiplier + c), sh = vldrwq_s32(shift + c);
        store4(o0, tp_requantize_upward_x4(lanes4(a0, a1, a2, a3), m, sh, p->output_offset, p->act_min,
                                           p->act_max), channels, c);
        if (o1 != NULL) {
            store4(o1, tp_requantize_upward_x4(lanes4(b0, b1, b2, b3), m, sh, p->output_offset, p->act_min,
                                               p->act_max), channels, c);
        }
    }
    for (; c < live; ++c) {
        const int8_t *w = filter + c * k_size;
        int32_t acc0 = bias[c], acc1 = bias[c];
        for (int32_t k = 0; k < k_size; k += 16) {
            const mve_pred16_t pr = vctp8q((uint32_t)(k_size - k));
            const int8x16_t wv = vldrbq_z_s8(w + k, pr);
            acc0 = vmladavaq_s8(acc0, vldrbq_z_s8(x0 + k, pr), wv);
            acc1 = vmladavaq_s8(acc1, vldrbq_z_s8(x1 + k, pr), wv);
        }
        const int32_t at = channels != NULL ? channels[c] : c;
        o0[at] = (int8_t)tp_requantize_upward(acc0, multiplier[c], shift[c], p->output_offset, p->act_min, p->act_max);
        if (o1 != NULL) {
            o1[at] = (int8_t)tp_requantize_upward(acc1, multiplier[c], shift[c], p->output_offset, p->act_min,
                                                  p->act_max);
        }
    }
}

void tp_conv_s8_mve(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                    const int32_t *bias, const int32_t *multiplier, const int32_t *shift, const int16_t *channels,
                    const int8_t *fill, int8_t *output, void *scratch) {
    const int32_t k4 = (p->filter_h * p->filter_w * p->input_c + 3) / 4 * 4;
    const int32_t oc = p->output_c, pixels = p->output_h * p->output_w;
    int8_t *const col0 = (int8_t *)scratch, *const col1 = col0 + k4; /* within TP_CONV_SCRATCH_BYTES */
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->input_h * p->input_w * p->input_c;
        int8_t *out_b = output + b * pixels * oc;
        for (int32_t pix = 0; pix < pixels; pix += 2) {
            const int32_t oy = pix / p->output_w, ox = pix - oy * p->output_w;
            const int8_t *x0 = tp_conv_patch_s8(p, in_b, oy, ox, col0);
            int8_t *o0 = out_b + pix * oc, *o1 = NULL;
            const int8_t *x1 = x0;
            if (pix + 1 < pixels) {
                const int32_t oy1 = (pix + 1) / p->output_w, ox1 = pix + 1 - oy1 * p->output_w;
                x1 = tp_conv_patch_s8(p, in_b, oy1, ox1, col1);
                o1 = o0 + oc;
            }
            tp_conv_fill_pixels(fill, o0, oc, o1 != NULL ? 2 : 1);
            pixel_pair(p, x0, x1, filter, bias, multiplier, shift, channels, o0, o1);
        }
    }
}


#endif /* TP_USE_MVE */
