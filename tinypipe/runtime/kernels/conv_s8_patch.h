/*
 * conv_s8_patch.h - what the CONV_2D variants share (conv_s8.c, conv_s8_dsp.c, conv_s8_mve.c):
 * the constant outputs of elided channels, and the int8 patch (im2col) of one output pixel.
 */
#ifndef TP_CONV_S8_PATCH_H
#define TP_CONV_S8_PATCH_H

#include <string.h>

#include "conv_s8.h"

/* The constant outputs of the elided all-zero channels (fill, NULL when there are none) into
 * `pixels` output pixels; the live channels are written after. */
static inline void tp_conv_fill_pixels(const int8_t *fill, int8_t *out, int32_t oc, int32_t pixels) {
    for (; fill != NULL && pixels > 0; --pixels, out += oc) {
        memcpy(out, fill, (size_t)oc);
    }
}

/* Where the patches of n output pixels from (oy, ox), in one output row, start in the input (a
 * byte offset) when every one lies inside the input with contiguous rows (dilation_w 1 or a filter
 * one pixel wide); -1 when not. */
static inline int32_t tp_conv_patches_inside(const tp_conv_params_t *p, int32_t oy, int32_t ox, int32_t n) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    if ((p->dilation_w != 1 && p->filter_w != 1) || ox + n > p->output_w || ix0 < 0 ||
        ix0 + (n - 1) * p->stride_w + p->filter_w > p->input_w || iy0 < 0 ||
        iy0 + (p->filter_h - 1) * p->dilation_h >= p->input_h) {
        return -1;
    }
    return (iy0 * p->input_w + ix0) * p->input_c;
}

/* A patch row of n bytes: up to TP_PATCH_WORD_BYTES copied (or filled with v) by a word loop, as
 * memcpy / memset cost more than a row of a few channels; longer rows by the library. One copy of
 * each per file (not inlined: a patch has 4 call sites). */
#define TP_PATCH_WORD_BYTES 32
static __attribute__((noinline, unused)) void tp_patch_copy(int8_t *dst, const int8_t *src, int32_t n) {
    if (n > TP_PATCH_WORD_BYTES) {
        memcpy(dst, src, (size_t)n);
        return;
    }
    for (; n >= 4; n -= 4, dst += 4, src += 4) {
        memcpy(dst, src, 4);
    }
    for (; n > 0; --n) {
        *dst++ = *src++;
    }
}

static __attribute__((noinline, unused)) void tp_patch_fill(int8_t *dst, int8_t v, int32_t n) {
    if (n > TP_PATCH_WORD_BYTES) {
        memset(dst, v, (size_t)n);
        return;
    }
    const uint32_t word = 0x01010101u * (uint8_t)v;
    for (; n >= 4; n -= 4, dst += 4) {
        memcpy(dst, &word, 4);
    }
    for (; n > 0; --n) {
        *dst++ = v;
    }
}

/* The int8 patch of output pixel (oy, ox) in filter order, the raw input zero point where padded;
 * for a 1x1 convolution inside the input: the input itself. */
static inline const int8_t *tp_conv_patch_s8(const tp_conv_params_t *p, const int8_t *in_b, int32_t oy, int32_t ox,
                                              int8_t *col) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    const int32_t ic = p->input_c;
    if (p->filter_h == 1 && p->filter_w == 1 && iy0 >= 0 && iy0 < p->input_h && ix0 >= 0 && ix0 < p->input_w) {
        return in_b + (iy0 * p->input_w + ix0) * ic;
    }
    const int8_t zp = (int8_t)(-p->input_offset);
    const int32_t fw = p->filter_w, n = ic * fw;
    /* undilated rows: the filter columns inside the input are one run [lo, hi), padding around it */
    const int32_t lo = ix0 < 0 ? tp_min(-ix0, fw) : 0, hi = tp_max(lo, tp_min(fw, p->input_w - ix0));
    int8_t *dst = col;
    for (int32_t ky = 0; ky < p->filter_h; ++ky, dst += n) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        if (iy < 0 || iy >= p->input_h) {
            tp_patch_fill(dst, zp, n);
        } else if (p->dilation_w == 1) {
            tp_patch_fill(dst, zp, lo * ic);
            if (hi > lo) {
                tp_patch_copy(dst + lo * ic, in_b + (iy * p->input_w + ix0 + lo) * ic, (hi - lo) * ic);
            }
            tp_patch_fill(dst + hi * ic, zp, (fw - hi) * ic);
        } else {
            for (int32_t kx = 0; kx < fw; ++kx) {
                const int32_t ix = ix0 + kx * p->dilation_w;
                if (ix < 0 || ix >= p->input_w) {
                    tp_patch_fill(dst + kx * ic, zp, ic);
                } else {
                    tp_patch_copy(dst + kx * ic, in_b + (iy * p->input_w + ix) * ic, ic);
                }
            }
        }
    }
    return col;
}

#endif /* TP_CONV_S8_PATCH_H */
