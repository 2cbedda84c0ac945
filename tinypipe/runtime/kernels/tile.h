/* tile - TILE: the input repeated `multiples[d]` times along every dimension d (any element size). */
#ifndef TP_TILE_H
#define TP_TILE_H

#include "../tp_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TP_TILE_MAX_RANK 6

typedef struct {
    int32_t rank;          /* 1..TP_TILE_MAX_RANK */
    int32_t element_bytes; /* 1 (int8) or 2 (int16) */
} tp_tile_params_t;

/* output = input tiled: dims[d] the input's dimensions, multiples[d] >= 1 the repeats (both `rank`
 * long). Built from the innermost dimension out, each tiled block copied with memcpy: the buffers
 * are bytes, int8 or int16 elements alike. */
void tp_tile(const tp_tile_params_t *p, const void *input, const int32_t *dims, const int32_t *multiples,
             void *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_TILE_H */
