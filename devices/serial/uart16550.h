/* 16550A UART (x86 COM1 at 0x3F8/IRQ 4): the serial console. */
#pragma once
#include "hypervisor/device.h"
#include "hypervisor/vm_config.h"

#include <stdint.h>

typedef struct Uart16550Config {
    uint64_t base;                 /* port (PIO) or address (MMIO) of register 0 */
    bool mmio;                     /* registers in the MMIO space instead of PIO */
    uint32_t gsi;                  /* interrupt line, level-triggered */
    const ConsoleConfig *console;  /* backend; mode must not be OFF */
} Uart16550Config;

extern const DeviceOps uart16550_ops;

/* The UART's state (uart16550_state.c): the registers and the receive FIFO
 * in order (rx[0] is the next byte the guest reads). The IRQ level is not
 * state: it is recomputed after load. */
#define UART16550_RX_FIFO_SIZE 16
typedef struct Uart16550State {
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr, lsr_errors, msr;
    bool thri_pending;
    uint8_t rx_count; /* <= UART16550_RX_FIFO_SIZE */
    uint8_t rx[UART16550_RX_FIFO_SIZE];
} Uart16550State;

extern const StateDesc uart16550_state;
