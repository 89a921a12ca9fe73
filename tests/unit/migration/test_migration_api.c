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
#include "support/tcp_blackhole.h"

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
    ABANDON_PRECOPY,   /* Ack Start and Config, read 64 KiB of pre-copy, Abandon, hang up */
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
        if (d->mode == ABANDON_PRECOPY) {
            static const char stop[] = "the migration was cancelled on the destination";
            if (type != MIG_MSG_CONFIG)
                break;
            mig_send(fd, MIG_MSG_ACK, NULL, 0, NULL);
            /* Give up in the middle of the first Memory frame (one frame
             * holds all 2 MiB), and close with the rest of it unread. */
            static uint8_t part[65536];
            ck_assert_int_eq(recv(fd, part, sizeof part, MSG_WAITALL), sizeof part);
            mig_send(fd, MIG_MSG_ABANDON, stop, sizeof stop - 1, NULL);
            break;
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

/* PUT vm.send-migration (or vm.receive-migration) to url on a connection
 * of its own, whose answer comes when the migration is over; the
 * connection. */
static int migration_start(bool outgoing, const char *url)
{
    int fd = http_connect(t->sock);
    ck_assert_int_ge(fd, 0);
    g_autofree char *body =
        g_strdup_printf("{\"%s\":\"%s\"}", outgoing ? "destination_url" : "receiver_url", url);
    g_autofree char *req = g_strdup_printf("PUT " V1 "vm.%s-migration HTTP/1.1\r\nHost: localhost\r\n"
                                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                           outgoing ? "send" : "receive", strlen(body), body);
    ck_assert(http_send(fd, req, strlen(req)));
    return fd;
}

static int send_migration_start(const char *url)
{
    return migration_start(true, url);
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

/* Until the send is stuck: pre-copy with nothing more sent for 300 ms. The
 * bytes sent. */
static char *wait_stuck(void)
{
    char *last = NULL;
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
    return last;
}

/* 2 MiB of data in guest RAM: more than a socket holds. */
static void fill_ram(void)
{
    static uint8_t data[APITEST_RAM_SIZE];
    memset(data, 0x5a, sizeof data);
    ck_assert(memory_write(vm_memory(vmm_vm(t->vmm)), 0, data, sizeof data));
}

/* A running VM whose send-migration is stuck on a destination that stopped
 * reading (STALL): stuck_send_start until the send is stuck, then
 * stuck_send_finish releases the destination and cleans up. */
typedef struct StuckSend {
    FakeDest d;
    char *dir;
    GThread *th;
    int fd;     /* the send-migration PUT's connection */
    char *last; /* bytes sent when it got stuck */
} StuckSend;

static void stuck_send_start(StuckSend *ss)
{
    create_and_boot();
    fill_ram();
    g_autoptr(GError) err = NULL;
    ss->dir = g_dir_make_tmp("nimbus-migapi-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", ss->dir);
    ss->d = (FakeDest){ .mode = STALL, .stalled = 1 };
    ss->d.listen_fd = migration_listen(url, &err);
    ck_assert(ss->d.listen_fd >= 0);
    ss->th = g_thread_new("fake-dest", fake_dest, &ss->d);
    ss->fd = send_migration_start(url);
    ss->last = wait_stuck();
}

static void stuck_send_finish(StuckSend *ss)
{
    g_atomic_int_set(&ss->d.stalled, 0);
    g_thread_join(ss->th);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", ss->dir);
    ck_assert_int_eq(system(cmd), 0);
    g_free(ss->dir);
    g_free(ss->last);
}

/* The guest resets while the source is stuck sending: the reset must not
 * free the VM under the migrating thread. The migration is cancelled and
 * says why, then the reset takes effect. */
START_TEST(guest_reset_cancels_migration)
{
    StuckSend ss;
    stuck_send_start(&ss);
    int fd = ss.fd;
    vm_request_stop(vmm_vm(t->vmm), VM_STOP_RESET, "test: guest reset");
    HttpReply r = { 0 };
    ck_assert_msg(http_read_reply(fd, &r, MIGRATION_CANCEL_STALL_MS + 1500), "no answer to vm.send-migration");
    close(fd);
    g_autofree char *msg = json_get(r.body, "error");
    ck_assert_msg(r.status == 500 && msg && strstr(msg, "the guest stopped during the migration (reset)"), "%d %s",
                  r.status, r.body ? r.body : "");
    http_reply_clear(&r);
    /* The reset was handled after the migration: an API-created VM
     * restarts (cloud-hypervisor's behaviour), with fresh RAM. */
    g_autofree char *state = info_state(1000);
    ck_assert_str_eq(state, "Running");
    uint8_t first = 0x5a;
    ck_assert(memory_read(vm_memory(vmm_vm(t->vmm)), 0, &first, 1));
    ck_assert_msg(first == 0, "the VM was not restarted: its RAM still holds 0x%02x", first);
    stuck_send_finish(&ss);
}
END_TEST

/* vm.cancel-migration while the source is blocked sending to a destination
 * that stopped reading: the send's answer (cancelled) comes within 2 s, not
 * after the socket timeout, and the VM runs on. */
START_TEST(cancel_unblocks_stalled_send)
{
    StuckSend ss;
    stuck_send_start(&ss);
    int fd = ss.fd;
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
    g_message("stuck at %s bytes; the send answered %.0f ms after the cancel", ss.last, ms);
    g_autofree char *state = info_state(1000);
    ck_assert_str_eq(state, "Running");
    ck_assert_int_eq(http_do(t->sock, "GET", V1 "vm.migration-progress", NULL, &r), 200);
    g_autofree char *phase = json_get(r.body, "phase");
    ck_assert_str_eq(phase, "cancelled");
    http_reply_clear(&r);
    stuck_send_finish(&ss);
}
END_TEST

/* A destination that gives up during pre-copy sends an Abandon and hangs
 * up while the source is sending: the source's error is the destination's
 * reason, not a broken pipe, and its VM runs on. */
START_TEST(destination_abandon_in_precopy)
{
    create_and_boot();
    fill_ram();
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("nimbus-migapi-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/mig.sock", dir);
    FakeDest d = { .mode = ABANDON_PRECOPY };
    d.listen_fd = migration_listen(url, &err);
    ck_assert(d.listen_fd >= 0);
    GThread *th = g_thread_new("fake-dest", fake_dest, &d);
    int fd = send_migration_start(url);
    HttpReply r = { 0 };
    ck_assert_msg(http_read_reply(fd, &r, 5000), "no answer to vm.send-migration");
    close(fd);
    g_thread_join(th);
    g_autofree char *msg = json_get(r.body, "error");
    ck_assert_msg(r.status == 500 && msg &&
                      !strcmp(msg, "the destination abandoned the migration: the migration was cancelled on the "
                                   "destination"),
                  "%d %s", r.status, r.body ? r.body : "");
    http_reply_clear(&r);
    g_autofree char *state = info_state(1000);
    ck_assert_str_eq(state, "Running");
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* PUT vm.cancel-migration, then the answer of the migration's PUT on fd
 * within timeout_ms: a 500 that says "cancelled on the <side>". The time
 * from the cancel to that answer. */
static double cancel_and_expect(int fd, const char *side, unsigned timeout_ms)
{
    gint64 t0 = g_get_monotonic_time();
    HttpReply r = { 0 };
    int st = http_do(t->sock, "PUT", V1 "vm.cancel-migration", NULL, &r);
    ck_assert_msg(st / 100 == 2, "cancel: %d %s", st, r.body ? r.body : "");
    ck_assert_msg(http_read_reply(fd, &r, timeout_ms), "no answer to the migration within %u ms of the cancel",
                  timeout_ms);
    double ms = (double)(g_get_monotonic_time() - t0) / 1000;
    close(fd);
    g_autofree char *msg = json_get(r.body, "error");
    g_autofree char *want = g_strdup_printf("cancelled on the %s", side);
    ck_assert_msg(r.status == 500 && msg && strstr(msg, want), "%d %s", r.status, r.body ? r.body : "");
    http_reply_clear(&r);
    ck_assert_int_eq(http_do(t->sock, "GET", V1 "vm.migration-progress", NULL, &r), 200);
    g_autofree char *phase = json_get(r.body, "phase");
    ck_assert_str_eq(phase, "cancelled");
    http_reply_clear(&r);
    return ms;
}

/* The phase of the migration, once it has been started. */
static char *progress_phase(void)
{
    HttpReply pr = { 0 };
    ck_assert_int_eq(progress_get(&pr), 200);
    char *phase = json_get(pr.body, "phase");
    http_reply_clear(&pr);
    return phase;
}

/* A destination host that never answers (SYNs dropped, as for an
 * unreachable address): the source waits in connect; a cancel ends it at
 * once, not after the kernel's two minutes of SYN retries. */
START_TEST(cancel_stops_connect)
{
    create_and_boot();
    TcpBlackhole b;
    tcp_blackhole_open(&b);
    int fd = send_migration_start(b.url);
    g_autofree char *phase = progress_phase();
    ck_assert_str_eq(phase, "setup");
    g_usleep(300000); /* well inside the connect */
    double ms = cancel_and_expect(fd, "source", 1000);
    g_message("connect to a silent host cancelled: answered %.0f ms after the cancel", ms);
    g_autofree char *state = info_state(1000);
    ck_assert_str_eq(state, "Running");
    tcp_blackhole_close(&b);
}
END_TEST

/* receive-migration waiting for a source that never comes: a cancel ends
 * it, nimbus stays empty, and a new receive-migration can start (twice). */
START_TEST(cancel_receive_waiting)
{
    g_autofree char *dir = g_dir_make_tmp("nimbus-migapi-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/r.sock", dir);
    for (int round = 0; round < 2; round++) {
        int fd = migration_start(false, url);
        /* Round 1 first sees round 0's record until its PUT is handled. */
        g_autofree char *phase = progress_phase();
        for (int i = 0; i < 500 && strcmp(phase, "setup"); i++) {
            g_usleep(10000);
            g_free(phase);
            phase = progress_phase();
        }
        ck_assert_str_eq(phase, "setup");
        double ms = cancel_and_expect(fd, "destination", 1000);
        g_message("round %d: waiting receive cancelled, answered in %.0f ms", round, ms);
        g_autofree char *path = g_strdup_printf("%s/r.sock", dir);
        ck_assert_msg(!g_file_test(path, G_FILE_TEST_EXISTS), "the socket file %s was left behind", path);
        HttpReply r = { 0 };
        ck_assert_int_eq(http_do(t->sock, "GET", V1 "vm.info", NULL, &r), 404);
        http_reply_clear(&r);
    }
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* A source that connected: the destination's cancel is honoured before the
 * next frame (the source gets an Abandon saying why) or, with the source
 * silent, by shutting the connection down after the stall time. */
static void cancel_receive_connected(bool stalled)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("nimbus-migapi-XXXXXX", NULL);
    g_autofree char *url = g_strdup_printf("unix:%s/r.sock", dir);
    int fd = migration_start(false, url);
    g_autofree char *phase = progress_phase();
    int src = -1;
    for (int i = 0; i < 200 && src < 0; i++) { /* the PUT may not be handled yet */
        g_clear_error(&err);
        src = mig_connect(url, NULL, &err);
        if (src < 0)
            g_usleep(10000);
    }
    ck_assert_msg(src >= 0, "%s", err ? err->message : "");
    uint8_t start[MIG_START_LEN];
    mig_start_encode(start, MIG_ARCH_HOST);
    ck_assert(mig_send(src, MIG_MSG_START, start, sizeof start, NULL));
    uint32_t type, len;
    g_autofree uint8_t *p = NULL;
    ck_assert(mig_recv(src, &type, &p, &len, NULL));
    ck_assert_uint_eq(type, MIG_MSG_ACK);
    g_clear_pointer(&p, g_free);
    if (stalled) {
        double ms = cancel_and_expect(fd, "destination", MIGRATION_CANCEL_STALL_MS + 1500);
        g_message("silent source: the receive answered %.0f ms after the cancel", ms);
        ck_assert(!mig_recv(src, &type, &p, &len, NULL)); /* the stream ended */
    } else {
        HttpReply r = { 0 };
        ck_assert_int_eq(http_do(t->sock, "PUT", V1 "vm.cancel-migration", NULL, &r), 204);
        http_reply_clear(&r);
        static const char config[] = "{}";
        ck_assert(mig_send(src, MIG_MSG_CONFIG, config, sizeof config - 1, NULL));
        ck_assert(mig_recv(src, &type, &p, &len, NULL));
        ck_assert_msg(type == MIG_MSG_ABANDON, "the source got %s", mig_msg_name(type));
        g_autofree char *why = g_strndup((const char *)p, len);
        ck_assert_str_eq(why, "the migration was cancelled on the destination");
        ck_assert_msg(http_read_reply(fd, &r, 1000), "no answer to vm.receive-migration");
        close(fd);
        g_autofree char *msg = json_get(r.body, "error");
        ck_assert_msg(r.status == 500 && msg && strstr(msg, "cancelled on the destination"), "%d %s", r.status,
                      r.body ? r.body : "");
        http_reply_clear(&r);
    }
    close(src);
    HttpReply r = { 0 };
    ck_assert_int_eq(http_do(t->sock, "GET", V1 "vm.info", NULL, &r), 404);
    http_reply_clear(&r);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(cancel_receive_between_frames)
{
    cancel_receive_connected(false);
}
END_TEST

START_TEST(cancel_receive_silent_source)
{
    cancel_receive_connected(true);
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
    tcase_add_test(tc, destination_abandon_in_precopy);
    tcase_add_test(tc, guest_reset_cancels_migration);
    tcase_add_test(tc, cancel_stops_connect);
    tcase_add_test(tc, cancel_receive_waiting);
    tcase_add_test(tc, cancel_receive_between_frames);
    tcase_add_test(tc, cancel_receive_silent_source);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(migration_api_suite)
