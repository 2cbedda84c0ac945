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

#if defined(__arm__) && defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
/* The line a board's fault handler prints, which the host reports as "the firmware faulted"
 * (tinypipe.device.protocol): "*** FAULT: <exception> pc=0x... lr=0x..." from the stacked frame
 * (r0-r3, r12, lr, pc, xpsr) and, on the mainline cores, the fault status and the addresses a bus
 * or an MPU fault touched (cfsr, bfar, mmfar). tp_fault_line() returns its length. */
#define TP_FAULT_LINE_BYTES 128

static inline char *tp_fault_text(char *p, const char *text)
{
    while (*text) {
        *p++ = *text++;
    }
    return p;
}

static inline char *tp_fault_hex(char *p, const char *label, uint32_t value)
{
    p = tp_fault_text(p, label);
    p = tp_fault_text(p, "0x");
    for (int shift = 28; shift >= 0; shift -= 4) {
        *p++ = "0123456789abcdef"[(value >> shift) & 0xFu];
    }
    return p;
}

static inline uint32_t tp_fault_line(char line[TP_FAULT_LINE_BYTES], const uint32_t *frame)
{
    static const char *const names[] = {"Thread", "Reset", "NMI", "HardFault", "MemManage",
                                        "BusFault", "UsageFault", "SecureFault", "?", "?", "?",
                                        "SVCall", "DebugMonitor", "?", "PendSV"};
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    ipsr &= 0x1FFu;
    char *p = tp_fault_text(line, "\r\n*** FAULT: ");
    p = tp_fault_text(p, ipsr < sizeof names / sizeof names[0] ? names[ipsr] : "IRQ");
    p = tp_fault_hex(p, " pc=", frame[6]);
    p = tp_fault_hex(p, " lr=", frame[5]);
#if __ARM_ARCH_ISA_THUMB >= 2 /* v7-M, v8-M mainline: the System Control Block's fault registers */
    p = tp_fault_hex(p, " cfsr=", *(volatile const uint32_t *)0xE000ED28u);
    p = tp_fault_hex(p, " bfar=", *(volatile const uint32_t *)0xE000ED38u);
    p = tp_fault_hex(p, " mmfar=", *(volatile const uint32_t *)0xE000ED34u);
#endif
    p = tp_fault_text(p, "\r\n");
    *p = '\0';
    return (uint32_t)(p - line);
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* TP_HAL_H */
