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
} tp_dw3_geometry_t;

/* g = the geometry for an output of oh x ow and planes of pw x ph bytes (TP_DW3_PLANE_W/H); a
 * macro, not a function: inlined, the function makes GCC schedule the DSP kernel differently. */
#define TP_DW3_GEOMETRY(g, ch, ow, oh, pw, ph)                   \
    do {                                                         \
        (g).transposed = (oh) > (ow);                            \
        if ((g).transposed) { /* lines are image columns */      \
            (g) = (tp_dw3_geometry_t){ph, oh, ow, (ow) * (ch), ch, 1}; \
        } else {                                                 \
            (g) = (tp_dw3_geometry_t){pw, ow, oh, ch, (ow) * (ch), 0}; \
        }                                                        \
    } while (0)

#endif /* TP_DEPTHWISE_CONV_S8_PLANAR_H */
