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
