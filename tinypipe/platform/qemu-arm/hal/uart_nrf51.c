/* Nordic nRF51 UART (task/event registers, one byte at a time). */
#include "tp_qemu.h"

enum {
    TASKS_STARTRX = 0x000, TASKS_STARTTX = 0x008, EVENTS_RXDRDY = 0x108, EVENTS_TXDRDY = 0x11C,
    ENABLE = 0x500, RXD = 0x518, TXD = 0x51C, BAUDRATE = 0x524
};
enum { ENABLE_UART = 4, BAUD_115200 = 0x01D7E000 };

void tp_uart_init(uint32_t clock_hz, uint32_t baud)
{
    (void)clock_hz;
    (void)baud; /* the model ignores the rate; 115200 is what the board YAML says */
    TP_REG(TP_UART_BASE, BAUDRATE) = BAUD_115200;
    TP_REG(TP_UART_BASE, ENABLE) = ENABLE_UART;
    TP_REG(TP_UART_BASE, TASKS_STARTTX) = 1;
    TP_REG(TP_UART_BASE, TASKS_STARTRX) = 1;
}

void tp_uart_putc(uint8_t c)
{
    TP_REG(TP_UART_BASE, EVENTS_TXDRDY) = 0;
    TP_REG(TP_UART_BASE, TXD) = c;
    while (!TP_REG(TP_UART_BASE, EVENTS_TXDRDY)) {
    }
}

int tp_uart_getc(void)
{
    if (!TP_REG(TP_UART_BASE, EVENTS_RXDRDY)) {
        return -1;
    }
    TP_REG(TP_UART_BASE, EVENTS_RXDRDY) = 0;
    return (int)(TP_REG(TP_UART_BASE, RXD) & 0xFFu);
}
