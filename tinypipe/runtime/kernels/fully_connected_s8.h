/* fully_connected_s8 - FULLY_CONNECTED, int8, per-tensor or per-channel weights. */
#ifndef TP_FULLY_CONNECTED_S8_H
#define TP_FULLY_CONNECTED_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t batches;
    int32_t accum_depth;  /* inputs per output */
    int32_t output_depth; /* outputs per batch */
    int32_t output_offset;
    int32_t act_min, act_max;
    /* 1 when every row satisfies tp_smmlar's conditions (|acc| < 2^30 for any input, 1 <= -shift
     * <= 22; checked offline by the generator, as tp_conv_params_t.doubled): the DSP variant then
     * requantizes twice the accumulator with SMMLAR + ASR + SSAT. */
    int32_t doubled;
} tp_fully_connected_params_t;

/* weights: [output_depth][accum_depth] permuted offline (tinypipe.aot.ops.fully_connected.interleave_rows)
 * for every variant: each block of 4 rows o..o+3 (at offset o * accum_depth) holds groups of 4
 * inputs [r0 k..k+3][r1 k..k+3][r2 k..k+3][r3 k..k+3] for k < accum_depth & ~3, then the
 * accum_depth % 4 last inputs [r0 tail][r1 tail][r2 tail][r3 tail]; the output_depth % 4 last rows
 * stay row-major. `weights` is word-aligned (TP_ARENA_ALIGN). `bias` already holds
 * bias[o] - input_zero_point * sum(weights[o]) (folded offline, exact in int32), so the inner
 * loop is a plain int8 dot product. multiplier/shift have output_depth entries (a per-tensor
 * scale is repeated). */
void tp_fully_connected_s8(const tp_fully_connected_params_t *p, const int8_t *input,
                           const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                           const int32_t *shift, int8_t *output);

/* The same call, DSP extension (fully_connected_s8_dsp.c) and Helium (fully_connected_s8_mve.c)
 * variants: same bytes. */
void tp_fully_connected_s8_dsp(const tp_fully_connected_params_t *p, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                               const int32_t *shift, int8_t *output);
void tp_fully_connected_s8_mve(const tp_fully_connected_params_t *p, const int8_t *input,
                               const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                               const int32_t *shift, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_FULLY_CONNECTED_S8_H */
