#include "squared_difference_s8.h"

void tp_squared_difference_s8(const tp_squared_difference_params_t *p, const int8_t *input1,
                              const int8_t *input2, const int32_t *table1, const int32_t *table2,
                              int8_t *output) {
    for (int32_t i0 = 0; i0 < p->dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < p->dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < p->dims[2]; ++i2) {
                const int8_t *a = tp_broadcast_row(input1, p->input1_strides, i0, i1, i2);
                const int8_t *b = tp_broadcast_row(input2, p->input2_strides, i0, i1, i2);
                for (int32_t i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int32_t diff = table1[(uint8_t)a[i3 * p->input1_strides[3]]] -
                                         table2[(uint8_t)b[i3 * p->input2_strides[3]]];
                    *output++ = tp_requantize(diff * diff, p->output_multiplier, p->output_shift,
                                              p->output_offset, TP_INT8_MIN, TP_INT8_MAX);
                }
            }
        }
    }
}
