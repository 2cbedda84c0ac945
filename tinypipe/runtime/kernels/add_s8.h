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
    int32_t contiguous;       /* 1: both inputs have the output's shape (one flat loop) */
    int32_t output_offset, output_multiplier, output_shift;
    int32_t act_min, act_max;
} tp_add_params_t;

/* table1/table2 hold, for every int8 input value v at index (uint8_t)v, twice TFLite's rescaled input
 * 2 * MultiplyByQuantizedMultiplier((v - zp) << 20, input_multiplier, input_shift), computed offline
 * (tinypipe.aot.ops.add), so each element costs two table reads, one add and the output's
 * requantization. Same-shape inputs (all strides dense) may alias the output: element k is read
 * before it is written. */
void tp_add_s8(const tp_add_params_t *p, const int8_t *input1, const int8_t *input2, const int32_t *table1,
               const int32_t *table2, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_ADD_S8_H */
