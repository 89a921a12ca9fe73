/* 16550 UART guests (real mode), driving COM1 the way a polling driver does. */
#include "native/guests/guest_abi.h"

#define UART_THR 0 /* DLAB=0: transmit holding (write), receive buffer (read) */
#define UART_DLL 0 /* DLAB=1: divisor latch, low byte */
#define UART_IER 1 /* DLAB=0: interrupt enable */
#define UART_DLM 1 /* DLAB=1: divisor latch, high byte */
#define UART_IIR 2 /* read: interrupt identification */
#define UART_FCR 2 /* write: FIFO control */
#define UART_LCR 3
#define UART_LSR 5
#define UART_SCR 7
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

/* Write one register: OUTB reg, imm8. */
#define OUTB(reg, val) mov $(GUEST_COM1 + (reg)), %dx; mov $(val), %al; out %al, %dx
/* Read one register and report it (1 byte). */
#define REPORTB(reg) mov $(GUEST_COM1 + (reg)), %dx; in %dx, %al; out %al, $GUEST_PORT_REPORT

/* Prints the message: for each byte, wait for THRE, then write THR; at the
 * end wait for TEMT (everything sent) and exit. */
GUEST_IMAGE_BEGIN(guest_uart_hello)
    .code16
    OUTB(UART_LCR, 0x03)   /* 8N1 */
    OUTB(UART_IER, 0x00)   /* polled */
    mov $GUEST_ADDR(guest_uart_hello, message), %si
next:
    mov (%si), %bl
    test %bl, %bl
    jz drained
    mov $(GUEST_COM1 + UART_LSR), %dx
1:  in %dx, %al
    test $LSR_THRE, %al
    jz 1b
    mov $(GUEST_COM1 + UART_THR), %dx
    mov %bl, %al
    out %al, %dx
    inc %si
    jmp next
drained:
    mov $(GUEST_COM1 + UART_LSR), %dx
1:  in %dx, %al
    test $LSR_TEMT, %al
    jz 1b
    mov $0, %al
    out %al, $GUEST_PORT_EXIT
1:  cli
    hlt
    jmp 1b
message:
    .asciz "Hello from a tiny guest on Nimbus\n"
    .code64
GUEST_IMAGE_END(guest_uart_hello)

/* Register file: scratch, line status, divisor latch, line control, FIFO
 * detection (what Linux's 8250 probe relies on) and the THRE interrupt
 * identification. Each value read is reported as one byte. */
GUEST_IMAGE_BEGIN(guest_uart_regs)
    .code16
    OUTB(UART_SCR, 0xa5)
    REPORTB(UART_SCR)              /* 0xa5 */
    OUTB(UART_SCR, 0x5a)
    REPORTB(UART_SCR)              /* 0x5a */
    REPORTB(UART_LSR)              /* 0x60: THRE | TEMT, nothing received */
    REPORTB(UART_IIR)              /* 0x01: no interrupt, FIFOs off */
    OUTB(UART_LCR, 0x83)           /* DLAB=1, 8N1 */
    OUTB(UART_DLL, 0x0c)           /* 9600 baud */
    OUTB(UART_DLM, 0x00)
    REPORTB(UART_DLL)              /* 0x0c */
    REPORTB(UART_DLM)              /* 0x00 */
    REPORTB(UART_LCR)              /* 0x83 */
    OUTB(UART_LCR, 0x03)           /* DLAB=0 */
    REPORTB(UART_LCR)              /* 0x03 */
    REPORTB(UART_IER)              /* 0x00: IER again, not DLM */
    OUTB(UART_FCR, 0x07)           /* enable and clear the FIFOs */
    REPORTB(UART_IIR)              /* 0xc1: FIFOs enabled, no interrupt */
    OUTB(UART_IER, 0x02)           /* THR-empty interrupt on */
    REPORTB(UART_IER)              /* 0x02 */
    REPORTB(UART_IIR)              /* 0xc2: THR empty pending */
    REPORTB(UART_IIR)              /* 0xc1: reading IIR cleared it */
    OUTB(UART_IER, 0x00)
    mov $0, %al
    out %al, $GUEST_PORT_EXIT
1:  cli
    hlt
    jmp 1b
    .code64
GUEST_IMAGE_END(guest_uart_regs)

    .section .note.GNU-stack, "", @progbits
