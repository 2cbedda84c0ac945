/* softmax_s16 - SOFTMAX with int16 activations (16x8 quantization), as LiteRT's built-in kernel
 * computes it (reference_ops::SoftmaxInt16): input zero point 0, output scale 2^-15, zero point 0.
 *
 * Per row: each distance to the row maximum is rescaled so that [-10, 0] spans [-65535, 0]
 * (`input_multiplier`, `input_shift`: MultiplyByQuantizedMultiplier, ties away from zero),
 * recentred to int16 and looked up in `exp_table` (exp on [-10, 0]); the sum of the exps is
 * normalized to [1, 2) and its reciprocal looked up in `reciprocal_table` (1 / (1 + x) on [0, 1]).
 * Both tables have TP_SOFTMAX_S16_TABLE_ENTRIES entries, built offline by the generator exactly as
 * LiteRT's LUTPopulate<int16_t> builds them, and are read with linear interpolation between the
 * entry of the top 9 bits and the next (7 fraction bits). The exps are kept in `output` between
 * the passes, so output may alias input. */
#ifndef TP_SOFTMAX_S16_H
#define TP_SOFTMAX_S16_H

#include "common_s16.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 512 interpolation intervals over the int16 range, plus the end point of the last. */
#define TP_SOFTMAX_S16_TABLE_ENTRIES 513

typedef struct {
    int32_t rows;  /* product of all but the last dimension */
    int32_t depth; /* last dimension: softmax runs along it (at most 65536: the int32 sum) */
    int32_t input_multiplier;
    int32_t input_shift;
} tp_softmax_s16_params_t;

void tp_softmax_s16(const tp_softmax_s16_params_t *p, const int16_t *input, const int16_t *exp_table,
                    const int16_t *reciprocal_table, int16_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_SOFTMAX_S16_H */
