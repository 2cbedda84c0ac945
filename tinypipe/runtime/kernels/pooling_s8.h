/* pooling_s8 - AVERAGE_POOL_2D and MAX_POOL_2D, int8 (input and output share quantization). */
#ifndef TP_POOLING_S8_H
#define TP_POOLING_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t batches;
    int32_t input_h, input_w, channels;
    int32_t output_h, output_w;
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left; /* padded positions are excluded from the window */
    int32_t act_min, act_max;
} tp_pool_params_t;

/* Mean over the valid part of each window, rounded half away from zero. */
void tp_average_pool_s8(const tp_pool_params_t *p, const int8_t *input, int8_t *output);

/* Maximum over the valid part of each window. */
void tp_max_pool_s8(const tp_pool_params_t *p, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_POOLING_S8_H */
