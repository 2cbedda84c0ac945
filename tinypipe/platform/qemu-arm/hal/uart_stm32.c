/* STM32F2/F4 USART (status/data/baud/control register layout). */
#include "tp_qemu.h"

enum { SR = 0x00, DR = 0x04, BRR = 0x08, CR1 = 0x0C };
enum { SR_RXNE = 1u << 5, SR_TXE = 1u << 7, CR1_RE = 1u << 2, CR1_TE = 1u << 3, CR1_UE = 1u << 13 };

void tp_uart_init(uint32_t clock_hz, uint32_t baud)
{
    TP_REG(TP_UART_BASE, BRR) = clock_hz / baud;
    TP_REG(TP_UART_BASE, CR1) = CR1_UE | CR1_TE | CR1_RE;
}

void tp_uart_putc(uint8_t c)
{
    while (!(TP_REG(TP_UART_BASE, SR) & SR_TXE)) {
    }
    TP_REG(TP_UART_BASE, DR) = c;
}

int tp_uart_getc(void)
{
    if (!(TP_REG(TP_UART_BASE, SR) & SR_RXNE)) {
        return -1;
    }
    return (int)(TP_REG(TP_UART_BASE, DR) & 0xFFu);
}
