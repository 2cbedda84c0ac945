/*
 * tp_harness.c - benchmark and validation harness, written only against tp_hal.h and
 * tp_glue.h so the same file runs every runtime on every board.
 *
 * It prints one-line records a plain serial monitor can show (tinypipe/monitor.py parses
 * them):
 *
 *   TP BOOT board=.. runtime=.. model=.. arena=.. timer=.. unit=.. tick_hz=.. units_per_tick=..
 *   TP RUN i=.. ticks=.. units=..                      one per timed inference
 *   TP RESULT runs=.. median=.. min=.. max=.. unit=.. checksum=0x.. [stack=..]
 *                                                      stack: the stack high-water mark in
 *                                                      bytes after the timed runs, when the
 *                                                      HAL measures it (tp_hal_stack_used)
 *   TP LAYER i=.. name=.. ticks=.. units=..            with TP_PROFILE: one profiled inference
 *                                                      after the timed runs (which have no
 *                                                      per-layer hooks)
 *   TP READY protocol=..                               validation frames are served now, the
 *                                                      model's state (if any) reset
 *   TP DONE reason=bye|idle
 *
 * Figures are in the HAL's unit: "cycles" on real cores, "instructions" under QEMU (whose
 * timers count instructions, not cycles).
 */
#include "tp_harness.h"

#include "tp_config.h"
#include "tp_glue.h"
#include "tp_hal.h"
#include "tp_protocol.h"

/* Defaults for anything tp_config.h leaves out. */
#ifndef TP_BOARD_NAME
#define TP_BOARD_NAME "unknown"
#endif
#ifndef TP_RUNTIME_NAME
#define TP_RUNTIME_NAME "unknown"
#endif
#ifndef TP_MODEL_ID
#define TP_MODEL_ID "unknown"
#endif
#ifndef TP_BENCH_RUNS
#define TP_BENCH_RUNS 10
#endif
#ifndef TP_WARMUP_RUNS
#define TP_WARMUP_RUNS 1
#endif
#ifndef TP_SERVE_IDLE_MS
#define TP_SERVE_IDLE_MS 30000u
#endif
#ifndef TP_MODEL_LAYERS
#define TP_MODEL_LAYERS 1
#endif

#if TP_BENCH_RUNS < 1
#error "TP_BENCH_RUNS must be at least 1"
#endif

/* The benchmark input is a fixed pseudo-random byte stream (a 32-bit LCG, top byte per
 * step) so the host can recompute the output checksum with the reference interpreter. */
#define TP_BENCH_SEED 0x54500001u
#define TP_LCG_MULTIPLIER 1664525u
#define TP_LCG_INCREMENT 1013904223u
#define TP_LCG_OUTPUT_SHIFT 24

#define TP_DECIMAL_DIGITS_U64 20
#define TP_HEX_DIGITS_U32 8

/* --- text records -------------------------------------------------------------------- */

static void put_str(const char *s)
{
    uint32_t len = 0;
    while (s[len] != '\0') {
        len++;
    }
    tp_hal_write(s, len);
}

static void put_u64(uint64_t v)
{
    char digits[TP_DECIMAL_DIGITS_U64];
    uint32_t n = 0;
    do {
        digits[sizeof digits - 1u - n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    tp_hal_write(digits + sizeof digits - n, n);
}

static void put_hex32(uint32_t v)
{
    static const char hex[] = "0123456789abcdef";
    char text[2 + TP_HEX_DIGITS_U32] = {'0', 'x'};
    for (int i = 0; i < TP_HEX_DIGITS_U32; i++) {
        text[2 + i] = hex[(v >> (4 * (TP_HEX_DIGITS_U32 - 1 - i))) & 0x0Fu];
    }
    tp_hal_write(text, sizeof text);
}

static void begin_record(const char *kind)
{
    put_str("TP ");
    put_str(kind);
}

static void field_str(const char *key, const char *value)
{
    put_str(" ");
    put_str(key);
    put_str("=");
    put_str(value);
}

static void field_u64(const char *key, uint64_t value)
{
    put_str(" ");
    put_str(key);
    put_str("=");
    put_u64(value);
}

static void end_record(void)
{
    put_str("\r\n");
}

static void fail(const char *stage)
{
    begin_record("ERROR");
    field_str("stage", stage);
    end_record();
    tp_hal_exit(1);
}

/* --- measurement --------------------------------------------------------------------- */

/* Boards whose HAL does not measure the stack report none (the RESULT record then has no
 * `stack=`): a weak default the HAL's own definition replaces. */
__attribute__((weak)) uint32_t tp_hal_stack_used(void)
{
    return 0u;
}

/* A runtime whose models keep no state has nothing to reset: a weak default its glue's own
 * definition replaces (aot and tflm define it). */
__attribute__((weak)) int tp_glue_reset(void)
{
    return 0;
}

int tp_timed_invoke(uint64_t *ticks)
{
    const uint64_t start = tp_hal_ticks();
    const int status = tp_glue_invoke();
    *ticks = tp_hal_ticks() - start;
    return status;
}

static uint64_t layer_start;
static uint64_t layer_ticks[TP_MODEL_LAYERS];

#ifdef TP_PROFILE
/* A glue without a separate profiled inference reports its layers from tp_glue_invoke(). */
__attribute__((weak)) int tp_glue_invoke_profiled(void)
{
    return tp_glue_invoke();
}
#endif

void tp_profile_begin(uint32_t layer)
{
    (void)layer;
    layer_start = tp_hal_ticks();
}

void tp_profile_end(uint32_t layer)
{
    if (layer < TP_MODEL_LAYERS) {
        layer_ticks[layer] += tp_hal_ticks() - layer_start;
    }
}

static void fill_bench_input(void)
{
    uint32_t state = TP_BENCH_SEED;
    for (uint32_t i = 0; i < tp_glue_num_inputs(); i++) {
        int8_t *tensor = tp_glue_input(i);
        for (uint32_t k = 0; k < tp_glue_input_bytes(i); k++) {
            state = state * TP_LCG_MULTIPLIER + TP_LCG_INCREMENT;
            tensor[k] = (int8_t)(uint8_t)(state >> TP_LCG_OUTPUT_SHIFT);
        }
    }
}

static uint32_t output_checksum(void)
{
    uint32_t crc = 0;
    for (uint32_t i = 0; i < tp_glue_num_outputs(); i++) {
        crc = tp_crc32(crc, tp_glue_output(i), tp_glue_output_bytes(i));
    }
    return crc;
}

static void sort_ticks(uint64_t *v, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        const uint64_t x = v[i];
        uint32_t j = i;
        for (; j > 0 && v[j - 1] > x; j--) {
            v[j] = v[j - 1];
        }
        v[j] = x;
    }
}

static uint32_t total_bytes(uint32_t count, uint32_t (*bytes)(uint32_t))
{
    uint32_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        total += bytes(i);
    }
    return total;
}

static void print_boot(void)
{
    begin_record("BOOT");
    field_str("board", TP_BOARD_NAME);
    field_str("runtime", TP_RUNTIME_NAME);
    field_str("model", TP_MODEL_ID);
    field_u64("arena", tp_glue_arena_bytes());
    field_u64("input_bytes", total_bytes(tp_glue_num_inputs(), tp_glue_input_bytes));
    field_u64("output_bytes", total_bytes(tp_glue_num_outputs(), tp_glue_output_bytes));
    field_str("timer", tp_hal_timer());
    field_str("unit", tp_hal_unit());
    field_u64("tick_hz", tp_hal_tick_hz());
    field_u64("units_per_tick", tp_hal_units_per_tick());
    end_record();
}

static void run_benchmark(void)
{
    static uint64_t ticks[TP_BENCH_RUNS];
    const uint64_t units_per_tick = tp_hal_units_per_tick();
    uint64_t elapsed;

    for (int i = 0; i < TP_WARMUP_RUNS; i++) {
        fill_bench_input();
        if (tp_timed_invoke(&elapsed) != 0) {
            fail("warmup");
        }
    }
    for (uint32_t i = 0; i < TP_BENCH_RUNS; i++) {
        fill_bench_input(); /* an invoke may reuse input memory for activations */
        if (tp_timed_invoke(&ticks[i]) != 0) {
            fail("bench");
        }
        begin_record("RUN");
        field_u64("i", i);
        field_u64("ticks", ticks[i]);
        field_u64("units", ticks[i] * units_per_tick);
        end_record();
    }

    sort_ticks(ticks, TP_BENCH_RUNS);
    /* Median: the middle run, or the mean of the middle two for an even count. */
    const uint64_t median = (ticks[(TP_BENCH_RUNS - 1) / 2] + ticks[TP_BENCH_RUNS / 2]) / 2u;
    begin_record("RESULT");
    field_u64("runs", TP_BENCH_RUNS);
    field_u64("median", median * units_per_tick);
    field_u64("min", ticks[0] * units_per_tick);
    field_u64("max", ticks[TP_BENCH_RUNS - 1] * units_per_tick);
    field_str("unit", tp_hal_unit());
    put_str(" checksum=");
    put_hex32(output_checksum());
    const uint32_t stack = tp_hal_stack_used();
    if (stack != 0u) {
        field_u64("stack", stack);
    }
    end_record();
}

static void print_profile(void)
{
#ifdef TP_PROFILE
    for (uint32_t layer = 0; layer < TP_MODEL_LAYERS; layer++) {
        layer_ticks[layer] = 0;
    }
    fill_bench_input();
    if (tp_glue_invoke_profiled() != 0) {
        fail("profile");
    }
    const uint32_t layers = tp_glue_num_layers();
    for (uint32_t i = 0; i < layers && i < TP_MODEL_LAYERS; i++) {
        begin_record("LAYER");
        field_u64("i", i);
        field_str("name", tp_glue_layer_name(i));
        field_u64("ticks", layer_ticks[i]);
        field_u64("units", layer_ticks[i] * tp_hal_units_per_tick());
        end_record();
    }
#endif
}

void tp_harness_main(void)
{
    tp_hal_init();
    if (tp_glue_init() != 0) {
        fail("init");
    }
    print_boot();
    run_benchmark();
    print_profile();
    /* The benchmark's inferences moved a stateful model's state: validation starts from the
     * initial state, as the reference interpreter does. */
    if (tp_glue_reset() != 0) {
        fail("reset");
    }

    begin_record("READY");
    field_u64("protocol", TP_PROTOCOL_VERSION);
    end_record();
    const int said_bye = tp_protocol_serve(TP_SERVE_IDLE_MS);
    begin_record("DONE");
    field_str("reason", said_bye ? "bye" : "idle");
    end_record();
    tp_hal_exit(0);
}
