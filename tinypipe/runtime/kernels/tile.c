/*
 * tile.c - TILE (LiteRT's tile.cc: the same values in the same order, a pure data movement).
 */
#include "tile.h"

#include <string.h>

/* Tile dimensions d.. of the block at `in` into `out`; returns the bytes written. */
static int32_t tile_from(const tp_tile_params_t *p, const int32_t *dims, const int32_t *multiples, int32_t d,
                         const int8_t *in, int8_t *out) {
    int32_t in_stride = p->element_bytes; /* bytes of one index of dimension d in the input */
    for (int32_t k = d + 1; k < p->rank; ++k) {
        in_stride *= dims[k];
    }
    int32_t block = 0;
    if (d == p->rank - 1) {
        block = dims[d] * p->element_bytes;
        memcpy(out, in, (size_t)block);
    } else {
        for (int32_t i = 0; i < dims[d]; ++i) {
            block += tile_from(p, dims, multiples, d + 1, in + i * in_stride, out + block);
        }
    }
    for (int32_t m = 1; m < multiples[d]; ++m) {
        memcpy(out + m * block, out, (size_t)block);
    }
    return block * multiples[d];
}

void tp_tile(const tp_tile_params_t *p, const void *input, const int32_t *dims, const int32_t *multiples,
             void *output) {
    (void)tile_from(p, dims, multiples, 0, (const int8_t *)input, (int8_t *)output); /* bytes */
}
