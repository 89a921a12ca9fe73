/* A guest-side split-virtqueue driver for unit tests: lays a queue out in a
 * GuestMemory, adds descriptor chains (direct and indirect), reads the used
 * ring, and gives raw access to every ring field so hostile tests can corrupt
 * anything. Also guarded RAM: guest RAM whose host mapping is surrounded by
 * PROT_NONE pages, so any access past a region's end faults at once. */
#pragma once
#include "hypervisor/memory.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- guarded RAM ---- */

typedef struct GuardedRam {
    uint8_t *map;     /* whole mapping, guards included */
    size_t map_size;
    uint8_t *hva;     /* the guest-visible part */
    uint64_t size;
    Gpa gpa;
} GuardedRam;

/* Map `size` bytes (page multiple) between two guard pages and register them
 * as guest memory at `gpa`. Aborts the test on failure. */
void virtq_driver_guarded_ram(GuestMemory *mem, Gpa gpa, uint64_t size, GuardedRam *out);
/* Unmap (the region must already be removed, or the GuestMemory freed). */
void virtq_driver_guarded_ram_free(GuardedRam *g);
/* True if [p, p+len) lies in the guest-visible part. */
bool virtq_driver_guarded_contains(const GuardedRam *g, const void *p, uint64_t len);

/* ---- the driver ---- */

typedef struct VirtqDriverBuf {
    Gpa gpa;
    uint32_t len;
    bool writable;
} VirtqDriverBuf;

typedef struct VirtqDriver {
    GuestMemory *mem;
    uint16_t size;
    Gpa desc, avail, used;
    uint16_t avail_idx;  /* next avail slot the driver fills (published idx) */
    uint16_t last_used;  /* next used entry the driver reads */
    uint16_t next_desc;  /* next free descriptor (ring-order bump allocator) */
    Gpa data_base;       /* bump allocator for buffers and indirect tables */
    uint64_t data_size;
    uint64_t data_next;
} VirtqDriver;

/* Rings at `rings` (16-aligned): desc table, then avail, then used (4-aligned),
 * all zeroed. Buffers come from [data, data + data_size). */
void virtq_driver_init(VirtqDriver *d, GuestMemory *mem, uint16_t size, Gpa rings, Gpa data,
                       uint64_t data_size);
/* Bytes the three rings take from `rings`. */
uint64_t virtq_driver_rings_bytes(uint16_t size);

/* Allocate guest memory from the data area (wraps to its start when full). */
Gpa virtq_driver_alloc(VirtqDriver *d, uint64_t len, uint64_t align);

/* Write descriptor `idx` of the main table (or of a table at `table`). */
void virtq_driver_set_desc(VirtqDriver *d, uint16_t idx, uint64_t addr, uint32_t len,
                           uint16_t flags, uint16_t next);
void virtq_driver_set_table_desc(VirtqDriver *d, Gpa table, uint32_t idx, uint64_t addr,
                                 uint32_t len, uint16_t flags, uint16_t next);

/* Build a chain of `n` buffers in free descriptors; returns its head. Not yet
 * visible to the device (see virtq_driver_expose). */
uint16_t virtq_driver_build_chain(VirtqDriver *d, const VirtqDriverBuf *bufs, unsigned n);
/* Build an indirect table of `n` buffers plus one INDIRECT descriptor. */
uint16_t virtq_driver_build_indirect(VirtqDriver *d, const VirtqDriverBuf *bufs, unsigned n,
                                     Gpa *table_out);
/* Put `head` in the next avail slot and publish avail idx += 1. */
void virtq_driver_expose(VirtqDriver *d, uint16_t head);
/* build_chain/build_indirect + expose. */
uint16_t virtq_driver_add(VirtqDriver *d, const VirtqDriverBuf *bufs, unsigned n);
uint16_t virtq_driver_add_indirect(VirtqDriver *d, const VirtqDriverBuf *bufs, unsigned n);

/* Whether the device asked for a kick after avail idx moved old -> new
 * (VIRTQ_USED_F_NO_NOTIFY, or avail_event with EVENT_IDX). */
bool virtq_driver_kick_needed(VirtqDriver *d, bool event_idx, uint16_t old_idx, uint16_t new_idx);

/* Next used entry, if the device published one. */
bool virtq_driver_get_used(VirtqDriver *d, uint32_t *id, uint32_t *len);

/* Raw ring fields (for suppression tests and corruption). */
void virtq_driver_set_avail_flags(VirtqDriver *d, uint16_t flags);
void virtq_driver_set_used_event(VirtqDriver *d, uint16_t v);
void virtq_driver_set_avail_idx(VirtqDriver *d, uint16_t v);
void virtq_driver_set_avail_slot(VirtqDriver *d, uint16_t slot, uint16_t head);
uint16_t virtq_driver_used_flags(VirtqDriver *d);
uint16_t virtq_driver_used_idx(VirtqDriver *d);
uint16_t virtq_driver_avail_event(VirtqDriver *d);
void virtq_driver_used_elem(VirtqDriver *d, uint16_t slot, uint32_t *id, uint32_t *len);

/* Fill guest memory with a byte. */
void virtq_driver_fill(VirtqDriver *d, Gpa gpa, uint8_t byte, uint64_t len);
