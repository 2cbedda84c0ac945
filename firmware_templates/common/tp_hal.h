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

/* End the program: semihosting SYS_EXIT_EXTENDED with this code on emulators (QEMU exits
 * with it); on real boards, park the core. */
void tp_hal_exit(int code);

#ifdef __cplusplus
}
#endif

#endif /* TP_HAL_H */
