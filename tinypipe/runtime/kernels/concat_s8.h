/* concat_s8 - CONCATENATION, int8 (LiteRT requires every input to share the output's
 * quantization, so concatenation is pure copying). */
#ifndef TP_CONCAT_S8_H
#define TP_CONCAT_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t num_inputs;
    int32_t outer;        /* product of the dimensions before the axis */
    int32_t output_block; /* elements per outer index in the output (sum of the input blocks) */
} tp_concat_params_t;

/* inputs[i] contributes input_blocks[i] contiguous elements per outer index. */
void tp_concat_s8(const tp_concat_params_t *p, const int8_t *const *inputs, const int32_t *input_blocks,
                  int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_CONCAT_S8_H */
