#include "concat_s16.h"

#include <string.h>

void tp_concat_s16(const tp_concat_params_t *p, const int16_t *const *inputs, const int32_t *input_blocks,
                   int16_t *output) {
    for (int32_t i = 0; i < p->num_inputs; ++i) {
        const int16_t *in = inputs[i];
        int16_t *out = output;
        for (int32_t o = 0; o < p->outer; ++o) {
            memcpy(out, in, (size_t)input_blocks[i] * sizeof *in);
            in += input_blocks[i];
            out += p->output_block;
        }
        output += input_blocks[i];
    }
}
