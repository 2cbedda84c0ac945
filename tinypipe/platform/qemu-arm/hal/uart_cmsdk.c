/* ARM CMSDK APB UART (MPS2/MPS3 FPGA images). */
#include "tp_qemu.h"

enum { DATA = 0x00, STATE = 0x04, CTRL = 0x08, BAUDDIV = 0x10 };
enum { STATE_TXFULL = 1u << 0, STATE_RXFULL = 1u << 1, CTRL_TXEN = 1u << 0, CTRL_RXEN = 1u << 1 };

void tp_uart_init(uint32_t clock_hz, uint32_t baud)
{
    TP_REG(TP_UART_BASE, BAUDDIV) = clock_hz / baud; /* at least 16 for the model to accept it */
    TP_REG(TP_UART_BASE, CTRL) = CTRL_TXEN | CTRL_RXEN;
}

void tp_uart_putc(uint8_t c)
{
    while (TP_REG(TP_UART_BASE, STATE) & STATE_TXFULL) {
    }
    TP_REG(TP_UART_BASE, DATA) = c;
}

int tp_uart_getc(void)
{
    if (!(TP_REG(TP_UART_BASE, STATE) & STATE_RXFULL)) {
        return -1;
    }
    return (int)(TP_REG(TP_UART_BASE, DATA) & 0xFFu);
}
