/*
 * depthwise_conv_s8_planar.h - the planar layout of the 3x3 DEPTHWISE_CONV_2D variants (DSP and
 * Helium; TP_DW3_PLANAR shapes): per group of 4 channels, each channel's zero-point-padded input
 * as a plane in scratch (TP_DW3_SCRATCH_BYTES), lines along the longer output axis.
 */
#ifndef TP_DEPTHWISE_CONV_S8_PLANAR_H
#define TP_DEPTHWISE_CONV_S8_PLANAR_H

#include "depthwise_conv_s8.h"

/* A plane holds one channel's zero-point-padded input as lines of `pitch` bytes: image rows
 * (row-major) or, when the output is taller than wide, image columns (column-major, the filter
 * transposed with it), so that the inner loop runs along the longer axis. u: along a line, v:
 * across lines. */
typedef struct {
    int32_t pitch, n_u, n_v; /* line length (bytes), outputs along a line, lines of outputs */
    int32_t out_u, out_v; /* output steps (bytes) of one u / v */
    int transposed;
    int32_t step_x, step_y; /* plane steps (bytes) of one input column / row */
    int32_t rows, cols; /* input rows / columns copied into the planes (no output reads the others) */
} tp_dw3_geometry_t;

TP_INLINE tp_dw3_geometry_t tp_dw3_geometry(const tp_depthwise_conv_params_t *p) {
    const int32_t ch = p->input_c, ow = p->output_w, oh = p->output_h;
    const int32_t pw = TP_DW3_PLANE_W(ow), ph = TP_DW3_PLANE_H(oh);
    tp_dw3_geometry_t g;
    g.transposed = oh > ow;
    if (g.transposed) { /* lines are image columns */
        g.pitch = ph, g.n_u = oh, g.n_v = ow, g.out_u = ow * ch, g.out_v = ch;
        g.step_x = ph, g.step_y = 1;
    } else {
        g.pitch = pw, g.n_u = ow, g.n_v = oh, g.out_u = ch, g.out_v = ow * ch;
        g.step_x = 1, g.step_y = pw;
    }
    g.cols = tp_min(p->input_w, pw - p->pad_left);
    g.rows = tp_min(p->input_h, ph - p->pad_top);
    return g;
}

#endif /* TP_DEPTHWISE_CONV_S8_PLANAR_H */
