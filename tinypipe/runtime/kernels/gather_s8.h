/* gather_s8 - GATHER along one axis with constant indices, int8 (batch_dims 0): block copies. */
#ifndef TP_GATHER_S8_H
#define TP_GATHER_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t outer;       /* product of the input dimensions before the axis */
    int32_t axis_size;   /* input dimension along the axis */
    int32_t inner;       /* product of the input dimensions after the axis: elements per index */
    int32_t num_indices; /* indices per outer index (all of them, flattened) */
} tp_gather_params_t;

/* output[o][k][:] = input[o][indices[k]][:]; indices checked to lie in [0, axis_size) offline. */
void tp_gather_s8(const tp_gather_params_t *p, const int8_t *input, const int32_t *indices, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_GATHER_S8_H */
