/*
 * tp_hal.h - the small board interface the tinypipe harness is written against.
 *
 * Every board support package implements it once: the QEMU platform (CMSDK/PL011/STM32/nRF51
 * UARTs, SysTick, semihosting exit) and the Arduino glue for real boards. The harness, the
 * `aot` model and the TFLite Micro glue never touch registers themselves.
 */
#ifndef TP_HAL_H
#define TP_HAL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bring up clocks, the serial port (board baud rate) and the free-running timer. */
void tp_hal_init(void);

/* Blocking write of len bytes to the serial port. */
void tp_hal_write(const void *data, uint32_t len);

/* Read up to len bytes, waiting at most timeout_ms for each byte; returns bytes read. */
uint32_t tp_hal_read(void *data, uint32_t len, uint32_t timeout_ms);

/* Free-running 64-bit tick counter (overflow-extended). */
uint64_t tp_hal_ticks(void);

/* Tick frequency in Hz, and what one tick is worth in the board's unit: on real cores one
 * tick of the DWT cycle counter is one cycle; under QEMU -icount shift=0 SysTick ticks are
 * converted to instructions (e.g. 40 instructions per tick for a 25 MHz SysTick). */
uint32_t tp_hal_tick_hz(void);
uint32_t tp_hal_units_per_tick(void);
const char *tp_hal_unit(void);  /* "cycles" or "instructions" */
const char *tp_hal_timer(void); /* "dwt", "systick", ... */

/* Stack high-water mark: the bytes of the stack the program has used since boot, found by
 * scanning the pattern the board support painted over the free stack at boot (tp_stack_paint
 * below); 0 when the board cannot measure it. tp_harness.c holds a weak default returning 0. */
uint32_t tp_hal_stack_used(void);

/* Paint the free stack, words [bottom, the current stack pointer less a margin), with
 * TP_STACK_PAINT; tp_stack_scan() then returns the bytes used below `top`: the distance from
 * `top` down to the lowest word that no longer holds the pattern. Both do nothing (0) unless the
 * stack pointer lies inside [bottom, top). */
#define TP_STACK_PAINT 0x5AC3A55Cu
#define TP_STACK_MARGIN_WORDS 16u

static inline uintptr_t tp_stack_pointer(void)
{
    uintptr_t sp;
#if defined(__arm__) || defined(__thumb__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#else
    volatile uintptr_t here = 0;
    sp = (uintptr_t)&here;
#endif
    return sp;
}

static inline void tp_stack_paint(uint32_t *bottom, const uint32_t *top)
{
    const uintptr_t sp = tp_stack_pointer();
    if (sp <= (uintptr_t)bottom || sp > (uintptr_t)top) {
        return;
    }
    volatile uint32_t *p = bottom; /* volatile: the stores are the point, keep every one */
    volatile uint32_t *const end = (volatile uint32_t *)(sp & ~(uintptr_t)3u) - TP_STACK_MARGIN_WORDS;
    while (p < end) {
        *p++ = TP_STACK_PAINT;
    }
}

static inline uint32_t tp_stack_scan(const uint32_t *bottom, const uint32_t *top)
{
    const uintptr_t sp = tp_stack_pointer();
    if (sp <= (uintptr_t)bottom || sp > (uintptr_t)top) {
        return 0u;
    }
    const volatile uint32_t *p = bottom;
    while (p < (const volatile uint32_t *)top && *p == TP_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)top - (uintptr_t)p);
}

/* End the program: semihosting SYS_EXIT_EXTENDED with this code on emulators (QEMU exits
 * with it); on real boards, park the core. */
void tp_hal_exit(int code);

#ifdef __cplusplus
}
#endif

#endif /* TP_HAL_H */
