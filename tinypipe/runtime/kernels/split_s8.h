/* split_s8 - SPLIT, SPLIT_V and UNPACK, int8: the inverse of concat_s8 (block copies; LiteRT keeps
 * the input's quantization on every output). */
#ifndef TP_SPLIT_S8_H
#define TP_SPLIT_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t num_outputs;
    int32_t outer;       /* product of the dimensions before the axis */
    int32_t input_block; /* elements per outer index in the input (sum of the output blocks) */
} tp_split_params_t;

/* outputs[i] receives output_blocks[i] contiguous elements per outer index. */
void tp_split_s8(const tp_split_params_t *p, const int8_t *input, const int32_t *output_blocks,
                 int8_t *const *outputs);

#ifdef __cplusplus
}
#endif

#endif /* TP_SPLIT_S8_H */
