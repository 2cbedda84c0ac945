/*
 * startup.c - vector table, reset handler and fault reporting for every QEMU board.
 *
 * One file for all cores (Cortex-M0 to M55): the memory layout comes from the linker script
 * the platform generates from the board YAML. Reset copies .data, zeroes .bss, enables the
 * FPU/MVE when the core has one, paints the free stack for the high-water mark (hal.c's
 * tp_hal_stack_used), protects memory with the MPU as a microcontroller's is (mpu_protect), runs
 * C/C++ constructors and calls main(); main's return value becomes QEMU's exit code. A fault
 * prints its line (tp_hal.h's tp_fault_line: PC, LR, the address it touched) over the UART and
 * exits with TP_EXIT_FAULT.
 */
#include <stdint.h>

#include "tp_hal.h"
#include "tp_qemu.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[], __flash_start[], __flash_end[], __ram_start[];
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

#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__) || \
    defined(__ARM_ARCH_8_1M_MAIN__)
#define TP_MPU 1 /* Cortex-M3/M4/M7/M33/M55; the M0 boards have none */
#define MPU_TYPE 0xE000ED90u
#define MPU_CTRL 0xE000ED94u
#define MPU_RNR 0xE000ED98u
#define MPU_RBAR 0xE000ED9Cu
#define MPU_RASR 0xE000EDA0u /* v8-M: MPU_RLAR */
#define MPU_MAIR0 0xE000EDC0u
#define SCB_SHCSR 0xE000ED24u
#define SHCSR_MEMFAULTENA (1u << 16)
/* Every QEMU board's UART and timers lie in 0x40000000-0x5fffffff. */
#define PERIPHERALS_BASE 0x40000000u
#define PERIPHERALS_BYTES 0x20000000u

enum { REGION_FLASH, REGION_RAM, REGION_PERIPHERALS, REGIONS };

/* One region: v7-M's are a power of two in size and aligned to it (0 when `base` is not), v8-M's
 * any multiple of 32 bytes. Flash read-only and executable, RAM and peripherals read-write and
 * never executed. */
static int mpu_region(uint32_t n, uint32_t base, uint32_t bytes)
{
    TP_REG(MPU_RNR, 0) = n;
#if __ARM_ARCH >= 8
    static const uint32_t access[REGIONS] = {
        [REGION_FLASH] = 3u << 1,              /* AP read-only, executable */
        [REGION_RAM] = 1u << 1 | 1u,           /* AP read-write, XN */
        [REGION_PERIPHERALS] = 1u << 1 | 1u,   /* AP read-write, XN */
    };
    const uint32_t attr_index = n == REGION_PERIPHERALS ? 1u : 0u; /* MAIR0: normal, device */
    TP_REG(MPU_RBAR, 0) = (base & ~31u) | access[n];
    TP_REG(MPU_RASR, 0) = ((base + bytes - 1u) & ~31u) | attr_index << 1 | 1u;
#else
    static const uint32_t access[REGIONS] = {
        [REGION_FLASH] = 6u << 24 | 1u << 17,            /* AP read-only, normal (C) */
        [REGION_RAM] = 1u << 28 | 3u << 24 | 1u << 17,   /* XN, AP read-write, normal (C) */
        [REGION_PERIPHERALS] = 1u << 28 | 3u << 24 | 1u << 16, /* XN, AP read-write, device (B) */
    };
    uint32_t log2 = 5; /* the smallest power of two holding `bytes` */
    while (log2 < 31 && (1u << log2) < bytes) {
        log2++;
    }
    if (base & ((1u << log2) - 1u)) {
        return 0;
    }
    TP_REG(MPU_RBAR, 0) = base;
    TP_REG(MPU_RASR, 0) = access[n] | (log2 - 1u) << 1 | 1u;
#endif
    return 1;
}
#endif

/* The QEMU boards map RAM where a microcontroller has flash, and at address 0: a store through a
 * NULL or stray pointer would silently rewrite code (as one did) and a NULL read would return the
 * vector table. The MPU maps flash read-only, RAM and the peripherals read-write and nothing else
 * (no default map), so such an access faults (MemManage: its address is reported). A memory map
 * the MPU cannot describe leaves it off. */
static void mpu_protect(void)
{
#if defined(TP_MPU)
    if (((TP_REG(MPU_TYPE, 0) >> 8) & 0xFFu) < REGIONS) {
        return;
    }
#if __ARM_ARCH >= 8
    TP_REG(MPU_MAIR0, 0) = 0xFFu; /* attribute 0: normal write-back; 1: device-nGnRnE */
#endif
    const uint32_t flash = (uint32_t)(uintptr_t)__flash_start, ram = (uint32_t)(uintptr_t)__ram_start;
    if (mpu_region(REGION_FLASH, flash, (uint32_t)(uintptr_t)__flash_end - flash) &&
        mpu_region(REGION_RAM, ram, (uint32_t)(uintptr_t)__stack_top - ram) &&
        mpu_region(REGION_PERIPHERALS, PERIPHERALS_BASE, PERIPHERALS_BYTES)) {
        TP_REG(SCB_SHCSR, 0) |= SHCSR_MEMFAULTENA;
        TP_REG(MPU_CTRL, 0) = 1u; /* enabled, no default map for privileged code */
        __asm__ volatile("dsb\n\tisb" ::: "memory");
    }
#endif
}

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
    mpu_protect();
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

void tp_fault_report(const uint32_t *frame, uint32_t exc_return)
{
    char line[TP_FAULT_LINE_BYTES];
    const uint32_t n = tp_fault_line(line, frame);
    (void)exc_return;
    tp_uart_init(TP_CLOCK_HZ, TP_BAUD); /* a program that never set the UART up (QemuRunner's) */
    for (uint32_t i = 0; i < n; i++) {
        tp_uart_putc((uint8_t)line[i]);
    }
    tp_semihost_exit(TP_EXIT_FAULT);
}
