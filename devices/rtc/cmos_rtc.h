/* MC146818-compatible CMOS RTC at ports 0x70/0x71: gives the guest the host's
 * current UTC date and time, plus the CMOS RAM bytes firmware-less guests read
 * (memory size above 1 MiB / 16 MiB / 4 GiB). */
#pragma once
#include "hypervisor/device.h"

#include <stdint.h>
#include <time.h>

/* Reads the current UTC time (CLOCK_REALTIME semantics). */
typedef void (*CmosRtcClock)(struct timespec *now, void *opaque);

typedef struct CmosRtcConfig {
    uint64_t base;          /* index port; data port is base + 1 */
    uint64_t mem_below_4g;  /* bytes of RAM below 4 GiB (for CMOS 0x30/0x34) */
    uint64_t mem_above_4g;  /* bytes of RAM above 4 GiB (for CMOS 0x5b) */
    /* Time source; NULL means the host's CLOCK_REALTIME. Tests pass a fake
     * one to reach sub-second behaviour (UIP) deterministically. */
    CmosRtcClock clock;
    void *clock_opaque;
} CmosRtcConfig;

extern const DeviceOps cmos_rtc_ops;
