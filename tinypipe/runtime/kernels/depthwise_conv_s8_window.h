/*
 * depthwise_conv_s8_window.h - the clipped filter window the optimized DEPTHWISE_CONV_2D variants
 * share: only the taps inside the input, so their inner loops need no bounds checks.
 */
#ifndef TP_DEPTHWISE_CONV_S8_WINDOW_H
#define TP_DEPTHWISE_CONV_S8_WINDOW_H

#include "depthwise_conv_s8.h"

/* The filter taps [k0, k1) of one axis whose input coordinate o + k * dilation is inside [0, n). */
static inline void tp_dw_clip(int32_t o, int32_t taps, int32_t dilation, int32_t n, int32_t *k0, int32_t *k1) {
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

#endif /* TP_DEPTHWISE_CONV_S8_WINDOW_H */
