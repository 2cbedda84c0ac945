#include "maximum_minimum_s8.h"

/* One pass over the 4-D output, selecting max (is_max != 0) or min of each pair. */
static void select(const tp_maximum_minimum_params_t *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output, int is_max) {
    for (int32_t i0 = 0; i0 < p->dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < p->dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < p->dims[2]; ++i2) {
                const int8_t *a = tp_broadcast_row(input1, p->input1_strides, i0, i1, i2);
                const int8_t *b = tp_broadcast_row(input2, p->input2_strides, i0, i1, i2);
                for (int32_t i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int8_t x = a[i3 * p->input1_strides[3]];
                    const int8_t y = b[i3 * p->input2_strides[3]];
                    *output++ = (x > y) == (is_max != 0) ? x : y;
                }
            }
        }
    }
}

void tp_maximum_s8(const tp_maximum_minimum_params_t *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output) {
    select(p, input1, input2, output, 1);
}

void tp_minimum_s8(const tp_maximum_minimum_params_t *p, const int8_t *input1, const int8_t *input2,
                   int8_t *output) {
    select(p, input1, input2, output, 0);
}
