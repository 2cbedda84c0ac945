/* lut_s16 - LOGISTIC and TANH with int16 activations (16x8 quantization), as LiteRT's built-in
 * kernels compute them. Input and output zero points are 0; the output scale is 2^-15.
 *
 * Which algorithm LiteRT runs depends on the input scale (its prepare step, reproduced offline
 * by tinypipe.aot.s16):
 *
 * - general scales: the input is rescaled to units of 1 / (3 * 2^12) (`input_multiplier`,
 *   `input_left_shift`), and the output interpolated linearly between the entries of a 256-entry
 *   sigmoid table (sigmoid(i / 24) in 0.16 fixed point; tanh(x) = 2 sigmoid(2x) - 1) with 9
 *   (LOGISTIC) or 8 (TANH) fraction bits. `tp_logistic_s16`, `tp_tanh_s16`.
 * - an input scale of 2^-12 (TANH also 2^-11), within LiteRT's 1e-3 tolerance on log2: gemmlowp's
 *   16-bit fixed-point logistic / tanh on a Q3.12 input (exp by a polynomial and a barrel shifter
 *   of exp(-2^k) constants, 1/(1+x) by three Newton-Raphson steps). `tp_logistic_pot_s16`,
 *   `tp_tanh_pot_s16`.
 *
 * The int32 products wrap as LiteRT's do on two's-complement targets; output may alias input. */
#ifndef TP_LUT_S16_H
#define TP_LUT_S16_H

#include "common_s16.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Entries of the sigmoid table: sigmoid(i / 24) for i = 0..255 (the input range [0, 10.7)). */
#define TP_SIGMOID_S16_ENTRIES 256
/* The table holds 65536 * sigmoid(i / 24) - TP_SIGMOID_S16_TABLE_OFFSET (sigmoid >= 1/2), in int16. */
#define TP_SIGMOID_S16_TABLE_OFFSET 32768

typedef struct {
    int32_t size;             /* elements */
    int32_t input_multiplier; /* round-down of input_scale * 3 * 2^12 * 2^input_left_shift */
    int32_t input_left_shift; /* the rescaled input is (x * input_multiplier) >> input_left_shift, rounded */
} tp_sigmoid_s16_params_t;

typedef struct {
    int32_t size;         /* elements */
    int32_t input_double; /* TANH with input scale 2^-11: the input is doubled (saturating) into Q3.12 */
} tp_sigmoid_pot_s16_params_t;

void tp_logistic_s16(const tp_sigmoid_s16_params_t *p, const int16_t *input, const int16_t *sigmoid_table,
                     int16_t *output);
void tp_tanh_s16(const tp_sigmoid_s16_params_t *p, const int16_t *input, const int16_t *sigmoid_table,
                 int16_t *output);
void tp_logistic_pot_s16(const tp_sigmoid_pot_s16_params_t *p, const int16_t *input, int16_t *output);
void tp_tanh_pot_s16(const tp_sigmoid_pot_s16_params_t *p, const int16_t *input, int16_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TP_LUT_S16_H */
