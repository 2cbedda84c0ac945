/* maximum_minimum_s8 - MAXIMUM and MINIMUM, int8, with up to 4-D broadcasting.
 *
 * LiteRT compares the raw int8 values (the converter gives both inputs the output's
 * quantization), so these kernels select bytes and never rescale. */
#ifndef TP_MAXIMUM_MINIMUM_S8_H
#define TP_MAXIMUM_MINIMUM_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t dims[4];           /* output shape, padded to 4-D on the left with 1s */
    int32_t input1_strides[4]; /* element strides per output dim; 0 where input1 is broadcast */
    int32_t input2_strides[4];
} tp_maximum_minimum_params_t;

/* output = max(input1, input2) element-wise; same-shape inputs may alias the output. */
void tp_maximum_s8(const tp_maximum_minimum_params_t *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output);

/* output = min(input1, input2) element-wise; same-shape inputs may alias the output. */
void tp_minimum_s8(const tp_maximum_minimum_params_t *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_MAXIMUM_MINIMUM_S8_H */
