/*
 * arduino_hal.cpp - tp_hal.h for real boards with an Arduino core, plus the Arduino entry
 * points (setup() runs the whole harness; loop() is never reached).
 *
 * Serial is the board's default `Serial` (USB CDC or the debug-probe UART). The timer is the
 * one named by the board file (tp_config.h); each counts core clock cycles:
 *   TP_TIMER_DWT      Cortex-M3/M4/M7/M33 DWT cycle counter. Enabled if needed, never written:
 *                     cores may own it (Teensy 4 computes micros() from it), tinypipe only takes
 *                     differences of two reads.
 *   TP_TIMER_CCOUNT   Xtensa CCOUNT (ESP32), through the core's ESP.getCycleCount()
 *   TP_TIMER_SYSTICK  Cortex-M0/M0+ (no DWT): SysTick from the processor clock, its 24-bit count
 *                     extended by counting its wraps in the SysTick interrupt (RP2040: the Pico
 *                     SDK's exception_set_exclusive_handler; arduino-pico leaves SysTick unused)
 * The 32-bit counters are extended to 64 bits on every read (tp_cycle_counter.h).
 *
 * tp_hal_tick_hz() is the core clock the chip really runs at, read at run time from the core
 * (clock_get_hz, getCpuFreqMHz, F_CPU_ACTUAL, SystemCoreClock, else F_CPU), never the board
 * file's clock_hz: the host reports what the device says and warns when the two differ.
 */
#include <Arduino.h>

#include "tp_config.h"
#include "tp_cycle_counter.h"
#include "tp_hal.h"
#include "tp_harness.h"

#if defined(ARDUINO_ARCH_RP2040)
#include <hardware/clocks.h>
#include <hardware/exception.h>
#elif defined(ARDUINO_ARCH_MBED)
extern "C" uint32_t SystemCoreClock; /* CMSIS system_<device>.c */
#endif

/* Give a USB CDC port this long to be opened by the host before printing the boot records. */
static const unsigned long SERIAL_WAIT_MS = 5000;
static const uint32_t HZ_PER_MHZ = 1000000u;

static uint32_t core_clock_hz(void)
{
#if defined(ARDUINO_ARCH_RP2040)
    return clock_get_hz(clk_sys);
#elif defined(ARDUINO_ARCH_ESP32)
    return (uint32_t)ESP.getCpuFreqMHz() * HZ_PER_MHZ;
#elif defined(__IMXRT1062__)
    return F_CPU_ACTUAL; /* Teensy 4: follows set_arm_clock() */
#elif defined(ARDUINO_ARCH_MBED)
    return SystemCoreClock;
#else
    return (uint32_t)F_CPU;
#endif
}

#if defined(TP_TIMER_DWT)
static tp_counter64_t counter;
static const char TIMER_NAME[] = "dwt";
static void timer_start(void)
{
    tp_dwt_start();
    tp_counter64_init(&counter, tp_dwt_read());
}
static uint64_t timer_ticks(void) { return tp_counter64_update(&counter, tp_dwt_read()); }

#elif defined(TP_TIMER_CCOUNT)
static tp_counter64_t counter;
static const char TIMER_NAME[] = "ccount";
static void timer_start(void) { tp_counter64_init(&counter, ESP.getCycleCount()); }
static uint64_t timer_ticks(void) { return tp_counter64_update(&counter, ESP.getCycleCount()); }

#elif defined(TP_TIMER_SYSTICK)
/* ARMv6-M SysTick (Architecture Reference Manual B3.3). */
#define TP_SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define TP_SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define TP_SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define TP_SYST_CSR_ENABLE (1u << 0)
#define TP_SYST_CSR_TICKINT (1u << 1)
#define TP_SYST_CSR_CLKSOURCE (1u << 2) /* the processor clock */
#define TP_SYST_BITS 24u
#define TP_SYST_RELOAD ((1u << TP_SYST_BITS) - 1u)

static const char TIMER_NAME[] = "systick";
static volatile uint32_t systick_wraps;

static void systick_isr(void) { systick_wraps = systick_wraps + 1u; }

static void timer_start(void)
{
#if defined(ARDUINO_ARCH_RP2040)
    exception_set_exclusive_handler(SYSTICK_EXCEPTION, systick_isr);
#else
#error "arduino_hal.cpp: SysTick timing needs this core's way to install the SysTick handler"
#endif
    TP_SYST_CSR = 0;
    TP_SYST_RVR = TP_SYST_RELOAD;
    TP_SYST_CVR = 0; /* any write clears it; it reloads on the next clock */
    TP_SYST_CSR = TP_SYST_CSR_CLKSOURCE | TP_SYST_CSR_TICKINT | TP_SYST_CSR_ENABLE;
}

/* The wrap count and the down-counter, read consistently: a wrap between the two reads runs the
 * interrupt at once (it is enabled), which changes the count, and the read is retried. */
static uint64_t timer_ticks(void)
{
    uint32_t wraps;
    uint32_t value;
    do {
        wraps = systick_wraps;
        value = TP_SYST_CVR;
    } while (wraps != systick_wraps);
    return ((uint64_t)wraps << TP_SYST_BITS) + (TP_SYST_RELOAD - value);
}

#else
#error "arduino_hal.cpp: the board file's timer kind has no implementation for Arduino cores"
#endif

/* --- the stack high-water mark (tp_hal_stack_used) -------------------------------------------
 * Where the core's stack is differs by core; where it cannot be known, no stack is reported (the
 * harness's weak tp_hal_stack_used returns 0). Linker symbols are weak: a core whose linker
 * script lacks them links all the same, and tp_stack_paint/scan do nothing unless the stack
 * pointer lies inside the region. */
#if defined(ARDUINO_ARCH_ESP32) && defined(INC_TASK_H) && defined(CONFIG_ARDUINO_LOOP_STACK_SIZE)
/* setup() runs in FreeRTOS's loopTask, whose stack FreeRTOS filled at creation and whose
 * high-water mark it keeps (in bytes on ESP-IDF). */
#define TP_STACK_FREERTOS 1
static void stack_paint(void) {}
#elif defined(__IMXRT1062__) || defined(ARDUINO_ARCH_RP2040) || \
    (defined(ARDUINO_ARCH_MBED) && defined(__has_include) && __has_include("rtx_os.h"))
#define TP_STACK_REGION 1
#if defined(__IMXRT1062__)
/* Teensy 4: the stack grows down from _estack to the end of .bss (_ebss), in DTCM. */
extern "C" uint32_t _ebss[] __attribute__((weak));
extern "C" uint32_t _estack[] __attribute__((weak));
static uint32_t *stack_bottom(void) { return _ebss; }
static uint32_t *stack_top(void) { return _estack; }
#elif defined(ARDUINO_ARCH_RP2040)
/* The Pico SDK's linker script: core 0's stack is [__StackBottom, __StackTop) in SCRATCH_Y. */
extern "C" uint32_t __StackBottom[] __attribute__((weak));
extern "C" uint32_t __StackTop[] __attribute__((weak));
static uint32_t *stack_bottom(void) { return __StackBottom; }
static uint32_t *stack_top(void) { return __StackTop; }
#else
/* Mbed OS (RTX): setup() runs in the main thread; its stack's first word is RTX's overflow magic. */
#include "rtx_os.h"
static uint32_t *stack_bottom(void)
{
    const osRtxThread_t *thread = (const osRtxThread_t *)osThreadGetId();
    return thread != NULL ? (uint32_t *)thread->stack_mem + 1 : NULL;
}
static uint32_t *stack_top(void)
{
    const osRtxThread_t *thread = (const osRtxThread_t *)osThreadGetId();
    return thread != NULL ? (uint32_t *)((uintptr_t)thread->stack_mem + thread->stack_size) : NULL;
}
#endif
static void stack_paint(void)
{
    if (stack_bottom() != NULL && stack_top() != NULL) {
        tp_stack_paint(stack_bottom(), stack_top());
    }
}
#else
static void stack_paint(void) {}
#endif

extern "C" {

#if defined(TP_STACK_FREERTOS)
uint32_t tp_hal_stack_used(void)
{
    return (uint32_t)CONFIG_ARDUINO_LOOP_STACK_SIZE - (uint32_t)uxTaskGetStackHighWaterMark(NULL);
}
#elif defined(TP_STACK_REGION)
uint32_t tp_hal_stack_used(void)
{
    return stack_bottom() != NULL && stack_top() != NULL ? tp_stack_scan(stack_bottom(), stack_top()) : 0u;
}
#endif

void tp_hal_init(void)
{
    Serial.begin(TP_SERIAL_BAUD);
    const unsigned long start = millis();
    while (!Serial && millis() - start < SERIAL_WAIT_MS) {
    }
    timer_start();
}

void tp_hal_write(const void *data, uint32_t len)
{
    Serial.write((const uint8_t *)data, len);
}

uint32_t tp_hal_read(void *data, uint32_t len, uint32_t timeout_ms)
{
    uint8_t *p = (uint8_t *)data;
    uint32_t got = 0;
    while (got < len) {
        const unsigned long start = millis();
        while (Serial.available() <= 0) {
            if (millis() - start >= timeout_ms) {
                return got;
            }
        }
        p[got++] = (uint8_t)Serial.read();
    }
    return got;
}

uint64_t tp_hal_ticks(void) { return timer_ticks(); }

/* Every timer above counts core cycles: one tick is one cycle at the core's real clock. */
uint32_t tp_hal_tick_hz(void) { return core_clock_hz(); }
uint32_t tp_hal_units_per_tick(void) { return 1; }
const char *tp_hal_unit(void) { return "cycles"; }
const char *tp_hal_timer(void) { return TIMER_NAME; }

void tp_hal_exit(int code)
{
    (void)code; /* nobody to report it to on a real board */
    Serial.flush();
    for (;;) {
        delay(1000);
    }
}

}  // extern "C"

void setup()
{
    stack_paint();
    tp_harness_main();
}

void loop() {}
