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

/* The RTC's state (cmos_rtc_state.c): CMOS RAM (registers A-D, alarms and
 * the firmware bytes), the index register, the guest clock as an offset
 * from the host's realtime clock (so a restored guest's clock has advanced
 * with real time) and the fields held while register B SET freezes it. */
#define CMOS_RTC_RAM_SIZE 128
#define CMOS_RTC_OFFSET_MAX (INT64_C(400) * 366 * 86400 * 100) /* 40,000 years */
typedef struct CmosRtcState {
    uint8_t index; /* < CMOS_RTC_RAM_SIZE */
    uint8_t ram[CMOS_RTC_RAM_SIZE];
    int64_t offset_s;       /* |offset_s| <= CMOS_RTC_OFFSET_MAX */
    int64_t last_c_read_s;  /* guest second of the last register C read */
    bool frozen;
    /* Frozen fields as the guest wrote them (decoded; not yet normalized). */
    uint8_t frozen_sec, frozen_min, frozen_hour, frozen_mday, frozen_mon; /* mon: 1-12 */
    uint16_t frozen_year; /* full year */
} CmosRtcState;

extern const StateDesc cmos_rtc_state;
