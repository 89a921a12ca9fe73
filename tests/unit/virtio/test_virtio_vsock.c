/* virtio-vsock end to end: the test plays the guest driver through ECAM and
 * BAR accesses (vdevtest.c) with rx, tx and event queues in guarded guest
 * RAM, and plays host software on the hybrid UNIX sockets, while the
 * device's I/O thread does the work. No KVM. The pure parts (codec, credit,
 * connection table) are in test_virtio_vsock_packet.c. */
#include "devices/virtio/virtio.h"
#include "devices/virtio/vsock/vsock.h"
#include "devices/virtio/vsock/vsock_conn.h"
#include "devices/virtio/vsock/vsock_packet.h"
#include "support/check_main.h"
#include "vdevtest.h"

#include <check.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define RAM_SIZE (8ull << 20)
#define QSIZE_USED 64
#define GUEST_CID 3
#define RX_BUF (4096u + VSOCK_HDR_SIZE)
#define NQ 3
#define WAIT_MS 3000
#define RX VIRTIO_VSOCK_QUEUE_RX
#define TX VIRTIO_VSOCK_QUEUE_TX
#define F_STREAM (1ull << 0) /* VIRTIO_VSOCK_F_STREAM */

static VdevTest *T;
static char *sock_dir;
static char *sock_path;
static Gpa rx_buf[QSIZE_USED]; /* rx head -> buffer */
static unsigned rx_posted;

static bool create_device(const char *path, uint64_t cid, GError **errp)
{
    VsockConfig vc = { .cid = cid, .socket = (char *)path, .id = NULL };
    return device_create(T->vm, &virtio_vsock_ops, "vsock0", &vc, errp) != NULL;
}

static void setup_machine(void)
{
    T = vdevtest_new(VDEV_RAM_GUARDED, RAM_SIZE);
    g_autoptr(GError) err = NULL;
    sock_dir = g_dir_make_tmp("nimbus-vsock-XXXXXX", &err);
    ck_assert_msg(sock_dir, "tmpdir: %s", err ? err->message : "?");
    sock_path = g_build_filename(sock_dir, "v.sock", NULL);
}

static void setup(void)
{
    setup_machine();
    VsockConfig vc = { .cid = GUEST_CID, .socket = sock_path, .id = NULL };
    vdevtest_add(T, &virtio_vsock_ops, "vsock0", &vc);
    ck_assert_uint_ne(T->device, 0);
    ck_assert_uint_ge(T->device_len, 8);
}

static void teardown(void)
{
    vdevtest_free(T);
    T = NULL;
    g_autoptr(GDir) d = g_dir_open(sock_dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(sock_dir, name, NULL);
        g_unlink(p);
    }
    g_rmdir(sock_dir);
    g_clear_pointer(&sock_dir, g_free);
    g_clear_pointer(&sock_path, g_free);
}

/* Bring the driver up: VERSION_1 and STREAM, three queues, DRIVER_OK. */
static void bring_up(void)
{
    ck_assert(vdevtest_offered(T) & F_STREAM);
    vdevtest_bring_up(T, F_STREAM, NQ, QSIZE_USED);
    ck_assert_uint_eq(vdevtest_num_queues(T), NQ);
    for (unsigned q = 0; q < NQ; q++)
        ck_assert_uint_eq(T->queue_max[q], VIRTIO_VSOCK_QUEUE_SIZE);
    /* guest_cid in the device configuration, le64 */
    ck_assert_uint_eq(vdevtest_devcfg_read(T, 0, 4), GUEST_CID);
    ck_assert_uint_eq(vdevtest_devcfg_read(T, 4, 4), 0);
    ck_assert_uint_eq(vdevtest_devcfg_read(T, 0, 1), GUEST_CID);
}

static void post_rx_len(unsigned n, uint32_t len)
{
    for (unsigned i = 0; i < n; i++) {
        uint16_t head;
        Gpa g = vdevtest_post(T, RX, NULL, len, true, &head);
        rx_buf[head] = g;
        rx_posted++;
    }
    vdevtest_kick(T, RX);
}

static void post_rx(unsigned n)
{
    post_rx_len(n, RX_BUF);
}

/* The next rx packet within ms; false if none. */
static bool rx_get_ms(VsockHdr *h, uint8_t *payload, unsigned ms)
{
    uint32_t id, len;
    if (!vdevtest_wait_used(T, RX, &id, &len, ms))
        return false;
    ck_assert_uint_ge(len, VSOCK_HDR_SIZE);
    const uint8_t *p = vdevtest_hva(T, rx_buf[id], len);
    vsock_hdr_decode(h, p);
    ck_assert_uint_eq(len, VSOCK_HDR_SIZE + h->len);
    if (payload)
        memcpy(payload, p + VSOCK_HDR_SIZE, h->len);
    rx_posted--;
    post_rx(1); /* keep the driver's supply up */
    return true;
}

static void rx_expect(VsockHdr *h, uint8_t *payload, uint16_t op)
{
    ck_assert_msg(rx_get_ms(h, payload, WAIT_MS), "no rx packet (wanted %s)", vsock_op_name(op));
    ck_assert_msg(h->op == op, "got %s, wanted %s", vsock_op_name(h->op), vsock_op_name(op));
    ck_assert_uint_eq(h->src_cid, VSOCK_CID_HOST);
    ck_assert_uint_eq(h->dst_cid, GUEST_CID);
    ck_assert_uint_eq(h->type, VSOCK_TYPE_STREAM);
}

/* Put a packet on the tx queue (header and payload in separate descriptors
 * when split) and wait until the device used it. */
static void tx_raw(const uint8_t *bytes, uint32_t len, bool split)
{
    VirtqDriver *d = &T->q[TX];
    Gpa g = virtq_driver_alloc(d, len ? len : 1, 16);
    memcpy(vdevtest_hva(T, g, len ? len : 1), bytes, len);
    VirtqDriverBuf b[2] = { { g, len, false } };
    unsigned n = 1;
    if (split && len > VSOCK_HDR_SIZE) {
        b[0].len = VSOCK_HDR_SIZE;
        b[1] = (VirtqDriverBuf){ g + VSOCK_HDR_SIZE, len - VSOCK_HDR_SIZE, false };
        n = 2;
    }
    virtq_driver_add(d, b, n);
    vdevtest_kick(T, TX);
    uint32_t id, ulen;
    ck_assert_msg(vdevtest_wait_used(T, TX, &id, &ulen, WAIT_MS), "tx packet not consumed");
}

static void tx_send(VsockHdr h, const void *payload, bool split)
{
    uint8_t buf[VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD];
    vsock_hdr_encode(&h, buf);
    uint32_t plen = h.op == VSOCK_OP_RW ? h.len : 0;
    if (plen && payload)
        memcpy(buf + VSOCK_HDR_SIZE, payload, plen);
    tx_raw(buf, VSOCK_HDR_SIZE + plen, split);
}

static VsockHdr guest_hdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t len)
{
    return (VsockHdr){ .src_cid = GUEST_CID, .dst_cid = VSOCK_CID_HOST, .src_port = src_port,
                       .dst_port = dst_port, .len = len, .type = VSOCK_TYPE_STREAM, .op = op,
                       .buf_alloc = 65536 };
}

/* ---- host sockets ---- */

static int unix_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s: %s", path,
                  g_strerror(errno));
    return fd;
}

static int unix_listen(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof sa.sun_path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    return fd;
}

/* Read exactly len bytes within WAIT_MS; returns bytes read (short at EOF). */
static size_t read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, WAIT_MS) <= 0)
            break;
        ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* Whether fd reads EOF (or a reset: closed with our data unread) within ms. */
static bool sees_eof(int fd, unsigned ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, (int)ms) <= 0)
        return false;
    char c;
    return read(fd, &c, 1) <= 0;
}

static void write_all(int fd, const void *buf, size_t len)
{
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
}

/* Host-initiated: connect, CONNECT port, REQUEST -> RESPONSE, "OK <p>\n".
 * Returns the client fd; *local gets the device's host port. */
static int host_connect(uint32_t port, uint32_t *local)
{
    int fd = unix_connect(sock_path);
    g_autofree char *line = g_strdup_printf("CONNECT %u\n", port);
    write_all(fd, line, strlen(line));
    VsockHdr h;
    rx_expect(&h, NULL, VSOCK_OP_REQUEST);
    ck_assert_uint_eq(h.dst_port, port);
    ck_assert_uint_ge(h.src_port, VSOCK_EPHEMERAL_BASE);
    ck_assert_uint_eq(h.buf_alloc, VSOCK_CONN_BUF_ALLOC);
    *local = h.src_port;
    tx_send(guest_hdr(VSOCK_OP_RESPONSE, port, h.src_port, 0), NULL, false);
    char ok[32] = { 0 };
    g_autofree char *want = g_strdup_printf("OK %u\n", h.src_port);
    ck_assert_uint_eq(read_full(fd, ok, strlen(want)), strlen(want));
    ck_assert_str_eq(ok, want);
    return fd;
}

START_TEST(test_host_connect_echo)
{
    bring_up();
    post_rx(16);
    uint32_t local;
    int fd = host_connect(1234, &local);

    /* host -> guest */
    const char msg[] = "hello from the host";
    write_all(fd, msg, sizeof msg);
    uint8_t payload[VSOCK_MAX_PAYLOAD];
    VsockHdr h;
    rx_expect(&h, payload, VSOCK_OP_RW);
    ck_assert_uint_eq(h.src_port, local);
    ck_assert_uint_eq(h.dst_port, 1234);
    ck_assert_uint_eq(h.len, sizeof msg);
    ck_assert_mem_eq(payload, msg, sizeof msg);

    /* guest echoes it back, header and payload in separate descriptors */
    VsockHdr e = guest_hdr(VSOCK_OP_RW, 1234, local, sizeof msg);
    e.fwd_cnt = sizeof msg;
    tx_send(e, payload, true);
    char back[sizeof msg];
    ck_assert_uint_eq(read_full(fd, back, sizeof back), sizeof msg);
    ck_assert_mem_eq(back, msg, sizeof msg);

    /* and a larger transfer both ways */
    static uint8_t big[200000];
    for (unsigned i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 31 + 7);
    write_all(fd, big, sizeof big);
    static uint8_t got[sizeof big];
    size_t n = 0;
    uint32_t fwd = sizeof msg;
    while (n < sizeof big) {
        rx_expect(&h, payload, VSOCK_OP_RW);
        ck_assert_uint_le(h.len, 4096);
        memcpy(got + n, payload, h.len);
        n += h.len;
        fwd += h.len;
        /* the guest consumed it: tell the device */
        if (n % 32768 < 4096) {
            VsockHdr cu = guest_hdr(VSOCK_OP_CREDIT_UPDATE, 1234, local, 0);
            cu.fwd_cnt = fwd;
            tx_send(cu, NULL, false);
        }
    }
    ck_assert_mem_eq(got, big, sizeof big);

    /* The client closes: the guest hears SHUTDOWN, answers with its own
     * full shutdown, and the device finishes with RST. */
    close(fd);
    rx_expect(&h, NULL, VSOCK_OP_SHUTDOWN);
    ck_assert(h.flags & VSOCK_SHUTDOWN_SEND);
    VsockHdr sd = guest_hdr(VSOCK_OP_SHUTDOWN, 1234, local, 0);
    sd.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
    tx_send(sd, NULL, false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    ck_assert_uint_eq(h.src_port, local);
    /* Gone: data on it now gets RST. */
    tx_send(guest_hdr(VSOCK_OP_RW, 1234, local, 3), "abc", false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    ck_assert(!(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET));
}
END_TEST

START_TEST(test_guest_to_host_stream)
{
    /* Guest -> host bulk data with the host reading slowly: the device
     * buffers within its credit and sends credit updates. */
    bring_up();
    post_rx(16);
    uint32_t local;
    int fd = host_connect(42, &local);
    static uint8_t data[600000];
    for (unsigned i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i ^ (i >> 8));
    uint32_t sent = 0, peer_fwd = 0, peer_alloc = VSOCK_CONN_BUF_ALLOC;
    size_t rd = 0;
    static uint8_t got[sizeof data];
    while (rd < sizeof data) {
        /* the guest sends what its credit allows */
        uint32_t credit = vsock_credit_free(peer_alloc, peer_fwd, sent);
        uint32_t chunk = MIN(MIN(credit, 16384u), (uint32_t)sizeof data - sent);
        if (chunk) {
            tx_send(guest_hdr(VSOCK_OP_RW, 42, local, chunk), data + sent, false);
            sent += chunk;
        }
        /* the host reads a little */
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, chunk ? 0 : 50) > 0) {
            ssize_t n = read(fd, got + rd, MIN((size_t)8192, sizeof data - rd));
            ck_assert_int_gt(n, 0);
            rd += (size_t)n;
        }
        /* credit updates from the device */
        VsockHdr h;
        while (rx_get_ms(&h, NULL, 0)) {
            ck_assert_uint_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
            peer_fwd = h.fwd_cnt;
            peer_alloc = h.buf_alloc;
        }
        if (!chunk && rd < sent) {
            /* stalled on credit: ask */
            tx_send(guest_hdr(VSOCK_OP_CREDIT_REQUEST, 42, local, 0), NULL, false);
        }
    }
    ck_assert_mem_eq(got, data, sizeof data);
    close(fd);
}
END_TEST

START_TEST(test_guest_connect)
{
    bring_up();
    post_rx(8);
    g_autofree char *lpath = g_strdup_printf("%s_5000", sock_path);
    int lfd = unix_listen(lpath);

    tx_send(guest_hdr(VSOCK_OP_REQUEST, 777, 5000, 0), NULL, false);
    VsockHdr h;
    rx_expect(&h, NULL, VSOCK_OP_RESPONSE);
    ck_assert_uint_eq(h.src_port, 5000);
    ck_assert_uint_eq(h.dst_port, 777);
    int fd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);

    const char ping[] = "ping from the guest";
    tx_send(guest_hdr(VSOCK_OP_RW, 777, 5000, sizeof ping), ping, false);
    char buf[64];
    ck_assert_uint_eq(read_full(fd, buf, sizeof ping), sizeof ping);
    ck_assert_mem_eq(buf, ping, sizeof ping);
    write_all(fd, buf, sizeof ping); /* the host echoes */
    uint8_t payload[VSOCK_MAX_PAYLOAD];
    rx_expect(&h, payload, VSOCK_OP_RW);
    ck_assert_uint_eq(h.len, sizeof ping);
    ck_assert_mem_eq(payload, ping, sizeof ping);

    /* A second connection from another guest port works alongside. */
    tx_send(guest_hdr(VSOCK_OP_REQUEST, 778, 5000, 0), NULL, false);
    rx_expect(&h, NULL, VSOCK_OP_RESPONSE);
    int fd2 = accept(lfd, NULL, NULL);
    ck_assert_int_ge(fd2, 0);

    /* The guest resets the first: the host sees EOF, nothing is sent back. */
    tx_send(guest_hdr(VSOCK_OP_RST, 777, 5000, 0), NULL, false);
    ck_assert(sees_eof(fd, WAIT_MS));
    /* Half close of the second: guest SHUTDOWN SEND -> host EOF on read,
     * the host can still write. */
    VsockHdr sd = guest_hdr(VSOCK_OP_SHUTDOWN, 778, 5000, 0);
    sd.flags = VSOCK_SHUTDOWN_SEND;
    tx_send(sd, NULL, false);
    ck_assert(sees_eof(fd2, WAIT_MS));
    write_all(fd2, "late", 4);
    rx_expect(&h, payload, VSOCK_OP_RW);
    ck_assert_uint_eq(h.dst_port, 778);
    ck_assert_mem_eq(payload, "late", 4);
    close(fd2); /* host done too: both directions over -> RST */
    rx_expect(&h, NULL, VSOCK_OP_RST);
    ck_assert_uint_eq(h.dst_port, 778);

    /* Nobody listening on 5001: RST. */
    tx_send(guest_hdr(VSOCK_OP_REQUEST, 779, 5001, 0), NULL, false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    ck_assert_uint_eq(h.src_port, 5001);
    ck_assert_uint_eq(h.dst_port, 779);
    close(fd);
    close(lfd);
}
END_TEST

START_TEST(test_host_credit_respected)
{
    bring_up();
    post_rx(8);
    int fd = unix_connect(sock_path);
    write_all(fd, "CONNECT 99\n", 11);
    VsockHdr h;
    rx_expect(&h, NULL, VSOCK_OP_REQUEST);
    uint32_t local = h.src_port;
    VsockHdr r = guest_hdr(VSOCK_OP_RESPONSE, 99, local, 0);
    r.buf_alloc = 8; /* a tiny guest buffer */
    tx_send(r, NULL, false);
    char ok[32] = { 0 };
    g_autofree char *want = g_strdup_printf("OK %u\n", local);
    ck_assert_uint_eq(read_full(fd, ok, strlen(want)), strlen(want));
    ck_assert_str_eq(ok, want);
    write_all(fd, "0123456789abcdefXYZ", 19);
    uint8_t payload[VSOCK_MAX_PAYLOAD];
    rx_expect(&h, payload, VSOCK_OP_RW);
    ck_assert_uint_eq(h.len, 8);
    ck_assert_mem_eq(payload, "01234567", 8);
    ck_assert(!rx_get_ms(&h, NULL, 200)); /* no credit, no more data */
    VsockHdr cu = guest_hdr(VSOCK_OP_CREDIT_UPDATE, 99, local, 0);
    cu.buf_alloc = 8;
    cu.fwd_cnt = 8;
    tx_send(cu, NULL, false);
    rx_expect(&h, payload, VSOCK_OP_RW);
    ck_assert_uint_eq(h.len, 8);
    ck_assert_mem_eq(payload, "89abcdef", 8);
    /* CREDIT_REQUEST gets our credit. */
    tx_send(guest_hdr(VSOCK_OP_CREDIT_REQUEST, 99, local, 0), NULL, false);
    rx_expect(&h, NULL, VSOCK_OP_CREDIT_UPDATE);
    ck_assert_uint_eq(h.buf_alloc, VSOCK_CONN_BUF_ALLOC);
    close(fd);
}
END_TEST

START_TEST(test_handshake_failures)
{
    bring_up();
    post_rx(8);
    VsockHdr h;
    /* A malformed line: closed. */
    int fd = unix_connect(sock_path);
    write_all(fd, "HELLO 1\n", 8);
    ck_assert(sees_eof(fd, WAIT_MS));
    close(fd);
    fd = unix_connect(sock_path);
    write_all(fd, "CONNECT 99999999999\n", 20);
    ck_assert(sees_eof(fd, WAIT_MS));
    close(fd);
    /* A line that never ends: closed once too long. */
    fd = unix_connect(sock_path);
    write_all(fd, "CONNECT 1111111111111111111111111111111111111", 45);
    ck_assert(sees_eof(fd, WAIT_MS));
    close(fd);
    ck_assert(!rx_get_ms(&h, NULL, 100)); /* none of these reached the guest */
    /* The guest refuses: the client is closed without OK. */
    fd = unix_connect(sock_path);
    write_all(fd, "CONNECT 7\r\n", 11);
    rx_expect(&h, NULL, VSOCK_OP_REQUEST);
    ck_assert_uint_eq(h.dst_port, 7);
    tx_send(guest_hdr(VSOCK_OP_RST, 7, h.src_port, 0), NULL, false);
    ck_assert(sees_eof(fd, WAIT_MS));
    close(fd);
    /* The guest never answers: RST to the guest and the client closed. */
    fd = unix_connect(sock_path);
    write_all(fd, "CONNECT 8\n", 10);
    rx_expect(&h, NULL, VSOCK_OP_REQUEST);
    uint32_t local = h.src_port;
    ck_assert(sees_eof(fd, VIRTIO_VSOCK_HANDSHAKE_MS + 2000));
    rx_expect(&h, NULL, VSOCK_OP_RST);
    ck_assert_uint_eq(h.src_port, local);
    close(fd);
}
END_TEST

START_TEST(test_no_driver_refuses)
{
    /* Before DRIVER_OK a CONNECT is refused (closed), not left hanging. */
    int fd = unix_connect(sock_path);
    write_all(fd, "CONNECT 1\n", 10);
    ck_assert(sees_eof(fd, WAIT_MS));
    close(fd);
}
END_TEST

START_TEST(test_hostile_packets)
{
    bring_up();
    post_rx(16);
    VsockHdr h;
    /* Wrong destination or spoofed source: ignored, no answer. */
    VsockHdr p = guest_hdr(VSOCK_OP_REQUEST, 1, 5000, 0);
    p.dst_cid = 7;
    tx_send(p, NULL, false);
    p = guest_hdr(VSOCK_OP_REQUEST, 1, 5000, 0);
    p.src_cid = 9;
    tx_send(p, NULL, false);
    /* Shorter than a header: dropped. */
    tx_raw((const uint8_t *)"short", 5, false);
    ck_assert(!rx_get_ms(&h, NULL, 100));
    /* Unknown op, bad type, length beyond the buffer, RW on nothing: RST. */
    tx_send(guest_hdr(99, 2, 3, 0), NULL, false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    ck_assert_uint_eq(h.src_port, 3);
    ck_assert_uint_eq(h.dst_port, 2);
    p = guest_hdr(VSOCK_OP_REQUEST, 4, 5, 0);
    p.type = 2;
    tx_send(p, NULL, false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    uint8_t raw[VSOCK_HDR_SIZE + 4];
    p = guest_hdr(VSOCK_OP_RW, 6, 7, 1000000);
    vsock_hdr_encode(&p, raw);
    tx_raw(raw, sizeof raw, false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    tx_send(guest_hdr(VSOCK_OP_RW, 8, 9, 2), "hi", false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
    /* Never an RST in answer to an RST. */
    tx_send(guest_hdr(VSOCK_OP_RST, 10, 11, 0), NULL, false);
    ck_assert(!rx_get_ms(&h, NULL, 100));

    /* A guest overrunning its credit on a live connection is reset. */
    uint32_t local;
    int fd = host_connect(1234, &local);
    static uint8_t blob[VSOCK_MAX_PAYLOAD];
    bool reset = false;
    for (unsigned i = 0; i < 64 && !reset; i++) {
        tx_send(guest_hdr(VSOCK_OP_RW, 1234, local, sizeof blob), blob, false);
        while (rx_get_ms(&h, NULL, 0)) {
            if (h.op == VSOCK_OP_RST)
                reset = true;
        }
    }
    ck_assert_msg(reset, "credit overrun not reset");
    ck_assert(!(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET));
    close(fd);

    /* Random headers on random ports: never a crash; the device lives on. */
    GRand *rnd = g_rand_new_with_seed(1234);
    for (unsigned i = 0; i < 400; i++) {
        uint8_t pkt[VSOCK_HDR_SIZE + 64];
        for (unsigned k = 0; k < sizeof pkt; k++)
            pkt[k] = (uint8_t)g_rand_int(rnd);
        VsockHdr r;
        vsock_hdr_decode(&r, pkt);
        r.src_cid = g_rand_boolean(rnd) ? GUEST_CID : r.src_cid;
        r.dst_cid = g_rand_boolean(rnd) ? VSOCK_CID_HOST : r.dst_cid;
        r.type = g_rand_boolean(rnd) ? VSOCK_TYPE_STREAM : r.type;
        r.op = (uint16_t)g_rand_int_range(rnd, 0, 10);
        r.dst_port = g_rand_int_range(rnd, 5000, 5003);
        r.src_port = g_rand_int_range(rnd, 1, 4);
        r.len = g_rand_int_range(rnd, 0, 100);
        vsock_hdr_encode(&r, pkt);
        tx_raw(pkt, g_rand_int_range(rnd, 0, sizeof pkt + 1), g_rand_boolean(rnd));
        while (rx_get_ms(&h, NULL, 0))
            ;
    }
    g_rand_free(rnd);
    ck_assert(!(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET));
    /* still working */
    tx_send(guest_hdr(VSOCK_OP_RW, 40, 41, 1), "x", false);
    rx_expect(&h, NULL, VSOCK_OP_RST);
}
END_TEST

START_TEST(test_broken_rx_buffer)
{
    /* An rx buffer that cannot hold a header: NEEDS_RESET, no overflow. */
    bring_up();
    post_rx_len(1, 16);
    tx_send(guest_hdr(VSOCK_OP_RW, 1, 2, 0), NULL, false);
    vdevtest_wait_status(T, VIRTIO_STATUS_NEEDS_RESET, WAIT_MS);
    ck_assert(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET);
    /* A driver reset brings it back. */
    rx_posted = 0;
    bring_up();
    post_rx(4);
    tx_send(guest_hdr(VSOCK_OP_RW, 1, 2, 0), NULL, false);
    VsockHdr h;
    rx_expect(&h, NULL, VSOCK_OP_RST);
}
END_TEST

START_TEST(test_broken_tx_ring)
{
    bring_up();
    post_rx(4);
    virtq_driver_set_avail_idx(&T->q[TX], (uint16_t)(T->q[TX].avail_idx + 1000));
    vdevtest_kick(T, TX);
    vdevtest_wait_status(T, VIRTIO_STATUS_NEEDS_RESET, WAIT_MS);
    ck_assert(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET);
}
END_TEST

START_TEST(test_reset_drops_connections)
{
    bring_up();
    post_rx(8);
    uint32_t local;
    int fd = host_connect(1234, &local);
    vdevtest_set_status(T, 0); /* driver reset */
    ck_assert(sees_eof(fd, WAIT_MS));
    close(fd);
}
END_TEST

START_TEST(test_pause_resume)
{
    bring_up();
    post_rx(8);
    uint32_t local;
    int fd = host_connect(1234, &local);
    g_autoptr(GError) err = NULL;
    Device *d = &T->vdev->pci.dev;
    ck_assert(d->ops->pause(d, &err));
    write_all(fd, "while paused", 12);
    VsockHdr h;
    ck_assert(!rx_get_ms(&h, NULL, 200)); /* guest memory untouched */
    ck_assert(d->ops->resume(d, &err));
    uint8_t payload[VSOCK_MAX_PAYLOAD];
    rx_expect(&h, payload, VSOCK_OP_RW);
    ck_assert_mem_eq(payload, "while paused", 12);
    close(fd);
}
END_TEST

/* ---- the socket path ---- */

static void machine_only_setup(void)
{
    setup_machine();
}

START_TEST(test_socket_path_rules)
{
    g_autoptr(GError) err = NULL;
    /* A regular file: refused, left alone. */
    ck_assert(g_file_set_contents(sock_path, "keep", 4, NULL));
    ck_assert(!create_device(sock_path, GUEST_CID, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "not a socket"));
    g_clear_error(&err);
    g_autofree char *content = NULL;
    ck_assert(g_file_get_contents(sock_path, &content, NULL, NULL));
    ck_assert_str_eq(content, "keep");
    g_unlink(sock_path);
    /* A live socket: refused. */
    int live = unix_listen(sock_path);
    ck_assert(!create_device(sock_path, GUEST_CID, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "in use"));
    g_clear_error(&err);
    close(live);
    /* Now stale (nobody listens): replaced. */
    ck_assert_msg(create_device(sock_path, GUEST_CID, &err), "%s", err ? err->message : "?");
    struct stat st;
    ck_assert_int_eq(stat(sock_path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    int fd = unix_connect(sock_path);
    close(fd);
    /* A bad CID or no path: refused. */
    g_autofree char *p2 = g_build_filename(sock_dir, "w.sock", NULL);
    ck_assert(!create_device(p2, 2, &err));
    g_clear_error(&err);
    ck_assert(!create_device(p2, 1ull << 32, &err));
    g_clear_error(&err);
    ck_assert(!create_device("", GUEST_CID, &err));
    g_clear_error(&err);
    g_autofree char *longp = g_strnfill(200, 'x');
    ck_assert(!create_device(longp, GUEST_CID, &err));
    g_clear_error(&err);
    /* Unrealize removes the socket. */
    vm_free(T->vm);
    T->vm = NULL;
    ck_assert_int_ne(stat(sock_path, &st), 0);
}
END_TEST

static Suite *vsock_suite(void)
{
    Suite *s = suite_create("virtio_vsock");
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_host_connect_echo);
    tcase_add_test(tc, test_guest_to_host_stream);
    tcase_add_test(tc, test_guest_connect);
    tcase_add_test(tc, test_host_credit_respected);
    tcase_add_test(tc, test_handshake_failures);
    tcase_add_test(tc, test_no_driver_refuses);
    tcase_add_test(tc, test_hostile_packets);
    tcase_add_test(tc, test_broken_rx_buffer);
    tcase_add_test(tc, test_broken_tx_ring);
    tcase_add_test(tc, test_reset_drops_connections);
    tcase_add_test(tc, test_pause_resume);
    suite_add_tcase(s, tc);

    tc = tcase_create("socket");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, machine_only_setup, teardown);
    tcase_add_test(tc, test_socket_path_rules);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(vsock_suite)
