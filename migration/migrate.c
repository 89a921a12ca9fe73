/* Pre-copy live migration, the source (see migrate.h; the destination is
 * receive.c). */
#include "migration/migrate.h"

#include "hypervisor/error.h"
#include "hypervisor/le.h"
#include "hypervisor/memory.h"
#include "migration/device_state.h"
#include "migration/progress.h"
#include "migration/protocol.h"
#include "migration/ram_scan.h"
#include "migration/state.h"
#include "migration/stream.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH_BYTES (4u << 20)  /* Memory frame payload before it is sent */
#define RUN_MAX (1u << 20)      /* longest entry */
#define ABANDON_TIMEOUT_S 1     /* sending the Abandon of a failed migration */
#define ABANDON_WAIT_MS 200     /* for the destination's Abandon after a failed send */
#define CANCELLED_MESSAGE "the migration was cancelled on the source"

static size_t bitmap_words(uint64_t size)
{
    return (size_t)((size / MIG_PAGE + 63) / 64);
}

/* ---- source --------------------------------------------------------------- */

typedef struct Sender {
    const MigrationSendParams *p;
    int fd;
    GByteArray *batch;
    uint64_t batch_pages;
    MigrationStats *stats;
    MigrationProgress *progress;
} Sender;

/* Checked before every frame the source sends, so a cancel takes effect
 * within one batch. */
static bool check_cancel(Sender *s, GError **errp)
{
    /* A guest that reset or powered off must not be sent on in that
     * state: the reset happens here once the migration has failed. */
    VmStopReason stop = vm_stop_requested(s->p->vm);
    if (stop != VM_STOP_NONE) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "the guest stopped during the migration (%s)",
                    vm_stop_reason_name(stop));
        return false;
    }
    if (!migration_progress_cancelled(s->progress))
        return true;
    g_set_error_literal(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, CANCELLED_MESSAGE);
    return false;
}

static bool connect_cancelled(void *progress)
{
    return migration_progress_cancelled(progress);
}

/* Wait for the destination's Ack to the last step. */
static bool expect_ack(int fd, const char *step, GError **errp)
{
    uint32_t type, len;
    g_autofree uint8_t *payload = NULL;
    if (!mig_recv(fd, &type, &payload, &len, errp)) {
        g_prefix_error(errp, "no answer from the destination to %s: ", step);
        return false;
    }
    if (type == MIG_MSG_ACK && len == 0)
        return true;
    if (type == MIG_MSG_ABANDON) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "the destination abandoned the migration at %s: %.*s",
                    step, (int)MIN(len, MIG_REASON_MAX), payload ? (const char *)payload : "");
        return false;
    }
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "the destination answered %s with a %s message",
                step, mig_msg_name(type));
    return false;
}

static void bytes_moved(void *opaque)
{
    migration_progress_io(opaque, true);
}

/* A send failed: a destination that gave up (a cancel there, a frame it
 * refused) sent an Abandon before it closed the connection, and it waits
 * unread while the source only sends (pre-copy). Its reason replaces the
 * bare "broken pipe". */
static void explain_send_failure(Sender *s, GError **errp)
{
    struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
    if (!errp || !*errp || poll(&pfd, 1, ABANDON_WAIT_MS) != 1 || !(pfd.revents & POLLIN))
        return;
    struct timeval brief = { .tv_sec = ABANDON_TIMEOUT_S };
    setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &brief, sizeof brief);
    uint32_t type, len;
    g_autofree uint8_t *payload = NULL;
    if (!mig_recv(s->fd, &type, &payload, &len, NULL) || type != MIG_MSG_ABANDON)
        return;
    g_clear_error(errp);
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "the destination abandoned the migration: %.*s",
                (int)MIN(len, MIG_REASON_MAX), payload ? (const char *)payload : "");
}

/* Every send and receive on the connection is watched (progress.h), so a
 * cancel can break off one that a stalled destination holds up. */
static bool sender_send(Sender *s, MigMsgType type, const void *payload, size_t len, int pass, GError **errp)
{
    MigSendWatch w = { bytes_moved, s->progress };
    migration_progress_io(s->progress, true);
    bool ok = mig_send_watched(s->fd, type, payload, len, pass, &w, errp);
    migration_progress_io(s->progress, false);
    if (!ok && type != MIG_MSG_ABANDON)
        explain_send_failure(s, errp);
    return ok;
}

static bool sender_ack(Sender *s, const char *step, GError **errp)
{
    migration_progress_io(s->progress, true);
    bool ok = expect_ack(s->fd, step, errp);
    migration_progress_io(s->progress, false);
    return ok;
}

static bool flush_batch(Sender *s, GError **errp)
{
    if (s->batch->len <= 4)
        return true;
    if (!check_cancel(s, errp) || !sender_send(s, MIG_MSG_MEMORY, s->batch->data, s->batch->len, -1, errp))
        return false;
    s->stats->bytes_sent += s->batch->len;
    s->stats->pages_sent += s->batch_pages;
    migration_progress_add_sent(s->progress, s->batch->len, s->batch_pages);
    s->batch_pages = 0;
    mig_memory_begin(s->batch);
    return true;
}

static bool add_run(Sender *s, const MemRegion *r, uint64_t off, uint64_t len, bool zero, GError **errp)
{
    mig_memory_add(s->batch, r->gpa + off, (uint32_t)len, zero ? NULL : r->hva + off);
    if (!zero)
        s->batch_pages += len / MIG_PAGE;
    return s->batch->len < BATCH_BYTES || flush_batch(s, errp);
}

/* Send the pages of r selected by bitmap (NULL: all pages). In the full
 * pass zero pages are skipped (the destination's RAM starts zeroed); in
 * later passes they are sent as zero entries. */
static bool send_pages(Sender *s, const MemRegion *r, const uint64_t *bitmap, bool full, GError **errp)
{
    uint64_t pages = r->size / MIG_PAGE;
    uint64_t run = 0, run_len = 0;
    bool run_zero = false;
    for (uint64_t pg = 0; pg < pages; pg++) {
        bool want = !bitmap || (bitmap[pg / 64] >> (pg % 64)) & 1;
        bool zero = want && memory_page_is_zero(r->hva + pg * MIG_PAGE);
        if (want && zero && full)
            want = false; /* full pass: nothing to send */
        if (run_len && (!want || zero != run_zero || run_len >= RUN_MAX)) {
            if (!add_run(s, r, run, run_len, run_zero, errp))
                return false;
            run_len = 0;
        }
        if (want) {
            if (!run_len) {
                run = pg * MIG_PAGE;
                run_zero = zero;
            }
            run_len += MIG_PAGE;
        }
    }
    return !run_len || add_run(s, r, run, run_len, run_zero, errp);
}

/* The full pass reads only the pages that can hold data (ram_scan.h):
 * reading the others would allocate them. Dirty logging is on already, so
 * a page the guest fills after the scan is sent in a later round. */
static bool send_full(Sender *s, const MemRegion *r, GError **errp)
{
    g_autofree uint64_t *populated = g_new(uint64_t, bitmap_words(r->size));
    bool known = ram_scan_populated(r, populated);
    if (!known)
        g_debug("migration: '%s': populated pages unknown, reading all of it", r->name);
    return send_pages(s, r, known ? populated : NULL, true, errp);
}

static uint64_t count_bits(const uint64_t *bm, size_t words)
{
    uint64_t n = 0;
    for (size_t i = 0; i < words; i++)
        n += (uint64_t)__builtin_popcountll(bm[i]);
    return n;
}

/* OR every region's dirty pages since the last fetch into bitmaps[i]. */
static bool fetch_dirty(GuestMemory *mem, GPtrArray *ram, uint64_t **bitmaps, uint64_t *dirty, GError **errp)
{
    *dirty = 0;
    for (guint i = 0; i < ram->len; i++) {
        MemRegion *r = ram->pdata[i];
        size_t words = bitmap_words(r->size);
        g_autofree uint64_t *tmp = g_new(uint64_t, words);
        if (!memory_fetch_dirty(mem, r, tmp, errp))
            return false;
        for (size_t w = 0; w < words; w++)
            bitmaps[i][w] |= tmp[w];
        *dirty += count_bits(bitmaps[i], words);
    }
    return true;
}

static bool send_dirty(Sender *s, GPtrArray *ram, uint64_t **bitmaps, GError **errp)
{
    for (guint i = 0; i < ram->len; i++) {
        const MemRegion *r = ram->pdata[i];
        if (!send_pages(s, r, bitmaps[i], false, errp))
            return false;
        memset(bitmaps[i], 0, bitmap_words(r->size) * 8);
    }
    return flush_batch(s, errp);
}

typedef struct ControlCall {
    Vm *vm;
    const MachineOps *machine;
    GByteArray *out;
    bool pause, ok;
    GError *err;
} ControlCall;

static void do_pause_resume(void *opaque)
{
    ControlCall *c = opaque;
    c->ok = c->pause ? vm_pause(c->vm, &c->err) : vm_resume(c->vm, &c->err);
}

static void do_save_state(void *opaque)
{
    ControlCall *c = opaque;
    /* STATE payload: u64 machine_len, u64 devices_len, streams. */
    g_autoptr(GByteArray) machine = g_byte_array_new();
    g_autoptr(GByteArray) devices = g_byte_array_new();
    state_stream_begin(machine);
    c->ok = c->machine->save_state(c->vm, machine, &c->err);
    if (!c->ok)
        return;
    state_stream_finish(machine);
    device_state_save_all(c->vm, devices);
    uint8_t h[16];
    for (int i = 0; i < 8; i++) {
        h[i] = (uint8_t)((uint64_t)machine->len >> (8 * i));
        h[8 + i] = (uint8_t)((uint64_t)devices->len >> (8 * i));
    }
    g_byte_array_append(c->out, h, 16);
    g_byte_array_append(c->out, machine->data, machine->len);
    g_byte_array_append(c->out, devices->data, devices->len);
}

static bool on_control(EventLoop *control, void (*fn)(void *), ControlCall *c, GError **errp)
{
    c->ok = false;
    c->err = NULL;
    evloop_run_sync(control, fn, c);
    if (!c->ok) {
        if (c->err)
            g_propagate_error(errp, c->err);
        else
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "migration: control step failed");
    }
    return c->ok;
}

/* local=true needs a UNIX socket (fds cannot cross TCP) and RAM the fd
 * shows (a private mapping keeps the guest's writes out of the memfd). */
static bool local_check(const MigrationSendParams *p, GError **errp)
{
    if (!g_str_has_prefix(p->url, "unix:")) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "local migration passes memory fds and needs a unix: URL, not '%s'", p->url);
        return false;
    }
    if (!vm_config(p->vm)->memory.shared) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "local migration needs guest memory created with shared=on (--memory ...,shared=on)");
        return false;
    }
    return true;
}

static bool send_memory_fds(Sender *s, GPtrArray *ram, GError **errp)
{
    for (guint i = 0; i < ram->len; i++) {
        const MemRegion *r = ram->pdata[i];
        uint8_t m[MIG_MEMORY_FD_LEN];
        le_store64(m, r->gpa);
        le_store64(m + 8, r->size);
        if (!check_cancel(s, errp) || !sender_send(s, MIG_MSG_MEMORY_FD, m, sizeof m, r->fd, errp))
            return false;
        s->stats->bytes_sent += sizeof m;
        migration_progress_add_sent(s->progress, sizeof m, 0);
    }
    return true;
}

bool migration_send(const MigrationSendParams *p, MigrationStats *stats, GError **errp)
{
    memset(stats, 0, sizeof *stats);
    g_autoptr(MigrationProgress) progress =
        p->progress ? migration_progress_ref(p->progress) : migration_progress_new(true);
    if (!p->machine->save_state) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "this machine cannot save its state");
        migration_progress_finish(progress, false, errp ? *errp : NULL, 0);
        return false;
    }
    unsigned target_ms = p->downtime_ms ? p->downtime_ms : MIGRATION_DOWNTIME_MS_DEFAULT;
    unsigned max_iter = p->max_iterations ? p->max_iterations : MIGRATION_MAX_ITERATIONS_DEFAULT;
    unsigned timeout_ms = p->timeout_ms ? p->timeout_ms : MIGRATION_PRECOPY_TIMEOUT_MS_DEFAULT;
    GuestMemory *mem = vm_memory(p->vm);
    gint64 t0 = g_get_monotonic_time(), paused_at = 0;
    bool paused = false, logging = false, ok = false;
    g_autoptr(GPtrArray) ram = ram_scan_regions(mem);
    uint64_t **bitmaps = g_new0(uint64_t *, ram->len + 1);
    uint64_t ram_bytes = 0;
    for (guint i = 0; i < ram->len; i++) {
        bitmaps[i] = g_new0(uint64_t, bitmap_words(((MemRegion *)ram->pdata[i])->size));
        ram_bytes += ((MemRegion *)ram->pdata[i])->size;
    }
    migration_progress_set_ram(progress, ram_bytes);
    Sender s = { .p = p, .fd = -1, .batch = g_byte_array_new(), .stats = stats, .progress = progress };
    mig_memory_begin(s.batch);
    ControlCall cc = { .vm = p->vm, .machine = p->machine };
    /* Declared before the first goto: cleanup must never see it unset. */
    g_autoptr(GByteArray) state = g_byte_array_new();

    if (p->local && !local_check(p, errp))
        goto out;
    MigWait wait = { .cancelled = connect_cancelled, .opaque = progress, .cancel_message = CANCELLED_MESSAGE };
    s.fd = mig_connect(p->url, &wait, errp);
    if (s.fd < 0)
        goto out;
    migration_progress_set_socket(progress, s.fd); /* a cancel may shut it down */
    /* A destination that stops reading must not hang us forever. */
    struct timeval tv = { .tv_sec = MIGRATION_RECV_TIMEOUT_S };
    setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    uint8_t start[MIG_START_LEN];
    mig_start_encode(start, MIG_ARCH_HOST);
    if (!sender_send(&s, MIG_MSG_START, start, sizeof start, -1, errp) || !sender_ack(&s, "Start", errp) ||
        !check_cancel(&s, errp) ||
        !sender_send(&s, MIG_MSG_CONFIG, p->config_json, strlen(p->config_json), -1, errp) ||
        !sender_ack(&s, "Config", errp))
        goto out;
    if (p->local) {
        if (!send_memory_fds(&s, ram, errp))
            goto out;
        goto stop_and_copy;
    }
    if (!memory_set_dirty_logging(mem, true, errp))
        goto out;
    logging = true;
    migration_progress_set_phase(progress, MIGRATION_PHASE_PRECOPY);

    /* The full pass. */
    gint64 t_round = g_get_monotonic_time();
    uint64_t before = stats->bytes_sent;
    migration_progress_set_round(progress, 0, ram_bytes, 0, 0);
    for (guint i = 0; i < ram->len; i++)
        if (!send_full(&s, ram->pdata[i], errp))
            goto out;
    if (!flush_batch(&s, errp))
        goto out;
    if (p->on_round)
        p->on_round(p->opaque, 0);
    for (;;) {
        gint64 now = g_get_monotonic_time();
        double secs = MAX((double)(now - t_round) / 1e6, 1e-4);
        double bw = (double)(stats->bytes_sent - before) / secs; /* bytes/s of the last round */
        uint64_t dirty;
        if (!fetch_dirty(mem, ram, bitmaps, &dirty, errp))
            goto out;
        double est_ms = bw > 0 ? (double)(dirty * MIG_PAGE) / bw * 1000.0 : 0;
        g_debug("migration: round %u: %" G_GUINT64_FORMAT " dirty pages, %.0f MB/s, estimated downtime %.1f ms",
                stats->iterations, dirty, bw / 1e6, est_ms);
        /* The pages found dirty now were written during the round just sent. */
        migration_progress_set_round(progress, stats->iterations, dirty * MIG_PAGE,
                                     (uint64_t)((double)(dirty * MIG_PAGE) / secs), (uint64_t)est_ms);
        if (!check_cancel(&s, errp))
            goto out;
        if (est_ms <= target_ms || stats->iterations >= max_iter || (now - t0) / 1000 >= timeout_ms)
            break;
        t_round = now;
        before = stats->bytes_sent;
        if (!send_dirty(&s, ram, bitmaps, errp))
            goto out;
        stats->iterations++;
        if (p->on_round)
            p->on_round(p->opaque, stats->iterations);
    }

stop_and_copy:
    cc.pause = true;
    if (!on_control(p->control, do_pause_resume, &cc, errp))
        goto out;
    paused = true;
    paused_at = g_get_monotonic_time();
    migration_progress_set_phase(progress, MIGRATION_PHASE_STOP_AND_COPY);
    uint64_t dirty;
    cc.out = state;
    if (logging && (!fetch_dirty(mem, ram, bitmaps, &dirty, errp) || !send_dirty(&s, ram, bitmaps, errp)))
        goto out;
    if (!on_control(p->control, do_save_state, &cc, errp))
        goto out;
    if (state->len > MIG_FRAME_MAX) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "the VM state (%u bytes) is too large", state->len);
        goto out;
    }
    if (!check_cancel(&s, errp) || !sender_send(&s, MIG_MSG_STATE, state->data, state->len, -1, errp))
        goto out;
    stats->bytes_sent += state->len;
    migration_progress_add_sent(progress, state->len, 0);
    /* The point of no return: after Complete the destination may run the
     * VM, so a cancel that comes later is refused. */
    if (!migration_progress_commit(progress)) {
        check_cancel(&s, errp);
        goto out;
    }
    if (!sender_send(&s, MIG_MSG_COMPLETE, NULL, 0, -1, errp) || !sender_ack(&s, "Complete", errp))
        goto out;
    ok = true;
out:
    if (!ok && errp && *errp && (migration_progress_cancelled(progress) || vm_stop_requested(p->vm))) {
        /* A cancel that shut the connection down: say why, not EPIPE. */
        g_clear_error(errp);
        check_cancel(&s, errp);
    }
    if (logging)
        memory_set_dirty_logging(mem, false, NULL);
    if (!ok && s.fd >= 0) {
        /* Best effort, and briefly: a destination that stopped reading
         * must not hold the source for the whole socket timeout. */
        const char *why = errp && *errp ? (*errp)->message : "the source failed";
        struct timeval brief = { .tv_sec = ABANDON_TIMEOUT_S };
        setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &brief, sizeof brief);
        sender_send(&s, MIG_MSG_ABANDON, why, MIN(strlen(why), MIG_REASON_MAX), -1, NULL);
    }
    if (!ok && paused && vm_stop_requested(p->vm) == VM_STOP_NONE) { /* else it stops anyway */
        GError *e = NULL;
        cc.pause = false;
        if (!on_control(p->control, do_pause_resume, &cc, &e)) {
            g_warning("migration failed and the source VM cannot resume: %s", e->message);
            g_error_free(e);
        }
    }
    if (s.fd >= 0) {
        migration_progress_set_socket(progress, -1); /* no shutdown after this */
        close(s.fd);
    }
    for (guint i = 0; i < ram->len; i++)
        g_free(bitmaps[i]);
    g_free(bitmaps);
    g_byte_array_unref(s.batch);
    gint64 end = g_get_monotonic_time();
    stats->total_ms = (uint64_t)(end - t0) / 1000;
    if (paused)
        stats->downtime_ms = (uint64_t)(end - paused_at) / 1000;
    migration_progress_finish(progress, ok, errp ? *errp : NULL, stats->downtime_ms);
    return ok;
}

static gboolean cancel_unblock(gpointer opaque)
{
    switch (migration_progress_unblock(opaque, MIGRATION_CANCEL_STALL_MS * 1000)) {
    case MIGRATION_UNBLOCK_SHUT:
        g_message("migration: cancelled while no data moved on the connection for %u ms: connection shut down",
                  MIGRATION_CANCEL_STALL_MS);
        return G_SOURCE_REMOVE;
    case MIGRATION_UNBLOCK_OVER:
        return G_SOURCE_REMOVE;
    default:
        return G_SOURCE_CONTINUE;
    }
}

bool migration_cancel(MigrationProgress *p, EventLoop *loop, GError **errp)
{
    if (!migration_progress_cancel(p, errp))
        return false;
    GSource *t = g_timeout_source_new(MIGRATION_CANCEL_STALL_MS / 4);
    g_source_set_callback(t, cancel_unblock, migration_progress_ref(p), (GDestroyNotify)migration_progress_unref);
    g_source_attach(t, evloop_context(loop));
    g_source_unref(t);
    return true;
}
