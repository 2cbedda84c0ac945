/* lut_s8 - any int8 -> int8 function of one element, as a 256-entry table built offline.
 *
 * LOGISTIC, TANH and HARD_SWISH lower to this kernel: the generator evaluates LiteRT's own
 * int8 algorithm (its float lookup-table construction, or its int16 fixed-point arithmetic)
 * for all 256 inputs, so one load per element reproduces it bit for bit. */
#ifndef TP_LUT_S8_H
#define TP_LUT_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Entries in a table: one per int8 value, table[0] is the output for input -128. */
#define TP_LUT_S8_ENTRIES 256

typedef struct {
    int32_t size; /* elements */
} tp_lut_params_t;

/* output[i] = table[input[i] - INT8_MIN]; output may alias input. */
void tp_lut_s8(const tp_lut_params_t *p, const int8_t *input, const int8_t *table, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_LUT_S8_H */
