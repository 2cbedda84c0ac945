#include "pad_s8.h"

#include <string.h>

static int inside(int32_t out_index, int32_t before, int32_t input_dim) {
    return out_index >= before && out_index < before + input_dim;
}

void tp_pad_s8(const tp_pad_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t row = p->output_dims[3];
    const int32_t before = p->pad_before[3];
    const int32_t after = row - before - p->input_dims[3];
    for (int32_t o0 = 0; o0 < p->output_dims[0]; ++o0) {
        for (int32_t o1 = 0; o1 < p->output_dims[1]; ++o1) {
            for (int32_t o2 = 0; o2 < p->output_dims[2]; ++o2) {
                if (inside(o0, p->pad_before[0], p->input_dims[0]) &&
                    inside(o1, p->pad_before[1], p->input_dims[1]) &&
                    inside(o2, p->pad_before[2], p->input_dims[2])) {
                    memset(output, p->pad_value, (size_t)before);
                    memcpy(output + before, input, (size_t)p->input_dims[3]);
                    memset(output + before + p->input_dims[3], p->pad_value, (size_t)after);
                    input += p->input_dims[3]; /* input rows are visited in order */
                } else {
                    memset(output, p->pad_value, (size_t)row);
                }
                output += row;
            }
        }
    }
}
