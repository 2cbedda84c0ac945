#include "variable.h"

#include <string.h>

void tp_variable_copy(const tp_variable_params_t *p, const int8_t *input, int8_t *output) {
    memcpy(output, input, (size_t)p->bytes); /* never overlapping: a variable's buffer is its own */
}
