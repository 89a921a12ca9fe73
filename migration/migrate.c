/* Pre-copy live migration over migration/protocol.h (see migrate.h). */
#include "migration/migrate.h"

#include "hypervisor/error.h"
#include "hypervisor/fdutil.h"
#include "hypervisor/le.h"
#include "hypervisor/memory.h"
#include "migration/device_state.h"
#include "migration/progress.h"
#include "migration/protocol.h"
#include "migration/ram_scan.h"
#include "migration/state.h"
#include "migration/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__)
#define MIG_ARCH STATE_ARCH_X86_64
#else
#define MIG_ARCH STATE_ARCH_AARCH64
#endif

#define BATCH_BYTES (4u << 20)  /* Memory frame payload before it is sent */
#define RUN_MAX (1u << 20)      /* longest entry */

static size_t bitmap_words(uint64_t size)
{
    return (size_t)((size / MIG_PAGE + 63) / 64);
}

/* RAM regions (not ROM or device mappings), borrowed. */
static GPtrArray *ram_regions(GuestMemory *mem)
{
    g_autoptr(GPtrArray) all = memory_regions(mem);
    GPtrArray *ram = g_ptr_array_new();
    for (guint i = 0; i < all->len; i++)
        if (((MemRegion *)all->pdata[i])->ram)
            g_ptr_array_add(ram, all->pdata[i]);
    return ram;
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
    if (!migration_progress_cancelled(s->progress))
        return true;
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "the migration was cancelled on the source");
    return false;
}

static bool flush_batch(Sender *s, GError **errp)
{
    if (s->batch->len <= 4)
        return true;
    if (!check_cancel(s, errp) || !mig_send(s->fd, MIG_MSG_MEMORY, s->batch->data, s->batch->len, errp))
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
        if (!check_cancel(s, errp) || !mig_send_fd(s->fd, MIG_MSG_MEMORY_FD, m, sizeof m, r->fd, errp))
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
    g_autoptr(GPtrArray) ram = ram_regions(mem);
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
    s.fd = mig_connect(p->url, errp);
    if (s.fd < 0)
        goto out;
    /* A destination that stops reading must not hang us forever. */
    struct timeval tv = { .tv_sec = MIGRATION_RECV_TIMEOUT_S };
    setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    uint8_t start[MIG_START_LEN];
    mig_start_encode(start, MIG_ARCH);
    if (!mig_send(s.fd, MIG_MSG_START, start, sizeof start, errp) || !expect_ack(s.fd, "Start", errp) ||
        !check_cancel(&s, errp) || !mig_send(s.fd, MIG_MSG_CONFIG, p->config_json, strlen(p->config_json), errp) ||
        !expect_ack(s.fd, "Config", errp))
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
    if (!check_cancel(&s, errp) || !mig_send(s.fd, MIG_MSG_STATE, state->data, state->len, errp))
        goto out;
    stats->bytes_sent += state->len;
    migration_progress_add_sent(progress, state->len, 0);
    /* The point of no return: after Complete the destination may run the
     * VM, so a cancel that comes later is refused. */
    if (!migration_progress_commit(progress)) {
        check_cancel(&s, errp);
        goto out;
    }
    if (!mig_send(s.fd, MIG_MSG_COMPLETE, NULL, 0, errp) || !expect_ack(s.fd, "Complete", errp))
        goto out;
    ok = true;
out:
    if (logging)
        memory_set_dirty_logging(mem, false, NULL);
    if (!ok && s.fd >= 0) {
        const char *why = errp && *errp ? (*errp)->message : "the source failed";
        mig_send(s.fd, MIG_MSG_ABANDON, why, MIN(strlen(why), MIG_REASON_MAX), NULL);
    }
    if (!ok && paused) {
        GError *e = NULL;
        cc.pause = false;
        if (!on_control(p->control, do_pause_resume, &cc, &e)) {
            g_warning("migration failed and the source VM cannot resume: %s", e->message);
            g_error_free(e);
        }
    }
    if (s.fd >= 0)
        close(s.fd);
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

/* ---- destination ------------------------------------------------------------ */

int migration_listen(const char *url, GError **errp)
{
    return mig_listen(url, errp);
}

typedef struct Receiver {
    const MachineOps *machine;
    const MigrationReceiveOps *ops;
    void *opaque;
    const char *config;
    size_t config_len;
    const uint8_t *state;
    size_t state_len;
    Vm *vm;
    GPtrArray *ram;
    bool *adopted; /* per RAM region: replaced by a MemoryFd */
    unsigned n_adopted;
    bool ok;
    GError *err;
} Receiver;

static void do_build(void *opaque)
{
    Receiver *r = opaque;
    r->vm = r->ops->build(r->opaque, r->config, r->config_len, &r->err);
    r->ok = r->vm != NULL;
}

static void do_discard(void *opaque)
{
    Receiver *r = opaque;
    r->ops->discard(r->opaque, r->vm);
}

static void do_commit(void *opaque)
{
    Receiver *r = opaque;
    r->ok = r->ops->commit(r->opaque, r->vm, &r->err);
}

static void do_load_state(void *opaque)
{
    Receiver *r = opaque;
    const uint8_t *m, *d;
    size_t ml, dl;
    r->ok = false;
    if (!mig_state_parse(r->state, r->state_len, &m, &ml, &d, &dl, &r->err))
        return;
    if (!r->machine->load_state(r->vm, m, ml, &r->err)) {
        g_prefix_error(&r->err, "machine state: ");
        return;
    }
    if (!device_state_load_all(r->vm, d, dl, &r->err)) {
        g_prefix_error(&r->err, "device state: ");
        return;
    }
    r->ok = true;
}

static bool recv_call(EventLoop *control, void (*fn)(void *), Receiver *r, GError **errp)
{
    r->ok = false;
    r->err = NULL;
    evloop_run_sync(control, fn, r);
    if (!r->ok) {
        if (r->err)
            g_propagate_error(errp, r->err);
        else
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "migration: step failed");
    }
    return r->ok;
}

static bool write_entry(void *opaque, const MigMemEntry *e, GError **errp)
{
    Receiver *r = opaque;
    for (guint i = 0; i < r->ram->len; i++) {
        const MemRegion *mr = r->ram->pdata[i];
        if (e->gpa >= mr->gpa && e->gpa - mr->gpa < mr->size && e->len <= mr->size - (e->gpa - mr->gpa)) {
            uint8_t *dst = mr->hva + (e->gpa - mr->gpa);
            if (e->data)
                memcpy(dst, e->data, e->len);
            else
                memset(dst, 0, e->len);
            return true;
        }
    }
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                "migration stream: Memory entry [%#" G_GINT64_MODIFIER "x, +%#x) is not inside guest RAM", e->gpa,
                e->len);
    return false;
}

/* Map the source's memfd over our RAM region at the same address, so the
 * KVM slot and every pointer into RAM stay valid, and take the fd as the
 * region's own (for a later snapshot or migration). */
static bool map_over(MemRegion *mr, int fd, GError **errp)
{
    void *m = mmap(NULL, mr->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        error_set_errno(errp, -errno, "cannot map the memory fd of '%s'", mr->name);
        return false;
    }
    /* mremap replaces the old mapping atomically; hugetlb mappings may not
     * move, then map the fd straight over it. */
    if (mremap(m, mr->size, mr->size, MREMAP_MAYMOVE | MREMAP_FIXED, mr->hva) == MAP_FAILED) {
        munmap(m, mr->size);
        if (mmap(mr->hva, mr->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
            error_set_errno(errp, -errno, "cannot map the memory fd of '%s' in place", mr->name);
            return false;
        }
    }
    madvise(mr->hva, mr->size, MADV_DONTDUMP);
    if (dup3(fd, mr->fd, O_CLOEXEC) < 0) {
        error_set_errno(errp, -errno, "cannot adopt the memory fd of '%s'", mr->name);
        return false;
    }
    return true;
}

static bool adopt_memory_fd(Receiver *r, const uint8_t *p, uint32_t len, int fd, GError **errp)
{
    if (len != MIG_MEMORY_FD_LEN || fd < 0) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "migration stream: MemoryFd message %s",
                    fd < 0 ? "without a file descriptor" : "of the wrong length");
        return false;
    }
    uint64_t gpa = le_load64(p), size = le_load64(p + 8);
    for (guint i = 0; i < r->ram->len; i++) {
        MemRegion *mr = r->ram->pdata[i];
        if (mr->gpa != gpa || mr->size != size)
            continue;
        struct stat st;
        if (r->adopted[i] || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < size) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                        "migration stream: the memory fd for '%s' is %s", mr->name,
                        r->adopted[i] ? "sent twice" : "not a memory file of its size");
            return false;
        }
        if (!map_over(mr, fd, errp))
            return false;
        r->adopted[i] = true;
        r->n_adopted++;
        return true;
    }
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                "migration stream: MemoryFd [%#" G_GINT64_MODIFIER "x, +%#" G_GINT64_MODIFIER
                "x) is not a RAM region of this VM", gpa, size);
    return false;
}

/* Local migration is all or nothing: no region may keep our empty RAM. */
static bool all_fds_adopted(Receiver *r, GError **errp)
{
    if (r->n_adopted == 0 || r->n_adopted == r->ram->len)
        return true;
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                "migration stream: memory fds for %u of %u RAM regions", r->n_adopted, r->ram->len);
    return false;
}

static void zero_ram(GPtrArray *ram)
{
    for (guint i = 0; i < ram->len; i++)
        memory_zero_region(ram->pdata[i]);
}

bool migration_receive(int listen_fd, const MachineOps *machine, EventLoop *control, const MigrationReceiveOps *ops,
                       void *opaque, MigrationProgress *progress_in, MigrationStats *stats, GError **errp)
{
    memset(stats, 0, sizeof *stats);
    g_autoptr(MigrationProgress) progress =
        progress_in ? migration_progress_ref(progress_in) : migration_progress_new(false);
    int fd;
    do
        fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    int e = errno;
    close(listen_fd);
    if (fd < 0) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_IO, "migration: cannot accept: %s", g_strerror(e));
        migration_progress_finish(progress, false, errp ? *errp : NULL, 0);
        return false;
    }
    gint64 t0 = g_get_monotonic_time();
    struct timeval tv = { .tv_sec = MIGRATION_RECV_TIMEOUT_S };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    Receiver r = { .machine = machine, .ops = ops, .opaque = opaque };
    g_autoptr(GPtrArray) ram = NULL;
    enum { WANT_START, WANT_CONFIG, WANT_DATA, WANT_COMPLETE, DONE } phase = WANT_START;
    bool ok = false, abandoned_by_peer = false;
    if (!machine->load_state) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "this machine cannot load a saved state");
        goto out;
    }
    while (phase != DONE) {
        uint32_t type, len;
        g_autofree uint8_t *p = NULL;
        AUTO_FD int passed = -1;
        if (!mig_recv_fd(fd, &type, &p, &len, &passed, errp))
            goto out;
        if (type == MIG_MSG_ABANDON) {
            abandoned_by_peer = true;
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "the source abandoned the migration: %.*s",
                        (int)MIN(len, MIG_REASON_MAX), (const char *)p);
            goto out;
        }
        bool expected = (phase == WANT_START && type == MIG_MSG_START) ||
                        (phase == WANT_CONFIG && type == MIG_MSG_CONFIG) ||
                        (phase == WANT_DATA &&
                         (type == MIG_MSG_MEMORY || type == MIG_MSG_MEMORY_FD || type == MIG_MSG_STATE)) ||
                        (phase == WANT_COMPLETE && type == MIG_MSG_COMPLETE);
        if (!expected) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "migration stream: unexpected %s message",
                        mig_msg_name(type));
            goto out;
        }
        switch (type) {
        case MIG_MSG_START:
            if (!mig_start_parse(p, len, MIG_ARCH, errp) || !mig_send(fd, MIG_MSG_ACK, NULL, 0, errp))
                goto out;
            phase = WANT_CONFIG;
            break;
        case MIG_MSG_CONFIG:
            if (len > MIG_CONFIG_MAX || memchr(p, 0, len)) {
                g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "migration stream: bad Config message");
                goto out;
            }
            r.config = (const char *)p;
            r.config_len = len;
            if (!recv_call(control, do_build, &r, errp)) {
                g_prefix_error(errp, "cannot build the VM: ");
                goto out;
            }
            ram = ram_regions(vm_memory(r.vm));
            r.ram = ram;
            r.adopted = g_new0(bool, ram->len + 1);
            zero_ram(ram); /* the build may have loaded a payload: the source's RAM replaces it */
            if (!mig_send(fd, MIG_MSG_ACK, NULL, 0, errp))
                goto out;
            migration_progress_set_ram(progress, memory_ram_size(vm_memory(r.vm)));
            migration_progress_set_phase(progress, MIGRATION_PHASE_PRECOPY);
            phase = WANT_DATA;
            break;
        case MIG_MSG_MEMORY:
            if (!mig_memory_parse(p, len, write_entry, &r, errp))
                goto out;
            stats->bytes_sent += len;
            migration_progress_add_sent(progress, len, 0);
            break;
        case MIG_MSG_MEMORY_FD:
            if (!adopt_memory_fd(&r, p, len, passed, errp))
                goto out;
            stats->bytes_sent += len;
            migration_progress_add_sent(progress, len, 0);
            break;
        case MIG_MSG_STATE:
            if (!all_fds_adopted(&r, errp))
                goto out;
            migration_progress_set_phase(progress, MIGRATION_PHASE_STOP_AND_COPY);
            r.state = p;
            r.state_len = len;
            if (!recv_call(control, do_load_state, &r, errp)) {
                g_prefix_error(errp, "migration: ");
                goto out;
            }
            stats->bytes_sent += len;
            phase = WANT_COMPLETE;
            break;
        case MIG_MSG_COMPLETE:
            if (len != 0) {
                g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "migration stream: bad Complete message");
                goto out;
            }
            /* Ack first: the source stops its VM only then; if the Ack
             * cannot be sent, this VM never runs. */
            if (!mig_send(fd, MIG_MSG_ACK, NULL, 0, errp))
                goto out;
            if (!recv_call(control, do_commit, &r, errp)) {
                g_prefix_error(errp, "cannot resume the migrated VM: ");
                goto out;
            }
            r.vm = NULL; /* adopted */
            phase = DONE;
            break;
        }
    }
    ok = true;
out:
    if (!ok) {
        if (!abandoned_by_peer && errp && *errp)
            mig_send(fd, MIG_MSG_ABANDON, (*errp)->message, MIN(strlen((*errp)->message), MIG_REASON_MAX), NULL);
        if (r.vm) {
            evloop_run_sync(control, do_discard, &r);
            r.vm = NULL;
        }
    }
    close(fd);
    g_free(r.adopted);
    stats->total_ms = (uint64_t)(g_get_monotonic_time() - t0) / 1000;
    migration_progress_finish(progress, ok, errp ? *errp : NULL, 0);
    return ok;
}
