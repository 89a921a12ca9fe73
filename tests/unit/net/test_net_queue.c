/* The virtio-net queue-pair data path (devices/virtio/net/net_queue.c)
 * without a transport: real split virtqueues on guarded fake guest RAM,
 * driven by the test driver (support/virtq_driver.h), and an AF_UNIX
 * SOCK_SEQPACKET pair standing in for the tap (it keeps frame boundaries). */
#include "devices/virtio/net/net_packet.h"
#include "devices/virtio/net/net_queue.h"
#include "hypervisor/le.h"
#include "support/check_main.h"
#include "support/virtq_driver.h"

#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAM_SIZE (8ull << 20)
#define RX_RINGS 0x10000ull
#define TX_RINGS 0x30000ull
#define RX_DATA (1ull << 20)
#define RX_DATA_SIZE (3ull << 20)
#define TX_DATA (4ull << 20)
#define TX_DATA_SIZE (4ull << 20)
#define QMAX 256

typedef struct Env {
    GuestMemory *mem;
    GuardedRam ram;
    RateLimit rl;
    VirtQueue rxq, txq;
    VirtqDriver rxd, txd;
    Gpa rx_gpa[QMAX]; /* buffer of each receive head */
    EventLoop *loop;
    int sv[2]; /* sv[0]: the "tap" the queue uses; sv[1]: the host side */
    NetCounters ctr;
    NetQueue q;
    unsigned notify_rx, notify_tx;
    unsigned broken;
} Env;

static Env env;

static void hook_notify(void *opaque, VirtQueue *vq)
{
    if (vq == &env.rxq)
        env.notify_rx++;
    else if (vq == &env.txq)
        env.notify_tx++;
}

static void hook_broken(void *opaque, const char *why)
{
    env.broken++;
}

static const NetQueueHooks hooks = { .notify = hook_notify, .broken = hook_broken };

static void setup(void)
{
    memset(&env, 0, sizeof env);
    env.mem = memory_new(NULL);
    virtq_driver_guarded_ram(env.mem, 0, RAM_SIZE, &env.ram);
    ratelimit_init(&env.rl, 1000, 5);
    env.loop = evloop_new("net-test");
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, env.sv),
                     0);
    int sz = 1 << 20;
    setsockopt(env.sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(env.sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
}

static void teardown(void)
{
    net_queue_free(&env.q);
    close(env.sv[0]);
    close(env.sv[1]);
    evloop_free(env.loop);
    memory_free(env.mem);
    virtq_driver_guarded_ram_free(&env.ram);
    ratelimit_clear(&env.rl);
}

static void queue_up(VirtQueue *vq, VirtqDriver *d, const char *name, Gpa rings, Gpa data,
                     uint64_t data_size, uint16_t size, uint64_t ring_features)
{
    virtq_init(vq, env.mem, name, &env.rl, QMAX);
    virtq_driver_init(d, env.mem, size, rings, data, data_size);
    ck_assert_int_eq(virtq_set_size(vq, size), VIRTQ_OK);
    ck_assert_int_eq(virtq_set_addresses(vq, d->desc, d->avail, d->used), VIRTQ_OK);
    virtq_set_features(vq, ring_features);
    ck_assert_int_eq(virtq_enable(vq), VIRTQ_OK);
}

/* Queues of `size`, the NetQueue wired to them, not started. */
static void env_queues(uint16_t size, uint64_t features)
{
    uint64_t ring = features & (VIRTQ_F_EVENT_IDX | VIRTQ_F_INDIRECT_DESC);
    queue_up(&env.rxq, &env.rxd, "rx", RX_RINGS, RX_DATA, RX_DATA_SIZE, size, ring);
    queue_up(&env.txq, &env.txd, "tx", TX_RINGS, TX_DATA, TX_DATA_SIZE, size, ring);
    env.q = (NetQueue){
        .rxq = &env.rxq,
        .txq = &env.txq,
        .rx_fd = env.sv[0],
        .tx_fd = env.sv[0],
        .loop = env.loop,
        .hooks = &hooks,
        .opaque = &env,
        .counters = &env.ctr,
        .rl = &env.rl,
        .name = "test-net",
        .features = features,
    };
}

static void pump(void)
{
    GMainContext *ctx = evloop_context(env.loop);
    for (int i = 0; i < 10000 && g_main_context_iteration(ctx, FALSE); i++)
        ;
}

/* One writable receive buffer of `len` bytes. */
static uint16_t rx_post(uint32_t len)
{
    VirtqDriverBuf b = { virtq_driver_alloc(&env.rxd, len, 16), len, true };
    virtq_driver_fill(&env.rxd, b.gpa, 0xAA, len);
    uint16_t head = virtq_driver_add(&env.rxd, &b, 1);
    env.rx_gpa[head] = b.gpa;
    return head;
}

/* Send a frame from the host side: header + payload pattern seeded by `seed`. */
static void host_send(size_t payload, uint8_t seed, uint8_t flags)
{
    g_autofree uint8_t *f = g_malloc0(NET_HDR_LEN + payload);
    f[NET_HDR_OFF_FLAGS] = flags;
    for (size_t i = 0; i < payload; i++)
        f[NET_HDR_LEN + i] = (uint8_t)(seed + i);
    ck_assert_int_eq(send(env.sv[1], f, NET_HDR_LEN + payload, 0), (ssize_t)(NET_HDR_LEN + payload));
}

static ssize_t host_recv(uint8_t *buf, size_t len)
{
    return recv(env.sv[1], buf, len, MSG_DONTWAIT);
}

static void check_payload(const uint8_t *p, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        ck_assert_msg(p[i] == (uint8_t)(seed + i), "byte %zu: %u != %u", i, p[i],
                      (uint8_t)(seed + i));
}

/* ---- receive ---- */

START_TEST(test_rx_delivers)
{
    env_queues(16, 0);
    for (int i = 0; i < 4; i++)
        rx_post(2048);
    net_queue_start(&env.q, true);
    for (int i = 0; i < 3; i++)
        host_send(60 + i, (uint8_t)(i * 10), 0);
    pump();
    for (int i = 0; i < 3; i++) {
        uint32_t id, len;
        ck_assert(virtq_driver_get_used(&env.rxd, &id, &len));
        ck_assert_uint_eq(len, NET_HDR_LEN + 60 + i);
        uint8_t buf[128];
        ck_assert(memory_read(env.mem, env.rx_gpa[id], buf, len));
        ck_assert_uint_eq(le_load16(buf + NET_HDR_OFF_NUM_BUFFERS), 1);
        check_payload(buf + NET_HDR_LEN, 60 + i, (uint8_t)(i * 10));
    }
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&env.rxd, &id, &len));
    ck_assert_uint_ge(env.notify_rx, 1);
    ck_assert_uint_eq(env.ctr.rx_frames, 3);
    ck_assert_uint_eq(env.ctr.rx_bytes, 60 + 61 + 62);
    ck_assert_uint_eq(env.broken, 0);
}
END_TEST

START_TEST(test_rx_mergeable)
{
    env_queues(16, NET_FEATURE(VIRTIO_NET_F_MRG_RXBUF));
    for (int i = 0; i < 8; i++)
        rx_post(256);
    net_queue_start(&env.q, true);
    host_send(600, 7, 0); /* 612 bytes: 256 + 256 + 100 */
    pump();
    uint32_t ids[3], lens[3];
    for (int i = 0; i < 3; i++)
        ck_assert(virtq_driver_get_used(&env.rxd, &ids[i], &lens[i]));
    ck_assert_uint_eq(lens[0], 256);
    ck_assert_uint_eq(lens[1], 256);
    ck_assert_uint_eq(lens[2], 100);
    uint8_t buf[612];
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert(memory_read(env.mem, env.rx_gpa[ids[i]], buf + off, lens[i]));
        off += lens[i];
    }
    ck_assert_uint_eq(le_load16(buf + NET_HDR_OFF_NUM_BUFFERS), 3);
    check_payload(buf + NET_HDR_LEN, 600, 7);
    ck_assert_uint_eq(env.notify_rx, 1); /* one interrupt decision per batch */
}
END_TEST

START_TEST(test_rx_waits_for_buffers)
{
    env_queues(16, 0);
    net_queue_start(&env.q, true);
    host_send(40, 1, 0);
    host_send(41, 2, 0);
    pump();
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&env.rxd, &id, &len));
    ck_assert_ptr_null(env.q.rx_watch); /* stopped watching the tap */
    ck_assert_uint_eq(env.q.rx_len, NET_HDR_LEN + 40);
    pump();
    rx_post(128);
    rx_post(128);
    net_queue_rx_kick(&env.q); /* the guest's receive kick */
    pump();
    ck_assert(virtq_driver_get_used(&env.rxd, &id, &len));
    ck_assert_uint_eq(len, NET_HDR_LEN + 40);
    ck_assert(virtq_driver_get_used(&env.rxd, &id, &len));
    ck_assert_uint_eq(len, NET_HDR_LEN + 41);
    ck_assert_uint_eq(env.ctr.rx_frames, 2);
    ck_assert_uint_eq(env.ctr.rx_dropped, 0);
    /* Out of buffers again, one frame waiting. */
    host_send(42, 3, 0);
    pump();
    ck_assert_ptr_null(env.q.rx_watch);
    /* A stop that keeps the frame, a start after: still delivered. */
    net_queue_stop(&env.q, false);
    rx_post(128);
    net_queue_start(&env.q, true);
    pump();
    ck_assert(virtq_driver_get_used(&env.rxd, &id, &len));
    ck_assert_uint_eq(len, NET_HDR_LEN + 42);
}
END_TEST

START_TEST(test_rx_too_small_dropped)
{
    env_queues(16, 0);
    uint16_t head = rx_post(40);
    net_queue_start(&env.q, true);
    host_send(100, 1, 0); /* does not fit: dropped, buffer kept */
    host_send(20, 9, 0);  /* fits */
    pump();
    uint32_t id, len;
    ck_assert(virtq_driver_get_used(&env.rxd, &id, &len));
    ck_assert_uint_eq(id, head);
    ck_assert_uint_eq(len, NET_HDR_LEN + 20);
    ck_assert_uint_eq(env.ctr.rx_dropped, 1);
    ck_assert_uint_eq(env.ctr.rx_frames, 1);
    ck_assert_uint_eq(env.broken, 0);
}
END_TEST

START_TEST(test_rx_mrg_queue_cannot_hold_frame)
{
    /* 4 buffers of 64 bytes can never hold 1000 bytes: drop, don't spin. */
    env_queues(4, NET_FEATURE(VIRTIO_NET_F_MRG_RXBUF));
    for (int i = 0; i < 4; i++)
        rx_post(64);
    net_queue_start(&env.q, true);
    host_send(1000, 0, 0);
    host_send(30, 5, 0);
    pump();
    uint32_t id, len;
    ck_assert(virtq_driver_get_used(&env.rxd, &id, &len));
    ck_assert_uint_eq(len, NET_HDR_LEN + 30);
    ck_assert_uint_eq(env.ctr.rx_dropped, 1);
}
END_TEST

START_TEST(test_rx_short_frame_dropped)
{
    env_queues(16, 0);
    rx_post(128);
    net_queue_start(&env.q, true);
    uint8_t tiny[5] = { 0 };
    ck_assert_int_eq(send(env.sv[1], tiny, sizeof tiny, 0), 5);
    pump();
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&env.rxd, &id, &len));
    ck_assert_uint_eq(env.ctr.rx_dropped, 1);
}
END_TEST

START_TEST(test_rx_buffer_below_header_breaks)
{
    env_queues(16, NET_FEATURE(VIRTIO_NET_F_MRG_RXBUF));
    rx_post(8);
    net_queue_start(&env.q, true);
    host_send(20, 0, 0);
    pump();
    ck_assert_uint_eq(env.broken, 1);
    ck_assert(!env.q.running);
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&env.rxd, &id, &len));
}
END_TEST

START_TEST(test_rx_broken_ring)
{
    env_queues(16, 0);
    rx_post(128);
    virtq_driver_set_avail_idx(&env.rxd, 100); /* far more than the queue size */
    net_queue_start(&env.q, true);
    host_send(20, 0, 0);
    pump();
    ck_assert_uint_eq(env.broken, 1);
    ck_assert_ptr_null(env.q.rx_watch);
}
END_TEST

START_TEST(test_rx_off_until_enabled)
{
    env_queues(16, 0);
    rx_post(128);
    net_queue_start(&env.q, false);
    host_send(20, 0, 0);
    pump();
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&env.rxd, &id, &len));
    net_queue_rx_kick(&env.q); /* kicks do not turn receive on */
    pump();
    ck_assert(!virtq_driver_get_used(&env.rxd, &id, &len));
    net_queue_set_rx(&env.q, true);
    pump();
    ck_assert(virtq_driver_get_used(&env.rxd, &id, &len));
}
END_TEST

/* ---- transmit ---- */

/* A transmit chain: header (flags, gso) in one descriptor, payload in two. */
static uint16_t tx_add(size_t payload, uint8_t seed, uint8_t flags, uint8_t gso)
{
    uint8_t hdr[NET_HDR_LEN] = { 0 };
    hdr[NET_HDR_OFF_FLAGS] = flags;
    hdr[NET_HDR_OFF_GSO_TYPE] = gso;
    g_autofree uint8_t *p = g_malloc(payload + 1);
    for (size_t i = 0; i < payload; i++)
        p[i] = (uint8_t)(seed + i);
    size_t a = payload / 2, b = payload - a;
    VirtqDriverBuf bufs[3] = {
        { virtq_driver_alloc(&env.txd, NET_HDR_LEN, 16), NET_HDR_LEN, false },
        { virtq_driver_alloc(&env.txd, a ? a : 1, 16), (uint32_t)a, false },
        { virtq_driver_alloc(&env.txd, b ? b : 1, 16), (uint32_t)b, false },
    };
    ck_assert(memory_write(env.mem, bufs[0].gpa, hdr, sizeof hdr));
    ck_assert(memory_write(env.mem, bufs[1].gpa, p, a));
    ck_assert(memory_write(env.mem, bufs[2].gpa, p + a, b));
    return virtq_driver_add(&env.txd, bufs, 3);
}

/* A transmit chain in one descriptor (header + payload). */
static uint16_t tx_add_flat(size_t payload, uint8_t seed)
{
    g_autofree uint8_t *f = g_malloc0(NET_HDR_LEN + payload);
    for (size_t i = 0; i < payload; i++)
        f[NET_HDR_LEN + i] = (uint8_t)(seed + i);
    VirtqDriverBuf b = { virtq_driver_alloc(&env.txd, NET_HDR_LEN + payload, 16),
                         (uint32_t)(NET_HDR_LEN + payload), false };
    ck_assert(memory_write(env.mem, b.gpa, f, NET_HDR_LEN + payload));
    return virtq_driver_add(&env.txd, &b, 1);
}

START_TEST(test_tx_sends)
{
    env_queues(16, 0);
    net_queue_start(&env.q, false);
    for (int i = 0; i < 3; i++)
        tx_add(100 + i, (uint8_t)i, 0, 0);
    net_queue_tx_kick(&env.q);
    for (int i = 0; i < 3; i++) {
        uint8_t buf[256];
        ck_assert_int_eq(host_recv(buf, sizeof buf), NET_HDR_LEN + 100 + i);
        check_payload(buf + NET_HDR_LEN, 100 + i, (uint8_t)i);
        uint32_t id, len;
        ck_assert(virtq_driver_get_used(&env.txd, &id, &len));
        ck_assert_uint_eq(len, 0);
    }
    uint8_t buf[16];
    ck_assert_int_eq(host_recv(buf, sizeof buf), -1);
    ck_assert_uint_eq(env.notify_tx, 1);
    ck_assert_uint_eq(env.ctr.tx_frames, 3);
    ck_assert_uint_eq(env.ctr.tx_bytes, 100 + 101 + 102);
}
END_TEST

START_TEST(test_tx_hostile_chains_dropped)
{
    env_queues(16, NET_FEATURE(VIRTIO_NET_F_CSUM));
    net_queue_start(&env.q, false);
    /* Header shorter than 12 bytes. */
    VirtqDriverBuf shortb = { virtq_driver_alloc(&env.txd, 6, 16), 6, false };
    virtq_driver_add(&env.txd, &shortb, 1);
    /* GSO without HOST_TSO4. */
    tx_add(200, 0, NET_HDR_F_NEEDS_CSUM, NET_HDR_GSO_TCPV4);
    /* More than 64 KiB. */
    VirtqDriverBuf big[2] = {
        { virtq_driver_alloc(&env.txd, 40000, 16), 40000, false },
        { virtq_driver_alloc(&env.txd, 40000, 16), 40000, false },
    };
    virtq_driver_add(&env.txd, big, 2);
    /* A readable header plus a writable descriptor: the writable part is ignored. */
    VirtqDriverBuf mixed[2] = {
        { virtq_driver_alloc(&env.txd, 12 + 30, 16), 12 + 30, false },
        { virtq_driver_alloc(&env.txd, 64, 16), 64, true },
    };
    virtq_driver_fill(&env.txd, mixed[0].gpa, 0, 12 + 30);
    virtq_driver_add(&env.txd, mixed, 2);
    /* And a good one, with a partial checksum (CSUM negotiated). */
    tx_add(50, 3, NET_HDR_F_NEEDS_CSUM, 0);
    net_queue_tx_kick(&env.q);

    for (int i = 0; i < 5; i++) {
        uint32_t id, len;
        ck_assert(virtq_driver_get_used(&env.txd, &id, &len));
        ck_assert_uint_eq(len, 0);
    }
    uint8_t buf[128];
    ck_assert_int_eq(host_recv(buf, sizeof buf), 12 + 30);
    ck_assert_int_eq(host_recv(buf, sizeof buf), NET_HDR_LEN + 50);
    check_payload(buf + NET_HDR_LEN, 50, 3);
    ck_assert_int_eq(host_recv(buf, sizeof buf), -1);
    ck_assert_uint_eq(env.ctr.tx_dropped, 3);
    ck_assert_uint_eq(env.ctr.tx_frames, 2);
    ck_assert_uint_eq(env.broken, 0);
}
END_TEST

START_TEST(test_tx_bounded_batches)
{
    env_queues(128, 0);
    net_queue_start(&env.q, false);
    for (int i = 0; i < 100; i++)
        tx_add_flat(20, (uint8_t)i);
    net_queue_tx_kick(&env.q);
    /* One kick does at most a budget's worth, then yields to the loop. */
    ck_assert_uint_eq(env.ctr.tx_frames, NET_QUEUE_BUDGET);
    ck_assert_uint_eq(virtq_driver_used_idx(&env.txd), NET_QUEUE_BUDGET);
    ck_assert_ptr_nonnull(env.q.tx_later);
    pump();
    ck_assert_uint_eq(env.ctr.tx_frames, 100);
    ck_assert_uint_eq(virtq_driver_used_idx(&env.txd), 100);
    ck_assert_uint_eq(env.notify_tx, 2);
    for (int i = 0; i < 100; i++) {
        uint8_t buf[64];
        ck_assert_int_eq(host_recv(buf, sizeof buf), NET_HDR_LEN + 20);
        check_payload(buf + NET_HDR_LEN, 20, (uint8_t)i);
    }
}
END_TEST

START_TEST(test_tx_waits_when_full)
{
    env_queues(64, 0);
    int sz = 4096; /* a small send buffer fills fast */
    ck_assert_int_eq(setsockopt(env.sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
    net_queue_start(&env.q, false);
    for (int i = 0; i < 40; i++)
        tx_add_flat(1000, (uint8_t)i);
    net_queue_tx_kick(&env.q);
    pump();
    /* The host side reads nothing yet: the socket fills up (EAGAIN). */
    unsigned sent = (unsigned)env.ctr.tx_frames;
    ck_assert_uint_lt(sent, 40);
    ck_assert_ptr_nonnull(env.q.tx_watch);
    ck_assert_uint_eq(virtq_driver_used_idx(&env.txd), sent);
    /* Drain the host side as the device refills it. */
    unsigned got = 0;
    for (int round = 0; round < 1000 && got < 40; round++) {
        uint8_t buf[2048];
        while (host_recv(buf, sizeof buf) > 0) {
            check_payload(buf + NET_HDR_LEN, 1000, (uint8_t)got);
            got++;
        }
        pump();
    }
    ck_assert_uint_eq(got, 40);
    ck_assert_uint_eq(env.ctr.tx_frames, 40);
    ck_assert_uint_eq(env.ctr.tx_dropped, 0);
    ck_assert_uint_eq(virtq_driver_used_idx(&env.txd), 40);
}
END_TEST

START_TEST(test_tx_broken_ring)
{
    env_queues(16, 0);
    net_queue_start(&env.q, false);
    virtq_driver_set_avail_idx(&env.txd, 1);
    virtq_driver_set_avail_slot(&env.txd, 0, 200); /* head out of range */
    net_queue_tx_kick(&env.q);
    ck_assert_uint_eq(env.broken, 1);
    ck_assert(!env.q.running);
    net_queue_tx_kick(&env.q); /* stopped: nothing happens */
    ck_assert_uint_eq(env.broken, 1);
}
END_TEST

START_TEST(test_stopped_does_nothing)
{
    env_queues(16, 0);
    rx_post(128);
    tx_add(10, 0, 0, 0);
    net_queue_tx_kick(&env.q); /* never started */
    net_queue_rx_kick(&env.q);
    host_send(10, 0, 0);
    pump();
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&env.rxd, &id, &len));
    ck_assert(!virtq_driver_get_used(&env.txd, &id, &len));
}
END_TEST

static Suite *net_queue_suite(void)
{
    Suite *s = suite_create("net_queue");
    TCase *rx = tcase_create("rx");
    tcase_set_timeout(rx, 30);
    tcase_add_checked_fixture(rx, setup, teardown);
    tcase_add_test(rx, test_rx_delivers);
    tcase_add_test(rx, test_rx_mergeable);
    tcase_add_test(rx, test_rx_waits_for_buffers);
    tcase_add_test(rx, test_rx_too_small_dropped);
    tcase_add_test(rx, test_rx_mrg_queue_cannot_hold_frame);
    tcase_add_test(rx, test_rx_short_frame_dropped);
    tcase_add_test(rx, test_rx_buffer_below_header_breaks);
    tcase_add_test(rx, test_rx_broken_ring);
    tcase_add_test(rx, test_rx_off_until_enabled);
    suite_add_tcase(s, rx);

    TCase *tx = tcase_create("tx");
    tcase_set_timeout(tx, 30);
    tcase_add_checked_fixture(tx, setup, teardown);
    tcase_add_test(tx, test_tx_sends);
    tcase_add_test(tx, test_tx_hostile_chains_dropped);
    tcase_add_test(tx, test_tx_bounded_batches);
    tcase_add_test(tx, test_tx_waits_when_full);
    tcase_add_test(tx, test_tx_broken_ring);
    tcase_add_test(tx, test_stopped_does_nothing);
    suite_add_tcase(s, tx);
    return s;
}

CHECK_MAIN(net_queue_suite)
