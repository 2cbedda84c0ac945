/*
 * tp_qemu.h - internals of the QEMU board support: the UART driver interface (one
 * implementation per UART model, chosen by the board's `serial.uart`), register access and
 * the board constants the builder passes as -D flags from the board YAML.
 */
#ifndef TP_QEMU_H
#define TP_QEMU_H

#include <stdint.h>

#define TP_REG(base, offset) (*(volatile uint32_t *)((uintptr_t)(base) + (offset)))

/* Exit code of a firmware that took a fault exception (EX_SOFTWARE in sysexits.h). */
#define TP_EXIT_FAULT 70

#ifndef TP_UART_BASE
#error "TP_UART_BASE is set by the tinypipe QEMU platform from the board YAML (serial.base)"
#endif

/* One UART driver: bring it up, blocking write of one byte, non-blocking read (-1: none). */
void tp_uart_init(uint32_t clock_hz, uint32_t baud);
void tp_uart_putc(uint8_t c);
int tp_uart_getc(void);

/* Semihosting SYS_EXIT_EXTENDED: QEMU exits with `code`. */
void tp_semihost_exit(int code) __attribute__((noreturn));

#endif /* TP_QEMU_H */
