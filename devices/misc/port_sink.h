/* A PIO range that accepts and discards writes and reads as a fixed value:
 * the POST diagnostic port 0x80 (Linux uses it for I/O delays) and similar
 * legacy ports a guest probes, so they do not flood the unassigned-access log. */
#pragma once
#include "hypervisor/device.h"

#include <stdint.h>

typedef struct PortSinkConfig {
    uint64_t base;
    uint64_t size;
    uint8_t read_value; /* byte returned for every read */
} PortSinkConfig;

extern const DeviceOps port_sink_ops;

/* A port sink has no state: its description (port_sink_state.c) has no
 * fields, so its section only says the device exists on both sides. */
extern const StateDesc port_sink_state;
