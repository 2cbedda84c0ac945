#include "lut_s16.h"

/* ---- general input scales: rescale, then interpolate the sigmoid table ---------------------- */

/* Input units per table step: the rescaled input counts 1 / (3 * 2^12); the table steps by 1/24
 * = 2^9 units for LOGISTIC, and by 1/48 = 2^8 units for TANH (tanh(x) = 2 sigmoid(2x) - 1). */
#define LOGISTIC_STEP_BITS 9
#define TANH_STEP_BITS 8
/* The last table entry: inputs from here on saturate. */
#define SIGMOID_LAST_ENTRY (TP_SIGMOID_S16_ENTRIES - 1)
/* Interpolated sigmoid in 0.(16 + step bits) fixed point: one is 2^(16 + step bits). */
#define LOGISTIC_ONE_BITS (16 + LOGISTIC_STEP_BITS)
/* LOGISTIC's saturated 0.25 result: 0x7FFF in the 0.15 output, before the step-bit rounding shift. */
#define LOGISTIC_SATURATED ((uint32_t)TP_INT16_MAX << (LOGISTIC_STEP_BITS + 1))
/* TANH's saturated result: sigmoid 0xFFFF in 0.16, scaled by the step bits. */
#define TANH_SATURATED ((uint32_t)0xFFFF << TANH_STEP_BITS)
/* TANH: 2 sigmoid - 1 in the 0.(16 + 8) scale is sigmoid - 1/2 there, then >> (step bits), so
 * one half is 2^(15 + 8) and the final shift keeps 16 - 1 fraction bits. */
#define TANH_HALF ((int32_t)1 << (15 + TANH_STEP_BITS))
#define TANH_OUTPUT_SHIFT TANH_STEP_BITS
#define TANH_ROUND ((int32_t)1 << (TANH_STEP_BITS - 1))

/* (x * multiplier) >> shift rounded half up, with LiteRT's wrapping int32 product. */
TP_INLINE int32_t rescale_input(int16_t x, const tp_sigmoid_s16_params_t *p) {
    const uint32_t round = p->input_left_shift > 0 ? (uint32_t)1 << (p->input_left_shift - 1) : 0u;
    const int32_t scaled = (int32_t)((uint32_t)(int32_t)x * (uint32_t)p->input_multiplier + round);
    return scaled >> p->input_left_shift;
}

/* sigmoid(|x|) interpolated between table entries, in 0.(16 + step_bits) fixed point. */
TP_INLINE uint32_t interpolate(uint32_t magnitude, int step_bits, const int16_t *table) {
    const uint32_t entry = magnitude >> step_bits;
    const uint32_t lower = (uint32_t)(TP_SIGMOID_S16_TABLE_OFFSET + table[entry]);
    const uint32_t upper = (uint32_t)(TP_SIGMOID_S16_TABLE_OFFSET + table[entry + 1]);
    const uint32_t fraction = magnitude & (((uint32_t)1 << step_bits) - 1);
    return (lower << step_bits) + fraction * (upper - lower);
}

TP_INLINE uint32_t magnitude_of(int32_t x) { return x < 0 ? 0u - (uint32_t)x : (uint32_t)x; }

void tp_logistic_s16(const tp_sigmoid_s16_params_t *p, const int16_t *input, const int16_t *sigmoid_table,
                     int16_t *output) {
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t x = rescale_input(input[i], p);
        const uint32_t magnitude = magnitude_of(x);
        const uint32_t sigmoid = (magnitude >> LOGISTIC_STEP_BITS) >= SIGMOID_LAST_ENTRY
                                     ? LOGISTIC_SATURATED
                                     : interpolate(magnitude, LOGISTIC_STEP_BITS, sigmoid_table);
        /* sigmoid(-x) = 1 - sigmoid(x); round to the 0.15 output */
        const uint32_t half = (uint32_t)1 << LOGISTIC_STEP_BITS;
        const uint32_t result = x >= 0 ? sigmoid + half : ((uint32_t)1 << LOGISTIC_ONE_BITS) - sigmoid + half - 1u;
        output[i] = (int16_t)(result >> (LOGISTIC_STEP_BITS + 1));
    }
}

void tp_tanh_s16(const tp_sigmoid_s16_params_t *p, const int16_t *input, const int16_t *sigmoid_table,
                 int16_t *output) {
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t x = rescale_input(input[i], p);
        const uint32_t magnitude = magnitude_of(x);
        const int32_t sigmoid = (int32_t)((magnitude >> TANH_STEP_BITS) >= SIGMOID_LAST_ENTRY
                                              ? TANH_SATURATED
                                              : interpolate(magnitude, TANH_STEP_BITS, sigmoid_table));
        /* tanh(x) = 2 sigmoid(2x) - 1, odd */
        const int32_t result = x >= 0 ? sigmoid - TANH_HALF + TANH_ROUND : -sigmoid + TANH_HALF + TANH_ROUND - 1;
        output[i] = (int16_t)(result >> TANH_OUTPUT_SHIFT);
    }
}

/* ---- input scale 2^-12 (Q3.12): gemmlowp's 16-bit fixed-point logistic / tanh ---------------- */

/* Q0.15 constants, round(value * 2^15) (Q2.13 where noted): gemmlowp's Q0.31 constants reduced to
 * 16 bits with a rounding shift. */
#define Q15_ONE TP_INT16_MAX
#define Q15_HALF 16384
#define Q15_ONE_EIGHTH 4096
#define Q15_EXP_MINUS_ONE_EIGHTH 28918 /* exp(-1/8) */
#define Q15_ONE_THIRD 10923
#define Q13_ONE 8192                   /* 1.0 in Q2.13 */
#define Q13_48_OVER_17 23130           /* 48/17 in Q2.13: Newton-Raphson start for 1/(1+x) */
#define Q13_MINUS_32_OVER_17 (-15420)  /* -32/17 in Q2.13 */
#define NEWTON_STEPS 3

/* exp(-2^k) for k = -2..3, applied per set bit of the argument's integer / high fraction part. */
static const int16_t exp_minus_pow2[] = {
    25520, /* exp(-1/4) */
    19875, /* exp(-1/2) */
    12055, /* exp(-1) */
    4435,  /* exp(-2) */
    600,   /* exp(-4) */
    11,    /* exp(-8) */
};
#define EXP_BARREL_FIRST_EXPONENT (-2)

TP_INLINE int16_t wrap16(int32_t x) { return (int16_t)x; }

/* a * b in Q0.15, ties upward, -1 * -1 saturated (gemmlowp's SaturatingRoundingDoublingHighMul). */
TP_INLINE int16_t mul_q15(int16_t a, int16_t b) {
    if (a == TP_INT16_MIN && b == TP_INT16_MIN) {
        return TP_INT16_MAX;
    }
    return (int16_t)(((int32_t)a * b + (1 << 14)) >> 15);
}

/* x / 2^exponent rounded to nearest, ties away from zero. */
TP_INLINE int16_t divide_by_pot(int16_t x, int exponent) {
    const int32_t mask = (1 << exponent) - 1;
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

/* x * 2^exponent, saturating. */
TP_INLINE int16_t saturating_shift_left(int16_t x, int exponent) {
    const int32_t threshold = (1 << (15 - exponent)) - 1;
    if (x > threshold) {
        return TP_INT16_MAX;
    }
    if (x < -threshold) {
        return TP_INT16_MIN;
    }
    return (int16_t)(x * (1 << exponent));
}

/* exp(a) for a in [-1/4, 0), Q0.15: Taylor series around -1/8. */
static int16_t exp_on_quarter_interval(int16_t a) {
    const int16_t x = wrap16(a + Q15_ONE_EIGHTH);
    const int16_t x2 = mul_q15(x, x);
    const int16_t x3 = mul_q15(x2, x);
    const int16_t x4 = mul_q15(x2, x2);
    const int16_t x4_over_4 = divide_by_pot(x4, 2);
    const int16_t poly = divide_by_pot(wrap16(mul_q15(wrap16(x4_over_4 + x3), Q15_ONE_THIRD) + x2), 1);
    const int32_t sum = Q15_EXP_MINUS_ONE_EIGHTH + mul_q15(Q15_EXP_MINUS_ONE_EIGHTH, wrap16(x + poly));
    return (int16_t)tp_clamp(sum, TP_INT16_MIN, TP_INT16_MAX);
}

/* exp(a) for a <= 0 given with `integer_bits` integer bits, Q0.15 result. */
static int16_t exp_on_negative_values(int16_t a, int integer_bits) {
    const int fraction_bits = 15 - integer_bits;
    const int16_t quarter = (int16_t)(1 << (fraction_bits - 2));
    const int16_t a_mod_quarter_minus_quarter = wrap16((a & (quarter - 1)) - quarter);
    int16_t result = exp_on_quarter_interval(saturating_shift_left(a_mod_quarter_minus_quarter, integer_bits));
    const int16_t remainder = wrap16(a_mod_quarter_minus_quarter - a);
    for (int k = EXP_BARREL_FIRST_EXPONENT; k < integer_bits; ++k) {
        if (remainder & (1 << (fraction_bits + k))) {
            result = mul_q15(result, exp_minus_pow2[k - EXP_BARREL_FIRST_EXPONENT]);
        }
    }
    return a == 0 ? Q15_ONE : result;
}

/* Newton-Raphson for 1 / (1 + a), a in [0, 1] in Q0.15; returns x ~ 2 / (1 + a) in Q2.13. */
static int16_t two_over_one_plus(int16_t a) {
    const int32_t sum = a + Q15_ONE;
    const int16_t half_denominator = (int16_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int16_t x = wrap16(Q13_48_OVER_17 + mul_q15(half_denominator, Q13_MINUS_32_OVER_17));
    for (int i = 0; i < NEWTON_STEPS; ++i) {
        const int16_t one_minus = wrap16(Q13_ONE - mul_q15(half_denominator, x));
        x = wrap16(x + saturating_shift_left(mul_q15(x, one_minus), 2));
    }
    return x;
}

/* Q3.12 bits of the logistic input, Q4.11 for tanh's exp(2x). */
#define LOGISTIC_INTEGER_BITS 3
#define TANH_EXP_INTEGER_BITS 4

void tp_logistic_pot_s16(const tp_sigmoid_pot_s16_params_t *p, const int16_t *input, int16_t *output) {
    for (int32_t i = 0; i < p->size; ++i) {
        const int16_t a = input[i];
        const int16_t magnitude = a > 0 ? a : wrap16(-a);
        /* logistic(|a|) = 1 / (1 + exp(-|a|)); the Q2.13 quotient halved into Q0.15 */
        const int16_t positive = saturating_shift_left(
            two_over_one_plus(exp_on_negative_values(wrap16(-magnitude), LOGISTIC_INTEGER_BITS)), 1);
        output[i] = a == 0 ? Q15_HALF : a > 0 ? positive : wrap16(Q15_ONE - positive);
    }
}

void tp_tanh_pot_s16(const tp_sigmoid_pot_s16_params_t *p, const int16_t *input, int16_t *output) {
    for (int32_t i = 0; i < p->size; ++i) {
        const int16_t a = p->input_double ? saturating_shift_left(input[i], 1) : input[i];
        const int16_t negative = a < 0 ? a : wrap16(-a);
        /* tanh(-|a|) = -(1 - exp(-2|a|)) / (1 + exp(-2|a|)): (2 / (1 + e) - 1) in Q0.15 */
        const int16_t e = exp_on_negative_values(negative, TANH_EXP_INTEGER_BITS);
        const int16_t t = saturating_shift_left(wrap16(two_over_one_plus(e) - Q13_ONE), 2);
        output[i] = a == 0 ? 0 : a < 0 ? wrap16(-t) : t;
    }
}
