#include "softmax_s16.h"

/* Table reads: the top 9 bits of the recentred int16 value pick the interval, the low 7 interpolate. */
#define TABLE_FRACTION_BITS 7
#define TABLE_CENTER 256 /* the entry of value 0 */
/* exp's argument is recentred from [-65535, 0] to [-32768, 32767]. */
#define EXP_RECENTER TP_INT16_MAX
/* The sum of exps (Q16.15) normalized to [1, 2) in Q1.30 ... */
#define SUM_NORMALIZED_SHIFT 14 /* ... then kept in 16 + 1 bits: x + 1 with x in [0, 1) as [2^16, 2^17) */
/* 1 / (1 + x) reads x recentred from [0, 65535] to [-32768, 32767]: minus (1 + 1/2) * 2^16. */
#define RECIPROCAL_RECENTER ((1 << 15) + (1 << 16))

/* table(value) interpolated linearly, as LiteRT's LUTLookup for int16. */
TP_INLINE int16_t lookup(int16_t value, const int16_t *table) {
    const int32_t index = TABLE_CENTER + (value >> TABLE_FRACTION_BITS);
    const int32_t offset = value & ((1 << TABLE_FRACTION_BITS) - 1);
    const int32_t base = table[index];
    const int32_t slope = table[index + 1] - base;
    const int32_t delta = (slope * offset + (1 << (TABLE_FRACTION_BITS - 1))) >> TABLE_FRACTION_BITS;
    return (int16_t)(base + delta);
}

/* Leading zero bits of a nonzero 32-bit value. */
TP_INLINE int32_t leading_zeros(uint32_t x) {
    int32_t n = 0;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

void tp_softmax_s16(const tp_softmax_s16_params_t *p, const int16_t *input, const int16_t *exp_table,
                    const int16_t *reciprocal_table, int16_t *output) {
    for (int32_t r = 0; r < p->rows; ++r) {
        int32_t max_val = TP_INT16_MIN;
        for (int32_t j = 0; j < p->depth; ++j) {
            max_val = tp_max(max_val, input[j]);
        }
        int32_t sum_of_exps = 0; /* Q16.15 */
        for (int32_t j = 0; j < p->depth; ++j) {
            const int32_t scaled =
                tp_multiply_by_quantized_multiplier(input[j] - max_val, p->input_multiplier, p->input_shift);
            const int16_t e = lookup(tp_clamp_s16(scaled + EXP_RECENTER, TP_INT16_MIN, TP_INT16_MAX), exp_table);
            output[j] = e;
            sum_of_exps += e;
        }
        /* sum = 2^(31 - headroom) * (1 + x): 1 / sum from the table of 1 / (1 + x) */
        const int32_t headroom_plus_one = leading_zeros((uint32_t)sum_of_exps);
        const int32_t normalized = (int32_t)((((int64_t)sum_of_exps << (headroom_plus_one - 1)) +
                                              (1 << (SUM_NORMALIZED_SHIFT - 1))) >> SUM_NORMALIZED_SHIFT);
        const int16_t reciprocal = lookup(
            tp_clamp_s16(normalized - RECIPROCAL_RECENTER, TP_INT16_MIN, TP_INT16_MAX), reciprocal_table);
        const int32_t right_shift = 31 - headroom_plus_one;
        const int64_t round = (int64_t)1 << (right_shift - 1);
        for (int32_t j = 0; j < p->depth; ++j) {
            const int32_t q = (int32_t)(((int64_t)output[j] * reciprocal + round) >> right_shift);
            output[j] = tp_clamp_s16(q, 0, TP_INT16_MAX);
        }
        input += p->depth;
        output += p->depth;
    }
}
