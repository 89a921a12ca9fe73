/* ARM PrimeCell UART (PL011), the serial console of the aarch64 machine
 * (Linux: amba-pl011, ttyAMA0). */
#pragma once
#include "hypervisor/device.h"
#include "hypervisor/vm_config.h"

#include <stdint.h>

#define PL011_MMIO_SIZE 0x1000u

typedef struct Pl011Config {
    uint64_t base;                 /* MMIO address of the 4 KiB register page */
    uint32_t gsi;                  /* interrupt line, level-triggered, active high */
    const ConsoleConfig *console;  /* backend; mode must not be OFF */
} Pl011Config;

extern const DeviceOps pl011_ops;

/* The UART's state (pl011_state.c): the registers and the receive FIFO in
 * order (rx[0] is the next byte the guest reads). The IRQ line is not state:
 * it is recomputed after load. */
#define PL011_RX_FIFO_SIZE 32
typedef struct Pl011State {
    uint16_t ris;  /* raw interrupt status (UARTRIS), 11 bits */
    uint16_t imsc; /* interrupt mask (UARTIMSC), 11 bits */
    uint16_t cr;   /* control (UARTCR) */
    uint8_t lcr_h; /* line control (UARTLCR_H) */
    uint8_t ifls;  /* FIFO interrupt levels (UARTIFLS), 6 bits */
    uint16_t ibrd; /* integer baud divisor */
    uint8_t fbrd;  /* fractional baud divisor, 6 bits */
    uint8_t ilpr;  /* IrDA low-power divisor */
    uint8_t dmacr; /* DMA control, 3 bits */
    uint8_t rsr;   /* receive status (UARTRSR): latched FE/PE/BE/OE */
    uint8_t rx_count; /* <= PL011_RX_FIFO_SIZE */
    uint8_t rx[PL011_RX_FIFO_SIZE];
} Pl011State;

extern const StateDesc pl011_state;
