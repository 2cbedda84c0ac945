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
} tp_fully_connected_params_t;

/* weights [output_depth][accum_depth]. `bias` already holds
 * bias[o] - input_zero_point * sum(weights[o]) (folded offline, exact in int32), so the inner
 * loop is a plain int8 dot product. multiplier/shift have output_depth entries (a per-tensor
 * scale is repeated). */
void tp_fully_connected_s8(const tp_fully_connected_params_t *p, const int8_t *input,
                           const int8_t *weights, const int32_t *bias, const int32_t *multiplier,
                           const int32_t *shift, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_FULLY_CONNECTED_S8_H */
