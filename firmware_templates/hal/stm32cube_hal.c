/*
 * stm32cube_hal.c - tp_hal.h for ST boards built with PlatformIO's stm32cube framework, plus
 * main(). The UART and its pins come from the board file's `hal:` section (tp_config.h):
 *
 *   TP_HAL_HEADER     the family's Cube HAL header, e.g. "stm32h7xx_hal.h"
 *   TP_HAL_UART       the U(S)ART instance wired to the ST-LINK virtual COM port, e.g. USART3
 *   TP_HAL_UART_CLOCK_ENABLE() / TP_HAL_GPIO_CLOCK_ENABLE()   the RCC enables for both
 *   TP_HAL_GPIO_PORT, TP_HAL_TX_PIN, TP_HAL_RX_PIN, TP_HAL_PIN_AF   the TX/RX pins
 *
 * The core runs at its reset clock (no PLL set-up here, which is family-specific): cycles are
 * what is measured, and tp_hal_tick_hz() reports the real SystemCoreClock, so the host converts
 * cycles to µs at the clock the core actually ran at. The timer is the DWT cycle counter.
 */
#include "tp_config.h"
#include "tp_hal.h"
#include "tp_harness.h"

#include TP_HAL_HEADER

#include "tp_cycle_counter.h"

#define TP_UART_CHUNK 0xFFFFu /* HAL_UART_Transmit takes a 16-bit length */

static UART_HandleTypeDef uart;
static tp_counter64_t counter;

void tp_hal_init(void)
{
    HAL_Init(); /* SysTick at 1 kHz, used by the HAL's own timeouts */
    TP_HAL_GPIO_CLOCK_ENABLE();
    TP_HAL_UART_CLOCK_ENABLE();

    GPIO_InitTypeDef pins = {0};
    pins.Pin = TP_HAL_TX_PIN | TP_HAL_RX_PIN;
    pins.Mode = GPIO_MODE_AF_PP;
    pins.Pull = GPIO_PULLUP;
    pins.Speed = GPIO_SPEED_FREQ_HIGH;
    pins.Alternate = TP_HAL_PIN_AF;
    HAL_GPIO_Init(TP_HAL_GPIO_PORT, &pins);

    uart.Instance = TP_HAL_UART;
    uart.Init.BaudRate = TP_SERIAL_BAUD;
    uart.Init.WordLength = UART_WORDLENGTH_8B;
    uart.Init.StopBits = UART_STOPBITS_1;
    uart.Init.Parity = UART_PARITY_NONE;
    uart.Init.Mode = UART_MODE_TX_RX;
    uart.Init.HwFlowCtl = UART_HWCONTROL_NONE;
    uart.Init.OverSampling = UART_OVERSAMPLING_16;
    HAL_UART_Init(&uart);

    tp_dwt_start();
    tp_counter64_init(&counter, tp_dwt_read());
}

void tp_hal_write(const void *data, uint32_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    while (len > 0) {
        const uint16_t n = (uint16_t)(len > TP_UART_CHUNK ? TP_UART_CHUNK : len);
        HAL_UART_Transmit(&uart, (uint8_t *)p, n, HAL_MAX_DELAY);
        p += n;
        len -= n;
    }
}

uint32_t tp_hal_read(void *data, uint32_t len, uint32_t timeout_ms)
{
    uint8_t *p = (uint8_t *)data;
    uint32_t got = 0;
    while (got < len && HAL_UART_Receive(&uart, p + got, 1, timeout_ms) == HAL_OK) {
        ++got;
    }
    return got;
}

uint64_t tp_hal_ticks(void) { return tp_counter64_update(&counter, tp_dwt_read()); }
uint32_t tp_hal_tick_hz(void) { return SystemCoreClock; }
uint32_t tp_hal_units_per_tick(void) { return 1; }
const char *tp_hal_unit(void) { return "cycles"; }
const char *tp_hal_timer(void) { return "dwt"; }

void tp_hal_exit(int code)
{
    (void)code; /* nobody to report it to on a real board */
    for (;;) {
    }
}

/* The Cube HAL's millisecond tick. */
void SysTick_Handler(void) { HAL_IncTick(); }

int main(void)
{
    tp_harness_main();
    return 0;
}
