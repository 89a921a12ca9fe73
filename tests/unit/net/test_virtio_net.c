/* virtio-net end to end: the test plays the guest driver through ECAM and
 * BAR accesses (tests/unit/virtio/vdevtest.c), with split virtqueues in
 * guarded guest RAM, the device's I/O thread doing the work, and a real tap
 * made by the device whose other side the test reaches through an AF_PACKET
 * socket. Each test runs in its own process and, as root, in a private
 * network namespace. Skipped (77) without a usable tap. */
#include "devices/net/tap.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/net/net_packet.h"
#include "devices/virtio/virtio.h"
#include "hypervisor/le.h"
#include "support/check_main.h"
#include "vdevtest.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAM_SIZE (8ull << 20)

static VdevTest *T;

static void setup(void)
{
    T = vdevtest_new(VDEV_RAM_GUARDED, RAM_SIZE);
}

/* Create the NIC on a new tap (after setup). */
static void create_nic(uint32_t num_queues)
{
    NetConfig nc = { .ip = (char *)"10.211.79.1", .mask = (char *)"255.255.255.0",
                     .mac = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 }, .mac_set = true,
                     .num_queues = num_queues, .queue_size = 128 };
    vdevtest_add(T, &virtio_net_ops, "net0", &nc);
    ck_assert_uint_eq(vdevtest_cfg_read(T, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_NET);
    ck_assert_uint_ne(T->device, 0);
}

static void teardown(void)
{
    vdevtest_free(T);
    T = NULL;
}

/* MSI-X, features, queues 0..nqueues-1 of 64 entries, DRIVER_OK. */
static void bring_up(uint64_t features, unsigned nqueues)
{
    vdevtest_msix_enable(T);
    vdevtest_bring_up(T, features, nqueues, 64);
}

static bool wait_used(unsigned q, uint32_t *id, uint32_t *len)
{
    return vdevtest_wait_used(T, (uint16_t)q, id, len, VDEV_WAIT_MS);
}

static bool wait_status(uint8_t bit)
{
    return vdevtest_wait_status(T, bit, VDEV_WAIT_MS);
}

#define TEST_ETHERTYPE 0x88b5
#define F(x) NET_FEATURE(VIRTIO_NET_F_##x)
#define BASE_FEATURES                                                                     \
    ((1ull << VIRTIO_F_VERSION_1) | F(MAC) | F(STATUS) | F(MRG_RXBUF) | F(CSUM) |         \
     F(GUEST_CSUM))

static void net_setup(void)
{
    if (unshare(CLONE_NEWNET) == 0) {
        /* Keep IPv6 autoconfiguration chatter off the new tap. */
        int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY);
        if (fd >= 0) {
            (void)!write(fd, "1", 1);
            close(fd);
        }
    }
    setup();
}

static int packet_socket(void)
{
    const char *ifname = virtio_net_tap_name(&T->vdev->pci.dev);
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(TEST_ETHERTYPE));
    ck_assert_msg(s >= 0, "AF_PACKET: %s", g_strerror(errno));
    struct sockaddr_ll sll = { .sll_family = AF_PACKET,
                               .sll_protocol = htons(TEST_ETHERTYPE),
                               .sll_ifindex = (int)if_nametoindex(ifname) };
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sll, sizeof sll), 0);
    return s;
}

static size_t make_eth(uint8_t *f, size_t payload, uint8_t seed)
{
    memset(f, 0xff, 6);
    memcpy(f + 6, (uint8_t[]){ 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 }, 6);
    f[12] = TEST_ETHERTYPE >> 8;
    f[13] = TEST_ETHERTYPE & 0xff;
    for (size_t i = 0; i < payload; i++)
        f[14 + i] = (uint8_t)(seed + i);
    return 14 + payload;
}

/* The host side: one frame into the tap, to the broadcast address. */
static void send_broadcast(int ps, const uint8_t *frame, size_t len)
{
    struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_protocol = htons(TEST_ETHERTYPE),
                              .sll_ifindex = (int)if_nametoindex(
                                  virtio_net_tap_name(&T->vdev->pci.dev)),
                              .sll_halen = 6 };
    memset(to.sll_addr, 0xff, 6);
    ck_assert_int_eq(sendto(ps, frame, len, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)len);
}

static Gpa rx_gpa[128];

static void rx_post(uint32_t len)
{
    uint16_t head;
    Gpa g = vdevtest_post(T, 0, NULL, len, true, &head);
    rx_gpa[head] = g;
}

START_TEST(test_config_and_features)
{
    create_nic(2);
    uint64_t f = vdevtest_offered(T);
    uint64_t want = F(MAC) | F(STATUS) | F(MRG_RXBUF) | F(CSUM) | F(HOST_TSO4) | F(HOST_TSO6) |
                    F(GUEST_CSUM) | F(GUEST_TSO4) | F(GUEST_TSO6);
    ck_assert_uint_eq(f & want, want);
    ck_assert(!(f & F(MQ)) && !(f & F(CTRL_VQ)));
    ck_assert(f & (1ull << VIRTIO_F_VERSION_1));
    static const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
    for (unsigned i = 0; i < 6; i++)
        ck_assert_uint_eq(vdevtest_devcfg_read(T, i, 1), mac[i]);
    ck_assert_uint_eq(vdevtest_devcfg_read(T, NET_CFG_STATUS, 2), NET_STATUS_LINK_UP);
    ck_assert_uint_eq(vdevtest_devcfg_read(T, NET_CFG_MAX_VQ_PAIRS, 2), 1);
    ck_assert(g_str_has_prefix(virtio_net_tap_name(&T->vdev->pci.dev), "nimbus"));
    /* A dependency broken (GUEST_TSO4 without GUEST_CSUM): FEATURES_OK refused. */
    vdevtest_msix_enable(T);
    ck_assert(!vdevtest_negotiate(T, (1ull << VIRTIO_F_VERSION_1) | F(GUEST_TSO4)));
    ck_assert(vdevtest_negotiate(T, BASE_FEATURES | F(GUEST_TSO4)));
}
END_TEST

START_TEST(test_transmit_and_receive)
{
    create_nic(2);
    bring_up(BASE_FEATURES, 2);
    int ps = packet_socket();

    /* Guest -> host. */
    uint8_t frame[NET_HDR_LEN + 256] = { 0 };
    size_t elen = make_eth(frame + NET_HDR_LEN, 200, 3);
    vdevtest_post(T, 1, frame, (uint32_t)(NET_HDR_LEN + elen), false, NULL);
    vdevtest_kick(T, 1);
    uint32_t id, len;
    ck_assert(wait_used(1, &id, &len));
    ck_assert_uint_eq(len, 0);
    /* the used buffer was signalled */
    ck_assert_uint_ge(vdevtest_irqfd_wait(T, VDEV_VEC_QUEUE), 1);
    struct pollfd p = { .fd = ps, .events = POLLIN };
    ck_assert_int_eq(poll(&p, 1, 5000), 1);
    uint8_t got[2048];
    ck_assert_int_eq(recv(ps, got, sizeof got, 0), (ssize_t)elen);
    ck_assert_mem_eq(got, frame + NET_HDR_LEN, elen);

    /* Host -> guest. */
    for (int i = 0; i < 16; i++)
        rx_post(1536);
    vdevtest_kick(T, 0);
    elen = make_eth(frame, 100, 77);
    send_broadcast(ps, frame, elen);
    bool found = false;
    for (int n = 0; n < 16 && !found; n++) {
        ck_assert(wait_used(0, &id, &len));
        ck_assert_uint_ge(len, NET_HDR_LEN);
        ck_assert(memory_read(vm_memory(T->vm), rx_gpa[id], got, len));
        ck_assert_uint_eq(le_load16(got + NET_HDR_OFF_NUM_BUFFERS), 1);
        if (len == NET_HDR_LEN + elen && !memcmp(got + NET_HDR_LEN, frame, elen))
            found = true;
    }
    ck_assert(found);
    NetCounters c;
    virtio_net_counters(&T->vdev->pci.dev, &c);
    ck_assert_uint_eq(c.tx_frames, 1);
    ck_assert_uint_eq(c.tx_bytes, 214);
    ck_assert_uint_ge(c.rx_frames, 1);
    ck_assert_uint_eq(c.tx_dropped, 0);
    close(ps);
}
END_TEST

/* One control command on queue `q`; returns the ack byte. */
static uint8_t ctrl_cmd(unsigned q, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
    uint8_t out[16] = { cls, cmd };
    if (len)
        memcpy(out + 2, data, len);
    VirtqDriverBuf b[2] = {
        { virtq_driver_alloc(&T->q[q], 2 + len, 16), 2 + len, false },
        { virtq_driver_alloc(&T->q[q], 1, 1), 1, true },
    };
    ck_assert(memory_write(vm_memory(T->vm), b[0].gpa, out, 2 + len));
    virtq_driver_fill(&T->q[q], b[1].gpa, 0x77, 1);
    virtq_driver_add(&T->q[q], b, 2);
    vdevtest_kick(T, (uint16_t)q);
    uint32_t id, used;
    ck_assert(wait_used(q, &id, &used));
    ck_assert_uint_eq(used, 1);
    uint8_t ack;
    ck_assert(memory_read(vm_memory(T->vm), b[1].gpa, &ack, 1));
    return ack;
}

START_TEST(test_multiqueue_control)
{
    create_nic(4);
    uint64_t f = vdevtest_offered(T);
    ck_assert(f & F(MQ));
    ck_assert(f & F(CTRL_VQ));
    ck_assert_uint_eq(vdevtest_devcfg_read(T, NET_CFG_MAX_VQ_PAIRS, 2), 2);
    bring_up(BASE_FEATURES | F(MQ) | F(CTRL_VQ) | F(CTRL_GUEST_OFFLOADS), 5);
    uint8_t two[2] = { 2, 0 }, three[2] = { 3, 0 }, zero[2] = { 0, 0 };
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_MQ, NET_CTRL_MQ_VQ_PAIRS_SET, two, 2), NET_CTRL_OK);
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_MQ, NET_CTRL_MQ_VQ_PAIRS_SET, three, 2),
                      NET_CTRL_ERR);
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_MQ, NET_CTRL_MQ_VQ_PAIRS_SET, zero, 2),
                      NET_CTRL_ERR);
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_MQ, NET_CTRL_MQ_VQ_PAIRS_SET, two, 1),
                      NET_CTRL_ERR);
    ck_assert_uint_eq(ctrl_cmd(4, 9, 0, NULL, 0), NET_CTRL_ERR);
    uint8_t offl[8] = { 0 };
    le_store64(offl, F(GUEST_CSUM));
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_GUEST_OFFLOADS, NET_CTRL_GUEST_OFFLOADS_SET, offl, 8),
                      NET_CTRL_OK);
    le_store64(offl, F(GUEST_TSO4)); /* not negotiated */
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_GUEST_OFFLOADS, NET_CTRL_GUEST_OFFLOADS_SET, offl, 8),
                      NET_CTRL_ERR);
    ck_assert_uint_eq(ctrl_cmd(4, NET_CTRL_CLASS_MQ, NET_CTRL_MQ_VQ_PAIRS_SET, (uint8_t[]){ 1, 0 }, 2),
                      NET_CTRL_OK);

    /* A command without an ack byte is a driver bug: NEEDS_RESET. */
    static const uint8_t no_ack[4];
    vdevtest_post(T, 4, no_ack, sizeof no_ack, false, NULL);
    vdevtest_kick(T, 4);
    ck_assert(wait_status(VIRTIO_STATUS_NEEDS_RESET));
}
END_TEST

START_TEST(test_small_mergeable_buffer_needs_reset)
{
    create_nic(2);
    bring_up(BASE_FEATURES, 2);
    vdevtest_post(T, 0, NULL, 8, true, NULL);
    vdevtest_kick(T, 0);
    int ps = packet_socket();
    uint8_t frame[64];
    size_t elen = make_eth(frame, 40, 0);
    send_broadcast(ps, frame, elen);
    ck_assert(wait_status(VIRTIO_STATUS_NEEDS_RESET));
    /* A reset and a fresh bring-up work again. */
    bring_up(BASE_FEATURES, 2);
    ck_assert(!(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET));
    close(ps);
}
END_TEST

START_TEST(test_bad_configs)
{
    g_autoptr(GError) err = NULL;
    NetConfig nc = { .num_queues = 3 };
    ck_assert_ptr_null(device_create(T->vm, &virtio_net_ops, "net0", &nc, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "num_queues"));
    g_clear_error(&err);
    nc = (NetConfig){ .queue_size = 100 };
    ck_assert_ptr_null(device_create(T->vm, &virtio_net_ops, "net0", &nc, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "queue_size"));
    g_clear_error(&err);
    nc = (NetConfig){ .tap = (char *)"nbt-nosuch" };
    ck_assert_ptr_null(device_create(T->vm, &virtio_net_ops, "net0", &nc, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "no such"));
    g_clear_error(&err);
    nc = (NetConfig){ .tap = (char *)"lo", .ip = (char *)"10.0.0.1" };
    ck_assert_ptr_null(device_create(T->vm, &virtio_net_ops, "net0", &nc, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "ip="));
}
END_TEST

static Suite *virtio_net_suite(void)
{
    Suite *s = suite_create("virtio_net");
    TCase *tc = tcase_create("end_to_end");
    tcase_add_checked_fixture(tc, net_setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_config_and_features);
    tcase_add_test(tc, test_transmit_and_receive);
    tcase_add_test(tc, test_multiqueue_control);
    tcase_add_test(tc, test_small_mergeable_buffer_needs_reset);
    tcase_add_test(tc, test_bad_configs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    GError *err = NULL;
    Tap *probe = tap_create(NULL, NULL, 1, &err);
    if (!probe) {
        printf("test_virtio_net: skipped: cannot create a tap here: %s\n", err->message);
        g_error_free(err);
        return CHECK_SKIP_CODE;
    }
    tap_close(probe);
    SRunner *sr = srunner_create(virtio_net_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
