/* squared_difference_s8 - SQUARED_DIFFERENCE, int8, with up to 4-D broadcasting. */
#ifndef TP_SQUARED_DIFFERENCE_S8_H
#define TP_SQUARED_DIFFERENCE_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t dims[4];           /* output shape, padded to 4-D on the left with 1s */
    int32_t input1_strides[4]; /* element strides per output dim; 0 where input1 is broadcast */
    int32_t input2_strides[4];
    int32_t output_offset, output_multiplier, output_shift;
} tp_squared_difference_params_t;

/* LiteRT's int8 SquaredDifference: each input moves to a common scale (2 * max input scale, 7 bits
 * of headroom), the difference is squared and requantized (ties away from zero). The rescaled value
 * of every int8 input depends on that value only, so table1/table2 hold it at index (uint8_t)v,
 * computed offline (tinypipe.aot.ops.squared_difference); |difference| < 2^15, so the square fits.
 * Same-shape inputs may alias the output. */
void tp_squared_difference_s8(const tp_squared_difference_params_t *p, const int8_t *input1,
                              const int8_t *input2, const int32_t *table1, const int32_t *table2,
                              int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_SQUARED_DIFFERENCE_S8_H */
