/*
 * tp_glue_aot.c - the harness's runtime interface over a model compiled ahead of time by
 * tinypipe (model.h: the tp_model_* functions and TP_MODEL_* sizes).
 */
#include "tp_glue.h"

#include "model.h"

int tp_glue_init(void)
{
    tp_model_init();
    return 0;
}

uint32_t tp_glue_arena_bytes(void) { return TP_MODEL_ARENA_BYTES; }
uint32_t tp_glue_num_inputs(void) { return TP_MODEL_NUM_INPUTS; }
uint32_t tp_glue_num_outputs(void) { return TP_MODEL_NUM_OUTPUTS; }
int8_t *tp_glue_input(uint32_t i) { return tp_model_input((int)i); }
int8_t *tp_glue_output(uint32_t i) { return tp_model_output((int)i); }
uint32_t tp_glue_input_bytes(uint32_t i) { return tp_model_input_bytes((int)i); }
uint32_t tp_glue_output_bytes(uint32_t i) { return tp_model_output_bytes((int)i); }
int tp_glue_invoke(void) { return tp_model_invoke(); }
int tp_glue_reset(void)
{
    tp_model_reset();
    return 0;
}
uint32_t tp_glue_num_layers(void) { return TP_MODEL_NUM_LAYERS; }
const char *tp_glue_layer_name(uint32_t i) { return tp_model_layer_names[i]; }
#ifdef TP_PROFILE
int tp_glue_invoke_profiled(void) { return tp_model_invoke_profiled(); }
#endif
