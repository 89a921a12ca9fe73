/* Live migration between two VMs in one process over a UNIX socket
 * (migration/migrate.c on the host's KVM): the counting guest
 * (guests/spin.S) keeps running during pre-copy, is moved, and counts on in
 * the destination with no step repeated or lost. A destination that closes
 * mid-stream (during pre-copy, and after the source paused) leaves the
 * source running. */
#include "arch/arch.h"
#include "hypervisor/le.h"
#include "migration/migrate.h"
#include "migration/protocol.h"
#include "native/tiny_vm.h"

#include <check.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern const uint8_t guest_count[], guest_count_end[];

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
} Dest;

static Vm *dst_build(void *opaque, const char *json, size_t len, GError **errp)
{
    Dest *d = opaque;
    d->tvm = counting_vm();
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
    d->ok = migration_receive(d->listen_fd, arch_machine_ops(), d->control, &dst_ops, d, &d->stats, &d->err);
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
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

typedef struct Dirtier {
    TinyVm *src;
} Dirtier;

START_TEST(migrate_counting_guest)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = g_dir_make_tmp("nimbus-native-mig-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", tmp);

    TinyVm *src = counting_vm();
    tiny_vm_start(src);
    ck_assert(tiny_vm_wait_progress(src, 5000, 5000));

    Dest d = { .control = evloop_new("dst-control") };
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
    uint64_t n = tiny_vm_progress_writes(d.tvm);
    ck_assert_msg(tiny_vm_progress_last(d.tvm) == at + n, "source stopped at %u; after %" G_GUINT64_FORMAT
                  " steps the destination is at %u", at, n, tiny_vm_progress_last(d.tvm));
    tiny_vm_free(d.tvm);
    evloop_free(d.control);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
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
    int fd = mig_connect(url, &err);
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

static Suite *migration_suite(void)
{
    Suite *s = suite_create("native_migration");
    TCase *tc = tcase_create("migration");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, migrate_counting_guest);
    tcase_add_test(tc, destination_closes_during_precopy);
    tcase_add_test(tc, destination_closes_after_state);
    tcase_add_test(tc, destination_refuses_version);
    suite_add_tcase(s, tc);
    return s;
}

TINY_VM_CHECK_MAIN(migration_suite)
