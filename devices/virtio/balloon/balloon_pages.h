/* virtio-balloon internals with no virtio knowledge, unit-tested on their
 * own: giving guest pages back to the host, and parsing statistics.
 *
 * A BalloonDiscarder takes pages one by one (inflate PFNs) or as host ranges
 * (free page reporting), checks each against a snapshot of the guest's RAM
 * regions, and merges neighbours into one madvise per run. */
#pragma once
#include "devices/virtio/balloon/balloon.h"
#include "hypervisor/memory.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct BalloonDiscarder {
    GPtrArray *regions; /* memory_regions() snapshot */
    uint64_t host_page;
    /* pending run: [start, start + len) inside region cur */
    MemRegion *cur;
    uint64_t start, len;
    /* results */
    uint64_t discarded_bytes;
    uint64_t failed_bytes;
    uint64_t rejected; /* pages/ranges not in guest RAM */
    int last_errno;    /* of the last failed madvise, 0 if none */
} BalloonDiscarder;

void balloon_discarder_begin(BalloonDiscarder *d, GuestMemory *mem);
/* One 4 KiB guest page by frame number. False (counted in `rejected`) when
 * it is not wholly inside a RAM region. */
bool balloon_discarder_add_pfn(BalloonDiscarder *d, uint64_t pfn);
/* A host range inside guest RAM (a reported free block), shrunk inward to
 * host pages. False when it is not wholly inside one RAM region. */
bool balloon_discarder_add_range(BalloonDiscarder *d, const void *hva, uint64_t len);
/* Discard what is pending now (before a buffer is given back: from then on
 * the driver may reuse its pages). */
void balloon_discarder_flush(BalloonDiscarder *d);
/* Flush and drop the snapshot. */
void balloon_discarder_end(BalloonDiscarder *d);

/* The RAM region (memfd-backed, not a ROM or device mapping) holding all of
 * [gpa, gpa + len), or NULL. */
MemRegion *balloon_ram_region(GPtrArray *regions, Gpa gpa, uint64_t len);
/* Discard [off, off + len) of a RAM region: 0 or -errno. */
int balloon_discard(MemRegion *r, uint64_t off, uint64_t len);

/* Parse struct virtio_balloon_stat { le16 tag; le64 val; } (10 bytes,
 * packed) entries from the first max_bytes of iovecs into `out` (value and
 * valid; other fields untouched). A trailing partial entry is ignored;
 * unknown tags are skipped and counted in *unknown. Returns the number of
 * entries read. */
unsigned balloon_stats_parse(const struct iovec *iov, unsigned n, size_t max_bytes,
                             BalloonStats *out, unsigned *unknown);
