/* pooling_s16 - AVERAGE_POOL_2D and MAX_POOL_2D with int16 activations (LiteRT's
 * reference_integer_ops int16 pools); the parameters are pooling_s8's tp_pool_params_t. */
#ifndef TP_POOLING_S16_H
#define TP_POOLING_S16_H

#include "common_s16.h"
#include "pooling_s8.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mean over the valid part of each window, rounded half away from zero. */
void tp_average_pool_s16(const tp_pool_params_t *p, const int16_t *input, int16_t *output);

/* Maximum over the valid part of each window. */
void tp_max_pool_s16(const tp_pool_params_t *p, const int16_t *input, int16_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_POOLING_S16_H */
