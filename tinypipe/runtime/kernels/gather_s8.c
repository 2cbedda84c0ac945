#include "gather_s8.h"

#include <string.h>

void tp_gather_s8(const tp_gather_params_t *p, const int8_t *input, const int32_t *indices, int8_t *output) {
    for (int32_t o = 0; o < p->outer; ++o) {
        const int8_t *slab = input + o * p->axis_size * p->inner;
        for (int32_t k = 0; k < p->num_indices; ++k) {
            memcpy(output, slab + indices[k] * p->inner, (size_t)p->inner);
            output += p->inner;
        }
    }
}
