/*
 * hal.c - tp_hal.h for the QEMU boards, plus the newlib system calls (printf goes to the UART).
 *
 * Timer: SysTick at the core clock with a 2^24 reload and an overflow interrupt, extended to
 * 64 bits. Under `-icount shift=0` one instruction is one nanosecond of virtual time, so a
 * tick is worth 1e9 / tick_hz instructions; boards whose clock does not divide 1e9 evenly use
 * a software divider (TP_TICK_DIV) so that this stays a whole number (board YAML `timer`).
 */
#include <errno.h>
#include <stddef.h>
#include <sys/stat.h>

#include "tp_hal.h"
#include "tp_qemu.h"

#define SYST_CSR 0xE000E010u
#define SYST_RVR 0xE000E014u
#define SYST_CVR 0xE000E018u
#define SCB_ICSR 0xE000ED04u
#define ICSR_PENDSTSET (1u << 26)
#define SYST_PERIOD (1u << 24)

static volatile uint32_t systick_wraps;
static int hal_ready;

void SysTick_Handler(void)
{
    systick_wraps++;
}

void tp_hal_init(void)
{
    if (hal_ready) {
        return;
    }
    tp_uart_init(TP_CLOCK_HZ, TP_BAUD);
    TP_REG(SYST_RVR, 0) = SYST_PERIOD - 1u;
    TP_REG(SYST_CVR, 0) = 0;
    TP_REG(SYST_CSR, 0) = 7u; /* enable, interrupt, processor clock */
    hal_ready = 1;
}

static uint64_t systick_counts(void)
{
    uint32_t wraps, val, pending;
    do {
        wraps = systick_wraps;
        val = TP_REG(SYST_CVR, 0);
        pending = TP_REG(SCB_ICSR, 0) & ICSR_PENDSTSET;
    } while (wraps != systick_wraps);
    /* The counter reloaded but its interrupt has not run yet: count that wrap here. */
    if (pending && val > SYST_PERIOD / 2u) {
        wraps++;
    }
    return (uint64_t)wraps * SYST_PERIOD + (SYST_PERIOD - 1u - val);
}

uint64_t tp_hal_ticks(void)
{
#if TP_TICK_DIV > 1
    return systick_counts() / TP_TICK_DIV;
#else
    return systick_counts();
#endif
}

uint32_t tp_hal_tick_hz(void) { return TP_CLOCK_HZ / TP_TICK_DIV; }
uint32_t tp_hal_units_per_tick(void) { return TP_UNITS_PER_TICK; }
const char *tp_hal_unit(void) { return "instructions"; }
const char *tp_hal_timer(void) { return "systick"; }

void tp_hal_write(const void *data, uint32_t len)
{
    const uint8_t *p = data;
    for (uint32_t i = 0; i < len; i++) {
        tp_uart_putc(p[i]);
    }
}

uint32_t tp_hal_read(void *data, uint32_t len, uint32_t timeout_ms)
{
    uint8_t *p = data;
    const uint64_t wait = (uint64_t)timeout_ms * tp_hal_tick_hz() / 1000u;
    uint32_t n = 0;
    while (n < len) {
        const uint64_t start = tp_hal_ticks();
        int c;
        while ((c = tp_uart_getc()) < 0) {
            if (tp_hal_ticks() - start >= wait) {
                return n;
            }
        }
        p[n++] = (uint8_t)c;
    }
    return n;
}

void tp_semihost_exit(int code)
{
    /* SYS_EXIT_EXTENDED (0x20) with ADP_Stopped_ApplicationExit and the exit code. */
    static volatile uint32_t block[2];
    block[0] = 0x20026u;
    block[1] = (uint32_t)code;
    register uint32_t r0 __asm__("r0") = 0x20u;
    register volatile uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xAB" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {
    }
}

void tp_hal_exit(int code)
{
    tp_semihost_exit(code);
}

/* The stack region is [__heap_end, __stack_top) (the platform's linker script); startup.c painted
 * it at reset. */
extern char __heap_end[];
extern uint32_t __stack_top[];

uint32_t tp_hal_stack_used(void)
{
    return tp_stack_scan((const uint32_t *)(const void *)__heap_end, __stack_top);
}

/* --- newlib system calls ------------------------------------------------------------------ */

extern char __heap_start[], __heap_end[];

void *_sbrk(ptrdiff_t incr);
int _write(int fd, const char *buf, int len);
int _read(int fd, char *buf, int len);
int _close(int fd);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
int _lseek(int fd, int offset, int whence);
int _kill(int pid, int sig);
int _getpid(void);
void _exit(int code);

void *_sbrk(ptrdiff_t incr)
{
    static char *brk = __heap_start;
    if (incr > __heap_end - brk) {
        errno = ENOMEM;
        return (void *)-1;
    }
    char *old = brk;
    brk += incr;
    return old;
}

int _write(int fd, const char *buf, int len)
{
    (void)fd;
    tp_hal_write(buf, (uint32_t)len);
    return len;
}

int _read(int fd, char *buf, int len)
{
    (void)fd;
    return (int)tp_hal_read(buf, (uint32_t)len, 0xFFFFFFFFu);
}

int _close(int fd) { (void)fd; return -1; }
int _isatty(int fd) { (void)fd; return 1; }
int _lseek(int fd, int offset, int whence) { (void)fd; (void)offset; (void)whence; return 0; }
int _getpid(void) { return 1; }

int _fstat(int fd, struct stat *st)
{
    (void)fd;
    st->st_mode = S_IFCHR;
    return 0;
}

int _kill(int pid, int sig)
{
    (void)pid;
    (void)sig;
    errno = EINVAL;
    return -1;
}

void _exit(int code)
{
    tp_semihost_exit(code);
}
