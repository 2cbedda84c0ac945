/*
 * arduino_hal.cpp - tp_hal.h for real boards with an Arduino core, plus the Arduino entry
 * points (setup() runs the whole harness; loop() is never reached).
 *
 * Serial is the board's default `Serial` (USB CDC or the debug-probe UART). The timer is the
 * one named by the board file (tp_config.h):
 *   TP_TIMER_DWT     Cortex-M3/M4/M7/M33 DWT cycle counter, 32 bits extended to 64
 *   TP_TIMER_CCOUNT  Xtensa CCOUNT (ESP32), through the core's ESP.getCycleCount()
 *   otherwise        micros(), converted to cycles at the core clock (Cortex-M0+, no DWT)
 * The 32-bit counter is extended to 64 bits on every read (tp_cycle_counter.h).
 */
#include <Arduino.h>

#include "tp_config.h"
#include "tp_hal.h"
#include "tp_harness.h"

/* Give a USB CDC port this long to be opened by the host before printing the boot records. */
static const unsigned long SERIAL_WAIT_MS = 5000;

#if defined(TP_TIMER_DWT)
#include "tp_cycle_counter.h"
static void timer_start(void) { tp_dwt_start(); }
static uint32_t timer_read32(void) { return tp_dwt_read(); }
static const char TIMER_NAME[] = "dwt";
static const uint32_t TICK_HZ = TP_TIMER_HZ;
static const uint32_t UNITS_PER_TICK = TP_UNITS_PER_TICK;

#elif defined(TP_TIMER_CCOUNT)
#include "tp_cycle_counter.h"
static void timer_start(void) {}
static uint32_t timer_read32(void) { return ESP.getCycleCount(); }
static const char TIMER_NAME[] = "ccount";
static const uint32_t TICK_HZ = TP_TIMER_HZ;
static const uint32_t UNITS_PER_TICK = TP_UNITS_PER_TICK;

#else
#include "tp_cycle_counter.h"
#define TP_MICROS_PER_SECOND 1000000u
static void timer_start(void) {}
static uint32_t timer_read32(void) { return (uint32_t)micros(); }
static const char TIMER_NAME[] = "micros";
static const uint32_t TICK_HZ = TP_MICROS_PER_SECOND;
static const uint32_t UNITS_PER_TICK = TP_TIMER_HZ / TP_MICROS_PER_SECOND;
#endif

static tp_counter64_t counter;

extern "C" {

void tp_hal_init(void)
{
    Serial.begin(TP_SERIAL_BAUD);
    const unsigned long start = millis();
    while (!Serial && millis() - start < SERIAL_WAIT_MS) {
    }
    timer_start();
    tp_counter64_init(&counter, timer_read32());
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

uint64_t tp_hal_ticks(void) { return tp_counter64_update(&counter, timer_read32()); }

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
