/* pad_s8 - PAD / PADV2, int8, up to 5-D (LiteRT's limit): surround the input with a constant value. */
#ifndef TP_PAD_S8_H
#define TP_PAD_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_PAD_MAX_RANK 5

typedef struct {
    int32_t input_dims[TP_PAD_MAX_RANK];  /* padded to 5-D on the left with 1s */
    int32_t output_dims[TP_PAD_MAX_RANK];
    int32_t pad_before[TP_PAD_MAX_RANK];  /* elements added before the input along each axis (0 on added axes) */
    int32_t pad_value;                    /* the quantized pad value (PAD: the output zero point) */
} tp_pad_params_t;

void tp_pad_s8(const tp_pad_params_t *p, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_PAD_S8_H */
