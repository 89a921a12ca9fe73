/* Address-space dispatch: one AddrSpace per bus kind (port I/O, MMIO).
 * Devices map regions and see offsets inside them, never absolute addresses,
 * so moving a region (a PCI BAR) never touches device code.
 *
 * Access sizes: a region declares what the guest may do (valid_*) and what
 * its handler implements (impl_*). Invalid accesses are defined behaviour:
 * reads return all-ones, writes are dropped, a rate-limited guest error is
 * logged. Accesses wider than impl_max are split, narrower than impl_min are
 * widened (read-modify-write for writes). Unassigned addresses behave the same
 * way as invalid accesses. */
#pragma once
#include "hypervisor/accel.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct RegionOps {
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
    /* Allowed guest access sizes, powers of two in 1..8; 0 means 1 resp. 8. */
    uint8_t valid_min, valid_max;
    bool valid_unaligned; /* accept accesses not aligned to their size */
    /* Sizes the handler implements; 0 means valid_min resp. valid_max. */
    uint8_t impl_min, impl_max;
} RegionOps;

typedef enum { ADDRSPACE_PIO, ADDRSPACE_MMIO } AddrSpaceKind;

typedef struct AddrSpace AddrSpace;
typedef struct AsRegion AsRegion;

/* Per-vCPU cache of the last region hit (a hint only, validated on use). */
typedef struct AddrSpaceHint {
    AsRegion *region;
    uint64_t generation;
} AddrSpaceHint;

/* avm (nullable) is used to register ioeventfds on regions. */
AddrSpace *addrspace_new(AddrSpaceKind kind, AccelVm *avm);
void addrspace_free(AddrSpace *as);

/* Map [base, base+size). Rejects size 0, wrap-around and overlap. */
bool addrspace_map(AddrSpace *as, const char *name, uint64_t base, uint64_t size,
                   const RegionOps *ops, void *opaque, GError **errp);
/* Remove the region at base. Waits for vCPUs inside its handlers to leave,
 * except when called from one of that region's own handlers. */
bool addrspace_unmap(AddrSpace *as, uint64_t base, GError **errp);
/* Move the region at old_base (and its ioeventfds) to new_base. */
bool addrspace_move(AddrSpace *as, uint64_t old_base, uint64_t new_base, GError **errp);

/* Signal fd when the guest writes `len` bytes at region offset `offset`
 * (optionally only for value `datamatch`), handled in the accelerator
 * without a userspace exit. Follows the region when it moves. */
bool addrspace_add_ioeventfd(AddrSpace *as, uint64_t base, uint64_t offset, uint32_t len,
                             bool has_datamatch, uint64_t datamatch, int fd, GError **errp);
bool addrspace_remove_ioeventfd(AddrSpace *as, uint64_t base, uint64_t offset, int fd,
                                GError **errp);

/* Perform one guest access of `len` bytes (1..8, or any length for the
 * unassigned/invalid path) at `addr`. data is little-endian. hint may be NULL. */
void addrspace_dispatch(AddrSpace *as, AddrSpaceHint *hint, uint64_t addr, uint8_t *data,
                        unsigned len, bool is_write);

/* Number of mapped regions and whether addr is inside one (for tests and info). */
unsigned addrspace_count(AddrSpace *as);
bool addrspace_lookup(AddrSpace *as, uint64_t addr, uint64_t *base, uint64_t *size);
