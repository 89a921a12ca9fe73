/* The part of the i8042 keyboard controller a headless x86 guest needs:
 * ports 0x60/0x64 answering "no keyboard, input buffer empty", and command
 * 0xFE (pulse reset line) on 0x64, which Linux's `reboot` uses: it ends the
 * VM with VM_STOP_RESET. */
#pragma once
#include "hypervisor/device.h"

#include <stdint.h>

typedef struct I8042Config {
    uint64_t data_port;    /* 0x60 */
    uint64_t command_port; /* 0x64 */
} I8042Config;

extern const DeviceOps i8042_ops;
