/*
 * tp_harness.h - the benchmark and validation program, started by the board's entry point
 * (main() on bare metal, setup() under Arduino).
 */
#ifndef TP_HARNESS_H
#define TP_HARNESS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Boot records, timed runs, per-layer profile, then validation requests; never returns. */
void tp_harness_main(void);

#ifdef __cplusplus
}
#endif

#endif /* TP_HARNESS_H */
