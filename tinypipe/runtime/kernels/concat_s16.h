/* concat_s16 - CONCATENATION with int16 activations (every input shares the output's
 * quantization: block copies); the parameters are concat_s8's tp_concat_params_t. */
#ifndef TP_CONCAT_S16_H
#define TP_CONCAT_S16_H

#include "common_s16.h"
#include "concat_s8.h"

#ifdef __cplusplus
extern "C" {
#endif

/* inputs[i] contributes input_blocks[i] contiguous elements per outer index. */
void tp_concat_s16(const tp_concat_params_t *p, const int16_t *const *inputs, const int32_t *input_blocks,
                   int16_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_CONCAT_S16_H */
