/*
 * arduino_hal.cpp - tp_hal.h for real boards with an Arduino core, plus the Arduino entry
 * points (setup() runs the whole harness; loop() is never reached).
 *
 * Serial is the board's default `Serial` (USB CDC or the debug-probe UART). The timer is the
 * one named by the board file (tp_config.h):
 *   TP_TIMER_DWT     Cortex-M3/M4/M7/M33 DWT cycle counter, 32 bits extended to 64
 *   TP_TIMER_CCOUNT  Xtensa CCOUNT (ESP32), through the core's ESP.getCycleCount()
 *   otherwise        micros(), converted to cycles at the core clock (Cortex-M0+, no DWT)
 * A 32-bit counter is extended on every read, so an inference may run for at most one
 * counter period (2^32 cycles, about 7 s at 600 MHz) between two reads.
 */
#include <Arduino.h>

#include "tp_config.h"
#include "tp_hal.h"
#include "tp_harness.h"

/* Give a USB CDC port this long to be opened by the host before printing the boot records. */
static const unsigned long SERIAL_WAIT_MS = 5000;

#if defined(TP_TIMER_DWT)
/* ARMv7-M debug registers (Architecture Reference Manual, C1.6 and C1.8). */
#define TP_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define TP_DEMCR_TRCENA (1u << 24)
#define TP_DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define TP_DWT_CTRL_CYCCNTENA (1u << 0)
#define TP_DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define TP_DWT_LAR (*(volatile uint32_t *)0xE0001FB0u) /* lock access register (Cortex-M7) */
#define TP_DWT_LAR_UNLOCK 0xC5ACCE55u

static void timer_start(void)
{
    TP_DEMCR |= TP_DEMCR_TRCENA;
    TP_DWT_LAR = TP_DWT_LAR_UNLOCK;
    TP_DWT_CYCCNT = 0;
    TP_DWT_CTRL |= TP_DWT_CTRL_CYCCNTENA;
}
static uint32_t timer_read32(void) { return TP_DWT_CYCCNT; }
static const char TIMER_NAME[] = "dwt";
static const uint32_t TICK_HZ = TP_TIMER_HZ;
static const uint32_t UNITS_PER_TICK = TP_UNITS_PER_TICK;

#elif defined(TP_TIMER_CCOUNT)
static void timer_start(void) {}
static uint32_t timer_read32(void) { return ESP.getCycleCount(); }
static const char TIMER_NAME[] = "ccount";
static const uint32_t TICK_HZ = TP_TIMER_HZ;
static const uint32_t UNITS_PER_TICK = TP_UNITS_PER_TICK;

#else
#define TP_MICROS_PER_SECOND 1000000u
static void timer_start(void) {}
static uint32_t timer_read32(void) { return (uint32_t)micros(); }
static const char TIMER_NAME[] = "micros";
static const uint32_t TICK_HZ = TP_MICROS_PER_SECOND;
static const uint32_t UNITS_PER_TICK = TP_TIMER_HZ / TP_MICROS_PER_SECOND;
#endif

static uint32_t last_count;
static uint64_t wraps; /* multiples of 2^32 counted so far */
#define TP_COUNTER_PERIOD ((uint64_t)1 << 32)

extern "C" {

void tp_hal_init(void)
{
    Serial.begin(TP_SERIAL_BAUD);
    const unsigned long start = millis();
    while (!Serial && millis() - start < SERIAL_WAIT_MS) {
    }
    timer_start();
    last_count = timer_read32();
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

uint64_t tp_hal_ticks(void)
{
    const uint32_t now = timer_read32();
    if (now < last_count) {
        wraps += TP_COUNTER_PERIOD;
    }
    last_count = now;
    return wraps + now;
}

uint32_t tp_hal_tick_hz(void) { return TICK_HZ; }
uint32_t tp_hal_units_per_tick(void) { return UNITS_PER_TICK; }
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
    tp_harness_main();
}

void loop() {}
