/* Live migration, pre-copy (DESIGN §2.3 (d); protocol in protocol.h).
 *
 * Source (migration_send in migrate.c, on a worker thread): connect, Start, Config, turn
 * dirty logging on, send all RAM (zero pages skipped), then send the pages
 * dirtied meanwhile (KVM's log ORed with device emulation's writes, see
 * memory_fetch_dirty) round after round until the estimated downtime
 * (dirty bytes / measured bandwidth) is under the target, or the round or
 * time limit is hit; then pause the VM on its control loop, send the last
 * dirty pages, the machine and device state, Complete, and wait for the
 * destination's Ack. On success the VM is left paused (the caller stops it);
 * on any failure the VM is resumed if we paused it, dirty logging is off and
 * the destination gets an Abandon (best effort). A cancel (progress.h)
 * before Complete is such a failure.
 *
 * Local (p->local): after Config, one MemoryFd per RAM region (its memfd
 * over SCM_RIGHTS) replaces all the copying; then pause, State, Complete.
 * The destination maps each fd over its own RAM (same address, so every
 * pointer and KVM slot stays valid); both sides then share the pages.
 *
 * Destination (migration_receive in receive.c, on a worker thread): accept one
 * connection, check Start, build the VM from Config (paused, never run,
 * RAM zeroed), write Memory into RAM regions only (bounds-checked), load
 * State, and on Complete Ack and resume it. Any error discards the
 * half-built VM (it never runs) and is sent to the source as Abandon.
 *
 * The VM lifecycle calls (pause, resume, build, state save/load, discard)
 * run on the `control` loop through evloop_run_sync. */
#pragma once
#include "hypervisor/evloop.h"
#include "hypervisor/vmm.h"
#include "migration/progress.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define MIGRATION_DOWNTIME_MS_DEFAULT 300u
#define MIGRATION_MAX_ITERATIONS_DEFAULT 30u
#define MIGRATION_PRECOPY_TIMEOUT_MS_DEFAULT 120000u
#define MIGRATION_RECV_TIMEOUT_S 60

typedef struct MigrationStats {
    unsigned iterations;   /* pre-copy rounds after the first full pass */
    uint64_t bytes_sent;   /* payload bytes of Memory and State frames */
    uint64_t pages_sent;   /* data pages (zero pages not counted) */
    uint64_t downtime_ms;  /* VM paused on the source until the Ack */
    uint64_t total_ms;
} MigrationStats;

typedef struct MigrationSendParams {
    Vm *vm;
    const MachineOps *machine;
    EventLoop *control;
    const char *url;          /* unix:PATH or tcp:HOST:PORT */
    const char *config_json;  /* the vm.create configuration */
    unsigned downtime_ms;     /* 0: MIGRATION_DOWNTIME_MS_DEFAULT */
    unsigned max_iterations;  /* 0: MIGRATION_MAX_ITERATIONS_DEFAULT */
    unsigned timeout_ms;      /* pre-copy time limit; 0: default */
    /* Local migration (unix: only, memory shared=on): pass each RAM
     * region's memfd instead of copying pages; no pre-copy. */
    bool local;
    /* Shared progress record (may be NULL): updated as it goes, and its
     * cancel is honoured before every frame until Complete. */
    MigrationProgress *progress;
    /* Tests: called after each pre-copy round (may be NULL). */
    void (*on_round)(void *opaque, unsigned round);
    void *opaque;
} MigrationSendParams;

bool migration_send(const MigrationSendParams *p, MigrationStats *stats, GError **errp);

/* Cancel the migration p records (migration_progress_cancel), on either
 * side: it stops before its next frame (or its wait for a connection,
 * transport.h) and sends the peer an Abandon; a source keeps its VM, a
 * destination discards the one it was receiving.
 * Until the migration is over a timer on loop watches it: stuck in a send
 * or receive with no byte moving for MIGRATION_CANCEL_STALL_MS (a peer
 * that stopped reading), its connection is shut down and it fails at once
 * (migration_progress_unblock). */
#define MIGRATION_CANCEL_STALL_MS 1000u
bool migration_cancel(MigrationProgress *p, EventLoop *loop, GError **errp);

typedef struct MigrationReceiveOps {
    /* Control loop: build the VM the config describes, started paused and
     * never run. NULL on error (nothing left behind). */
    Vm *(*build)(void *opaque, const char *config_json, size_t len, GError **errp);
    /* Control loop: tear a half-received VM down. */
    void (*discard)(void *opaque, Vm *vm);
    /* Control loop: everything is loaded; resume the VM. False: the VM is
     * discarded by the caller. */
    bool (*commit)(void *opaque, Vm *vm, GError **errp);
} MigrationReceiveOps;

/* Listen on url (before the source connects); returns the listening fd. */
int migration_listen(const char *url, GError **errp);
/* Accept one connection on listen_fd (closed here) and receive a VM;
 * progress (may be NULL) is updated as it goes. */
bool migration_receive(int listen_fd, const MachineOps *machine, EventLoop *control, const MigrationReceiveOps *ops,
                       void *opaque, MigrationProgress *progress, MigrationStats *stats, GError **errp);
