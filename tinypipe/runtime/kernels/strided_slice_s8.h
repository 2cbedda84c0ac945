/* strided_slice_s8 - STRIDED_SLICE, SLICE and TRANSPOSE, int8, up to 5-D: a strided gather. */
#ifndef TP_STRIDED_SLICE_S8_H
#define TP_STRIDED_SLICE_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_GATHER_MAX_RANK 5

typedef struct {
    int32_t start;                       /* element offset of the first selected input element */
    int32_t counts[TP_GATHER_MAX_RANK];  /* selected elements per axis (the output shape, padded to 5-D) */
    int32_t strides[TP_GATHER_MAX_RANK]; /* input element step per axis: slice stride x axis stride; may be < 0 */
} tp_strided_slice_params_t;

void tp_strided_slice_s8(const tp_strided_slice_params_t *p, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_STRIDED_SLICE_S8_H */
