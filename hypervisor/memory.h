/* Guest RAM: memfd-backed regions at guest-physical addresses, registered as
 * accelerator memory slots, with bounds-checked GPA->HVA translation.
 *
 * Regions can be added and removed while the VM exists (memory hotplug).
 * Lookups take a read lock; a pointer returned by memory_hva() stays valid
 * until its region is removed, which the VM only does with devices paused. */
#pragma once
#include "hypervisor/accel.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef uint64_t Gpa;

typedef struct MemoryBacking {
    bool shared;            /* MAP_SHARED: visible through the fd (vhost-user, local migration) */
    bool hugepages;         /* back with hugetlbfs pages */
    uint64_t hugepage_size; /* 0: the system default */
} MemoryBacking;

typedef struct MemRegion {
    char *name;
    Gpa gpa;
    uint64_t size;
    uint8_t *hva;
    int fd;   /* the memfd of shared or hugetlbfs RAM; -1: private RAM
               * (anonymous memory) or a foreign mapping */
    bool ram; /* guest RAM (memory_add_ram), not a foreign mapping */
    uint32_t slot;
    uint32_t flags; /* ACCEL_MEM_* */
    bool owns_mapping;
    /* While dirty logging is on (RAM regions only): pages written through
     * memory_write() or handed out by memory_hva() (device emulation), one
     * bit per 4 KiB page; NULL otherwise. Updated atomically. */
    uint64_t *dev_dirty;
} MemRegion;

typedef struct GuestMemory GuestMemory;

/* avm may be NULL (unit tests): regions are then host memory only. */
GuestMemory *memory_new(AccelVm *avm);
void memory_free(GuestMemory *mem);
/* The accelerator VM is about to be destroyed: its memslots go with it, so
 * memory_free must not delete them one by one.  Deleting a slot makes the
 * hypervisor unmap its second-stage tables page by page with a TLB
 * invalidation each, and unmapping RAM a live VM still maps does the same
 * through the MMU notifier; destroying the VM first frees the tables at
 * once: tearing down a 512 MiB arm64 guest in the nested
 * lab took 850 ms the other way round, 20-45 ms this way. */
void memory_detach_accel(GuestMemory *mem);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GuestMemory, memory_free)

/* Allocate `size` bytes of RAM at `gpa` and map them into the guest. */
MemRegion *memory_add_ram(GuestMemory *mem, const char *name, Gpa gpa, uint64_t size,
                          const MemoryBacking *backing, GError **errp);
/* Map caller-owned host memory (ROM images, device memory). */
MemRegion *memory_add_mapping(GuestMemory *mem, const char *name, Gpa gpa, uint64_t size,
                              void *hva, uint32_t flags, GError **errp);
bool memory_remove(GuestMemory *mem, Gpa gpa, GError **errp);

/* Host pointer for [gpa, gpa+len) if it lies inside one region, else NULL. */
void *memory_hva(GuestMemory *mem, Gpa gpa, uint64_t len);
/* Copy to/from guest memory; the range may span adjacent regions. False if any
 * byte is not RAM (nothing is written to the guest in that case). */
bool memory_read(GuestMemory *mem, Gpa gpa, void *buf, uint64_t len);
bool memory_write(GuestMemory *mem, Gpa gpa, const void *buf, uint64_t len);

/* Snapshot of the region list (for e820, dirty logging, migration):
 * the caller owns the array, regions are borrowed. */
GPtrArray *memory_regions(GuestMemory *mem);
/* Turn dirty-page logging on or off for every RAM region (regions with an
 * fd): the accelerator's log (KVM_MEM_LOG_DIRTY_PAGES) for vCPU writes and a
 * userspace bitmap for device emulation's writes (memory_write, and every
 * memory_hva translation, conservatively). Needs an accelerator VM. */
bool memory_set_dirty_logging(GuestMemory *mem, bool on, GError **errp);
/* Fetch and clear the dirty pages of RAM region r since the last call (or
 * since logging was turned on): bitmap gets one bit per 4 KiB page
 * (DIV_ROUND_UP(size / 4096, 64) words), the accelerator's log ORed with
 * device emulation's writes. */
bool memory_fetch_dirty(GuestMemory *mem, MemRegion *r, uint64_t *bitmap, GError **errp);

/* True if the 4 KiB page at p is all zero (snapshots and migration skip such
 * pages). p must be 8-byte aligned. */
bool memory_page_is_zero(const void *p);
/* Make a RAM region all zero, cheaply where the kernel lets us (punch the
 * memfd, drop private copies), else writing only the pages that are not. */
void memory_zero_region(const MemRegion *r);

/* Total bytes of RAM (regions with an fd). */
uint64_t memory_ram_size(GuestMemory *mem);

/* Parse "512M", "1G", "2048K", "65536" into bytes. False on junk, overflow or 0. */
bool memory_parse_size(const char *text, uint64_t *out, GError **errp);
