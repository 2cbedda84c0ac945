/* add_s8 - ADD, int8, with up to 4-D broadcasting (TFLite's quantized Add arithmetic). */
#ifndef TP_ADD_S8_H
#define TP_ADD_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t dims[4];          /* output shape, padded to 4-D on the left with 1s */
    int32_t input1_strides[4]; /* element strides per output dim; 0 where input1 is broadcast */
    int32_t input2_strides[4];
    int32_t left_shift;       /* 20: headroom before rescaling both inputs to a common scale */
    int32_t input1_offset, input1_multiplier, input1_shift;
    int32_t input2_offset, input2_multiplier, input2_shift;
    int32_t output_offset, output_multiplier, output_shift;
    int32_t act_min, act_max;
} tp_add_params_t;

/* Same-shape inputs (all strides dense) may alias the output: element k is read before written. */
void tp_add_s8(const tp_add_params_t *p, const int8_t *input1, const int8_t *input2, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_ADD_S8_H */
