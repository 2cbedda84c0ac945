/*
 * tp_cycle_counter.h - the Cortex-M DWT cycle counter, and a 32-bit counter extended to 64 bits,
 * shared by the HALs of real boards (arduino_hal.cpp, stm32cube_hal.c).
 *
 * The extension counts wraps on every read, so an inference may run for at most one counter
 * period (2^32 cycles: 15 s at 280 MHz, 7 s at 600 MHz) between two reads. The 64-bit count starts
 * wherever the hardware counter stood: only differences of two reads mean anything.
 */
#ifndef TP_CYCLE_COUNTER_H
#define TP_CYCLE_COUNTER_H

#include <stdint.h>

/* ARMv7-M / ARMv8-M debug registers (Architecture Reference Manual, C1.6 and C1.8). */
#define TP_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define TP_DEMCR_TRCENA (1u << 24)
#define TP_DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define TP_DWT_CTRL_CYCCNTENA (1u << 0)
#define TP_DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define TP_DWT_LAR (*(volatile uint32_t *)0xE0001FB0u) /* lock access register (Cortex-M7) */
#define TP_DWT_LAR_UNLOCK 0xC5ACCE55u

/* Enable the counter if it is not running yet; never write it. Frameworks may own it (Teensy's
 * micros() is computed from CYCCNT): tinypipe only ever takes differences of two reads. */
static inline void tp_dwt_start(void)
{
    TP_DEMCR |= TP_DEMCR_TRCENA;
    TP_DWT_LAR = TP_DWT_LAR_UNLOCK;
    if ((TP_DWT_CTRL & TP_DWT_CTRL_CYCCNTENA) == 0u) {
        TP_DWT_CTRL |= TP_DWT_CTRL_CYCCNTENA;
    }
}

static inline uint32_t tp_dwt_read(void) { return TP_DWT_CYCCNT; }

typedef struct {
    uint32_t last;  /* the raw count at the previous read */
    uint64_t wraps; /* multiples of 2^32 counted so far */
} tp_counter64_t;

static inline void tp_counter64_init(tp_counter64_t *c, uint32_t now)
{
    c->last = now;
    c->wraps = 0;
}

static inline uint64_t tp_counter64_update(tp_counter64_t *c, uint32_t now)
{
    if (now < c->last) {
        c->wraps += (uint64_t)1 << 32;
    }
    c->last = now;
    return c->wraps + now;
}

#endif /* TP_CYCLE_COUNTER_H */
