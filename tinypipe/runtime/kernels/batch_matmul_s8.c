#include "batch_matmul_s8.h"

/* One output matrix: rows x cols dot products of length depth, read through the strides. */
static void matmul(const tp_batch_matmul_params_t *p, const int8_t *lhs, const int8_t *rhs, int8_t *output) {
    for (int32_t i = 0; i < p->rows; ++i) {
        const int8_t *row = lhs + i * p->lhs_row_stride;
        for (int32_t j = 0; j < p->cols; ++j) {
            const int8_t *col = rhs + j * p->rhs_col_stride;
            int32_t acc = 0;
            for (int32_t k = 0; k < p->depth; ++k) {
                acc += ((int32_t)row[k * p->lhs_depth_stride] + p->lhs_offset) *
                       ((int32_t)col[k * p->rhs_depth_stride] + p->rhs_offset);
            }
            *output++ = tp_requantize(acc, p->multiplier, p->shift, p->output_offset, TP_INT8_MIN, TP_INT8_MAX);
        }
    }
}

void tp_batch_matmul_s8(const tp_batch_matmul_params_t *p, const int8_t *lhs, const int8_t *rhs,
                        int8_t *output) {
    const int32_t matrix = p->rows * p->cols;
    for (int32_t b0 = 0; b0 < p->batch_dims[0]; ++b0) {
        for (int32_t b1 = 0; b1 < p->batch_dims[1]; ++b1) {
            for (int32_t b2 = 0; b2 < p->batch_dims[2]; ++b2) {
                const int8_t *l = lhs + b0 * p->lhs_batch_strides[0] + b1 * p->lhs_batch_strides[1] +
                                  b2 * p->lhs_batch_strides[2];
                const int8_t *r = rhs + b0 * p->rhs_batch_strides[0] + b1 * p->rhs_batch_strides[1] +
                                  b2 * p->rhs_batch_strides[2];
                matmul(p, l, r, output);
                output += matrix;
            }
        }
    }
}
