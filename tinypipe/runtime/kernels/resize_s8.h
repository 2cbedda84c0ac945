/* resize_s8 - RESIZE_NEAREST_NEIGHBOR (a gather of whole pixels) and RESIZE_BILINEAR, int8, NHWC. */
#ifndef TP_RESIZE_S8_H
#define TP_RESIZE_S8_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t batches, input_h, input_w, channels;
    int32_t output_h, output_w;
} tp_resize_params_t;

/* output[b][y][x][:] = input[b][rows[y]][cols[x]][:]. The source row of every output row and the
 * source column of every output column are computed offline with LiteRT's float rule
 * (reference_ops::GetNearestNeighbor: align_corners, half_pixel_centers). */
void tp_resize_nearest_s8(const tp_resize_params_t *p, const int8_t *input, const int16_t *rows,
                          const int16_t *cols, int8_t *output);

/* Fixed-point unit of the bilinear weights: LiteRT's ResizeBilinearInteger works in 1/1024ths. */
#define TP_RESIZE_ONE 1024

/* LiteRT's int8 RESIZE_BILINEAR (reference_ops::ResizeBilinearInteger, integer only): rows[3 * y]
 * = (y0, y1, wy) gives output row y's two source rows and the 10-bit weight of y1 (the lowering
 * evaluates ComputeInterpolationValuesInteger; wy may be negative at a half-pixel border), cols
 * likewise per output column; each output is the weighted sum of 4 pixels divided by 2^20, half
 * away from zero. |sum| <= 128 * 2048^2 = 2^29 fits int32. */
void tp_resize_bilinear_s8(const tp_resize_params_t *p, const int8_t *input, const int16_t *rows,
                           const int16_t *cols, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_RESIZE_S8_H */
