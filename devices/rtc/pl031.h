/* ARM PrimeCell RTC (PL031) of the aarch64 machine: a 32-bit seconds counter
 * the guest reads as wall-clock time (Linux: rtc-pl031), with an alarm
 * interrupt when the counter reaches the match register. */
#pragma once
#include "hypervisor/device.h"

#include <stdint.h>
#include <time.h>

#define PL031_MMIO_SIZE 0x1000u

/* Reads the current UTC time (CLOCK_REALTIME semantics). */
typedef void (*Pl031Clock)(struct timespec *now, void *opaque);

typedef struct Pl031Config {
    uint64_t base; /* MMIO address of the 4 KiB register page */
    uint32_t gsi;  /* alarm interrupt line, level-triggered, active high */
    /* Time source; NULL means the host's CLOCK_REALTIME. Tests pass a fake. */
    Pl031Clock clock;
    void *clock_opaque;
} Pl031Config;

extern const DeviceOps pl031_ops;

/* The RTC's state (pl031_state.c). The counter is kept as an offset from the
 * host's realtime clock, so a restored guest's clock has advanced with real
 * time; the alarm timer and the IRQ line are recomputed after load. */
#define PL031_OFFSET_MAX (INT64_C(1) << 33) /* beyond any 32-bit counter value */
typedef struct Pl031State {
    int64_t offset_s; /* counter minus host seconds; |offset_s| <= PL031_OFFSET_MAX */
    uint32_t mr;      /* match */
    uint32_t lr;      /* last value loaded */
    bool imsc, ris;   /* the one interrupt: mask and raw status */
} Pl031State;

extern const StateDesc pl031_state;
