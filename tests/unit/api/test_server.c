/* Tests of api/server.c and api/handlers.c: an in-process server on a temp
 * socket driving a Vmm with a fake machine, and a raw HTTP client. */
#include "apitest.h"
#include "support/check_main.h"

#include <stdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static ApiTest *t;

static void setup(void)
{
    apitest_power_button_presses = 0;
    t = apitest_start();
}

static void teardown(void)
{
    apitest_stop(t);
    t = NULL;
}

#define V1 "/api/v1/"

static int put(const char *endpoint, const char *body, HttpReply *r)
{
    g_autofree char *path = g_strconcat(V1, endpoint, NULL);
    return http_do(t->sock, "PUT", path, body, r);
}

static int get(const char *endpoint, HttpReply *r)
{
    g_autofree char *path = g_strconcat(V1, endpoint, NULL);
    return http_do(t->sock, "GET", path, NULL, r);
}

static char *create_body(const char *extra)
{
    return g_strdup_printf("{\"payload\":{\"kernel\":\"%s\",\"cmdline\":\"console=ttyS0\"},"
                           "\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":2},"
                           "\"memory\":{\"size\":268435456}%s}",
                           t->kernel, extra ? extra : "");
}

static void expect_state(const char *state)
{
    HttpReply r = { 0 };
    ck_assert_int_eq(get("vm.info", &r), 200);
    g_autofree char *s = json_get(r.body, "state");
    ck_assert_str_eq(s, state);
    http_reply_clear(&r);
}

static void expect_error(int status, const char *needle, HttpReply *r, int got)
{
    ck_assert_msg(got == status, "status %d, expected %d (%s)", got, status, r->body);
    g_autofree char *m = json_get(r->body, "error");
    ck_assert_msg(m && strstr(m, needle), "error '%s' lacks '%s'", m ? m : "(none)", needle);
}

START_TEST(ping)
{
    HttpReply r = { 0 };
    ck_assert_int_eq(get("vmm.ping", &r), 200);
    g_autofree char *v = json_get(r.body, "version");
    g_autofree char *pid = json_get(r.body, "pid");
    g_autofree char *bv = json_get(r.body, "build_version");
    ck_assert_str_eq(v, "v0.1.0");
    ck_assert_int_eq(atoi(pid), getpid());
    ck_assert_ptr_nonnull(bv);
    ck_assert(strstr(r.headers, "application/json"));
    http_reply_clear(&r);
}
END_TEST

START_TEST(lifecycle)
{
    HttpReply r = { 0 };
    expect_error(404, "no VM", &r, get("vm.info", &r));
    expect_error(404, "no VM", &r, put("vm.boot", NULL, &r));
    expect_error(404, "no VM", &r, get("vm.counters", &r));
    g_autofree char *body = create_body(NULL);
    ck_assert_int_eq(put("vm.create", body, &r), 204);
    expect_error(405, "already created", &r, put("vm.create", body, &r));
    expect_state("Created");
    expect_error(405, "not booted", &r, put("vm.pause", NULL, &r));
    ck_assert_int_eq(put("vm.boot", NULL, &r), 204);
    expect_state("Running");
    expect_error(405, "already booted", &r, put("vm.boot", NULL, &r));
    expect_error(405, "", &r, put("vm.resume", NULL, &r));
    ck_assert_int_eq(put("vm.pause", NULL, &r), 204);
    expect_state("Paused");
    expect_error(405, "", &r, put("vm.pause", NULL, &r));
    expect_error(405, "not running", &r, put("vm.power-button", NULL, &r));
    ck_assert_int_eq(put("vm.resume", NULL, &r), 204);
    ck_assert_int_eq(put("vm.power-button", NULL, &r), 204);
    ck_assert_int_eq(apitest_power_button_presses, 1);
    ck_assert_int_eq(put("vm.reboot", NULL, &r), 204);
    expect_state("Running");
    ck_assert_int_eq(get("vm.counters", &r), 200);
    ck_assert_str_eq(r.body, "{}");
    ck_assert_int_eq(put("vm.shutdown", NULL, &r), 204);
    expect_state("Shutdown");
    expect_error(405, "not booted", &r, put("vm.shutdown", NULL, &r));
    expect_error(405, "not booted", &r, put("vm.reboot", NULL, &r));
    ck_assert_int_eq(put("vm.boot", NULL, &r), 204); /* booted again after shutdown */
    expect_state("Running");
    ck_assert_int_eq(put("vm.delete", NULL, &r), 204);
    expect_error(404, "no VM", &r, get("vm.info", &r));
    ck_assert_int_eq(put("vm.delete", NULL, &r), 204);
    ck_assert_int_eq(put("vm.create", body, &r), 204); /* create again after delete */
    http_reply_clear(&r);
}
END_TEST

START_TEST(info_config)
{
    HttpReply r = { 0 };
    g_autofree char *body =
        create_body(",\"serial\":{\"mode\":\"Pty\"},\"disks\":[{\"path\":\"/tmp/d.img\","
                    "\"readonly\":true}],\"net\":[{\"mac\":\"52:54:00:12:34:56\"}]");
    ck_assert_int_eq(put("vm.create", body, &r), 204);
    ck_assert_int_eq(get("vm.info", &r), 200);
    g_autofree char *kernel = json_get(r.body, "config.payload.kernel");
    g_autofree char *boot = json_get(r.body, "config.cpus.boot_vcpus");
    g_autofree char *mem = json_get(r.body, "memory_actual_size");
    g_autofree char *mode = json_get(r.body, "config.serial.mode");
    g_autofree char *nofile = json_get(r.body, "config.serial.file");
    ck_assert_str_eq(kernel, t->kernel);
    ck_assert_str_eq(boot, "2");
    ck_assert_str_eq(mem, "268435456");
    ck_assert_str_eq(mode, "Pty");
    ck_assert_ptr_null(nofile); /* no PTY before boot */
    ck_assert(strstr(r.body, "\"readonly\":true"));
    ck_assert(strstr(r.body, "52:54:00:12:34:56"));
    ck_assert_int_eq(put("vm.boot", NULL, &r), 204);
    ck_assert_int_eq(get("vm.info", &r), 200);
    g_autofree char *file = json_get(r.body, "config.serial.file");
    ck_assert_str_eq(file, "/dev/pts/fake");
    http_reply_clear(&r);
}
END_TEST

START_TEST(legacy_payload)
{
    HttpReply r = { 0 };
    g_autofree char *body = g_strdup_printf(
        "{\"console\":{\"mode\":\"Pty\"},\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":2},"
        "\"memory\":{\"size\":536870912},\"kernel\":{\"path\":\"%s\"},"
        "\"cmdline\":{\"args\":\"console=hvc0\"},\"disks\":[{\"path\":\"/tmp/x\"}],"
        "\"net\":[{\"mac\":\"52:54:00:12:34:56\"}]}",
        t->kernel);
    ck_assert_int_eq(put("vm.create", body, &r), 204);
    ck_assert_int_eq(get("vm.info", &r), 200);
    g_autofree char *cmdline = json_get(r.body, "config.payload.cmdline");
    ck_assert_str_eq(cmdline, "console=hvc0");
    http_reply_clear(&r);
}
END_TEST

START_TEST(bad_bodies)
{
    HttpReply r = { 0 };
    expect_error(400, "invalid JSON", &r, put("vm.create", "{\"payload\":", &r));
    expect_error(400, "JSON object", &r, put("vm.create", "[1,2]", &r));
    expect_error(400, "needs a VmConfig", &r, put("vm.create", NULL, &r));
    g_autofree char *wrong_type = create_body(",\"rng\":{\"src\":5}");
    expect_error(400, "'rng.src'", &r, put("vm.create", wrong_type, &r));
    g_autofree char *unknown = create_body(",\"disks\":[{\"path\":\"/x\",\"bogus\":1}]");
    expect_error(400, "unknown field 'disks[0].bogus'", &r, put("vm.create", unknown, &r));
    g_autofree char *unknown_top = create_body(",\"frobnicate\":true");
    expect_error(400, "unknown field 'frobnicate'", &r, put("vm.create", unknown_top, &r));
    expect_error(400, "'cpus.boot_vcpus'", &r,
                 put("vm.create", "{\"payload\":{\"kernel\":\"/x\"},\"cpus\":{\"boot_vcpus\":-1}}", &r));
    expect_error(400, "payload.kernel", &r, put("vm.create", "{\"cpus\":{\"boot_vcpus\":1}}", &r));
    expect_error(400, "No such file", &r,
                 put("vm.create", "{\"payload\":{\"kernel\":\"/nonexistent/vmlinux\"}}", &r));
    expect_error(400, "'serial.mode'", &r,
                 put("vm.create", "{\"payload\":{\"kernel\":\"/x\"},\"serial\":{\"mode\":\"Weird\"}}", &r));
    /* Nothing was created by any of that. */
    expect_error(404, "no VM", &r, get("vm.info", &r));
    http_reply_clear(&r);
}
END_TEST

START_TEST(routes_404_405)
{
    HttpReply r = { 0 };
    expect_error(404, "no such endpoint", &r, http_do(t->sock, "GET", "/api/v1/vm.coredump", NULL, &r));
    expect_error(404, "no such endpoint", &r, http_do(t->sock, "PUT", "/api/v1/vm.add-disk", "{}", &r));
    expect_error(404, "no such endpoint", &r, http_do(t->sock, "GET", "/", NULL, &r));
    expect_error(405, "not allowed", &r, http_do(t->sock, "GET", "/api/v1/vm.boot", NULL, &r));
    ck_assert(strstr(r.headers, "Allow: PUT"));
    expect_error(405, "not allowed", &r, http_do(t->sock, "PUT", "/api/v1/vm.info", NULL, &r));
    expect_error(405, "not allowed", &r, http_do(t->sock, "POST", "/api/v1/vm.create", "{}", &r));
    expect_error(405, "not allowed", &r, http_do(t->sock, "DELETE", "/api/v1/vm.delete", NULL, &r));
    http_reply_clear(&r);
}
END_TEST

START_TEST(too_large)
{
    HttpReply r = { 0 };
    /* Announced by Content-Length: refused before the body is read. */
    int fd = http_connect(t->sock);
    const char *hdr = "PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Length: 100000000\r\nExpect: 100-continue\r\n\r\n";
    ck_assert(http_send(fd, hdr, strlen(hdr)));
    ck_assert(http_read_reply(fd, &r, 5000));
    ck_assert_int_eq(r.status, 413);
    ck_assert(!r.got_continue);
    close(fd);
    /* Chunked: discovered while reading, answered once the body ends. */
    fd = http_connect(t->sock);
    const char *chdr = "PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    ck_assert(http_send(fd, chdr, strlen(chdr)));
    g_autofree char *chunk = g_malloc(65536 + 16);
    int n = sprintf(chunk, "10000\r\n");
    memset(chunk + n, 'x', 65536);
    memcpy(chunk + n + 65536, "\r\n", 2);
    for (int i = 0; i < 20; i++) /* 1.25 MiB */
        ck_assert(http_send(fd, chunk, (size_t)n + 65536 + 2));
    ck_assert(http_send(fd, "0\r\n\r\n", 5));
    ck_assert(http_read_reply(fd, &r, 5000));
    ck_assert_int_eq(r.status, 413);
    close(fd);
    /* The server is fine afterwards. */
    ck_assert_int_eq(get("vmm.ping", &r), 200);
    http_reply_clear(&r);
}
END_TEST

START_TEST(expect_continue_and_chunked)
{
    HttpReply r = { 0 };
    g_autofree char *body = create_body(NULL);
    int fd = http_connect(t->sock);
    g_autofree char *hdr = g_strdup_printf("PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\n"
                                           "Content-Type: application/json\r\n"
                                           "Content-Length: %zu\r\nExpect: 100-continue\r\n\r\n",
                                           strlen(body));
    ck_assert(http_send(fd, hdr, strlen(hdr)));
    /* The server must say 100 Continue before we send the body. */
    ck_assert(!http_read_reply(fd, &r, 1000));
    ck_assert(r.got_continue || r.status == 0);
    ck_assert(http_send(fd, body, strlen(body)));
    ck_assert(http_read_reply(fd, &r, 5000));
    ck_assert_int_eq(r.status, 204);
    ck_assert(strstr(r.headers, "Connection: close")); /* see set_json() */
    close(fd);
    /* libvirt's boot: empty chunked body with Expect. */
    fd = http_connect(t->sock);
    const char *boot = "PUT /api/v1/vm.boot HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n"
                       "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n";
    ck_assert(http_send(fd, boot, strlen(boot)));
    ck_assert(http_read_reply(fd, &r, 1000) == false);
    ck_assert(r.got_continue);
    ck_assert(http_send(fd, "0\r\n\r\n", 5));
    ck_assert(http_read_reply(fd, &r, 5000));
    ck_assert_int_eq(r.status, 204);
    close(fd);
    expect_state("Running");
    http_reply_clear(&r);
}
END_TEST

START_TEST(chunked_body)
{
    HttpReply r = { 0 };
    g_autofree char *body = create_body(NULL);
    size_t len = strlen(body), half = len / 2;
    int fd = http_connect(t->sock);
    GString *req = g_string_new("PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n");
    g_string_append_printf(req, "%zx\r\n%.*s\r\n", half, (int)half, body);
    g_string_append_printf(req, "%zx\r\n%s\r\n0\r\n\r\n", len - half, body + half);
    ck_assert(http_send(fd, req->str, req->len));
    g_string_free(req, TRUE);
    ck_assert(http_read_reply(fd, &r, 5000));
    ck_assert_int_eq(r.status, 204);
    close(fd);
    expect_state("Created");
    http_reply_clear(&r);
}
END_TEST

static unsigned open_fds(void)
{
    unsigned n = 0;
    g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
    while (d && g_dir_read_name(d))
        n++;
    return n;
}

/* Every reply says "Connection: close" and the server closes its end, so a
 * client that goes away never leaves an fd behind (libsoup 3.2 does not
 * notice a client closing an idle kept-alive connection; see set_json()). */
START_TEST(connection_close)
{
    HttpReply r = { 0 };
    const char *req = "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\n\r\n";
    const char *bad = "PUT /api/v1/vm.info HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n";
    const char *nocreate = "PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\n\r\n{";
    const char *reqs[] = { req, bad, nocreate };
    const int want[] = { 200, 405, 400 };
    for (unsigned k = 0; k < G_N_ELEMENTS(reqs); k++) {
        int fd = http_connect(t->sock);
        ck_assert(http_send(fd, reqs[k], strlen(reqs[k])));
        ck_assert(http_read_reply(fd, &r, 5000));
        ck_assert_int_eq(r.status, want[k]);
        ck_assert_msg(strstr(r.headers, "Connection: close"), "reply %d lacks Connection: close", want[k]);
        /* The server closed its end: the next read is EOF, not a hang. */
        char c;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ck_assert_int_eq(poll(&p, 1, 5000), 1);
        ck_assert_int_eq(read(fd, &c, 1), 0);
        close(fd);
    }
    /* 200 clients that send a request, read the reply and leave: the
     * server's fd count comes back to where it was (each leaked one before). */
    ck_assert_int_eq(http_do(t->sock, "GET", "/api/v1/vmm.ping", NULL, &r), 200);
    unsigned before = open_fds();
    for (int i = 0; i < 200; i++) {
        int fd = http_connect(t->sock);
        ck_assert(http_send(fd, req, strlen(req)));
        ck_assert(http_read_reply(fd, &r, 5000));
        ck_assert_int_eq(r.status, 200);
        close(fd);
    }
    unsigned after = open_fds();
    for (int i = 0; i < 100 && after > before; i++) { /* let the loop run its closes */
        g_usleep(10000);
        after = open_fds();
    }
    ck_assert_msg(after <= before, "fds %u before 200 clients, %u after", before, after);
    http_reply_clear(&r);
}
END_TEST

static gpointer client_thread(gpointer opaque)
{
    int ok = 0;
    for (int i = 0; i < 50; i++) {
        HttpReply r = { 0 };
        if (http_do(t->sock, "GET", i % 2 ? "/api/v1/vm.info" : "/api/v1/vmm.ping", NULL, &r) == 200)
            ok++;
        http_reply_clear(&r);
    }
    return GINT_TO_POINTER(ok);
}

START_TEST(concurrent_clients)
{
    HttpReply r = { 0 };
    g_autofree char *body = create_body(NULL);
    ck_assert_int_eq(put("vm.create", body, &r), 204);
    GThread *threads[4];
    for (int i = 0; i < 4; i++)
        threads[i] = g_thread_new("client", client_thread, NULL);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(GPOINTER_TO_INT(g_thread_join(threads[i])), 50);
    http_reply_clear(&r);
}
END_TEST

START_TEST(disconnects)
{
    HttpReply r = { 0 };
    /* Mid-headers, mid-body, and right after a full request (reply unread). */
    const char *partial[] = {
        "PUT /api/v1/vm.create HTTP/1.1\r\nHost: loc",
        "PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{\"pay",
        "PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        "10\r\n{\"payload\":{\"ker",
        "GET /api/v1/vm.info HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "PUT /api/v1/vm.pause HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
    };
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < G_N_ELEMENTS(partial); i++) {
            int fd = http_connect(t->sock);
            ck_assert_int_ge(fd, 0);
            ck_assert(http_send(fd, partial[i], strlen(partial[i])));
            close(fd);
        }
    }
    ck_assert_int_eq(get("vmm.ping", &r), 200);
    expect_error(404, "no VM", &r, get("vm.info", &r));
    http_reply_clear(&r);
}
END_TEST

START_TEST(slow_client_does_not_stall)
{
    HttpReply r = { 0 };
    int slow = http_connect(t->sock);
    const char *part1 = "PUT /api/v1/vm.create HTTP/1.1\r\nHost: localhost\r\nContent-Le";
    ck_assert(http_send(slow, part1, strlen(part1)));
    gint64 start = g_get_monotonic_time();
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(get("vmm.ping", &r), 200);
    ck_assert_int_lt(g_get_monotonic_time() - start, G_USEC_PER_SEC);
    /* Finish the slow request a piece at a time; it still works. */
    g_autofree char *body = create_body(NULL);
    g_autofree char *rest = g_strdup_printf("ngth: %zu\r\n\r\n%s", strlen(body), body);
    for (size_t off = 0; off < strlen(rest); off += 40) {
        ck_assert(http_send(slow, rest + off, MIN(40, strlen(rest) - off)));
        ck_assert_int_eq(get("vmm.ping", &r), 200);
    }
    ck_assert(http_read_reply(slow, &r, 5000));
    ck_assert_int_eq(r.status, 204);
    close(slow);
    http_reply_clear(&r);
}
END_TEST

START_TEST(vmm_shutdown)
{
    HttpReply r = { 0 };
    g_autofree char *body = create_body(NULL);
    ck_assert_int_eq(put("vm.create", body, &r), 204);
    ck_assert_int_eq(put("vm.boot", NULL, &r), 204);
    ck_assert_int_eq(put("vmm.shutdown", NULL, &r), 204);
    ck_assert(apitest_wait_exit(t, 5000));
    ck_assert_int_eq(t->exit_status, 0);
    ck_assert_ptr_null(vmm_vm(t->vmm));
    http_reply_clear(&r);
}
END_TEST

/* SIGTERM with an API socket: the power button is pressed, and the guest's
 * power-off then ends nimbus with status 0 (an API socket otherwise
 * outlives the guest). */
START_TEST(sigterm_then_poweroff_exits)
{
    HttpReply r = { 0 };
    g_autofree char *body = create_body(NULL);
    ck_assert_int_eq(put("vm.create", body, &r), 204);
    ck_assert_int_eq(put("vm.boot", NULL, &r), 204);
    http_reply_clear(&r);
    vmm_watch_signals(t->vmm);
    apitest_power_button_presses = 0;
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    for (int i = 0; i < 500 && !g_atomic_int_get(&apitest_power_button_presses); i++)
        g_usleep(10000);
    ck_assert_int_eq(g_atomic_int_get(&apitest_power_button_presses), 1);
    ck_assert(!apitest_wait_exit(t, 100)); /* it waits for the guest */
    vm_request_stop(vmm_vm(t->vmm), VM_STOP_POWEROFF, "test: guest power-off");
    ck_assert_msg(apitest_wait_exit(t, 5000), "nimbus still runs after the guest powered off on SIGTERM");
    ck_assert_int_eq(t->exit_status, 0);
}
END_TEST

/* Socket handling without the fixture. */
START_TEST(socket_files)
{
    g_autofree char *dir = g_dir_make_tmp("nimbus-api-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "s", NULL);
    Vmm *vmm = vmm_new(NULL);
    g_autoptr(GError) err = NULL;
    /* A stale socket (bound, nobody listening) is replaced. */
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    ck_assert_int_eq(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(stale);
    ApiServer *s = api_server_new_path(vmm, path, &err);
    ck_assert_msg(s, "%s", err ? err->message : "");
    /* A live one is refused. */
    ApiServer *s2 = api_server_new_path(vmm, path, &err);
    ck_assert_ptr_null(s2);
    ck_assert(strstr(err->message, "in use"));
    g_clear_error(&err);
    api_server_free(s);
    struct stat st;
    ck_assert_int_ne(stat(path, &st), 0); /* removed at free */
    /* A regular file is not clobbered. */
    ck_assert(g_file_set_contents(path, "x", 1, NULL));
    ck_assert_ptr_null(api_server_new_path(vmm, path, &err));
    ck_assert(strstr(err->message, "not a socket"));
    g_clear_error(&err);
    unlink(path);
    /* fd=N: an already listening socket. */
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    s = api_server_new_fd(vmm, lfd, &err);
    ck_assert_msg(s, "%s", err ? err->message : "");
    api_server_free(s);
    unlink(path);
    /* Not a socket. */
    ck_assert_ptr_null(api_server_new_fd(vmm, 0 + open("/dev/null", O_RDONLY), &err));
    g_clear_error(&err);
    vmm_free(vmm);
    rmdir(dir);
}
END_TEST

static Suite *api_server_suite(void)
{
    Suite *s = suite_create("api_server");
    TCase *tc = tcase_create("server");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, ping);
    tcase_add_test(tc, lifecycle);
    tcase_add_test(tc, info_config);
    tcase_add_test(tc, legacy_payload);
    tcase_add_test(tc, bad_bodies);
    tcase_add_test(tc, routes_404_405);
    tcase_add_test(tc, too_large);
    tcase_add_test(tc, expect_continue_and_chunked);
    tcase_add_test(tc, chunked_body);
    tcase_add_test(tc, connection_close);
    tcase_add_test(tc, concurrent_clients);
    tcase_add_test(tc, disconnects);
    tcase_add_test(tc, slow_client_does_not_stall);
    tcase_add_test(tc, vmm_shutdown);
    tcase_add_test(tc, sigterm_then_poweroff_exits);
    suite_add_tcase(s, tc);
    TCase *sock = tcase_create("sockets");
    tcase_set_timeout(sock, 30);
    tcase_add_test(sock, socket_files);
    suite_add_tcase(s, sock);
    return s;
}

CHECK_MAIN(api_server_suite)
