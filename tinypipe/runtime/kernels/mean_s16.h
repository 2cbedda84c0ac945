/* mean_s16 - MEAN over any set of axes with int16 activations (16x8 quantization): LiteRT's
 * reference_ops::QuantizedMeanOrSum (int32 sums, 1/count folded into the Q31 multiplier offline,
 * MultiplyByQuantizedMultiplier with ties away from zero); the parameters are mean_s8's
 * tp_mean_params_t (sum_offset and output_offset are 0, upward_channels unused). */
#ifndef TP_MEAN_S16_H
#define TP_MEAN_S16_H

#include "common_s16.h"
#include "mean_s8.h"

#ifdef __cplusplus
extern "C" {
#endif

void tp_mean_s16(const tp_mean_params_t *p, const int16_t *input, int16_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_MEAN_S16_H */
