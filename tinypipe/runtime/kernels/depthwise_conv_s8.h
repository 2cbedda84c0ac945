/* depthwise_conv_s8 - DEPTHWISE_CONV_2D, int8, per-channel weights, any depth multiplier. */
#ifndef TP_DEPTHWISE_CONV_S8_H
#define TP_DEPTHWISE_CONV_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t batches;
    int32_t input_h, input_w, input_c;
    int32_t output_h, output_w, output_c; /* output_c = input_c * depth_multiplier */
    int32_t depth_multiplier;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t input_offset;  /* -input zero point */
    int32_t output_offset; /* output zero point */
    int32_t act_min, act_max;
    /* LiteRT rounds the final shift of output channels [0, upward_channels) ties upward and of
     * the remaining ones ties away from zero (its NEON requantization runs 8 channels at a time,
     * the output_c % 8 leftover channels go through scalar MultiplyByQuantizedMultiplier):
     * upward_channels = output_c & ~7 (README, "Rounding"). */
    int32_t upward_channels;
    /* 1 when every output channel satisfies tp_smmlar's conditions (as tp_conv_params_t.doubled,
     * checked offline): tp_depthwise_conv_s8_dsp_rows then doubles its accumulators. */
    int32_t doubled;
} tp_depthwise_conv_params_t;

/* The planar 3x3 variants (DSP and Helium; 3x3, stride 1, no dilation, depth multiplier 1,
 * channels % 4 == 0) work on 4 zero-point-padded input planes in scratch
 * (depthwise_conv_s8_planar.h): row pitch / rows of one plane, and the scratch bytes (the generator
 * reserves them in the arena; + 4 for word reads past the last byte). Other shapes and variants
 * take scratch = NULL. */
#define TP_DW3_PLANAR(fh, fw, sh, sw, dh, dw, dm, c) \
    ((fh) == 3 && (fw) == 3 && (sh) == 1 && (sw) == 1 && (dh) == 1 && (dw) == 1 && (dm) == 1 && (c) % 4 == 0)
#define TP_DW3_PLANE_W(output_w) ((output_w) + 2)
#define TP_DW3_PLANE_H(output_h) ((output_h) + 2)
#define TP_DW3_SCRATCH_BYTES(output_h, output_w) (4 * TP_DW3_PLANE_W(output_w) * TP_DW3_PLANE_H(output_h) + 4)
/* Helium's 3x3 stride 2 (TP_DW3_PLANAR_S2): each plane split by input row and column parity into 4
 * sub-planes of lines of TP_DW3_S2_PITCH bytes (TP_DW3_S2_LINES lines in all), TP_DW3_S2_SCRATCH_BYTES
 * for the 4 planes, all within reach of 16-bit offsets (the generator checks). */
#define TP_DW3_PLANAR_S2(fh, fw, sh, sw, dh, dw, dm, c) \
    ((fh) == 3 && (fw) == 3 && (sh) == 2 && (sw) == 2 && (dh) == 1 && (dw) == 1 && (dm) == 1 && (c) % 4 == 0)
#define TP_DW3_S2_PITCH(output_w) ((output_w) + 1)
#define TP_DW3_S2_LINES(output_h) (4 * (output_h) + 2)
#define TP_DW3_S2_SCRATCH_BYTES(output_h, output_w) (4 * TP_DW3_S2_PITCH(output_w) * TP_DW3_S2_LINES(output_h) + 4)
/* The DSP's ring of rows (_dsp_rows, either shape): 3 rows of (output_w - 1) * stride + 3 words.
 * A layer reserves the most any of its variants takes: a layer whose Helium variant is the generic
 * one (no scratch) still reserves this for its DSP variant. */
#define TP_DW3_ROWS_SCRATCH_BYTES(output_w, stride_w) (4 * 3 * (((output_w) - 1) * (stride_w) + 3))

/* filter [1][filter_h][filter_w][output_c]; output channel ic * depth_multiplier + m reads
 * input channel ic. */
void tp_depthwise_conv_s8(const tp_depthwise_conv_params_t *p, const int8_t *input,
                          const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                          const int32_t *shift, int8_t *output, void *scratch);

/* The same call, optimized variants (same bytes), depth multiplier 1 only; the generator picks
 * one per layer (tinypipe/aot/ops/conv.py):
 *   _mve_3x3  Helium, TP_DW3_PLANAR shapes, scratch of TP_DW3_SCRATCH_BYTES;
 *   _mve_3x3_s2 Helium, TP_DW3_PLANAR_S2 shapes, scratch of TP_DW3_S2_SCRATCH_BYTES;
 *   _mve      Helium, any shape;
 *   _dsp_3x3  DSP, TP_DW3_PLANAR shapes, scratch of TP_DW3_SCRATCH_BYTES;
 *   _dsp_rows DSP, TP_DW3_PLANAR and TP_DW3_PLANAR_S2 shapes, scratch of TP_DW3_ROWS_SCRATCH_BYTES;
 *   _dsp_pairs DSP, channels % 4 == 0 and at most TP_DW_MAX_TAPS taps;
 *   _dsp      DSP, any shape. */
#define TP_DW_MAX_TAPS 25
void tp_depthwise_conv_s8_mve_3x3(const tp_depthwise_conv_params_t *p, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                  const int32_t *shift, int8_t *output, void *scratch);
void tp_depthwise_conv_s8_mve_3x3_s2(const tp_depthwise_conv_params_t *p, const int8_t *input,
                                     const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                     const int32_t *shift, int8_t *output, void *scratch);
void tp_depthwise_conv_s8_mve(const tp_depthwise_conv_params_t *p, const int8_t *input,
                              const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                              const int32_t *shift, int8_t *output, void *scratch);
void tp_depthwise_conv_s8_dsp_3x3(const tp_depthwise_conv_params_t *p, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                  const int32_t *shift, int8_t *output, void *scratch);
void tp_depthwise_conv_s8_dsp_rows(const tp_depthwise_conv_params_t *p, const int8_t *input,
                                   const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                   const int32_t *shift, int8_t *output, void *scratch);
void tp_depthwise_conv_s8_dsp_pairs(const tp_depthwise_conv_params_t *p, const int8_t *input,
                                    const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                                    const int32_t *shift, int8_t *output, void *scratch);
void tp_depthwise_conv_s8_dsp(const tp_depthwise_conv_params_t *p, const int8_t *input,
                              const int8_t *filter, const int32_t *bias, const int32_t *multiplier,
                              const int32_t *shift, int8_t *output, void *scratch);

#ifdef __cplusplus
}
#endif

#endif /* TP_DEPTHWISE_CONV_S8_H */
