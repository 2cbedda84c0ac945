/* mean_s8 - MEAN over any set of axes, int8 (both of LiteRT's int8 requantization paths). */
#ifndef TP_MEAN_S8_H
#define TP_MEAN_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t output_dims[4];   /* input shape padded to 4-D, with 1 along every reduced axis */
    int32_t reduce_dims[4];   /* input shape along reduced axes, 1 along kept axes */
    int32_t input_strides[4]; /* element strides of the 4-D input */
    int32_t sum_offset;       /* added to each raw int8 sum before requantization */
    int32_t multiplier, shift, output_offset; /* 1/count and the scale change, folded offline */
    int32_t upward_channels;  /* outputs with innermost index below this round ties upward */
} tp_mean_params_t;

/* output[o] = requantize(sum of the reduced window of o + sum_offset); outputs in row-major order.
 * LiteRT's optimized 4-D H x W mean requantizes 16 channels at a time with NEON (ties upward,
 * tp_requantize_upward) and the channels % 16 last ones with the scalar rule (ties away):
 * upward_channels = channels - channels % 16 there, 0 for every other mean. */
void tp_mean_s8(const tp_mean_params_t *p, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_MEAN_S8_H */
