/* variable - READ_VARIABLE and ASSIGN_VARIABLE: copies between a resource variable's persistent
 * buffer in the arena and an activation tensor. */
#ifndef TP_VARIABLE_H
#define TP_VARIABLE_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t bytes; /* the variable's size: its type's size x its elements */
} tp_variable_params_t;

/* Copy `bytes` raw bytes (a variable's value keeps its quantization: TFLite copies bytes too). */
void tp_variable_copy(const tp_variable_params_t *p, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_VARIABLE_H */
