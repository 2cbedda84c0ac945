/* prelu_s8 - PRELU, int8, with up to 4-D broadcasting of alpha (LiteRT's reference Prelu). */
#ifndef TP_PRELU_S8_H
#define TP_PRELU_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t dims[4];           /* output shape, padded to 4-D on the left with 1s */
    int32_t input_strides[4];  /* element strides per output dim; 0 where broadcast */
    int32_t alpha_strides[4];
    int32_t input_offset, alpha_offset, output_offset; /* minus the input/alpha zero points; output zp */
    int32_t identity_multiplier, identity_shift;       /* input_scale / output_scale */
    int32_t alpha_multiplier, alpha_shift;             /* input_scale * alpha_scale / output_scale */
} tp_prelu_params_t;

/* x = input - zp: output = zp_out + requantize(x) for x >= 0, zp_out + requantize(x * (alpha - zp_a))
 * otherwise, saturated (ties away from zero). The input may alias the output. */
void tp_prelu_s8(const tp_prelu_params_t *p, const int8_t *input, const int8_t *alpha, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_PRELU_S8_H */
