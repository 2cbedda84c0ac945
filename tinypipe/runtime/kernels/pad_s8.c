#include "pad_s8.h"

#include <string.h>

static int inside(int32_t out_index, int32_t before, int32_t input_dim) {
    return out_index >= before && out_index < before + input_dim;
}

void tp_pad_s8(const tp_pad_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t *in = p->input_dims, *out = p->output_dims, *pad = p->pad_before;
    const int32_t row = out[4];
    const int32_t before = pad[4];
    const int32_t after = row - before - in[4];
    for (int32_t o0 = 0; o0 < out[0]; ++o0) {
        for (int32_t o1 = 0; o1 < out[1]; ++o1) {
            for (int32_t o2 = 0; o2 < out[2]; ++o2) {
                for (int32_t o3 = 0; o3 < out[3]; ++o3) {
                    if (inside(o0, pad[0], in[0]) && inside(o1, pad[1], in[1]) && inside(o2, pad[2], in[2]) &&
                        inside(o3, pad[3], in[3])) {
                        memset(output, p->pad_value, (size_t)before);
                        memcpy(output + before, input, (size_t)in[4]);
                        memset(output + before + in[4], p->pad_value, (size_t)after);
                        input += in[4]; /* input rows are visited in order */
                    } else {
                        memset(output, p->pad_value, (size_t)row);
                    }
                    output += row;
                }
            }
        }
    }
}
