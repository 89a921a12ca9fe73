/* vm.send-migration through the API (apitest.c's fake machine, no
 * /dev/kvm) against a scripted destination, for the source's side of the
 * failure cases: a destination that refuses the config (the lab's
 * "unsatisfiable" case) must leave the source's API answering at once,
 * however the refusal and the hang-up are timed, with a progress poller on a
 * second connection as nimbus-remote has; and a cancel must free a source
 * blocked on a destination that stopped reading. */
#include "unit/api/apitest.h"
#include "hypervisor/memory.h"
#include "migration/migrate.h"
#include "migration/protocol.h"
#include "support/check_main.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define V1 "/api/v1/"
#define ROUNDS 40

static ApiTest *t;

static void setup(void)
{
    t = apitest_start();
}

static void teardown(void)
{
    apitest_stop(t);
    t = NULL;
}

typedef enum DestMode {
    REFUSE_AND_CLOSE,  /* Abandon the Config, hang up at once */
    REFUSE_AND_DRAIN,  /* Abandon the Config, read until the source hangs up */
    REFUSE_START,      /* Abandon the Start */
    STALL,             /* Ack Start and Config, then stop reading until released */
} DestMode;

typedef struct FakeDest {
    int listen_fd;
    DestMode mode;
    gint stalled;
} FakeDest;

static gpointer fake_dest(gpointer opaque)
{
    FakeDest *d = opaque;
    int fd = accept(d->listen_fd, NULL, NULL);
    close(d->listen_fd);
    static const char why[] = "cannot build the VM: --disk /x/disk.img: No such file or directory";
    for (;;) {
        uint32_t type, len;
        g_autofree uint8_t *p = NULL;
        if (fd < 0 || !mig_recv(fd, &type, &p, &len, NULL))
            break;
        if (type == MIG_MSG_START && d->mode != REFUSE_START) {
            mig_send(fd, MIG_MSG_ACK, NULL, 0, NULL);
            continue;
        }
        if (d->mode == STALL) {
            if (type == MIG_MSG_CONFIG)
                mig_send(fd, MIG_MSG_ACK, NULL, 0, NULL);
            while (g_atomic_int_get(&d->stalled))
                g_usleep(10000);
            continue;
        }
        if (type == MIG_MSG_ABANDON)
            break;
        mig_send(fd, MIG_MSG_ABANDON, why, sizeof why - 1, NULL);
        if (d->mode != REFUSE_AND_DRAIN)
            break;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void create_and_boot(void)
{
    g_autofree char *body = g_strdup_printf("{\"payload\":{\"kernel\":\"%s\"},\"cpus\":{\"boot_vcpus\":1,"
                                            "\"max_vcpus\":1},\"memory\":{\"size\":268435456}}",
                                            t->kernel);
    HttpReply r = { 0 };
    ck_assert_int_eq(http_do(t->sock, "PUT", V1 "vm.create", body, &r), 204);
    ck_assert_int_eq(http_do(t->sock, "PUT", V1 "vm.boot", NULL, &r), 204);
    http_reply_clear(&r);
}

/* GET vm.info on a fresh connection within timeout_ms; the VM's state. */
static char *info_state(unsigned timeout_ms)
{
    int fd = http_connect(t->sock);
    ck_assert_int_ge(fd, 0);
    static const char req[] = "GET " V1 "vm.info HTTP/1.1\r\nHost: localhost\r\n\r\n";
    HttpReply r = { 0 };
    gint64 t0 = g_get_monotonic_time();
    bool ok = http_send(fd, req, sizeof req - 1) && http_read_reply(fd, &r, timeout_ms);
    close(fd);
    ck_assert_msg(ok, "vm.info: no answer within %u ms (%.0f ms)", timeout_ms,
                  (double)(g_get_monotonic_time() - t0) / 1000);
    ck_assert_int_eq(r.status, 200);
    char *s = json_get(r.body, "state");
    http_reply_clear(&r);
    return s;
}

/* GET vm.migration-progress once the send-migration PUT (on another
 * connection, so possibly not handled yet) has started the migration:
 * until then the API answers 405 "no migration has been started". */
static int progress_get(HttpReply *pr)
{
    int st = 0;
    for (int i = 0; i < 500; i++) {
        st = http_do(t->sock, "GET", V1 "vm.migration-progress", NULL, pr);
        if (st != 405 || !pr->body || !strstr(pr->body, "no migration has been started"))
            break;
        g_usleep(10000);
    }
    return st;
}

/* PUT vm.send-migration to url on a connection of its own, whose answer
 * comes when the migration is over; the connection. */
static int send_migration_start(const char *url)
{
    int fd = http_connect(t->sock);
    ck_assert_int_ge(fd, 0);
    g_autofree char *body = g_strdup_printf("{\"destination_url\":\"%s\"}", url);
    g_autofree char *req = g_strdup_printf("PUT " V1 "vm.send-migration HTTP/1.1\r\nHost: localhost\r\n"
                                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                           strlen(body), body);
    ck_assert(http_send(fd, req, strlen(req)));
    return fd;
}

/* One send-migration to a destination in the given mode: the PUT's answer
 * (a 500 naming the refusal), vm.migration-progress polled meanwhile, and
 * vm.info within a second afterwards. */
static void refused_once(DestMode mode, unsigned round)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("nimbus-migapi-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", dir);
    FakeDest d = { .mode = mode };
    d.listen_fd = migration_listen(url, &err);
    ck_assert_msg(d.listen_fd >= 0, "%s", err ? err->message : "");
    GThread *th = g_thread_new("fake-dest", fake_dest, &d);

    int fd = send_migration_start(url);
    /* A poller like nimbus-remote's; on odd rounds it races the answer. */
    if (round % 2) {
        HttpReply pr = { 0 };
        int st = progress_get(&pr);
        ck_assert_msg(st == 200, "vm.migration-progress: %d", st);
        http_reply_clear(&pr);
    }
    HttpReply r = { 0 };
    ck_assert_msg(http_read_reply(fd, &r, 5000), "round %u: no answer to vm.send-migration", round);
    close(fd);
    g_thread_join(th);
    g_autofree char *msg = json_get(r.body, "error");
    ck_assert_msg(r.status == 500 && msg && strstr(msg, "abandoned the migration at") && strstr(msg, "disk.img"),
                  "round %u: %d %s", round, r.status, r.body ? r.body : "");
    http_reply_clear(&r);

    g_autofree char *state = info_state(1000);
    ck_assert_str_eq(state, "Running");
    HttpReply pr = { 0 };
    ck_assert_int_eq(http_do(t->sock, "GET", V1 "vm.migration-progress", NULL, &pr), 200);
    g_autofree char *phase = json_get(pr.body, "phase");
    ck_assert_str_eq(phase, "failed");
    http_reply_clear(&pr);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(refusal_leaves_api_answering)
{
    static const DestMode modes[] = { REFUSE_AND_CLOSE, REFUSE_AND_DRAIN, REFUSE_START };
    create_and_boot();
    gint64 t0 = g_get_monotonic_time();
    for (unsigned i = 0; i < ROUNDS; i++)
        refused_once(modes[i % G_N_ELEMENTS(modes)], i);
    g_message("%u refused migrations, vm.info answered after each: %.1f ms per round", ROUNDS,
              (double)(g_get_monotonic_time() - t0) / 1000 / ROUNDS);
}
END_TEST

/* vm.cancel-migration while the source is blocked sending to a destination
 * that stopped reading: the send's answer (cancelled) comes within 2 s, not
 * after the socket timeout, and the VM runs on. */
START_TEST(cancel_unblocks_stalled_send)
{
    create_and_boot();
    static uint8_t data[APITEST_RAM_SIZE];
    memset(data, 0x5a, sizeof data); /* 2 MiB to send: more than the socket holds */
    ck_assert(memory_write(vm_memory(vmm_vm(t->vmm)), 0, data, sizeof data));
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("nimbus-migapi-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", dir);
    FakeDest d = { .mode = STALL, .stalled = 1 };
    d.listen_fd = migration_listen(url, &err);
    ck_assert(d.listen_fd >= 0);
    GThread *th = g_thread_new("fake-dest", fake_dest, &d);

    int fd = send_migration_start(url);
    /* Stuck: pre-copy with nothing more sent for 300 ms. */
    g_autofree char *last = NULL;
    for (unsigned still = 0, i = 0; still < 30; i++) {
        ck_assert_msg(i < 1000, "the send never got stuck");
        HttpReply pr = { 0 };
        ck_assert_int_eq(progress_get(&pr), 200);
        g_autofree char *phase = json_get(pr.body, "phase");
        g_autofree char *sent = json_get(pr.body, "bytes_sent");
        http_reply_clear(&pr);
        still = phase && !strcmp(phase, "precopy") && last && sent && !strcmp(sent, last) ? still + 1 : 0;
        g_free(last);
        last = g_steal_pointer(&sent);
        g_usleep(10000);
    }
    gint64 t0 = g_get_monotonic_time();
    HttpReply r = { 0 };
    int st = http_do(t->sock, "PUT", V1 "vm.cancel-migration", NULL, &r);
    ck_assert_msg(st / 100 == 2, "cancel: %d %s", st, r.body ? r.body : "");
    ck_assert_msg(http_read_reply(fd, &r, 2000), "no answer to vm.send-migration within 2 s of the cancel");
    double ms = (double)(g_get_monotonic_time() - t0) / 1000;
    close(fd);
    g_autofree char *msg = json_get(r.body, "error");
    ck_assert_msg(r.status == 500 && msg && strstr(msg, "cancelled"), "%d %s", r.status, r.body ? r.body : "");
    http_reply_clear(&r);
    g_message("stuck at %s bytes; the send answered %.0f ms after the cancel", last, ms);
    g_autofree char *state = info_state(1000);
    ck_assert_str_eq(state, "Running");
    ck_assert_int_eq(http_do(t->sock, "GET", V1 "vm.migration-progress", NULL, &r), 200);
    g_autofree char *phase = json_get(r.body, "phase");
    ck_assert_str_eq(phase, "cancelled");
    http_reply_clear(&r);
    g_atomic_int_set(&d.stalled, 0);
    g_thread_join(th);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *migration_api_suite(void)
{
    Suite *s = suite_create("migration_api");
    TCase *tc = tcase_create("refused");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, refusal_leaves_api_answering);
    tcase_add_test(tc, cancel_unblocks_stalled_send);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(migration_api_suite)
