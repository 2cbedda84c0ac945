/* conv_s8 - CONV_2D, int8 activations, per-channel int8 weights (TFLite ConvPerChannel). */
#ifndef TP_CONV_S8_H
#define TP_CONV_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t batches;
    int32_t input_h, input_w, input_c;
    int32_t output_h, output_w, output_c;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left; /* padded positions read the input zero point (contribute 0) */
    int32_t input_offset;      /* -input zero point */
    int32_t output_offset;     /* output zero point */
    int32_t act_min, act_max;
    /* 1 when every output channel satisfies tp_smmlar's conditions (|acc| < 2^30 for any input,
     * 1 <= -shift <= 22; checked offline by the generator): the DSP variant then doubles the
     * accumulators and requantizes with SMMLAR + ASR + SSAT. */
    int32_t doubled;
    /* Output channels computed: all (channels == NULL) or the ones listed in `channels`; the others
     * have all-zero weights, and their constant outputs come from `fill` (tinypipe.aot.ops.conv). */
    int32_t live_c;
} tp_conv_params_t;

/* Pixels per block of the DSP variant: its general path, and its SMMLAR paths
 * (tp_conv_s8_dsp_doubled and _strips: doubled layers with the whole int8 range as activation
 * range). */
#define TP_CONV_DSP_PIXELS 4
#define TP_CONV_DSP_WIDE_PIXELS 8

/* The builds where tp_conv_s8_dsp_doubled and _strips take their weights in channel pairs: the
 * DSP variant (not Helium's), ties upward (TP_TFLM_ROUNDING sends them down the general path). */
#if defined(TP_USE_DSP) && !defined(TP_USE_MVE) && !defined(TP_TFLM_ROUNDING)
#define TP_CONV_DSP_PAIRED_WEIGHTS 1
#endif

/* Scratch bytes tp_conv_s8 needs (the generator reserves it in the arena): the int16 im2col
 * columns of a DSP block `pixels` wide (TP_CONV_DSP_WIDE_PIXELS for the SMMLAR path, else
 * TP_CONV_DSP_PIXELS), then one int8 patch (gathered before widening; the Helium variant's column). */
#define TP_CONV_SCRATCH_COLUMNS_BYTES(pixels, k_size) (2 * (pixels) * (((k_size) + 3) / 4 * 4))
#define TP_CONV_SCRATCH_BYTES(pixels, filter_h, filter_w, input_c)                   \
    (TP_CONV_SCRATCH_COLUMNS_BYTES(pixels, (filter_h) * (filter_w) * (input_c)) + \
     ((filter_h) * (filter_w) * (input_c) + 3) / 4 * 4)

/* input NHWC, output NHWC. filter OHWI [live_c][filter_h][filter_w][input_c]: the .tflite's
 * filter without its all-zero channels, followed by 4 bytes of padding the DSP variant may read.
 * `bias` (per live channel) has the input zero point folded in offline: bias[o] - input_zp *
 * sum(filter[o]), so every variant computes bias + sum(x * w) over the raw int8 inputs, a padded
 * tap reading x = input_zp (it then contributes 0 overall). multiplier/shift per live channel;
 * channels[i]: the output channel of live channel i (NULL: i); fill[c]: the constant output of
 * an elided channel c (NULL when none is elided). */
void tp_conv_s8(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                const int32_t *bias, const int32_t *multiplier, const int32_t *shift, const int16_t *channels,
                const int8_t *fill, int8_t *output, void *scratch);

/* The same call, DSP extension (conv_s8_dsp.c) and Helium (conv_s8_mve.c) variants: same bytes. */
void tp_conv_s8_dsp(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                    const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                    const int16_t *channels, const int8_t *fill, int8_t *output, void *scratch);
void tp_conv_s8_mve(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                    const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                    const int16_t *channels, const int8_t *fill, int8_t *output, void *scratch);
/* DSP, for layers the generator proved `doubled` with the whole int8 range as activation range
 * and at least TP_CONV_DSP_WIDE_PIXELS output pixels: only the SMMLAR path, in blocks of
 * TP_CONV_DSP_WIDE_PIXELS (scratch: TP_CONV_SCRATCH_BYTES with that many pixels). Where
 * TP_CONV_DSP_PAIRED_WEIGHTS is defined it reads `filter` with the live channels in pairs, their
 * weights interleaved (conv_s8_dsp.c; the generator emits that layout under the macro). */
void tp_conv_s8_dsp_doubled(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            const int16_t *channels, const int8_t *fill, int8_t *output, void *scratch);
/* The same in blocks of 2 * TP_CONV_DSP_WIDE_PIXELS (the last TP_CONV_DSP_WIDE_PIXELS or fewer
 * in one block of that many), for layers of at least that many pixels: each channel pair's
 * constants set up once per 16 pixels (scratch: TP_CONV_SCRATCH_BYTES with 16 pixels). */
void tp_conv_s8_dsp_doubled16(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              const int16_t *channels, const int8_t *fill, int8_t *output, void *scratch);
/* The same for layers whose filter is taller than the stride, with no dilation, input channels
 * % 4 == 0 and at least TP_CONV_DSP_WIDE_PIXELS output columns (the generator's choice): down
 * strips of that many output pixels, each block keeping the filter rows it shares with the block
 * above (same scratch, same weights). */
void tp_conv_s8_dsp_strips(const tp_conv_params_t *p, const int8_t *input, const int8_t *filter,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                           const int16_t *channels, const int8_t *fill, int8_t *output, void *scratch);

#ifdef __cplusplus
}
#endif

#endif /* TP_CONV_S8_H */
