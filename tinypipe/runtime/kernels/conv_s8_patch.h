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

/* The int8 patch of output pixel (oy, ox) in filter order, the raw input zero point where padded;
 * for a 1x1 convolution inside the input: the input itself. */
static inline const int8_t *tp_conv_patch_s8(const tp_conv_params_t *p, const int8_t *in_b, int32_t oy, int32_t ox,
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

#endif /* TP_CONV_S8_PATCH_H */
