/* virtio-console end to end: the test plays the guest driver through PCI
 * (vdevtest.c) and the host side through the chardev backends (a file for
 * output, a UNIX socket or a pty for input). Hostile cases: descriptors
 * outside guest RAM, receive buffers without writable space, input before
 * the driver is ready. */
#include "devices/virtio/console/console.h"
#include "hypervisor/vm_config.h"
#include "support/check_main.h"
#include "vdevtest.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#define RX 0
#define TX 1
#define QSIZE 16
#define WAIT_MS 3000

static VdevTest *T;
static char *dir;
static char *path; /* output file or socket */

static void setup(void)
{
    T = vdevtest_new(VDEV_RAM_GUARDED, 8ull << 20);
    dir = g_dir_make_tmp("nimbus-vcon-XXXXXX", NULL);
    ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
    vdevtest_free(T);
    T = NULL;
    if (path)
        g_unlink(path);
    g_clear_pointer(&path, g_free);
    g_rmdir(dir);
    g_clear_pointer(&dir, g_free);
}

static Device *add_console(ConsoleMode mode)
{
    ConsoleConfig cc = { .mode = mode };
    if (mode == CONSOLE_MODE_FILE || mode == CONSOLE_MODE_SOCKET) {
        path = g_build_filename(dir, mode == CONSOLE_MODE_FILE ? "out" : "sock", NULL);
        cc.path = path;
    }
    return vdevtest_add(T, &virtio_console_ops, "console0", &cc);
}

static int connect_client(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static char *file_text(void)
{
    char *text = NULL;
    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    return text;
}

/* Post one writable rx buffer of len bytes; returns its gpa. */
static Gpa post_rx_head(uint32_t len, uint16_t *head)
{
    Gpa g = virtq_driver_alloc(&T->q[RX], len, 8);
    VirtqDriverBuf b = { g, len, true };
    uint16_t h = virtq_driver_add(&T->q[RX], &b, 1);
    if (head)
        *head = h;
    return g;
}

static Gpa post_rx(uint32_t len)
{
    return post_rx_head(len, NULL);
}

/* Collect `want` bytes of input from the receive queue, posting a fresh
 * buffer of `bufsz` for each one used. */
static void receive_all(uint8_t *out, size_t want, uint32_t bufsz, unsigned posted)
{
    Gpa gpas[QSIZE] = { 0 };
    uint16_t head;
    for (unsigned i = 0; i < posted; i++) {
        Gpa g = post_rx_head(bufsz, &head);
        gpas[head] = g;
    }
    vdevtest_kick(T, RX);
    size_t got = 0;
    while (got < want) {
        uint32_t id, len;
        ck_assert_msg(vdevtest_wait_used(T, RX, &id, &len, WAIT_MS), "input stalled at %zu/%zu",
                      got, want);
        ck_assert_uint_le(len, bufsz);
        ck_assert_uint_le(got + len, want);
        ck_assert_uint_lt(id, QSIZE);
        memcpy(out + got, vdevtest_hva(T, gpas[id], len ? len : 1), len);
        got += len;
        ck_assert_uint_lt(id, QSIZE);
        Gpa g = post_rx_head(bufsz, &head);
        gpas[head] = g;
        vdevtest_kick(T, RX);
    }
}

START_TEST(test_features_and_config)
{
    add_console(CONSOLE_MODE_FILE);
    uint64_t f = vdevtest_offered(T);
    ck_assert(f & (1ull << VIRTIO_CONSOLE_F_EMERG_WRITE));
    ck_assert(!(f & (1ull << VIRTIO_CONSOLE_F_MULTIPORT)));
    ck_assert(!(f & (1ull << VIRTIO_CONSOLE_F_SIZE))); /* not a terminal */
    ck_assert(f & (1ull << VIRTIO_F_VERSION_1));
    ck_assert_uint_eq(vdevtest_num_queues(T), 2);
    ck_assert_uint_eq(vdevtest_devcfg_read(T, VIRTIO_CONSOLE_CFG_COLS, 2), 0);
    ck_assert_uint_eq(vdevtest_devcfg_read(T, VIRTIO_CONSOLE_CFG_ROWS, 2), 0);
    ck_assert_uint_eq(vdevtest_devcfg_read(T, VIRTIO_CONSOLE_CFG_MAX_NR_PORTS, 4), 0);
    /* Read-only fields ignore writes; MULTIPORT cannot be negotiated. */
    vdevtest_devcfg_write(T, VIRTIO_CONSOLE_CFG_COLS, 0x1234, 2);
    ck_assert_uint_eq(vdevtest_devcfg_read(T, VIRTIO_CONSOLE_CFG_COLS, 2), 0);
    ck_assert(!vdevtest_negotiate(T, (1ull << VIRTIO_F_VERSION_1) |
                                         (1ull << VIRTIO_CONSOLE_F_MULTIPORT)));
    ck_assert_ptr_null(console_pty_path(T->dev));
}
END_TEST

START_TEST(test_tx_to_file)
{
    add_console(CONSOLE_MODE_FILE);
    vdevtest_bring_up(T, 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE, 2, QSIZE);
    VirtqDriver *q = &T->q[TX];
    Gpa a = virtq_driver_alloc(q, 16, 8), b = virtq_driver_alloc(q, 16, 8),
        c = virtq_driver_alloc(q, 16, 8);
    memcpy(vdevtest_hva(T, a, 6), "hello ", 6);
    memcpy(vdevtest_hva(T, b, 3), "wor", 3);
    memcpy(vdevtest_hva(T, c, 2), "ld", 2);
    virtq_driver_add(q, &(VirtqDriverBuf){ a, 6, false }, 1);
    /* A chain of two readable buffers, plus a writable one that is ignored. */
    VirtqDriverBuf chain[] = { { b, 3, false }, { c, 2, false }, { a + 8, 8, true } };
    virtq_driver_add(q, chain, 3);
    vdevtest_kick(T, TX);
    uint32_t id, len;
    for (int i = 0; i < 2; i++) {
        ck_assert(vdevtest_wait_used(T, TX, &id, &len, WAIT_MS));
        ck_assert_uint_eq(len, 0);
    }
    g_autofree char *text = file_text();
    ck_assert_str_eq(text, "hello world");
    /* Emergency write: one character per write, low byte of the le32. */
    vdevtest_devcfg_write(T, VIRTIO_CONSOLE_CFG_EMERG_WR, '!', 4);
    g_autofree char *text2 = file_text();
    ck_assert_str_eq(text2, "hello world!");
    ConsoleCounters cnt;
    console_counters(T->dev, &cnt);
    ck_assert_uint_eq(cnt.tx_bytes, 12);
}
END_TEST

START_TEST(test_emerg_write_before_driver_ok)
{
    add_console(CONSOLE_MODE_FILE);
    vdevtest_devcfg_write(T, VIRTIO_CONSOLE_CFG_EMERG_WR, 'E', 4);
    vdevtest_devcfg_write(T, VIRTIO_CONSOLE_CFG_EMERG_WR, 'M', 1);
    g_autofree char *text = file_text();
    ck_assert_str_eq(text, "EM");
}
END_TEST

START_TEST(test_rx_socket)
{
    add_console(CONSOLE_MODE_SOCKET);
    int fd = connect_client();
    vdevtest_bring_up(T, 0, 2, QSIZE);
    const char *msg = "0123456789abcdefXYZ";
    ck_assert_int_eq(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
    uint8_t got[64] = { 0 };
    receive_all(got, strlen(msg), 8, 4);
    ck_assert_mem_eq(got, msg, strlen(msg));
    /* And output goes to the same client. */
    Gpa a = virtq_driver_alloc(&T->q[TX], 8, 8);
    memcpy(vdevtest_hva(T, a, 4), "pong", 4);
    virtq_driver_add(&T->q[TX], &(VirtqDriverBuf){ a, 4, false }, 1);
    vdevtest_kick(T, TX);
    uint32_t id, len;
    ck_assert(vdevtest_wait_used(T, TX, &id, &len, WAIT_MS));
    char buf[8] = { 0 };
    ck_assert_int_eq(read(fd, buf, sizeof buf), 4);
    ck_assert_str_eq(buf, "pong");
    close(fd);
}
END_TEST

/* Input the guest has no room for stays with the host until it has. */
START_TEST(test_rx_flow_control)
{
    add_console(CONSOLE_MODE_SOCKET);
    int fd = connect_client();
    enum { N = 3000 };
    static uint8_t msg[N], got[N];
    for (unsigned i = 0; i < N; i++)
        msg[i] = (uint8_t)(i * 13 + i / 251);
    ck_assert_int_eq(write(fd, msg, N), N); /* before the driver is even there */
    g_usleep(50 * 1000);
    vdevtest_bring_up(T, 0, 2, QSIZE);
    g_usleep(50 * 1000);
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&T->q[RX], &id, &len));
    receive_all(got, N, 64, 2);
    ck_assert_mem_eq(got, msg, N);
    ConsoleCounters cnt;
    console_counters(T->dev, &cnt);
    ck_assert_uint_eq(cnt.rx_bytes, N);
    ck_assert_uint_eq(cnt.rx_dropped, 0);
    close(fd);
}
END_TEST

START_TEST(test_rx_readonly_buffer)
{
    add_console(CONSOLE_MODE_SOCKET);
    int fd = connect_client();
    vdevtest_bring_up(T, 0, 2, QSIZE);
    /* A receive buffer with nothing writable is completed empty and skipped. */
    Gpa ro = virtq_driver_alloc(&T->q[RX], 16, 8);
    virtq_driver_add(&T->q[RX], &(VirtqDriverBuf){ ro, 16, false }, 1);
    Gpa rw = post_rx(16);
    vdevtest_kick(T, RX);
    ck_assert_int_eq(write(fd, "hi", 2), 2);
    uint32_t id, len;
    ck_assert(vdevtest_wait_used(T, RX, &id, &len, WAIT_MS));
    ck_assert_uint_eq(len, 0);
    ck_assert(vdevtest_wait_used(T, RX, &id, &len, WAIT_MS));
    ck_assert_uint_eq(len, 2);
    ck_assert_mem_eq(vdevtest_hva(T, rw, 2), "hi", 2);
    ck_assert(!(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET));
    close(fd);
}
END_TEST

START_TEST(test_tx_outside_ram)
{
    add_console(CONSOLE_MODE_FILE);
    vdevtest_bring_up(T, 0, 2, QSIZE);
    VirtqDriver *q = &T->q[TX];
    virtq_driver_set_desc(q, 0, T->ram_size + 0x1000, 64, 0, 0);
    virtq_driver_expose(q, 0);
    vdevtest_kick(T, TX);
    ck_assert(vdevtest_wait_status(T, VIRTIO_STATUS_NEEDS_RESET, WAIT_MS));
    /* A buffer straddling the end of RAM, after a reset: same. */
    vdevtest_bring_up(T, 0, 2, QSIZE);
    virtq_driver_set_desc(q, 0, T->ram_size - 8, 64, 0, 0);
    virtq_driver_expose(q, 0);
    vdevtest_kick(T, TX);
    ck_assert(vdevtest_wait_status(T, VIRTIO_STATUS_NEEDS_RESET, WAIT_MS));
    /* The device works again after a reset. */
    vdevtest_bring_up(T, 0, 2, QSIZE);
    Gpa a = virtq_driver_alloc(q, 8, 8);
    memcpy(vdevtest_hva(T, a, 2), "ok", 2);
    virtq_driver_add(q, &(VirtqDriverBuf){ a, 2, false }, 1);
    vdevtest_kick(T, TX);
    uint32_t id, len;
    ck_assert(vdevtest_wait_used(T, TX, &id, &len, WAIT_MS));
    g_autofree char *text = file_text();
    ck_assert_str_eq(text, "ok");
}
END_TEST

START_TEST(test_rx_outside_ram)
{
    add_console(CONSOLE_MODE_SOCKET);
    int fd = connect_client();
    vdevtest_bring_up(T, 0, 2, QSIZE);
    VirtqDriver *q = &T->q[RX];
    virtq_driver_set_desc(q, 0, 0xffffffffffff0000ull, 64, VIRTQ_DESC_F_WRITE, 0);
    virtq_driver_expose(q, 0);
    vdevtest_kick(T, RX);
    ck_assert_int_eq(write(fd, "boom", 4), 4);
    ck_assert(vdevtest_wait_status(T, VIRTIO_STATUS_NEEDS_RESET, WAIT_MS));
    /* The input was not consumed: a reset driver still gets it. */
    vdevtest_bring_up(T, 0, 2, QSIZE);
    uint8_t got[4];
    receive_all(got, 4, 16, 1);
    ck_assert_mem_eq(got, "boom", 4);
    close(fd);
}
END_TEST

START_TEST(test_pause_resume)
{
    add_console(CONSOLE_MODE_SOCKET);
    int fd = connect_client();
    vdevtest_bring_up(T, 0, 2, QSIZE);
    g_autoptr(GError) err = NULL;
    ck_assert(T->dev->ops->pause(T->dev, &err));
    Gpa g = post_rx(16);
    vdevtest_kick(T, RX);
    ck_assert_int_eq(write(fd, "zz", 2), 2);
    g_usleep(100 * 1000);
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&T->q[RX], &id, &len)); /* paused: guest RAM untouched */
    ck_assert(T->dev->ops->resume(T->dev, &err));
    ck_assert(vdevtest_wait_used(T, RX, &id, &len, WAIT_MS));
    ck_assert_uint_eq(len, 2);
    ck_assert_mem_eq(vdevtest_hva(T, g, 2), "zz", 2);
    close(fd);
}
END_TEST

START_TEST(test_pty)
{
    if (access("/dev/ptmx", R_OK | W_OK) != 0)
        return; /* no ptys here */
    add_console(CONSOLE_MODE_PTY);
    const char *p = console_pty_path(T->dev);
    ck_assert_ptr_nonnull(p);
    ck_assert(g_str_has_prefix(p, "/dev/"));
    vdevtest_bring_up(T, 0, 2, QSIZE);
    int fd = open(p, O_RDWR | O_NOCTTY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    /* Raw mode on our end, so the line discipline passes bytes through. */
    struct termios tio;
    ck_assert_int_eq(tcgetattr(fd, &tio), 0);
    cfmakeraw(&tio);
    ck_assert_int_eq(tcsetattr(fd, TCSANOW, &tio), 0);
    ck_assert_int_eq(write(fd, "tty", 3), 3);
    uint8_t got[3];
    receive_all(got, 3, 16, 1);
    ck_assert_mem_eq(got, "tty", 3);
    close(fd);
}
END_TEST

START_TEST(test_mode_off)
{
    g_autoptr(GError) err = NULL;
    ConsoleConfig cc = { .mode = CONSOLE_MODE_OFF };
    ck_assert_ptr_null(device_create(T->vm, &virtio_console_ops, "c0", &cc, &err));
    ck_assert_ptr_nonnull(err);
    g_clear_error(&err);
    ck_assert_ptr_null(device_create(T->vm, &virtio_console_ops, "c1", NULL, &err));
    ck_assert_ptr_nonnull(err);
    /* A backend that cannot be opened is an error too, with nothing left behind. */
    g_clear_error(&err);
    cc = (ConsoleConfig){ .mode = CONSOLE_MODE_FILE, .path = "/nonexistent-dir/x" };
    ck_assert_ptr_null(device_create(T->vm, &virtio_console_ops, "c2", &cc, &err));
    ck_assert_ptr_nonnull(err);
}
END_TEST

static Suite *virtio_console_suite(void)
{
    Suite *s = suite_create("virtio_console");
    TCase *tc = tcase_create("console");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_features_and_config);
    tcase_add_test(tc, test_tx_to_file);
    tcase_add_test(tc, test_emerg_write_before_driver_ok);
    tcase_add_test(tc, test_rx_socket);
    tcase_add_test(tc, test_rx_flow_control);
    tcase_add_test(tc, test_rx_readonly_buffer);
    tcase_add_test(tc, test_tx_outside_ram);
    tcase_add_test(tc, test_rx_outside_ram);
    tcase_add_test(tc, test_pause_resume);
    tcase_add_test(tc, test_pty);
    tcase_add_test(tc, test_mode_off);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(virtio_console_suite)
