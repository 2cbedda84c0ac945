/*
 * tp_glue.h - what the harness needs from a model runtime.
 *
 * Two implementations exist: `aot` (calls the generated tp_model_* functions) and `tflm`
 * (wraps tflite::MicroInterpreter). Tensors are int8 and addressed as raw bytes; the harness
 * never needs shapes, only byte sizes.
 */
#ifndef TP_GLUE_H
#define TP_GLUE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Prepare the runtime (arena, tensors). Returns 0 on success. */
int tp_glue_init(void);

/* Bytes of arena (scratch RAM) the runtime uses, for the boot record. */
uint32_t tp_glue_arena_bytes(void);

uint32_t tp_glue_num_inputs(void);
uint32_t tp_glue_num_outputs(void);
int8_t *tp_glue_input(uint32_t i);
int8_t *tp_glue_output(uint32_t i);
uint32_t tp_glue_input_bytes(uint32_t i);
uint32_t tp_glue_output_bytes(uint32_t i);

/* Run one inference on the current input tensors. Returns 0 on success. A stateful model
 * (resource variables: a streaming model's state) carries its state to the next inference. */
int tp_glue_invoke(void);

/* Set the model's state back to what it is before the first inference (a streaming model starts a
 * new sequence). Returns 0 on success. A runtime without state need not define it: the harness
 * has a default that does nothing. */
int tp_glue_reset(void);

/* Per-layer profiling: layer count and names; built with TP_PROFILE, the runtime reports
 * each layer's start and end through tp_profile_begin/tp_profile_end (implemented by the
 * harness) during tp_glue_invoke_profiled(), one inference the harness runs after the timed
 * ones (which stay free of hooks). Only the aot runtime is built with TP_PROFILE. */
uint32_t tp_glue_num_layers(void);
const char *tp_glue_layer_name(uint32_t i);

#ifdef TP_PROFILE
int tp_glue_invoke_profiled(void);
#endif

void tp_profile_begin(uint32_t layer);
void tp_profile_end(uint32_t layer);

#ifdef __cplusplus
}
#endif

#endif /* TP_GLUE_H */
