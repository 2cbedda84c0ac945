#include "lut_s8.h"

void tp_lut_s8(const tp_lut_params_t *p, const int8_t *input, const int8_t *table, int8_t *output) {
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = table[(int32_t)input[i] - TP_INT8_MIN];
    }
}
