/* virtio-balloon (virtio 1.2 section 5.5): the host asks the guest to give
 * back memory (num_pages, the target balloon size in 4 KiB pages); the
 * driver inflates by sending page frame numbers, which nimbus discards from
 * guest RAM, and reports its balloon size in `actual`.
 *
 *     device_create(vm, &virtio_balloon_ops, "balloon0",
 *                   &(BalloonConfig){ .size = 256 << 20, .deflate_on_oom = true,
 *                                     .free_page_reporting = true }, errp)
 *
 * Needs the PCI host bridge "pci0".
 *
 * Features offered: VIRTIO_BALLOON_F_STATS_VQ always,
 * VIRTIO_BALLOON_F_DEFLATE_ON_OOM with deflate_on_oom,
 * VIRTIO_BALLOON_F_PAGE_REPORTING with free_page_reporting. Not offered:
 * MUST_TELL_HOST (a discarded page simply faults back in, zeroed),
 * FREE_PAGE_HINT, PAGE_POISON.
 *
 * Queues, numbered as the drivers do (the ones whose feature is not
 * negotiated take no index): 0 inflateq, 1 deflateq, then statsq if
 * STATS_VQ, then reporting_vq if PAGE_REPORTING. So with both negotiated
 * reporting_vq is queue 3, with only PAGE_REPORTING it is queue 2.
 *
 * Discarding: a page or reported range is dropped from its memfd RAM region
 * (MADV_REMOVE for shared mappings, which frees the memfd's pages;
 * MADV_DONTNEED for private ones). PFNs outside guest RAM (or in ROM/device
 * mappings) are ignored with a rate-limited guest-error log. */
#pragma once
#include "hypervisor/device.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define VIRTIO_BALLOON_PAGE_SHIFT 12
#define VIRTIO_BALLOON_PAGE_SIZE (1u << VIRTIO_BALLOON_PAGE_SHIFT)
#define VIRTIO_BALLOON_QUEUE_SIZE 128

/* Feature bits (virtio 1.2 5.5.3). */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON 4
#define VIRTIO_BALLOON_F_PAGE_REPORTING 5

/* Device configuration (little-endian). */
#define VIRTIO_BALLOON_CFG_NUM_PAGES 0 /* le32, device -> driver */
#define VIRTIO_BALLOON_CFG_ACTUAL 4    /* le32, driver -> device */
#define VIRTIO_BALLOON_CFG_SIZE 8

/* Statistics tags (virtio 1.2 5.5.6.3 plus the later Linux ones). */
typedef enum {
    BALLOON_STAT_SWAP_IN = 0,
    BALLOON_STAT_SWAP_OUT = 1,
    BALLOON_STAT_MAJFLT = 2,
    BALLOON_STAT_MINFLT = 3,
    BALLOON_STAT_MEMFREE = 4,
    BALLOON_STAT_MEMTOT = 5,
    BALLOON_STAT_AVAIL = 6,
    BALLOON_STAT_CACHES = 7,
    BALLOON_STAT_HTLB_PGALLOC = 8,
    BALLOON_STAT_HTLB_PGFAIL = 9,
    BALLOON_STAT_OOM_KILLS = 10,
    BALLOON_STAT_ALLOC_STALLS = 11,
    BALLOON_STAT_ASYNC_SCANS = 12,
    BALLOON_STAT_DIRECT_SCANS = 13,
    BALLOON_STAT_ASYNC_RECLAIMS = 14,
    BALLOON_STAT_DIRECT_RECLAIMS = 15,
    BALLOON_STAT_COUNT
} BalloonStatTag;

/* Name of a tag for the API ("swap_in", "free_memory", ...), NULL if none. */
const char *balloon_stat_name(unsigned tag);

/* The latest statistics the driver sent. */
typedef struct BalloonStats {
    uint64_t value[BALLOON_STAT_COUNT];
    uint32_t valid;        /* bit n: tag n was in the last report */
    uint64_t updates;      /* reports received */
    int64_t updated_us;    /* g_get_monotonic_time() of the last one; 0: never */
} BalloonStats;

typedef struct BalloonCounters {
    uint64_t inflated_pages;  /* PFNs accepted on inflateq */
    uint64_t deflated_pages;  /* PFNs seen on deflateq */
    uint64_t discarded_bytes; /* given back to the host (inflate + reporting) */
    uint64_t reported_bytes;  /* free page reporting ranges accepted */
    uint64_t rejected_pfns;   /* PFNs/ranges outside guest RAM */
    uint64_t discard_errors;  /* madvise failures (e.g. huge pages) */
} BalloonCounters;

extern const DeviceOps virtio_balloon_ops;

/* Set the target balloon size (rounded down to 4 KiB pages; at most the
 * guest's RAM) and tell the driver (configuration change interrupt).
 * Control thread. */
bool balloon_set_target(Device *d, uint64_t bytes, GError **errp);
uint64_t balloon_target(Device *d);
/* The balloon size the driver last reported, in bytes. */
uint64_t balloon_actual(Device *d);
/* Copy the latest statistics; false while the driver sent none. */
bool balloon_stats(Device *d, BalloonStats *out);
/* Ask the driver for fresh statistics (it answers asynchronously; see
 * BalloonStats.updates). No-op without a stats buffer from the driver. */
void balloon_request_stats(Device *d);
void balloon_counters(Device *d, BalloonCounters *out);

/* State (balloon_state.c): the virtio core only; see there. */
extern const StateDesc virtio_balloon_state;
