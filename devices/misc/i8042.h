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

/* The controller's state (i8042_state.c): command byte, output port, a
 * command waiting for its data byte, and the output queue in order. */
#define I8042_OUT_QUEUE 8
typedef struct I8042State {
    uint8_t ctr, outport, pending_cmd;
    bool last_was_cmd;
    uint8_t out_count; /* <= I8042_OUT_QUEUE */
    uint8_t out[I8042_OUT_QUEUE];
} I8042State;

extern const StateDesc i8042_state;
