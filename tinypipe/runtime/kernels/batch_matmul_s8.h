/* batch_matmul_s8 - BATCH_MATMUL, int8 x int8 -> int8 (both operands activations, or either constant). */
#ifndef TP_BATCH_MATMUL_S8_H
#define TP_BATCH_MATMUL_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_BATCH_MATMUL_BATCH_DIMS 3 /* LiteRT's limit: rank 5 = 3 batch axes + a matrix */

typedef struct {
    int32_t batch_dims[TP_BATCH_MATMUL_BATCH_DIMS];    /* output batch shape (broadcast of both) */
    int32_t lhs_batch_strides[TP_BATCH_MATMUL_BATCH_DIMS]; /* element strides, 0 where broadcast */
    int32_t rhs_batch_strides[TP_BATCH_MATMUL_BATCH_DIMS];
    int32_t rows, cols, depth;              /* output matrix rows x cols, summed over depth */
    int32_t lhs_row_stride, lhs_depth_stride; /* adj_x swaps these (a transposed read) */
    int32_t rhs_depth_stride, rhs_col_stride; /* adj_y swaps these */
    int32_t lhs_offset, rhs_offset;         /* -zero point of each operand */
    int32_t output_offset;
    int32_t multiplier, shift;              /* lhs_scale * rhs_scale / output_scale */
} tp_batch_matmul_params_t;

/* output[b][i][j] = requantize(sum_k (lhs[b][i][k] + lhs_offset) * (rhs[b][k][j] + rhs_offset)),
 * as LiteRT's reference_ops::BatchMatMul (its only int8 path): an exact int32 sum, then
 * MultiplyByQuantizedMultiplier (ties away from zero), no fused activation. The output is dense
 * row-major [batch...][rows][cols]. */
void tp_batch_matmul_s8(const tp_batch_matmul_params_t *p, const int8_t *lhs, const int8_t *rhs,
                        int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_BATCH_MATMUL_S8_H */
