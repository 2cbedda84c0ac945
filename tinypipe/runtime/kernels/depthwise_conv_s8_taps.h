/*
 * depthwise_conv_s8_taps.h - the filter taps of the DSP DEPTHWISE_CONV_2D variants that pair them
 * for SMLAD (_dsp_pairs, _dsp_rows), depth multiplier 1, 4 channels at a time.
 */
#ifndef TP_DEPTHWISE_CONV_S8_TAPS_H
#define TP_DEPTHWISE_CONV_S8_TAPS_H

#include "depthwise_conv_s8.h"

#if defined(TP_USE_DSP)
/* The `taps` taps of the 4 channels from c into w, as int16 pairs that meet input words
 * interleaved the same way (PKHBT/PKHTB, then SXTB16): per pair of taps (2i, 2i + 1) one word per
 * channel, (w[2i][c], w[2i+1][c]); an odd last tap in two words, (w[c0], w[c2]) and (w[c1], w[c3]).
 * Into bias4 the channels' bias with the input offset folded in (bias + input_offset * sum_t w,
 * mod 2^32 like TFLite's int32 sum; the tap sums in int16 lanes, |sum| <= 25 * 128). All of it
 * times `scale` (1, or 2 for doubled accumulators). */
TP_INLINE void tp_dw_tap_pairs(const int8_t *filter, int32_t ch, int32_t c, int32_t taps, const int32_t *bias,
                               int32_t input_offset, int32_t scale, int32_t *w, int32_t bias4[4]) {
    const int32_t pairs = taps / 2;
    int32_t sum02 = 0, sum13 = 0; /* (c, c + 2) and (c + 1, c + 3) */
    for (int32_t i = 0; i < pairs; ++i) {
        const int32_t f0 = tp_load32(filter + 2 * i * ch + c), f1 = tp_load32(filter + (2 * i + 1) * ch + c);
        const int32_t fa = tp_pkhbt16(f0, f1), fb = tp_pkhtb16(f1, f0);
        w[4 * i] = tp_scaled_pair(__sxtb16(fa), scale);
        w[4 * i + 1] = tp_scaled_pair(tp_sxtb16_ror8(fa), scale);
        w[4 * i + 2] = tp_scaled_pair(__sxtb16(fb), scale);
        w[4 * i + 3] = tp_scaled_pair(tp_sxtb16_ror8(fb), scale);
        sum02 = __sxtab16(__sxtab16(sum02, f0), f1);
        sum13 = tp_sxtab16_ror8(tp_sxtab16_ror8(sum13, f0), f1);
    }
    if (taps & 1) {
        const int32_t f = tp_load32(filter + (taps - 1) * ch + c);
        w[4 * pairs] = tp_scaled_pair(__sxtb16(f), scale);
        w[4 * pairs + 1] = tp_scaled_pair(tp_sxtb16_ror8(f), scale);
        sum02 = __sxtab16(sum02, f);
        sum13 = tp_sxtab16_ror8(sum13, f);
    }
    const int32_t wsum[4] = {(int16_t)sum02, (int16_t)sum13, sum02 >> 16, sum13 >> 16};
    for (int32_t j = 0; j < 4; ++j) {
        bias4[j] = (int32_t)((uint32_t)scale * ((uint32_t)bias[c + j] + (uint32_t)input_offset * (uint32_t)wsum[j]));
    }
}
#endif

#endif /* TP_DEPTHWISE_CONV_S8_TAPS_H */
