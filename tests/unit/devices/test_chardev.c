/* Tests of devices/chardev/chardev.c: every backend (null, file, socket, pty,
 * tty on redirected stdin/stdout), input flow control through can_receive
 * and chardev_accept_input, the socket's one-client rule and its handling of
 * live, stale and foreign paths, non-blocking output with drop counting, and
 * concurrent writers. Each test runs in its own forked process, so the tty
 * tests may replace fd 0 and 1. */
#include "devices/chardev/chardev.h"
#include "devtest.h"
#include "support/check_main.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

static EventLoop *loop;
static char *dir;

/* A frontend with a settable amount of room. */
typedef struct Sink {
    GString *got;
    size_t room;
    unsigned calls;
} Sink;

static Sink sink;

static size_t sink_can_receive(void *opaque)
{
    Sink *s = opaque;
    return s->room;
}

static void sink_receive(void *opaque, const uint8_t *buf, size_t len)
{
    Sink *s = opaque;
    ck_assert_uint_le(len, s->room);
    g_string_append_len(s->got, (const char *)buf, (gssize)len);
    s->room -= len;
    s->calls++;
}

static void setup(void)
{
    loop = evloop_new("control");
    dir = devtest_tmpdir();
    sink.got = g_string_new(NULL);
    sink.room = 1024;
    sink.calls = 0;
}

static void teardown(void)
{
    evloop_free(loop);
    devtest_rmdir(dir);
    g_free(dir);
    g_string_free(sink.got, TRUE);
}

static void run_pending(void)
{
    while (g_main_context_iteration(evloop_context(loop), FALSE))
        ;
}

/* Run the loop until the sink holds `len` bytes or 5 s pass. */
static bool run_until_received(size_t len)
{
    int64_t deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (sink.got->len < len && g_get_monotonic_time() < deadline) {
        if (!g_main_context_iteration(evloop_context(loop), FALSE))
            g_usleep(1000);
    }
    return sink.got->len >= len;
}

static Chardev *open_mode(ConsoleMode mode, const char *path, GError **errp)
{
    ConsoleConfig cfg = { .mode = mode, .path = (char *)path };
    return chardev_new(&cfg, loop, errp);
}

static Chardev *open_ok(ConsoleMode mode, const char *path)
{
    g_autoptr(GError) err = NULL;
    Chardev *c = open_mode(mode, path, &err);
    ck_assert_msg(c, "chardev_new: %s", err ? err->message : "?");
    return c;
}

static int client_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s",
                  g_strerror(errno));
    return fd;
}

static void read_exactly(int fd, char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);
        ck_assert_msg(n > 0, "read: %zd (%s)", n, g_strerror(errno));
        done += (size_t)n;
    }
}

START_TEST(test_null)
{
    Chardev *c = open_ok(CONSOLE_MODE_NULL, NULL);
    ck_assert_uint_eq(chardev_write(c, (const uint8_t *)"abc", 3), 3);
    ck_assert_uint_eq(chardev_dropped_bytes(c), 0);
    ck_assert_ptr_null(chardev_pty_path(c));
    chardev_set_receiver(c, sink_can_receive, sink_receive, &sink);
    chardev_accept_input(c);
    run_pending();
    ck_assert_uint_eq(sink.calls, 0);
    chardev_free(c);
}
END_TEST

START_TEST(test_off_rejected)
{
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(open_mode(CONSOLE_MODE_OFF, NULL, &err));
    ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(test_file_appends)
{
    g_autofree char *path = g_build_filename(dir, "out.log", NULL);
    ck_assert(g_file_set_contents(path, "old\n", -1, NULL));
    Chardev *c = open_ok(CONSOLE_MODE_FILE, path);
    ck_assert_uint_eq(chardev_write(c, (const uint8_t *)"new\n", 4), 4);
    chardev_free(c);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    ck_assert_str_eq(text, "old\nnew\n");
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
}
END_TEST

START_TEST(test_file_errors)
{
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(open_mode(CONSOLE_MODE_FILE, "/nonexistent-dir/x.log", &err));
    ck_assert(strstr(err->message, "/nonexistent-dir/x.log"));
    g_clear_error(&err);
    ck_assert_ptr_null(open_mode(CONSOLE_MODE_FILE, NULL, &err));
    ck_assert_ptr_nonnull(err);
}
END_TEST

typedef struct WriterArg {
    Chardev *c;
    char ch;
} WriterArg;

#define WRITES_PER_THREAD 2000

static gpointer writer(gpointer opaque)
{
    WriterArg *a = opaque;
    for (int i = 0; i < WRITES_PER_THREAD; i++)
        chardev_write(a->c, (const uint8_t *)&a->ch, 1);
    return NULL;
}

START_TEST(test_concurrent_writers)
{
    g_autofree char *path = g_build_filename(dir, "out.log", NULL);
    Chardev *c = open_ok(CONSOLE_MODE_FILE, path);
    WriterArg args[4];
    GThread *threads[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (WriterArg){ c, (char)('a' + i) };
        threads[i] = g_thread_new("writer", writer, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        g_thread_join(threads[i]);
    chardev_free(c);
    g_autofree char *text = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(path, &text, &len, NULL));
    ck_assert_uint_eq(len, 4 * WRITES_PER_THREAD);
    unsigned counts[4] = { 0 };
    for (gsize i = 0; i < len; i++)
        counts[text[i] - 'a']++;
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(counts[i], WRITES_PER_THREAD);
}
END_TEST

START_TEST(test_socket_io)
{
    g_autofree char *path = g_build_filename(dir, "con.sock", NULL);
    Chardev *c = open_ok(CONSOLE_MODE_SOCKET, path);
    chardev_set_receiver(c, sink_can_receive, sink_receive, &sink);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));

    /* Without a client, output is discarded (not counted). */
    ck_assert_uint_eq(chardev_write(c, (const uint8_t *)"lost", 4), 4);
    ck_assert_uint_eq(chardev_dropped_bytes(c), 0);

    int fd = client_connect(path);
    ck_assert_int_eq(write(fd, "hi!", 3), 3);
    ck_assert(run_until_received(3));
    ck_assert_str_eq(sink.got->str, "hi!");
    ck_assert_uint_eq(chardev_write(c, (const uint8_t *)"out", 3), 3);
    char buf[3];
    read_exactly(fd, buf, 3);
    ck_assert(memcmp(buf, "out", 3) == 0);

    /* A second client is turned away: it sees EOF, the first keeps working. */
    int fd2 = client_connect(path);
    int64_t deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    ssize_t n;
    while ((n = recv(fd2, buf, 1, MSG_DONTWAIT)) < 0 && errno == EAGAIN &&
           g_get_monotonic_time() < deadline) {
        run_pending();
        g_usleep(1000);
    }
    ck_assert_int_eq(n, 0);
    close(fd2);
    ck_assert_uint_eq(chardev_write(c, (const uint8_t *)"X", 1), 1);
    read_exactly(fd, buf, 1);
    ck_assert_int_eq(buf[0], 'X');

    /* The client leaves; a new one can connect and gets the output. */
    close(fd);
    for (int i = 0; i < 20; i++) {
        run_pending();
        g_usleep(1000);
    }
    fd = client_connect(path);
    for (int i = 0; i < 20; i++) {
        run_pending();
        g_usleep(1000);
    }
    ck_assert_uint_eq(chardev_write(c, (const uint8_t *)"again", 5), 5);
    char buf5[5];
    read_exactly(fd, buf5, 5);
    ck_assert(memcmp(buf5, "again", 5) == 0);
    close(fd);

    chardev_free(c);
    ck_assert_int_ne(stat(path, &st), 0); /* our socket is removed */
}
END_TEST

static gpointer accept_from_thread(gpointer opaque)
{
    chardev_accept_input(opaque);
    return NULL;
}

START_TEST(test_socket_flow_control)
{
    g_autofree char *path = g_build_filename(dir, "con.sock", NULL);
    Chardev *c = open_ok(CONSOLE_MODE_SOCKET, path);
    sink.room = 4;
    chardev_set_receiver(c, sink_can_receive, sink_receive, &sink);
    int fd = client_connect(path);
    ck_assert_int_eq(write(fd, "0123456789", 10), 10);
    ck_assert(run_until_received(4));
    /* Full: nothing more arrives however long the loop runs. */
    for (int i = 0; i < 50; i++) {
        run_pending();
        g_usleep(1000);
    }
    ck_assert_str_eq(sink.got->str, "0123");
    /* Room again, and the frontend says so (from another thread, as a vCPU would). */
    sink.room = 100;
    GThread *th = g_thread_new("vcpu", accept_from_thread, c);
    g_thread_join(th);
    ck_assert(run_until_received(10));
    ck_assert_str_eq(sink.got->str, "0123456789");
    close(fd);
    chardev_free(c);
}
END_TEST

/* A client that leaves while the frontend is full (input paused) must not
 * lock out the next one. */
START_TEST(test_socket_reconnect_while_full)
{
    g_autofree char *path = g_build_filename(dir, "con.sock", NULL);
    Chardev *c = open_ok(CONSOLE_MODE_SOCKET, path);
    sink.room = 0;
    chardev_set_receiver(c, sink_can_receive, sink_receive, &sink);
    int fd = client_connect(path);
    ck_assert_int_eq(write(fd, "typed", 5), 5);
    for (int i = 0; i < 20; i++) {
        run_pending();
        g_usleep(1000);
    }
    close(fd);
    fd = client_connect(path);
    for (int i = 0; i < 20; i++) {
        run_pending();
        g_usleep(1000);
    }
    ck_assert_uint_eq(chardev_write(c, (const uint8_t *)"welcome", 7), 7);
    char buf[7];
    read_exactly(fd, buf, 7);
    ck_assert(memcmp(buf, "welcome", 7) == 0);
    /* The new client's input flows once there is room. */
    ck_assert_int_eq(write(fd, "new", 3), 3);
    sink.room = 16;
    chardev_accept_input(c);
    ck_assert(run_until_received(3));
    ck_assert_str_eq(sink.got->str, "new");
    close(fd);
    chardev_free(c);
}
END_TEST

START_TEST(test_socket_live_path_refused)
{
    g_autofree char *path = g_build_filename(dir, "con.sock", NULL);
    Chardev *c = open_ok(CONSOLE_MODE_SOCKET, path);
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(open_mode(CONSOLE_MODE_SOCKET, path, &err));
    ck_assert_msg(strstr(err->message, "in use"), "%s", err->message);
    /* The first owner still works. */
    int fd = client_connect(path);
    close(fd);
    chardev_free(c);
}
END_TEST

START_TEST(test_socket_stale_path_replaced)
{
    g_autofree char *path = g_build_filename(dir, "con.sock", NULL);
    /* A socket file nobody listens on, as a killed VMM leaves behind. */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(s);
    Chardev *c = open_ok(CONSOLE_MODE_SOCKET, path);
    int fd = client_connect(path);
    close(fd);
    chardev_free(c);
}
END_TEST

START_TEST(test_socket_refuses_non_socket)
{
    g_autofree char *path = g_build_filename(dir, "precious.txt", NULL);
    ck_assert(g_file_set_contents(path, "data", -1, NULL));
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(open_mode(CONSOLE_MODE_SOCKET, path, &err));
    ck_assert_msg(strstr(err->message, "not a socket"), "%s", err->message);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    ck_assert_str_eq(text, "data");
    /* Too long for sockaddr_un. */
    g_clear_error(&err);
    g_autofree char *longp = g_strnfill(200, 'x');
    ck_assert_ptr_null(open_mode(CONSOLE_MODE_SOCKET, longp, &err));
    ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(test_pty)
{
    Chardev *c = open_ok(CONSOLE_MODE_PTY, NULL);
    chardev_set_receiver(c, sink_can_receive, sink_receive, &sink);
    const char *path = chardev_pty_path(c);
    ck_assert_ptr_nonnull(path);
    ck_assert(g_str_has_prefix(path, "/dev/pts/"));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISCHR(st.st_mode));

    int fd = open(path, O_RDWR | O_NOCTTY);
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(chardev_write(c, (const uint8_t *)"guest\n", 6), 6);
    char buf[6];
    read_exactly(fd, buf, 6);
    ck_assert(memcmp(buf, "guest\n", 6) == 0); /* raw: no CR inserted */
    ck_assert_int_eq(write(fd, "key\r", 4), 4);
    ck_assert(run_until_received(4));
    ck_assert_str_eq(sink.got->str, "key\r");
    /* Raw: the guest's output is not echoed back as input. */
    for (int i = 0; i < 20; i++) {
        run_pending();
        g_usleep(1000);
    }
    ck_assert_uint_eq(sink.got->len, 4);
    close(fd);
    /* Nobody attached: the loop must not spin on a hangup. */
    for (int i = 0; i < 20; i++)
        run_pending();
    chardev_free(c);
}
END_TEST

START_TEST(test_output_never_blocks)
{
    /* Nobody reads the pty: once its buffer is full, writes are dropped
     * and counted instead of blocking. */
    Chardev *c = open_ok(CONSOLE_MODE_PTY, NULL);
    uint8_t chunk[4096];
    memset(chunk, 'z', sizeof(chunk));
    uint64_t accepted = 0, total = 0;
    for (int i = 0; i < 256; i++) {
        accepted += chardev_write(c, chunk, sizeof(chunk));
        total += sizeof(chunk);
    }
    ck_assert_uint_gt(chardev_dropped_bytes(c), 0);
    ck_assert_uint_eq(accepted + chardev_dropped_bytes(c), total);
    chardev_free(c);
}
END_TEST

START_TEST(test_tty_redirected)
{
    int in[2], out[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_ge(dup2(in[0], STDIN_FILENO), 0);
    ck_assert_int_ge(dup2(out[1], STDOUT_FILENO), 0);
    close(in[0]);
    close(out[1]);
    Chardev *c = open_ok(CONSOLE_MODE_TTY, NULL);
    chardev_set_receiver(c, sink_can_receive, sink_receive, &sink);
    ck_assert_uint_eq(chardev_write(c, (const uint8_t *)"to stdout", 9), 9);
    char buf[9];
    read_exactly(out[0], buf, 9);
    ck_assert(memcmp(buf, "to stdout", 9) == 0);
    /* Our own stdout stays blocking: only our private descriptor is not. */
    ck_assert_int_eq(fcntl(STDOUT_FILENO, F_GETFL) & O_NONBLOCK, 0);

    ck_assert_int_eq(write(in[1], "from stdin", 10), 10);
    ck_assert(run_until_received(10));
    ck_assert_str_eq(sink.got->str, "from stdin");
    /* EOF on stdin ends input without spinning or failing. */
    close(in[1]);
    for (int i = 0; i < 20; i++)
        run_pending();
    ck_assert_uint_eq(chardev_write(c, (const uint8_t *)"!", 1), 1);
    chardev_free(c);
}
END_TEST

START_TEST(test_tty_raw_mode_restored)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(m, 0);
    ck_assert_int_eq(grantpt(m), 0);
    ck_assert_int_eq(unlockpt(m), 0);
    int s = open(ptsname(m), O_RDWR | O_NOCTTY);
    ck_assert_int_ge(s, 0);
    ck_assert_int_ge(dup2(s, STDIN_FILENO), 0);
    struct termios before, during, after;
    ck_assert_int_eq(tcgetattr(STDIN_FILENO, &before), 0);
    ck_assert(before.c_lflag & ICANON);

    Chardev *c = open_ok(CONSOLE_MODE_TTY, NULL);
    ck_assert_int_eq(tcgetattr(STDIN_FILENO, &during), 0);
    ck_assert_uint_eq(during.c_lflag & (ICANON | ECHO | ISIG), 0);
    ck_assert_uint_eq(during.c_oflag, before.c_oflag); /* output processing kept */
    /* Keys arrive one by one, without waiting for Enter. */
    chardev_set_receiver(c, sink_can_receive, sink_receive, &sink);
    ck_assert_int_eq(write(m, "\x03", 1), 1);
    ck_assert(run_until_received(1));
    ck_assert_int_eq(sink.got->str[0], 3);
    chardev_free(c);

    ck_assert_int_eq(tcgetattr(STDIN_FILENO, &after), 0);
    ck_assert_uint_eq(after.c_lflag, before.c_lflag);
    ck_assert_uint_eq(after.c_iflag, before.c_iflag);
    close(s);
    close(m);
}
END_TEST

static Suite *chardev_suite(void)
{
    Suite *s = suite_create("chardev");
    TCase *tc = tcase_create("backends");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_null);
    tcase_add_test(tc, test_off_rejected);
    tcase_add_test(tc, test_file_appends);
    tcase_add_test(tc, test_file_errors);
    tcase_add_test(tc, test_concurrent_writers);
    tcase_add_test(tc, test_pty);
    tcase_add_test(tc, test_output_never_blocks);
    tcase_add_test(tc, test_tty_redirected);
    tcase_add_test(tc, test_tty_raw_mode_restored);
    suite_add_tcase(s, tc);

    tc = tcase_create("socket");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_socket_io);
    tcase_add_test(tc, test_socket_flow_control);
    tcase_add_test(tc, test_socket_reconnect_while_full);
    tcase_add_test(tc, test_socket_live_path_refused);
    tcase_add_test(tc, test_socket_stale_path_replaced);
    tcase_add_test(tc, test_socket_refuses_non_socket);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(chardev_suite)
