/*
 * startup.c - vector table, reset handler and fault reporting for every QEMU board.
 *
 * One file for all cores (Cortex-M0 to M55): the memory layout comes from the linker script
 * the platform generates from the board YAML. Reset copies .data, zeroes .bss, enables the
 * FPU/MVE when the core has one, paints the free stack for the high-water mark (hal.c's
 * tp_hal_stack_used), runs C/C++ constructors and calls main(); main's return value becomes
 * QEMU's exit code. A fault prints the stacked PC/LR over the UART and exits
 * with TP_EXIT_FAULT.
 */
#include <stdint.h>

#include "tp_hal.h"
#include "tp_qemu.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];
extern uint32_t __heap_end[]; /* the bottom of the stack region: __stack_top - __stack_size */
extern int main(void);
extern void __libc_init_array(void);

void Reset_Handler(void);
void Fault_Handler(void);
void SysTick_Handler(void);
void tp_fault_report(const uint32_t *frame, uint32_t exc_return);

/* crti/crtn are not linked (-nostartfiles); __libc_init_array calls these. */
void _init(void) {}
void _fini(void) {}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    Fault_Handler, /* SecureFault (v8-M) */
    0, 0, 0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    Fault_Handler, /* PendSV */
    SysTick_Handler,
};

void Reset_Handler(void)
{
    uint32_t *src = __data_load, *dst = __data_start;
    while (dst < __data_end) {
        *dst++ = *src++;
    }
    for (dst = __bss_start; dst < __bss_end; dst++) {
        *dst = 0;
    }
    tp_stack_paint(__heap_end, __stack_top);
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    TP_REG(0xE000ED88u, 0) |= 0xFu << 20; /* CPACR: full access to CP10/CP11 (FPU, MVE) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    __libc_init_array();
    tp_hal_exit(main());
}

/* Hand the stacked exception frame (MSP or PSP, per EXC_RETURN bit 2) to tp_fault_report. */
__attribute__((naked)) void Fault_Handler(void)
{
    __asm__ volatile(
        "movs r0, #4\n\t"
        "mov r1, lr\n\t"
        "tst r0, r1\n\t"
        "beq 1f\n\t"
        "mrs r0, psp\n\t"
        "b 2f\n"
        "1:\n\t"
        "mrs r0, msp\n"
        "2:\n\t"
        "ldr r2, =tp_fault_report\n\t"
        "bx r2\n\t"
        ".ltorg\n");
}

static void put_str(const char *s)
{
    while (*s) {
        tp_uart_putc((uint8_t)*s++);
    }
}

static void put_hex(const char *label, uint32_t v)
{
    char buf[11] = "0x";
    for (int i = 0; i < 8; i++) {
        buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xFu];
    }
    buf[10] = '\0';
    put_str(label);
    put_str(buf);
}

void tp_fault_report(const uint32_t *frame, uint32_t exc_return)
{
    static const char *const names[] = {"Thread", "Reset", "NMI", "HardFault", "MemManage",
                                        "BusFault", "UsageFault", "SecureFault", "?", "?", "?",
                                        "SVCall", "DebugMonitor", "?", "PendSV"};
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    ipsr &= 0x1FFu;
    (void)exc_return;
    put_str("\r\n*** FAULT: ");
    put_str(ipsr < sizeof names / sizeof names[0] ? names[ipsr] : "IRQ");
    put_hex(" pc=", frame[6]);
    put_hex(" lr=", frame[5]);
#if __ARM_ARCH >= 7
    put_hex(" cfsr=", TP_REG(0xE000ED28u, 0));
    put_hex(" bfar=", TP_REG(0xE000ED38u, 0));
#endif
    put_str("\r\n");
    tp_semihost_exit(TP_EXIT_FAULT);
}
