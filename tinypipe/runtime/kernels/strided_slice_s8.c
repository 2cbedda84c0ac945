#include "strided_slice_s8.h"

void tp_strided_slice_s8(const tp_strided_slice_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t *n = p->counts, *s = p->strides;
    for (int32_t i0 = 0; i0 < n[0]; ++i0) {
        for (int32_t i1 = 0; i1 < n[1]; ++i1) {
            for (int32_t i2 = 0; i2 < n[2]; ++i2) {
                for (int32_t i3 = 0; i3 < n[3]; ++i3) {
                    const int8_t *row = input + p->start + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3];
                    for (int32_t i4 = 0; i4 < n[4]; ++i4) {
                        *output++ = row[i4 * s[4]];
                    }
                }
            }
        }
    }
}
