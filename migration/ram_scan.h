/* Which pages of a RAM region can hold data, found without touching them.
 *
 * Reading a page of a memfd-backed region that was never written makes the
 * kernel allocate it (shmem fills holes on read faults, private mappings
 * included), so a full pass that reads every page to find the zero ones
 * grows the source by the guest's whole RAM and spends most of its time
 * zero-filling. A page can hold data only if our page tables map it
 * (present or swapped, /proc/self/pagemap) or the memfd, if there is one,
 * has data there (SEEK_DATA); every other page reads as zero. */
#pragma once
#include "hypervisor/memory.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* The guest RAM regions of mem (not ROM or device mappings), borrowed:
 * free the array only. */
GPtrArray *ram_scan_regions(GuestMemory *mem);

/* Set one bit per 4 KiB page of r that may hold data in bitmap
 * (DIV_ROUND_UP(size / 4096, 64) words, cleared here). False when the
 * kernel cannot tell (no pagemap, no SEEK_DATA): then read every page. */
bool ram_scan_populated(const MemRegion *r, uint64_t *bitmap);
