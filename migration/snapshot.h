/* Snapshots on disk (vm.snapshot / vm.restore, DESIGN §2.3 (d)).
 *
 * A snapshot is a directory:
 *
 *   config.json            the VmConfig as vm.create takes it
 *   state.bin              the machine's state stream (MachineOps.save_state:
 *                          vCPUs, in-kernel irqchip, clock) followed by the
 *                          devices' state stream (device_state_save_all);
 *                          both are stream.h streams with their own CRCs
 *   memory-<gpa>.bin       one file per RAM region, raw, exactly the region's
 *                          size; all-zero pages are holes (sparse file)
 *   manifest.json          what is there and how to check it (below)
 *
 * manifest.json:
 *   { "format_version": 1, "arch": "x86_64", "nimbus_version": "0.1.0",
 *     "state": { "file": "state.bin", "machine_size": N, "devices_size": N,
 *                "crc32": N },
 *     "regions": [ { "gpa": N, "size": N, "file": "memory-0x0.bin",
 *                    "sha256": "hex" (optional) }, ... ] }
 *
 * The snapshot is written into a temporary sibling directory and renamed
 * onto the destination at the end (which must not exist or be an empty
 * directory): a failed snapshot leaves nothing behind. Everything read back
 * is hostile input: the manifest is validated field by field (version, arch,
 * bounds, file names, sizes against the files) before anything is loaded. */
#pragma once
#include "hypervisor/memory.h"
#include "hypervisor/vmm.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define SNAPSHOT_FORMAT_VERSION 1u
#define SNAPSHOT_MANIFEST "manifest.json"
#define SNAPSHOT_CONFIG "config.json"
#define SNAPSHOT_STATE "state.bin"
/* Limits on what a reader accepts. */
#define SNAPSHOT_MANIFEST_MAX (1u << 20)
#define SNAPSHOT_CONFIG_MAX (1u << 20)
#define SNAPSHOT_REGIONS_MAX 256u

/* The directory of a file:///ABSOLUTE/PATH url (no host, no query). */
char *snapshot_url_to_dir(const char *url, GError **errp);

typedef struct SnapshotRegion {
    uint64_t gpa, size;
    char *file;   /* a plain file name inside the snapshot directory */
    char *sha256; /* lowercase hex, or NULL */
} SnapshotRegion;

typedef struct SnapshotManifest {
    uint32_t format_version;
    char *arch;
    char *nimbus_version;
    uint64_t machine_size, devices_size; /* the two streams in state.bin */
    uint32_t state_crc;                  /* state_crc32 of all of state.bin */
    GArray *regions;                     /* SnapshotRegion */
} SnapshotManifest;

SnapshotManifest *snapshot_manifest_new(void);
void snapshot_manifest_free(SnapshotManifest *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SnapshotManifest, snapshot_manifest_free)
char *snapshot_manifest_to_json(const SnapshotManifest *m);
/* Parse and validate (types, version, arch, bounds, names, overlaps). */
SnapshotManifest *snapshot_manifest_parse(const char *data, size_t len, GError **errp);

/* The name of the memory file of the region at gpa ("memory-0x100000.bin"). */
char *snapshot_memory_file_name(uint64_t gpa);
/* Write every RAM region (regions with an fd) of mem as a sparse file in dir
 * and record it in m->regions; with_sha adds each file's SHA-256. */
bool snapshot_memory_save(GuestMemory *mem, const char *dir, bool with_sha, SnapshotManifest *m,
                          GError **errp);
/* Load the memory files m lists into mem, whose RAM regions must match them
 * exactly (same gpa and size, none missing). Holes become zero pages;
 * prefault populates every page afterwards. */
bool snapshot_memory_load(GuestMemory *mem, const char *dir, const SnapshotManifest *m,
                          bool prefault, GError **errp);

/* Write the snapshot of a paused vm (machine state through machine's
 * save_state, device state, memory) with config_json as config.json into
 * dir, atomically. */
bool snapshot_save(Vm *vm, const MachineOps *machine, const char *config_json, const char *dir,
                   GError **errp);

/* An opened, validated snapshot: manifest, config text and state in memory. */
typedef struct Snapshot Snapshot;
Snapshot *snapshot_open(const char *dir, GError **errp);
void snapshot_free(Snapshot *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Snapshot, snapshot_free)
const char *snapshot_config_json(Snapshot *s, size_t *len);
const SnapshotManifest *snapshot_manifest(Snapshot *s);
/* Into a built, paused vm that never ran: memory, then machine state
 * (MachineOps.load_state), then device state. On failure the vm is half
 * loaded: discard it. */
bool snapshot_load(Snapshot *s, Vm *vm, const MachineOps *machine, bool prefault, GError **errp);
