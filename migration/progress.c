/* The shared progress record of a live migration (see progress.h). */
#include "migration/progress.h"

#include "hypervisor/error.h"

#include <string.h>
#include <sys/socket.h>

/* The transfer rate is the bytes sent over a window at least this long. */
#define RATE_WINDOW_US 500000
#define RATE_FIRST_US 10000

enum { CANCEL_NONE, CANCEL_REQUESTED, CANCEL_COMMITTED };

struct MigrationProgress {
    gatomicrefcount ref;
    GMutex lock;
    MigrationProgressInfo info; /* info.error owned here */
    gint64 t0, t_end;           /* monotonic us; t_end 0 while in progress */
    gint64 window_start;
    uint64_t window_bytes;
    int cancel;
    int fd;         /* the source's connection while it is open, else -1 */
    bool in_io;     /* the source is in a send or receive on fd */
    gint64 last_io; /* when it entered it or last moved bytes */
};

MigrationProgress *migration_progress_new(bool outgoing)
{
    MigrationProgress *p = g_new0(MigrationProgress, 1);
    g_atomic_ref_count_init(&p->ref);
    g_mutex_init(&p->lock);
    p->info.outgoing = outgoing;
    p->info.phase = MIGRATION_PHASE_SETUP;
    p->fd = -1;
    p->t0 = p->window_start = g_get_monotonic_time();
    return p;
}

MigrationProgress *migration_progress_ref(MigrationProgress *p)
{
    g_atomic_ref_count_inc(&p->ref);
    return p;
}

void migration_progress_unref(MigrationProgress *p)
{
    if (!p || !g_atomic_ref_count_dec(&p->ref))
        return;
    g_free(p->info.error);
    g_mutex_clear(&p->lock);
    g_free(p);
}

const char *migration_phase_name(MigrationPhase phase)
{
    static const char *const names[] = {
        [MIGRATION_PHASE_SETUP] = "setup",
        [MIGRATION_PHASE_PRECOPY] = "precopy",
        [MIGRATION_PHASE_STOP_AND_COPY] = "stop-and-copy",
        [MIGRATION_PHASE_COMPLETED] = "completed",
        [MIGRATION_PHASE_FAILED] = "failed",
        [MIGRATION_PHASE_CANCELLED] = "cancelled",
    };
    return (unsigned)phase < G_N_ELEMENTS(names) ? names[phase] : "?";
}

void migration_progress_read(MigrationProgress *p, MigrationProgressInfo *out)
{
    g_mutex_lock(&p->lock);
    *out = p->info;
    out->error = g_strdup(p->info.error);
    out->elapsed_ms = (uint64_t)((p->t_end ? p->t_end : g_get_monotonic_time()) - p->t0) / 1000;
    g_mutex_unlock(&p->lock);
}

void migration_progress_info_clear(MigrationProgressInfo *info)
{
    g_clear_pointer(&info->error, g_free);
}

static bool over(const MigrationProgressInfo *i)
{
    return i->phase == MIGRATION_PHASE_COMPLETED || i->phase == MIGRATION_PHASE_FAILED ||
           i->phase == MIGRATION_PHASE_CANCELLED;
}

bool migration_progress_cancel(MigrationProgress *p, GError **errp)
{
    g_mutex_lock(&p->lock);
    const char *why = over(&p->info)                 ? "the migration is over"
                      : p->cancel == CANCEL_COMMITTED ? "the migration is completing (the destination may run the VM)"
                                                      : NULL;
    if (!why)
        p->cancel = CANCEL_REQUESTED;
    g_mutex_unlock(&p->lock);
    if (why)
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "cannot cancel: %s", why);
    return !why;
}

bool migration_progress_cancelled(MigrationProgress *p)
{
    g_mutex_lock(&p->lock);
    bool c = p->cancel == CANCEL_REQUESTED;
    g_mutex_unlock(&p->lock);
    return c;
}

MigrationUnblock migration_progress_unblock(MigrationProgress *p, gint64 stall_us)
{
    g_mutex_lock(&p->lock);
    MigrationUnblock r = MIGRATION_UNBLOCK_WAIT;
    if (p->cancel != CANCEL_REQUESTED || over(&p->info)) {
        r = MIGRATION_UNBLOCK_OVER;
    } else if (p->fd >= 0 && p->in_io && g_get_monotonic_time() - p->last_io >= stall_us) {
        /* Under the lock: the migrating thread clears fd (same lock)
         * before it closes it, so this is still its connection. */
        shutdown(p->fd, SHUT_RDWR);
        r = MIGRATION_UNBLOCK_SHUT;
    }
    g_mutex_unlock(&p->lock);
    return r;
}

void migration_progress_set_socket(MigrationProgress *p, int fd)
{
    g_mutex_lock(&p->lock);
    p->fd = fd;
    p->in_io = false;
    g_mutex_unlock(&p->lock);
}

void migration_progress_io(MigrationProgress *p, bool busy)
{
    gint64 now = g_get_monotonic_time();
    g_mutex_lock(&p->lock);
    p->in_io = busy;
    p->last_io = now;
    g_mutex_unlock(&p->lock);
}

bool migration_progress_commit(MigrationProgress *p)
{
    g_mutex_lock(&p->lock);
    bool ok = p->cancel == CANCEL_NONE;
    if (ok)
        p->cancel = CANCEL_COMMITTED;
    g_mutex_unlock(&p->lock);
    return ok;
}

void migration_progress_set_phase(MigrationProgress *p, MigrationPhase phase)
{
    g_mutex_lock(&p->lock);
    p->info.phase = phase;
    g_mutex_unlock(&p->lock);
}

void migration_progress_set_ram(MigrationProgress *p, uint64_t ram_bytes)
{
    g_mutex_lock(&p->lock);
    p->info.ram_bytes = ram_bytes;
    g_mutex_unlock(&p->lock);
}

void migration_progress_add_sent(MigrationProgress *p, uint64_t bytes, uint64_t pages)
{
    gint64 now = g_get_monotonic_time();
    g_mutex_lock(&p->lock);
    p->info.bytes_sent += bytes;
    p->info.pages_sent += pages;
    p->window_bytes += bytes;
    gint64 span = now - p->window_start;
    if (span >= RATE_WINDOW_US) {
        p->info.transfer_rate = p->window_bytes * 1000000u / (uint64_t)span;
        p->window_start = now;
        p->window_bytes = 0;
    } else if (p->info.transfer_rate == 0 && span >= RATE_FIRST_US) {
        /* A first estimate before the first window closes (short migrations). */
        p->info.transfer_rate = p->window_bytes * 1000000u / (uint64_t)span;
    }
    g_mutex_unlock(&p->lock);
}

void migration_progress_set_round(MigrationProgress *p, unsigned iteration, uint64_t remaining_bytes,
                                  uint64_t dirty_rate, uint64_t estimated_downtime_ms)
{
    g_mutex_lock(&p->lock);
    p->info.iteration = iteration;
    p->info.remaining_bytes = remaining_bytes;
    p->info.dirty_rate = dirty_rate;
    p->info.estimated_downtime_ms = estimated_downtime_ms;
    g_mutex_unlock(&p->lock);
}

void migration_progress_finish(MigrationProgress *p, bool ok, const GError *error, uint64_t downtime_ms)
{
    g_mutex_lock(&p->lock);
    p->info.phase = ok                             ? MIGRATION_PHASE_COMPLETED
                    : p->cancel == CANCEL_REQUESTED ? MIGRATION_PHASE_CANCELLED
                                                    : MIGRATION_PHASE_FAILED;
    g_free(p->info.error);
    p->info.error = ok ? NULL : g_strdup(error ? error->message : "failed");
    p->info.downtime_ms = downtime_ms;
    if (ok)
        p->info.remaining_bytes = 0;
    p->t_end = g_get_monotonic_time();
    g_mutex_unlock(&p->lock);
}
