/* Live migration between two VMs in one process over a UNIX socket
 * (migration/migrate.c on the host's KVM): the counting guest
 * (guests/spin.S) keeps running during pre-copy, is moved, and counts on in
 * the destination with no step repeated or lost; a second one also writes
 * memory, which shows a page the dirty tracking missed. A destination that closes
 * mid-stream (during pre-copy, and after the source paused) leaves the
 * source running. */
#include "arch/arch.h"
#include "hypervisor/error.h"
#include "hypervisor/le.h"
#include "hypervisor/memory.h"
#include "migration/migrate.h"
#include "migration/protocol.h"
#include "native/tiny_vm.h"

#include <check.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <unistd.h>

extern const uint8_t guest_count[], guest_count_end[];
extern const uint8_t guest_count_mem[], guest_count_mem_end[];

static TinyVm *counting_vm(void)
{
    return tiny_vm_new(&(TinyVmOptions){ .image = guest_count, .image_end = guest_count_end,
                                        .mode = TINY_MODE_REAL });
}

typedef struct Dest {
    int listen_fd;
    EventLoop *control;
    TinyVm *tvm;
    bool built, discarded, ok;
    GError *err;
    MigrationStats stats;
    uint32_t close_after; /* fake destination: close after this message type */
    gint stalled;         /* fake destination: stop reading after Config until cleared */
    const uint8_t *image, *image_end; /* the guest the destination builds; NULL: guest_count */
} Dest;

static Vm *dst_build(void *opaque, const char *json, size_t len, GError **errp)
{
    Dest *d = opaque;
    d->tvm = d->image ? tiny_vm_new(&(TinyVmOptions){ .image = d->image, .image_end = d->image_end,
                                                      .mode = TINY_MODE_REAL })
                      : counting_vm();
    d->built = true;
    if (!vm_start_paused(tiny_vm_vm(d->tvm), errp)) {
        tiny_vm_free(g_steal_pointer(&d->tvm));
        return NULL;
    }
    return tiny_vm_vm(d->tvm);
}

static void dst_discard(void *opaque, Vm *vm)
{
    Dest *d = opaque;
    d->discarded = true;
    tiny_vm_free(g_steal_pointer(&d->tvm));
}

static bool dst_commit(void *opaque, Vm *vm, GError **errp)
{
    return vm_resume(vm, errp);
}

static const MigrationReceiveOps dst_ops = { dst_build, dst_discard, dst_commit };

static gpointer dest_thread(gpointer opaque)
{
    Dest *d = opaque;
    d->ok = migration_receive(d->listen_fd, arch_machine_ops(), d->control, &dst_ops, d, NULL, &d->stats, &d->err);
    return NULL;
}

/* A destination that acks Start and Config, then hangs up after the first
 * message of type close_after. */
static gpointer fake_dest_thread(gpointer opaque)
{
    Dest *d = opaque;
    int fd = accept(d->listen_fd, NULL, NULL);
    close(d->listen_fd);
    for (;;) {
        uint32_t type, len;
        g_autofree uint8_t *p = NULL;
        if (fd < 0 || !mig_recv(fd, &type, &p, &len, NULL))
            break;
        if (type == d->close_after)
            break;
        if (type == MIG_MSG_START || type == MIG_MSG_CONFIG)
            mig_send(fd, MIG_MSG_ACK, NULL, 0, NULL);
        while (type == MIG_MSG_CONFIG && g_atomic_int_get(&d->stalled))
            g_usleep(10000); /* a peer that stopped reading */
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

typedef struct Dirtier {
    TinyVm *src;
} Dirtier;

/* Migrate a running guest built from image and check that it counts on in
 * the destination with no step repeated or lost. */
static void migrate_guest(const uint8_t *image, const uint8_t *image_end)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = g_dir_make_tmp("nimbus-native-mig-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", tmp);

    TinyVm *src = tiny_vm_new(&(TinyVmOptions){ .image = image, .image_end = image_end, .mode = TINY_MODE_REAL });
    tiny_vm_start(src);
    ck_assert(tiny_vm_wait_progress(src, 5000, 5000));

    Dest d = { .control = evloop_new("dst-control"), .image = image, .image_end = image_end };
    d.listen_fd = migration_listen(url, &err);
    ck_assert_msg(d.listen_fd >= 0, "%s", err ? err->message : "");
    GThread *th = g_thread_new("mig-dst", dest_thread, &d);

    MigrationStats st;
    MigrationSendParams p = { .vm = tiny_vm_vm(src), .machine = arch_machine_ops(), .control = tiny_vm_loop(src),
                              .url = url, .config_json = "{}", .downtime_ms = 50 };
    bool ok = migration_send(&p, &st, &err);
    g_thread_join(th);
    ck_assert_msg(ok, "send: %s", err ? err->message : "");
    ck_assert_msg(d.ok, "receive: %s", d.err ? d.err->message : "");
    ck_assert_int_eq(vm_state(tiny_vm_vm(src)), VM_STATE_PAUSED);
    uint32_t at = tiny_vm_progress_last(src);
    g_message("migrated: %u iterations, %" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT " pages, downtime %"
              G_GUINT64_FORMAT " ms, total %" G_GUINT64_FORMAT " ms", st.iterations, st.bytes_sent, st.pages_sent,
              st.downtime_ms, st.total_ms);
    ck_assert_uint_gt(st.bytes_sent, 0);
    tiny_vm_free(src);

    ck_assert_msg(tiny_vm_wait_progress(d.tvm, 5000, 5000), "the migrated guest made %" G_GUINT64_FORMAT " steps",
                  tiny_vm_progress_writes(d.tvm));
    ck_assert(vm_pause(tiny_vm_vm(d.tvm), &err));
    ck_assert_msg(tiny_vm_report_count(d.tvm) == 0, "the migrated guest found a page it wrote stale");
    uint64_t n = tiny_vm_progress_writes(d.tvm);
    ck_assert_msg(tiny_vm_progress_last(d.tvm) == at + n, "source stopped at %u; after %" G_GUINT64_FORMAT
                  " steps the destination is at %u", at, n, tiny_vm_progress_last(d.tvm));
    tiny_vm_free(d.tvm);
    evloop_free(d.control);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(migrate_counting_guest)
{
    migrate_guest(guest_count, guest_count_end);
}
END_TEST

/* Pages the guest writes during pre-copy arrive (the dirty ring or log). */
START_TEST(migrate_memory_writing_guest)
{
    migrate_guest(guest_count_mem, guest_count_mem_end);
}
END_TEST

static void source_survives(uint32_t close_after)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = g_dir_make_tmp("nimbus-native-mig-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", tmp);
    TinyVm *src = counting_vm();
    tiny_vm_start(src);
    ck_assert(tiny_vm_wait_progress(src, 2000, 5000));

    Dest d = { .close_after = close_after };
    d.listen_fd = migration_listen(url, &err);
    ck_assert(d.listen_fd >= 0);
    GThread *th = g_thread_new("mig-fake", fake_dest_thread, &d);
    MigrationStats st;
    MigrationSendParams p = { .vm = tiny_vm_vm(src), .machine = arch_machine_ops(), .control = tiny_vm_loop(src),
                              .url = url, .config_json = "{}", .downtime_ms = 1000000 /* straight to the end */ };
    ck_assert(!migration_send(&p, &st, &err));
    g_thread_join(th);
    g_message("failed as expected: %s", err->message);
    /* The source runs on. */
    ck_assert_int_eq(vm_state(tiny_vm_vm(src)), VM_STATE_RUNNING);
    uint64_t before = tiny_vm_progress_writes(src);
    ck_assert(tiny_vm_wait_progress(src, before + 2000, 5000));
    tiny_vm_free(src);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(destination_closes_during_precopy)
{
    source_survives(MIG_MSG_MEMORY);
}
END_TEST

START_TEST(destination_closes_after_state)
{
    source_survives(MIG_MSG_STATE);
}
END_TEST

/* A real destination fed a stream with the wrong protocol version builds
 * nothing and refuses. */
START_TEST(destination_refuses_version)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = g_dir_make_tmp("nimbus-native-mig-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", tmp);
    Dest d = { .control = evloop_new("dst-control") };
    d.listen_fd = migration_listen(url, &err);
    ck_assert(d.listen_fd >= 0);
    GThread *th = g_thread_new("mig-dst", dest_thread, &d);
    int fd = mig_connect(url, NULL, &err);
    ck_assert(fd >= 0);
    uint8_t start[MIG_START_LEN];
    mig_start_encode(start, 1);
    le_store32(start + 8, MIG_PROTOCOL_VERSION + 1);
    ck_assert(mig_send(fd, MIG_MSG_START, start, sizeof start, NULL));
    uint32_t type, len;
    g_autofree uint8_t *pl = NULL;
    ck_assert(mig_recv(fd, &type, &pl, &len, NULL));
    ck_assert_uint_eq(type, MIG_MSG_ABANDON);
    close(fd);
    g_thread_join(th);
    ck_assert(!d.ok);
    ck_assert(!d.built);
    ck_assert_msg(strstr(d.err->message, "version"), "%s", d.err->message);
    g_error_free(d.err);
    evloop_free(d.control);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- progress and cancel ------------------------------------------------ */

#define BIG_GPA 0x1000000ull
#define BIG_SIZE (64ull << 20)

/* Extra RAM with data in every page, so the full pass takes many batches. */
static MemRegion *add_big_ram(Vm *vm, bool fill)
{
    g_autoptr(GError) err = NULL;
    MemoryBacking backing = { .shared = vm_config(vm)->memory.shared };
    MemRegion *r = memory_add_ram(vm_memory(vm), "big", BIG_GPA, BIG_SIZE, &backing, &err);
    ck_assert_msg(r, "%s", err ? err->message : "");
    for (uint64_t off = 0; fill && off < BIG_SIZE; off += 4096)
        memset(r->hva + off, (int)(off / 4096 % 251) + 1, 4096);
    return r;
}

static Vm *big_build(void *opaque, const char *json, size_t len, GError **errp)
{
    Vm *vm = dst_build(opaque, json, len, errp);
    if (vm)
        add_big_ram(vm, false);
    return vm;
}

static const MigrationReceiveOps big_ops = { big_build, dst_discard, dst_commit };

static gpointer big_dest_thread(gpointer opaque)
{
    Dest *d = opaque;
    d->ok = migration_receive(d->listen_fd, arch_machine_ops(), d->control, &big_ops, d, NULL, &d->stats, &d->err);
    return NULL;
}

typedef struct Watcher {
    MigrationProgress *progress;
    GArray *seen; /* MigrationProgressInfo, error cleared */
    gint stop;
    /* on_round: dirty this many rounds (8 MiB each), cancel at this round */
    TinyVm *src;
    unsigned dirty_rounds, cancel_round;
    bool cancel_ok;
} Watcher;

static gpointer watch_thread(gpointer opaque)
{
    Watcher *w = opaque;
    while (!g_atomic_int_get(&w->stop)) {
        MigrationProgressInfo i;
        migration_progress_read(w->progress, &i);
        migration_progress_info_clear(&i);
        g_array_append_val(w->seen, i);
        g_usleep(2000);
    }
    return NULL;
}

static void watched_round(void *opaque, unsigned round)
{
    Watcher *w = opaque;
    if (round < w->dirty_rounds) {
        g_autofree uint8_t *buf = g_malloc(8u << 20);
        memset(buf, (int)round + 7, 8u << 20);
        ck_assert(memory_write(vm_memory(tiny_vm_vm(w->src)), BIG_GPA + (round % 4) * (8u << 20), buf, 8u << 20));
    }
    if (w->cancel_round && round == w->cancel_round) {
        g_autoptr(GError) err = NULL;
        w->cancel_ok = migration_progress_cancel(w->progress, &err);
    }
}

typedef struct WatchedRun {
    bool ok;
    GError *err;
    MigrationStats st;
    Dest d;
    Watcher w;
    TinyVm *src;
    char *tmp;
} WatchedRun;

static void watched_run(WatchedRun *run, unsigned dirty_rounds, unsigned cancel_round)
{
    run->tmp = g_dir_make_tmp("nimbus-native-mig-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", run->tmp);
    run->src = counting_vm();
    add_big_ram(tiny_vm_vm(run->src), true);
    tiny_vm_start(run->src);
    ck_assert(tiny_vm_wait_progress(run->src, 2000, 5000));

    run->d = (Dest){ .control = evloop_new("dst-control") };
    run->d.listen_fd = migration_listen(url, &run->err);
    ck_assert(run->d.listen_fd >= 0);
    GThread *th = g_thread_new("mig-dst", big_dest_thread, &run->d);
    run->w = (Watcher){ .progress = migration_progress_new(true), .seen = g_array_new(FALSE, FALSE,
                                                                                       sizeof(MigrationProgressInfo)),
                        .src = run->src, .dirty_rounds = dirty_rounds, .cancel_round = cancel_round };
    GThread *wt = g_thread_new("mig-watch", watch_thread, &run->w);
    MigrationSendParams p = { .vm = tiny_vm_vm(run->src), .machine = arch_machine_ops(),
                              .control = tiny_vm_loop(run->src), .url = url, .config_json = "{}",
                              .downtime_ms = 1, .progress = run->w.progress, .on_round = watched_round,
                              .opaque = &run->w };
    run->ok = migration_send(&p, &run->st, &run->err);
    g_thread_join(th);
    g_atomic_int_set(&run->w.stop, 1);
    g_thread_join(wt);
}

static void watched_run_clear(WatchedRun *run)
{
    if (run->src)
        tiny_vm_free(run->src);
    if (run->d.tvm)
        tiny_vm_free(run->d.tvm);
    evloop_free(run->d.control);
    g_clear_error(&run->err);
    g_clear_error(&run->d.err);
    migration_progress_unref(run->w.progress);
    g_array_unref(run->w.seen);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", run->tmp);
    ck_assert_int_eq(system(cmd), 0);
    g_free(run->tmp);
}

/* The progress record advances while the VM is sent: bytes grow batch by
 * batch, the rounds are counted with their dirty rate, the rates and the
 * estimate are measured, and the end matches the final statistics. */
START_TEST(progress_advances)
{
    WatchedRun run = { 0 };
    watched_run(&run, 3, 0);
    ck_assert_msg(run.ok, "send: %s", run.err ? run.err->message : "");
    ck_assert_msg(run.d.ok, "receive: %s", run.d.err ? run.d.err->message : "");
    ck_assert_uint_ge(run.st.iterations, 3);

    GArray *seen = run.w.seen;
    ck_assert_uint_gt(seen->len, 3);
    unsigned distinct_bytes = 0, max_iter = 0;
    uint64_t max_rate = 0, max_dirty = 0, max_est = 0;
    bool saw_precopy = false;
    for (guint i = 0; i < seen->len; i++) {
        MigrationProgressInfo *a = &g_array_index(seen, MigrationProgressInfo, i);
        ck_assert(a->outgoing);
        if (i > 0) {
            MigrationProgressInfo *b = &g_array_index(seen, MigrationProgressInfo, i - 1);
            ck_assert_uint_ge(a->bytes_sent, b->bytes_sent);
            ck_assert_uint_ge(a->pages_sent, b->pages_sent);
            ck_assert_uint_ge(a->elapsed_ms, b->elapsed_ms);
            ck_assert_uint_ge(a->phase, b->phase); /* setup -> precopy -> stop-and-copy -> end */
            distinct_bytes += a->bytes_sent != b->bytes_sent;
        }
        if (a->phase == MIGRATION_PHASE_PRECOPY) {
            saw_precopy = true;
            ck_assert_uint_eq(a->ram_bytes, GUEST_RAM_SIZE + BIG_SIZE);
            max_iter = MAX(max_iter, a->iteration);
            max_rate = MAX(max_rate, a->transfer_rate);
            max_dirty = MAX(max_dirty, a->dirty_rate);
            max_est = MAX(max_est, a->estimated_downtime_ms);
        }
    }
    g_message("progress: %u samples, %u byte steps, iteration up to %u, rate up to %" G_GUINT64_FORMAT
              " B/s, dirty up to %" G_GUINT64_FORMAT " B/s, estimate up to %" G_GUINT64_FORMAT " ms",
              seen->len, distinct_bytes, max_iter, max_rate, max_dirty, max_est);
    ck_assert(saw_precopy);
    ck_assert_uint_ge(distinct_bytes, 4); /* 64 MiB goes in 4 MiB batches */
    ck_assert_uint_ge(max_iter, 2);
    ck_assert_uint_gt(max_rate, 0);
    ck_assert_uint_ge(max_dirty, 1u << 20); /* 8 MiB written per round */

    MigrationProgressInfo end;
    migration_progress_read(run.w.progress, &end);
    ck_assert_int_eq(end.phase, MIGRATION_PHASE_COMPLETED);
    ck_assert_uint_eq(end.bytes_sent, run.st.bytes_sent);
    ck_assert_uint_eq(end.pages_sent, run.st.pages_sent);
    ck_assert_uint_eq(end.iteration, run.st.iterations);
    ck_assert_uint_eq(end.downtime_ms, run.st.downtime_ms);
    ck_assert_uint_eq(end.remaining_bytes, 0);
    ck_assert_ptr_null(end.error);
    /* Past the end there is nothing to cancel. */
    g_autoptr(GError) err = NULL;
    ck_assert(!migration_progress_cancel(run.w.progress, &err));
    ck_assert_msg(strstr(err->message, "over"), "%s", err->message);
    watched_run_clear(&run);
}
END_TEST

/* Cancel during pre-copy: the send fails as cancelled, the destination is
 * told (Abandon) and discards what it built, the source keeps running. */
START_TEST(cancel_during_precopy)
{
    WatchedRun run = { 0 };
    watched_run(&run, 10, 2);
    ck_assert(run.w.cancel_ok);
    ck_assert(!run.ok);
    ck_assert_msg(strstr(run.err->message, "cancelled"), "%s", run.err->message);
    ck_assert(!run.d.ok);
    ck_assert_msg(strstr(run.d.err->message, "the source abandoned the migration") &&
                      strstr(run.d.err->message, "cancelled"),
                  "%s", run.d.err->message);
    ck_assert(run.d.built && run.d.discarded);
    g_message("source: %s; destination: %s", run.err->message, run.d.err->message);
    MigrationProgressInfo end;
    migration_progress_read(run.w.progress, &end);
    ck_assert_int_eq(end.phase, MIGRATION_PHASE_CANCELLED);
    ck_assert_msg(end.error && strstr(end.error, "cancelled"), "%s", end.error ? end.error : "(none)");
    ck_assert_uint_eq(end.iteration, 2);
    migration_progress_info_clear(&end);
    ck_assert_int_eq(vm_state(tiny_vm_vm(run.src)), VM_STATE_RUNNING);
    uint64_t before = tiny_vm_progress_writes(run.src);
    ck_assert(tiny_vm_wait_progress(run.src, before + 2000, 5000));
    watched_run_clear(&run);
}
END_TEST

/* Cancel while the source is blocked in send() on a destination that
 * stopped reading (its socket buffers full): migration_cancel's timer shuts
 * the connection down after the grace period, so the send fails at once
 * (not after the 60 s socket timeout) as cancelled, and the source runs on. */
typedef struct Canceller {
    MigrationProgress *progress;
    EventLoop *loop;
    gint64 at; /* when cancel was asked */
    uint64_t stuck_at;
    bool ok;
} Canceller;

static gpointer cancel_when_stuck(gpointer opaque)
{
    Canceller *c = opaque;
    uint64_t last = 0;
    unsigned still = 0;
    /* Stuck: in pre-copy and nothing sent for 300 ms. */
    while (still < 30) {
        MigrationProgressInfo i;
        migration_progress_read(c->progress, &i);
        migration_progress_info_clear(&i);
        still = i.phase == MIGRATION_PHASE_PRECOPY && i.bytes_sent == last ? still + 1 : 0;
        last = i.bytes_sent;
        g_usleep(10000);
    }
    c->stuck_at = last;
    c->at = g_get_monotonic_time();
    c->ok = migration_cancel(c->progress, c->loop, NULL);
    return NULL;
}

/* A source with 64 MiB of data (far more than a socket holds), counting. */
static TinyVm *busy_source(void)
{
    TinyVm *src = counting_vm();
    add_big_ram(tiny_vm_vm(src), true);
    tiny_vm_start(src);
    ck_assert(tiny_vm_wait_progress(src, 2000, 5000));
    return src;
}

/* Send src to url while canceller (on its own thread) cancels through
 * migration_cancel with a loop of its own; c->progress is the record.
 * The send's result; *end: when it returned. */
static bool send_cancelled(TinyVm *src, const char *url, GThreadFunc canceller, Canceller *c, gint64 *end,
                           GError **errp)
{
    c->progress = migration_progress_new(true);
    c->loop = evloop_new("cancel");
    ck_assert(evloop_start_thread(c->loop, THREAD_ROLE_IO, NULL));
    GThread *ct = g_thread_new("mig-cancel", canceller, c);
    MigrationStats st;
    MigrationSendParams p = { .vm = tiny_vm_vm(src), .machine = arch_machine_ops(), .control = tiny_vm_loop(src),
                              .url = url, .config_json = "{}", .downtime_ms = 1, .progress = c->progress };
    bool ok = migration_send(&p, &st, errp);
    *end = g_get_monotonic_time();
    g_thread_join(ct);
    evloop_free(c->loop);
    return ok;
}

START_TEST(cancel_stalled_destination)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = g_dir_make_tmp("nimbus-native-mig-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", tmp);
    TinyVm *src = busy_source();
    Dest d = { .stalled = 1 };
    d.listen_fd = migration_listen(url, &err);
    ck_assert(d.listen_fd >= 0);
    GThread *th = g_thread_new("mig-stalled", fake_dest_thread, &d);
    Canceller c = { 0 };
    gint64 end;
    bool ok = send_cancelled(src, url, cancel_when_stuck, &c, &end, &err);
    g_atomic_int_set(&d.stalled, 0);
    g_thread_join(th);
    ck_assert(c.ok);
    ck_assert(!ok);
    double ms = (double)(end - c.at) / 1000;
    g_message("stalled at %" G_GUINT64_FORMAT " bytes; cancel took %.0f ms: %s", c.stuck_at, ms, err->message);
    ck_assert_msg(ms < 2000, "cancel took %.0f ms", ms);
    ck_assert_msg(strstr(err->message, "cancelled"), "%s", err->message);
    MigrationProgressInfo i;
    migration_progress_read(c.progress, &i);
    ck_assert_int_eq(i.phase, MIGRATION_PHASE_CANCELLED);
    migration_progress_info_clear(&i);
    ck_assert_int_eq(vm_state(tiny_vm_vm(src)), VM_STATE_RUNNING);
    uint64_t before = tiny_vm_progress_writes(src);
    ck_assert(tiny_vm_wait_progress(src, before + 2000, 5000));
    migration_progress_unref(c.progress);
    tiny_vm_free(src);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* A slow destination is not a stalled one: behind a proxy that forwards
 * 2 MiB/s (a 4 MiB batch takes 2 s), a cancel lets the current frame
 * finish and the destination gets the Abandon with the reason, not a cut
 * stream. */
typedef struct Throttle {
    int listen_fd;
    char *to; /* the real destination's URL */
} Throttle;

#define THROTTLE_PIECE (64u << 10)
#define THROTTLE_GAP_US 31250 /* 64 KiB per 31.25 ms: 2 MiB/s */

static bool forward_some(int from, int to, size_t max)
{
    static __thread uint8_t buf[THROTTLE_PIECE];
    ssize_t n = recv(from, buf, MIN(max, sizeof buf), 0);
    return n > 0 && send(to, buf, (size_t)n, MSG_NOSIGNAL) == n;
}

static gpointer throttle_thread(gpointer opaque)
{
    Throttle *t = opaque;
    int src = accept(t->listen_fd, NULL, NULL);
    close(t->listen_fd);
    int dst = mig_connect(t->to, NULL, NULL);
    ck_assert(src >= 0 && dst >= 0);
    for (;;) {
        struct pollfd p[2] = { { .fd = src, .events = POLLIN }, { .fd = dst, .events = POLLIN } };
        if (poll(p, 2, -1) < 0)
            break;
        if ((p[1].revents & (POLLIN | POLLHUP)) && !forward_some(dst, src, THROTTLE_PIECE))
            break;
        if (p[0].revents & (POLLIN | POLLHUP)) {
            if (!forward_some(src, dst, THROTTLE_PIECE))
                break;
            g_usleep(THROTTLE_GAP_US);
        }
    }
    close(src);
    close(dst);
    return NULL;
}

static gpointer cancel_in_precopy(gpointer opaque)
{
    Canceller *c = opaque;
    for (;;) {
        MigrationProgressInfo i;
        migration_progress_read(c->progress, &i);
        migration_progress_info_clear(&i);
        if (i.phase == MIGRATION_PHASE_PRECOPY && i.bytes_sent > 0)
            break;
        g_usleep(5000);
    }
    g_usleep(300000); /* inside the next 4 MiB batch */
    c->at = g_get_monotonic_time();
    c->ok = migration_cancel(c->progress, c->loop, NULL);
    return NULL;
}

START_TEST(cancel_slow_destination)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = g_dir_make_tmp("nimbus-native-mig-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", tmp);
    g_autofree char *proxy_url = g_strdup_printf("unix:%s/proxy.sock", tmp);
    TinyVm *src = busy_source();
    Dest d = { .control = evloop_new("dst-control") };
    d.listen_fd = migration_listen(url, &err);
    ck_assert(d.listen_fd >= 0);
    GThread *th = g_thread_new("mig-dst", big_dest_thread, &d);
    Throttle t = { .to = url };
    t.listen_fd = migration_listen(proxy_url, &err);
    ck_assert(t.listen_fd >= 0);
    GThread *pt = g_thread_new("mig-throttle", throttle_thread, &t);
    Canceller c = { 0 };
    gint64 end;
    bool ok = send_cancelled(src, proxy_url, cancel_in_precopy, &c, &end, &err);
    g_thread_join(th);
    g_thread_join(pt);
    ck_assert(c.ok && !ok);
    g_message("slow destination: cancel took %.0f ms; source: %s; destination: %s",
              (double)(end - c.at) / 1000, err->message, d.err ? d.err->message : "(none)");
    ck_assert_msg(strstr(err->message, "cancelled"), "%s", err->message);
    ck_assert(!d.ok);
    ck_assert_msg(strstr(d.err->message, "the source abandoned the migration") && strstr(d.err->message, "cancelled"),
                  "%s", d.err->message);
    ck_assert(d.built && d.discarded);
    ck_assert_int_eq(vm_state(tiny_vm_vm(src)), VM_STATE_RUNNING);
    g_clear_error(&d.err);
    evloop_free(d.control);
    migration_progress_unref(c.progress);
    tiny_vm_free(src);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- local (memory fds) ---------------------------------------------------- */

static TinyVm *shared_counting_vm(void)
{
    return tiny_vm_new(&(TinyVmOptions){ .image = guest_count, .image_end = guest_count_end,
                                        .mode = TINY_MODE_REAL, .shared_memory = true });
}

static Vm *shared_build(void *opaque, const char *json, size_t len, GError **errp)
{
    Dest *d = opaque;
    d->tvm = shared_counting_vm();
    d->built = true;
    add_big_ram(tiny_vm_vm(d->tvm), false);
    if (!vm_start_paused(tiny_vm_vm(d->tvm), errp)) {
        tiny_vm_free(g_steal_pointer(&d->tvm));
        return NULL;
    }
    return tiny_vm_vm(d->tvm);
}

static const MigrationReceiveOps shared_ops = { shared_build, dst_discard, dst_commit };

static gpointer shared_dest_thread(gpointer opaque)
{
    Dest *d = opaque;
    d->ok = migration_receive(d->listen_fd, arch_machine_ops(), d->control, &shared_ops, d, NULL, &d->stats,
                              &d->err);
    return NULL;
}

/* local=true: the memfds cross the socket, not the pages. The guest's RAM
 * (64 MiB of data) arrives intact with a few KiB sent, the guest counts on
 * without a gap, and it keeps its memory after the source is gone. */
START_TEST(local_passes_memory_fds)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = g_dir_make_tmp("nimbus-native-mig-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", tmp);
    TinyVm *src = shared_counting_vm();
    add_big_ram(tiny_vm_vm(src), true);
    tiny_vm_start(src);
    ck_assert(tiny_vm_wait_progress(src, 2000, 5000));

    Dest d = { .control = evloop_new("dst-control") };
    d.listen_fd = migration_listen(url, &err);
    ck_assert(d.listen_fd >= 0);
    GThread *th = g_thread_new("mig-dst", shared_dest_thread, &d);
    MigrationStats st;
    MigrationSendParams p = { .vm = tiny_vm_vm(src), .machine = arch_machine_ops(), .control = tiny_vm_loop(src),
                              .url = url, .config_json = "{}", .local = true };
    bool ok = migration_send(&p, &st, &err);
    g_thread_join(th);
    ck_assert_msg(ok, "send: %s", err ? err->message : "");
    ck_assert_msg(d.ok, "receive: %s", d.err ? d.err->message : "");
    uint32_t at = tiny_vm_progress_last(src);
    g_message("local: %" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT " pages for %llu MiB of RAM, downtime %"
              G_GUINT64_FORMAT " ms", st.bytes_sent, st.pages_sent, (GUEST_RAM_SIZE + BIG_SIZE) >> 20,
              st.downtime_ms);
    ck_assert_uint_eq(st.pages_sent, 0);
    ck_assert_uint_lt(st.bytes_sent, (GUEST_RAM_SIZE + BIG_SIZE) / 256);
    tiny_vm_free(src); /* the source's mappings and fds are gone now */

    ck_assert(tiny_vm_wait_progress(d.tvm, 5000, 5000));
    ck_assert(vm_pause(tiny_vm_vm(d.tvm), &err));
    uint64_t n = tiny_vm_progress_writes(d.tvm);
    ck_assert_msg(tiny_vm_progress_last(d.tvm) == at + n, "source stopped at %u; after %" G_GUINT64_FORMAT
                  " steps the destination is at %u", at, n, tiny_vm_progress_last(d.tvm));
    GuestMemory *mem = vm_memory(tiny_vm_vm(d.tvm));
    for (uint64_t off = 0; off < BIG_SIZE; off += 4096 * 97) {
        const uint8_t *page = memory_hva(mem, BIG_GPA + off, 4096);
        ck_assert_ptr_nonnull(page);
        ck_assert_msg(page[0] == (uint8_t)(off / 4096 % 251 + 1) && page[4095] == page[0],
                      "page %#" G_GINT64_MODIFIER "x: %#x", off, page[0]);
    }
    tiny_vm_free(d.tvm);
    evloop_free(d.control);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* local=true is refused before anything is sent unless the URL is unix:
 * and the memory is shared; the source runs on. */
START_TEST(local_refused)
{
    struct {
        bool shared;
        const char *url, *want;
    } cases[] = {
        { false, "unix:/nonexistent/mig.sock", "shared=on" },
        { true, "tcp:127.0.0.1:1", "needs a unix: URL" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        TinyVm *src = cases[i].shared ? shared_counting_vm() : counting_vm();
        tiny_vm_start(src);
        ck_assert(tiny_vm_wait_progress(src, 500, 5000));
        MigrationStats st;
        MigrationSendParams p = { .vm = tiny_vm_vm(src), .machine = arch_machine_ops(),
                                  .control = tiny_vm_loop(src), .url = cases[i].url, .config_json = "{}",
                                  .local = true };
        ck_assert(!migration_send(&p, &st, &err));
        ck_assert_msg(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID) && strstr(err->message, cases[i].want),
                      "%s", err->message);
        ck_assert_int_eq(vm_state(tiny_vm_vm(src)), VM_STATE_RUNNING);
        uint64_t before = tiny_vm_progress_writes(src);
        ck_assert(tiny_vm_wait_progress(src, before + 500, 5000));
        tiny_vm_free(src);
    }
}
END_TEST

/* ---- the full pass reads only populated pages ------------------------------- */

static gpointer either_dest_thread(gpointer opaque)
{
    Dest *d = opaque;
    const MigrationReceiveOps *ops = d->close_after ? &shared_ops : &big_ops;
    d->ok = migration_receive(d->listen_fd, arch_machine_ops(), d->control, ops, d, NULL, &d->stats, &d->err);
    return NULL;
}

static unsigned resident_pages(const MemRegion *r)
{
    g_autofree unsigned char *vec = g_malloc(r->size / 4096);
    ck_assert_int_eq(mincore(r->hva, r->size, vec), 0);
    unsigned n = 0;
    for (uint64_t i = 0; i < r->size / 4096; i++)
        n += vec[i] & 1;
    return n;
}

/* A guest that wrote 16 scattered pages of 64 MiB: those arrive, the rest
 * reads as zero, and the source did not fault in the pages it never had
 * (reading a memfd's holes allocates them), private and shared RAM. */
START_TEST(full_pass_skips_holes)
{
    bool shared = _i == 1;
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = g_dir_make_tmp("nimbus-native-mig-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", tmp);
    TinyVm *src = shared ? shared_counting_vm() : counting_vm();
    MemRegion *big = add_big_ram(tiny_vm_vm(src), false);
    for (unsigned i = 0; i < 16; i++)
        memset(big->hva + (uint64_t)i * (BIG_SIZE / 16) + 8192, 0x40 + (int)i, 4096);
    unsigned resident_before = resident_pages(big); /* with THP, more than 16 */
    tiny_vm_start(src);
    ck_assert(tiny_vm_wait_progress(src, 1000, 5000));

    Dest d = { .control = evloop_new("dst-control"), .close_after = shared };
    d.listen_fd = migration_listen(url, &err);
    ck_assert(d.listen_fd >= 0);
    GThread *th = g_thread_new("mig-dst", either_dest_thread, &d);
    MigrationStats st;
    MigrationSendParams p = { .vm = tiny_vm_vm(src), .machine = arch_machine_ops(), .control = tiny_vm_loop(src),
                              .url = url, .config_json = "{}", .downtime_ms = 50 };
    bool ok = migration_send(&p, &st, &err);
    g_thread_join(th);
    ck_assert_msg(ok, "send: %s", err ? err->message : "");
    ck_assert_msg(d.ok, "receive: %s", d.err ? d.err->message : "");
    unsigned resident = resident_pages(big);
    g_message("%s: %" G_GUINT64_FORMAT " pages sent; %u of the source's %llu pages in memory, %u before",
              shared ? "shared" : "private", st.pages_sent, resident, BIG_SIZE / 4096, resident_before);
    ck_assert_uint_le(resident, resident_before + 16);
    GuestMemory *mem = vm_memory(tiny_vm_vm(d.tvm));
    for (unsigned i = 0; i < 16; i++) {
        const uint8_t *pg = memory_hva(mem, BIG_GPA + (uint64_t)i * (BIG_SIZE / 16) + 8192, 4096);
        const uint8_t *before = memory_hva(mem, BIG_GPA + (uint64_t)i * (BIG_SIZE / 16) + 4096, 4096);
        ck_assert(pg && before);
        ck_assert_int_eq(pg[0], 0x40 + (int)i);
        ck_assert_int_eq(pg[4095], 0x40 + (int)i);
        ck_assert(memory_page_is_zero(before));
    }
    tiny_vm_free(src);
    tiny_vm_free(d.tvm);
    evloop_free(d.control);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *migration_suite(void)
{
    Suite *s = suite_create("native_migration");
    TCase *tc = tcase_create("migration");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, migrate_counting_guest);
    tcase_add_test(tc, migrate_memory_writing_guest);
    tcase_add_test(tc, destination_closes_during_precopy);
    tcase_add_test(tc, destination_closes_after_state);
    tcase_add_test(tc, destination_refuses_version);
    tcase_add_test(tc, progress_advances);
    tcase_add_test(tc, cancel_during_precopy);
    tcase_add_test(tc, cancel_stalled_destination);
    tcase_add_test(tc, cancel_slow_destination);
    tcase_add_loop_test(tc, full_pass_skips_holes, 0, 2);
    tcase_add_test(tc, local_passes_memory_fds);
    tcase_add_test(tc, local_refused);
    suite_add_tcase(s, tc);
    return s;
}

TINY_VM_CHECK_MAIN(migration_suite)
