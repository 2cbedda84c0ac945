/*
 * stm32cube_hal.c - tp_hal.h for ST boards built with PlatformIO's stm32cube framework, plus
 * main(). One file for every STM32 family tinypipe knows; the board's values come from its YAML
 * through two generated headers:
 *
 *   tp_config.h  (`hal:`)         TP_HAL_HEADER (the family's Cube HAL header), TP_HAL_UART (the
 *                                 U(S)ART wired to the ST-LINK virtual COM port), its RCC and GPIO
 *                                 clock enables, TP_HAL_GPIO_PORT / TX_PIN / RX_PIN / PIN_AF, and
 *                                 optionally TP_HAL_IO_SUPPLY_ENABLE() (a separately powered port)
 *   tp_board.h   (`clock_tree:`)  TP_CLOCK_*: power supply, voltage scale, PLL input, PLL factors,
 *                                 bus dividers, flash wait states; TP_CACHE_*: the caches
 *
 * The structure of the clock tree is the family's (STM32H7: a PWR supply set-up, VOS, PLL1 whose
 * P output is SYSCLK and six bus dividers; STM32L4: a regulator range, a PLL whose R output is
 * SYSCLK, AHB/APB1/APB2), so it is written here once per family; the values are the board's.
 *
 * If an oscillator or the PLL does not start (no ST-LINK MCO on the HSE pin, say), the core keeps
 * running on its reset clock: SystemCoreClock, which the boot record reports as tick_hz, then says
 * so and the host warns that it differs from the board file. The timer is the DWT cycle counter.
 * main() paints the free stack for the stack high-water mark the RESULT record carries.
 */
#include "tp_board.h"
#include "tp_config.h"
#include "tp_hal.h"
#include "tp_harness.h"

#include TP_HAL_HEADER

#include "tp_cycle_counter.h"

#if !defined(STM32H7) && !defined(STM32L4)
#error "stm32cube_hal.c knows the clock trees of STM32H7 and STM32L4; add this family's"
#endif

#define TP_UART_CHUNK 0xFFFFu /* HAL_UART_Transmit takes a 16-bit length */

/* RCC_APB1_DIV + 2 -> RCC_APB1_DIV2: the HAL's constant for a divider the board file gives as a number. */
#define TP_CAT_(a, b) a##b
#define TP_CAT(a, b) TP_CAT_(a, b)

/* The PLL must give the core clock the board file names (tinypipe checked it too; this is the C side). */
typedef char tp_clock_tree_gives_clock_hz[((unsigned long long)TP_CLOCK_SOURCE_HZ * TP_CLOCK_PLL_N / TP_CLOCK_PLL_M /
                                           TP_CLOCK_PLL_OUTPUT_DIV / TP_CLOCK_SYS_DIV == TP_CLOCK_HZ) ? 1 : -1];

static UART_HandleTypeDef uart;
static tp_counter64_t counter;

static void power_init(void)
{
#if defined(STM32H7)
#if defined(TP_CLOCK_SUPPLY)
    (void)HAL_PWREx_ConfigSupply(TP_CLOCK_SUPPLY); /* write-once after reset: matches the board's wiring */
#endif
    __HAL_PWR_VOLTAGESCALING_CONFIG(TP_CLOCK_VOLTAGE_SCALE);
    while (!__HAL_PWR_GET_FLAG(PWR_FLAG_VOSRDY)) {
    }
#else
    __HAL_RCC_PWR_CLK_ENABLE(); /* kept on: the IO supply switch is in PWR too */
    (void)HAL_PWREx_ControlVoltageScaling(TP_CLOCK_VOLTAGE_SCALE);
#endif
}

static HAL_StatusTypeDef oscillator_init(void)
{
    RCC_OscInitTypeDef osc = {0};
#if defined(TP_CLOCK_SOURCE_HSE) || defined(TP_CLOCK_SOURCE_HSE_BYPASS)
    osc.OscillatorType = RCC_OSCILLATORTYPE_HSE;
#if defined(TP_CLOCK_SOURCE_HSE_BYPASS)
    osc.HSEState = RCC_HSE_BYPASS; /* an external clock on OSC_IN, no crystal */
#else
    osc.HSEState = RCC_HSE_ON;
#endif
    osc.PLL.PLLSource = RCC_PLLSOURCE_HSE;
#elif defined(TP_CLOCK_SOURCE_HSI)
    osc.OscillatorType = RCC_OSCILLATORTYPE_HSI;
#if defined(STM32H7)
    osc.HSIState = RCC_HSI_DIV1;
#else
    osc.HSIState = RCC_HSI_ON;
#endif
    osc.HSICalibrationValue = RCC_HSICALIBRATION_DEFAULT;
    osc.PLL.PLLSource = RCC_PLLSOURCE_HSI;
#elif defined(TP_CLOCK_SOURCE_MSI) && defined(STM32L4)
    osc.OscillatorType = RCC_OSCILLATORTYPE_MSI;
    osc.MSIState = RCC_MSI_ON;
    osc.MSICalibrationValue = RCC_MSICALIBRATION_DEFAULT;
    osc.MSIClockRange = RCC_MSIRANGE_6; /* 4 MHz */
    osc.PLL.PLLSource = RCC_PLLSOURCE_MSI;
#else
#error "tp_board.h names no PLL input this family has (TP_CLOCK_SOURCE_*)"
#endif
    osc.PLL.PLLState = RCC_PLL_ON;
    osc.PLL.PLLM = TP_CLOCK_PLL_M;
    osc.PLL.PLLN = TP_CLOCK_PLL_N;
    osc.PLL.PLLP = TP_CLOCK_PLL_P;
    osc.PLL.PLLQ = TP_CLOCK_PLL_Q;
    osc.PLL.PLLR = TP_CLOCK_PLL_R;
#if defined(STM32H7)
    osc.PLL.PLLRGE = TP_CLOCK_PLL_VCI_RANGE;
    osc.PLL.PLLVCOSEL = TP_CLOCK_PLL_VCO;
    osc.PLL.PLLFRACN = 0;
#endif
    return HAL_RCC_OscConfig(&osc);
}

static HAL_StatusTypeDef bus_init(void)
{
    RCC_ClkInitTypeDef clk = {0};
    clk.SYSCLKSource = RCC_SYSCLKSOURCE_PLLCLK;
#if defined(STM32H7)
    clk.ClockType = RCC_CLOCKTYPE_SYSCLK | RCC_CLOCKTYPE_HCLK | RCC_CLOCKTYPE_D1PCLK1 | RCC_CLOCKTYPE_PCLK1 |
                    RCC_CLOCKTYPE_PCLK2 | RCC_CLOCKTYPE_D3PCLK1;
    clk.SYSCLKDivider = TP_CAT(RCC_SYSCLK_DIV, TP_CLOCK_SYS_DIV);
    clk.AHBCLKDivider = TP_CAT(RCC_HCLK_DIV, TP_CLOCK_AHB_DIV);
    clk.APB3CLKDivider = TP_CAT(RCC_APB3_DIV, TP_CLOCK_APB3_DIV);
    clk.APB1CLKDivider = TP_CAT(RCC_APB1_DIV, TP_CLOCK_APB1_DIV);
    clk.APB2CLKDivider = TP_CAT(RCC_APB2_DIV, TP_CLOCK_APB2_DIV);
    clk.APB4CLKDivider = TP_CAT(RCC_APB4_DIV, TP_CLOCK_APB4_DIV);
#else
    /* Above 80 MHz the L4+ HAL steps through AHB / 2 itself (RM0432 6.2.9). */
    clk.ClockType = RCC_CLOCKTYPE_SYSCLK | RCC_CLOCKTYPE_HCLK | RCC_CLOCKTYPE_PCLK1 | RCC_CLOCKTYPE_PCLK2;
    clk.AHBCLKDivider = TP_CAT(RCC_SYSCLK_DIV, TP_CLOCK_AHB_DIV);
    clk.APB1CLKDivider = TP_CAT(RCC_HCLK_DIV, TP_CLOCK_APB1_DIV);
    clk.APB2CLKDivider = TP_CAT(RCC_HCLK_DIV, TP_CLOCK_APB2_DIV);
#endif
    /* Raises the flash wait states before the clock goes up; updates SystemCoreClock and SysTick. */
    return HAL_RCC_ClockConfig(&clk, TP_CAT(FLASH_LATENCY_, TP_CLOCK_FLASH_LATENCY));
}

static void cache_init(void)
{
#if defined(__ICACHE_PRESENT) && (__ICACHE_PRESENT == 1U)
    /* Cortex-M7 L1 caches. Nothing here does DMA, so the D-cache needs no maintenance. */
#if defined(TP_CACHE_ICACHE)
    SCB_EnableICache();
#endif
#if defined(TP_CACHE_DCACHE)
    SCB_EnableDCache();
#endif
#if defined(TP_CACHE_PREFETCH)
#error "clock_tree.caches lists prefetch, which this core's flash interface does not have"
#endif
#else
    /* ST's ART accelerator on the flash interface (STM32L4/F4/F7). */
#if defined(TP_CACHE_ICACHE)
    __HAL_FLASH_INSTRUCTION_CACHE_ENABLE();
#endif
#if defined(TP_CACHE_DCACHE)
    __HAL_FLASH_DATA_CACHE_ENABLE();
#endif
#if defined(TP_CACHE_PREFETCH)
    __HAL_FLASH_PREFETCH_BUFFER_ENABLE();
#endif
#endif
}

static void uart_init(void)
{
    TP_HAL_GPIO_CLOCK_ENABLE();
#ifdef TP_HAL_IO_SUPPLY_ENABLE
    TP_HAL_IO_SUPPLY_ENABLE();
#endif
    TP_HAL_UART_CLOCK_ENABLE();

    GPIO_InitTypeDef pins = {0};
    pins.Pin = TP_HAL_TX_PIN | TP_HAL_RX_PIN;
    pins.Mode = GPIO_MODE_AF_PP;
    pins.Pull = GPIO_PULLUP;
    pins.Speed = GPIO_SPEED_FREQ_HIGH;
    pins.Alternate = TP_HAL_PIN_AF;
    HAL_GPIO_Init(TP_HAL_GPIO_PORT, &pins);

    /* The baud rate divider comes from the U(S)ART's kernel clock as configured above. */
    uart.Instance = TP_HAL_UART;
    uart.Init.BaudRate = TP_SERIAL_BAUD;
    uart.Init.WordLength = UART_WORDLENGTH_8B;
    uart.Init.StopBits = UART_STOPBITS_1;
    uart.Init.Parity = UART_PARITY_NONE;
    uart.Init.Mode = UART_MODE_TX_RX;
    uart.Init.HwFlowCtl = UART_HWCONTROL_NONE;
    uart.Init.OverSampling = UART_OVERSAMPLING_16;
    (void)HAL_UART_Init(&uart);
}

void tp_hal_init(void)
{
    HAL_Init(); /* SysTick at 1 kHz, for the HAL's own timeouts */
    power_init();
    if (oscillator_init() == HAL_OK) {
        (void)bus_init();
    }
    SystemCoreClockUpdate(); /* what the core really runs at, whatever happened above */
    cache_init();
    uart_init();

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
/* DWT counts core cycles: the tick rate is the core clock the chip really runs at. */
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

/* A fault (MemManage, BusFault and UsageFault escalate to it): its line (tp_hal.h's
 * tp_fault_line) over the UART, polled, so that the host says "the firmware faulted: ..." with
 * the PC and the address it touched instead of waiting out a silent board; then park. Compiled
 * and linked in CI (tests/test_real_boards.py), never run there: no board is attached. */
__attribute__((used)) void tp_stm32_fault_report(const uint32_t *frame)
{
    char line[TP_FAULT_LINE_BYTES];
    const uint32_t n = tp_fault_line(line, frame);
    uart.gState = HAL_UART_STATE_READY; /* the fault may have struck inside a transmission */
    __HAL_UNLOCK(&uart);
    (void)HAL_UART_Transmit(&uart, (uint8_t *)line, (uint16_t)n, HAL_MAX_DELAY);
    for (;;) {
    }
}

/* The stacked frame: MSP or PSP, per EXC_RETURN bit 2. */
__attribute__((naked)) void HardFault_Handler(void)
{
    __asm__ volatile("tst lr, #4\n\t"
                     "ite eq\n\t"
                     "mrseq r0, msp\n\t"
                     "mrsne r0, psp\n\t"
                     "b tp_stm32_fault_report\n\t");
}

/* The stack (tinypipe.ld): from above the heap reserve, which starts at _end after .bss, up to
 * _estack at the top of the RAM region. main() paints it; tp_hal_stack_used() scans it. */
extern uint32_t _estack[];
extern char _end[], _Min_Heap_Size[]; /* _Min_Heap_Size: an absolute symbol, its address is its value */

static uint32_t *stack_bottom(void)
{
    return (uint32_t *)(((uintptr_t)_end + (uintptr_t)_Min_Heap_Size + 3u) & ~(uintptr_t)3u);
}

uint32_t tp_hal_stack_used(void) { return tp_stack_scan(stack_bottom(), _estack); }

int main(void)
{
    tp_stack_paint(stack_bottom(), _estack);
    tp_harness_main();
    return 0;
}
