#include "split_s8.h"

#include <string.h>

void tp_split_s8(const tp_split_params_t *p, const int8_t *input, const int32_t *output_blocks,
                 int8_t *const *outputs) {
    for (int32_t i = 0; i < p->num_outputs; ++i) {
        const int8_t *in = input;
        int8_t *out = outputs[i];
        for (int32_t o = 0; o < p->outer; ++o) {
            memcpy(out, in, (size_t)output_blocks[i]);
            in += p->input_block;
            out += output_blocks[i];
        }
        input += output_blocks[i];
    }
}
