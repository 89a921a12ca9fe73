/* The progress record of one live migration, shared between the thread
 * that migrates and whoever watches it (the API's vm.migration-progress),
 * plus the cancel handshake (vm.cancel-migration).
 *
 * The migrating thread updates the record (phase, bytes, each round's
 * measurements); readers take a consistent copy with
 * migration_progress_read(). Rates are measured, not derived from totals:
 * transfer_rate over the last half second of sending, dirty_rate over the
 * last pre-copy round.
 *
 * Cancel is a race between two sides and the record settles it: the source
 * asks migration_progress_commit() before it sends Complete, the destination
 * before it acknowledges Complete (after either the destination may run the
 * VM, and turning back would run it twice or not at all). Either side may
 * cancel its own migration: the source keeps its VM, the destination
 * discards the half-received one; the other side gets an Abandon. Whichever
 * of cancel and commit comes first wins; the loser learns it from the
 * return value. A cancel takes effect before the next frame; a side
 * blocked in send() or recv() on a peer that stopped reading would wait for
 * the socket timeout, so migration_progress_unblock() shuts the registered
 * connection down once no byte has moved for a while (migration_cancel()
 * in migrate.h watches for that), and one waiting to connect or for a
 * source to connect stops within MIG_WAIT_SLICE_MS (transport.h).
 * Refcounted: the thread and the API hold a reference each. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum MigrationPhase {
    MIGRATION_PHASE_SETUP,         /* connecting/accepting, Start and Config */
    MIGRATION_PHASE_PRECOPY,       /* the full pass and the dirty rounds; the VM runs */
    MIGRATION_PHASE_STOP_AND_COPY, /* the VM is paused: last pages and state */
    MIGRATION_PHASE_COMPLETED,
    MIGRATION_PHASE_FAILED,
    MIGRATION_PHASE_CANCELLED,
} MigrationPhase;

typedef struct MigrationProgressInfo {
    bool outgoing;
    MigrationPhase phase;
    unsigned iteration;             /* 0: the full pass; N: the Nth dirty round */
    uint64_t ram_bytes;             /* guest RAM being moved */
    uint64_t bytes_sent;            /* Memory and State payload so far (received, incoming) */
    uint64_t pages_sent;            /* data pages so far (zero pages not counted) */
    uint64_t remaining_bytes;       /* dirty bytes found at the last measurement */
    uint64_t transfer_rate;         /* bytes/s, recent */
    uint64_t dirty_rate;            /* bytes/s dirtied during the last round */
    uint64_t estimated_downtime_ms; /* remaining_bytes at transfer_rate */
    uint64_t elapsed_ms;            /* since the start (until the end once over) */
    uint64_t downtime_ms;           /* final: VM paused until the destination's Ack */
    char *error;                    /* failed or cancelled: why (owned by the copy) */
} MigrationProgressInfo;

typedef struct MigrationProgress MigrationProgress;

MigrationProgress *migration_progress_new(bool outgoing);
MigrationProgress *migration_progress_ref(MigrationProgress *p);
void migration_progress_unref(MigrationProgress *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MigrationProgress, migration_progress_unref)

/* A consistent copy; clear it with migration_progress_info_clear(). */
void migration_progress_read(MigrationProgress *p, MigrationProgressInfo *out);
void migration_progress_info_clear(MigrationProgressInfo *info);
const char *migration_phase_name(MigrationPhase phase);

/* Ask the migration to stop: the source VM keeps running, the destination
 * has no VM. False (with a STATE error) when it is over or past the point
 * of no return. */
bool migration_progress_cancel(MigrationProgress *p, GError **errp);
bool migration_progress_cancelled(MigrationProgress *p);
/* After a cancel, from another thread: if the migrating thread has been inside a
 * send or receive on its connection with no byte moving for stall_us (a
 * peer that stopped reading or answering), shut the connection down so
 * that the call fails now; the destination then sees the stream end
 * instead of an Abandon. A peer that is only slow keeps its connection
 * and gets the Abandon after the current frame. OVER: nothing left to
 * watch (no cancel, committed, or finished). */
typedef enum MigrationUnblock {
    MIGRATION_UNBLOCK_WAIT,
    MIGRATION_UNBLOCK_SHUT,
    MIGRATION_UNBLOCK_OVER,
} MigrationUnblock;
MigrationUnblock migration_progress_unblock(MigrationProgress *p, gint64 stall_us);
/* The migrating thread: its connection (fd) once connected, and -1 before
 * it closes it; and around each send or receive on it, busy=true on entry
 * and each time bytes move, busy=false after. */
void migration_progress_set_socket(MigrationProgress *p, int fd);
void migration_progress_io(MigrationProgress *p, bool busy);
/* The migrating thread, just before Complete (source) or its Ack
 * (destination): false if cancel came first;
 * after true, cancel refuses. */
bool migration_progress_commit(MigrationProgress *p);

/* The migrating thread's updates. */
void migration_progress_set_phase(MigrationProgress *p, MigrationPhase phase);
void migration_progress_set_ram(MigrationProgress *p, uint64_t ram_bytes);
void migration_progress_add_sent(MigrationProgress *p, uint64_t bytes, uint64_t pages);
/* After each measurement of the dirty pages (end of a round). */
void migration_progress_set_round(MigrationProgress *p, unsigned iteration, uint64_t remaining_bytes,
                                  uint64_t dirty_rate, uint64_t estimated_downtime_ms);
/* The end: phase COMPLETED, or FAILED/CANCELLED with error's message. */
void migration_progress_finish(MigrationProgress *p, bool ok, const GError *error, uint64_t downtime_ms);
