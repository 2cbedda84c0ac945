/*
 * stub_glue.c - a stand-in runtime for protocol tests only (model numerics are tested with
 * the real `aot` model). Two inputs of STUB_IN0/STUB_IN1 bytes; output byte k is the int8
 * sum of every input byte whose position (counted across both inputs) is k mod STUB_OUT.
 */
#include "tp_glue.h"

#define STUB_IN0 8u
#define STUB_IN1 5u
#define STUB_OUT 4u
#define STUB_LAYERS 2u

static int8_t in0[STUB_IN0], in1[STUB_IN1], out[STUB_OUT];
static const char *const layer_names[STUB_LAYERS] = {"stub_sum", "stub_copy"};

int tp_glue_init(void) { return 0; }
uint32_t tp_glue_arena_bytes(void) { return STUB_IN0 + STUB_IN1 + STUB_OUT; }
uint32_t tp_glue_num_inputs(void) { return 2; }
uint32_t tp_glue_num_outputs(void) { return 1; }
int8_t *tp_glue_input(uint32_t i) { return i == 0 ? in0 : in1; }
int8_t *tp_glue_output(uint32_t i) { (void)i; return out; }
uint32_t tp_glue_input_bytes(uint32_t i) { return i == 0 ? STUB_IN0 : STUB_IN1; }
uint32_t tp_glue_output_bytes(uint32_t i) { (void)i; return STUB_OUT; }
uint32_t tp_glue_num_layers(void) { return STUB_LAYERS; }
const char *tp_glue_layer_name(uint32_t i) { return layer_names[i]; }

int tp_glue_invoke(void)
{
    uint8_t sums[STUB_OUT] = {0};
    tp_profile_begin(0);
    for (uint32_t k = 0; k < STUB_IN0 + STUB_IN1; k++) {
        sums[k % STUB_OUT] += (uint8_t)(k < STUB_IN0 ? in0[k] : in1[k - STUB_IN0]);
    }
    tp_profile_end(0);
    tp_profile_begin(1);
    for (uint32_t k = 0; k < STUB_OUT; k++) {
        out[k] = (int8_t)sums[k];
    }
    tp_profile_end(1);
    return 0;
}
