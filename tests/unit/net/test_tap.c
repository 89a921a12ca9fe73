/* The tap backend (devices/net/tap.c) against the real tun driver. Each test
 * runs in its own forked process and, where it can (root), in a fresh
 * network namespace, so taps, addresses and links vanish with the process.
 * Skipped (exit 77) when no tap can be created here. */
#include "devices/net/tap.h"
#include "hypervisor/error.h"
#include "hypervisor/fdutil.h"
#include "support/check_main.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define TEST_ETHERTYPE 0x88b5 /* IEEE local experimental */

static void setup(void)
{
    /* Best effort: a private network namespace (needs CAP_SYS_ADMIN). */
    if (unshare(CLONE_NEWNET) < 0)
        fprintf(stderr, "test_tap: no private netns (%s), using the current one\n",
                g_strerror(errno));
}

static void expect_error(GError *err, int code, const char *needle)
{
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(err->domain == NIMBUS_ERROR && err->code == code, "code %d, want %d: %s",
                  err->code, code, err->message);
    ck_assert_msg(strstr(err->message, needle), "'%s' lacks '%s'", err->message, needle);
}

/* ---- errors ---- */

START_TEST(test_open_missing)
{
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(tap_open("nbt-nosuch", 1, &err));
    expect_error(err, NIMBUS_ERROR_NOT_FOUND, "no such network interface");
}
END_TEST

START_TEST(test_open_bad_names)
{
    const char *bad[] = { "", "0123456789abcdef", "tap%d", "a/b" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        ck_assert_ptr_null(tap_open(bad[i], 1, &err));
        expect_error(err, NIMBUS_ERROR_INVALID, "tap name");
    }
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(tap_open(NULL, 1, &err));
    expect_error(err, NIMBUS_ERROR_INVALID, "tap name");
}
END_TEST

START_TEST(test_open_not_a_tap)
{
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(tap_open("lo", 1, &err));
    expect_error(err, NIMBUS_ERROR_INVALID, "not a tap");
}
END_TEST

START_TEST(test_bad_queue_counts)
{
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
    ck_assert_ptr_null(tap_create(NULL, NULL, 0, &e1));
    expect_error(e1, NIMBUS_ERROR_INVALID, "queue pairs");
    ck_assert_ptr_null(tap_create(NULL, NULL, TAP_MAX_QUEUES + 1, &e2));
    expect_error(e2, NIMBUS_ERROR_INVALID, "queue pairs");
    ck_assert_ptr_null(tap_open("lo", 0, &e3));
    expect_error(e3, NIMBUS_ERROR_INVALID, "queue pairs");
}
END_TEST

START_TEST(test_create_bad_addresses)
{
    g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL;
    ck_assert_ptr_null(tap_create("300.1.1.1", NULL, 1, &e1));
    expect_error(e1, NIMBUS_ERROR_INVALID, "300.1.1.1");
    ck_assert_ptr_null(tap_create("10.0.0.1", "junk", 1, &e2));
    expect_error(e2, NIMBUS_ERROR_INVALID, "junk");
    ck_assert_ptr_null(tap_create(NULL, "255.255.255.0", 1, &e3));
    expect_error(e3, NIMBUS_ERROR_INVALID, "mask= needs ip=");
}
END_TEST

/* ---- creating and opening ---- */

static void get_ifreq(const char *name, unsigned long req, struct ifreq *ifr)
{
    AUTO_FD int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s, 0);
    memset(ifr, 0, sizeof *ifr);
    g_strlcpy(ifr->ifr_name, name, sizeof ifr->ifr_name);
    ck_assert_msg(ioctl(s, req, ifr) == 0, "ioctl %#lx on %s: %s", req, name, g_strerror(errno));
}

START_TEST(test_create_with_address)
{
    g_autoptr(GError) err = NULL;
    Tap *t = tap_create("10.211.77.1", "255.255.255.0", 1, &err);
    ck_assert_msg(t, "%s", err ? err->message : "");
    char name[IFNAMSIZ];
    g_strlcpy(name, tap_name(t), sizeof name);
    ck_assert(g_str_has_prefix(name, "nimbus"));
    ck_assert(tap_created(t));
    ck_assert_uint_eq(tap_queue_count(t), 1);
    ck_assert_int_ge(tap_fd(t, 0), 0);
    ck_assert(fcntl(tap_fd(t, 0), F_GETFL) & O_NONBLOCK);

    struct ifreq ifr;
    get_ifreq(name, SIOCGIFADDR, &ifr);
    struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ifr.ifr_addr;
    char text[INET_ADDRSTRLEN];
    ck_assert_str_eq(inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text), "10.211.77.1");
    get_ifreq(name, SIOCGIFNETMASK, &ifr);
    sin = (struct sockaddr_in *)(void *)&ifr.ifr_netmask;
    ck_assert_str_eq(inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text), "255.255.255.0");
    get_ifreq(name, SIOCGIFFLAGS, &ifr);
    ck_assert(ifr.ifr_flags & IFF_UP);

    int hdr = 0;
    ck_assert_int_eq(ioctl(tap_fd(t, 0), TUNGETVNETHDRSZ, &hdr), 0);
    ck_assert_int_eq(hdr, TAP_VNET_HDR_LEN);
    unsigned int flags = 0;
    get_ifreq(name, SIOCGIFINDEX, &ifr);
    struct ifreq tifr = { 0 };
    ck_assert_int_eq(ioctl(tap_fd(t, 0), TUNGETIFF, &tifr), 0);
    flags = (unsigned short)tifr.ifr_flags;
    ck_assert(flags & IFF_TAP);
    ck_assert(flags & IFF_NO_PI);
    ck_assert(flags & IFF_VNET_HDR);

    /* Not persistent: gone with its fd. */
    tap_close(t);
    ck_assert_uint_eq(if_nametoindex(name), 0);
}
END_TEST

START_TEST(test_create_without_address_is_up)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Tap) t = tap_create(NULL, NULL, 1, &err);
    ck_assert_msg(t, "%s", err ? err->message : "");
    struct ifreq ifr;
    get_ifreq(tap_name(t), SIOCGIFFLAGS, &ifr);
    ck_assert(ifr.ifr_flags & IFF_UP);
}
END_TEST

/* A persistent tap made the way `ip tuntap add` does. */
static void make_persistent_tap(const char *name, bool mq)
{
    AUTO_FD int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    struct ifreq ifr = { 0 };
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0);
    g_strlcpy(ifr.ifr_name, name, sizeof ifr.ifr_name);
    ck_assert_msg(ioctl(fd, TUNSETIFF, &ifr) == 0, "TUNSETIFF: %s", g_strerror(errno));
    ck_assert_int_eq(ioctl(fd, TUNSETPERSIST, 1), 0);
}

static void delete_persistent_tap(const char *name, bool mq)
{
    AUTO_FD int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    struct ifreq ifr = { 0 };
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0);
    g_strlcpy(ifr.ifr_name, name, sizeof ifr.ifr_name);
    if (fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0)
        (void)ioctl(fd, TUNSETPERSIST, 0);
}

START_TEST(test_open_existing)
{
    make_persistent_tap("nbt0", false);
    g_autoptr(GError) err = NULL;
    Tap *t = tap_open("nbt0", 1, &err);
    ck_assert_msg(t, "%s", err ? err->message : "");
    ck_assert_str_eq(tap_name(t), "nbt0");
    ck_assert(!tap_created(t));

    /* A second user of a single-queue tap: busy. */
    g_autoptr(GError) busy = NULL;
    ck_assert_ptr_null(tap_open("nbt0", 1, &busy));
    expect_error(busy, NIMBUS_ERROR_IO, "busy");
    tap_close(t);

    /* Multi-queue asked of a single-queue tap. */
    g_autoptr(GError) mq = NULL;
    ck_assert_ptr_null(tap_open("nbt0", 2, &mq));
    expect_error(mq, NIMBUS_ERROR_INVALID, "multi_queue");

    /* Still there (persistent), and usable again. */
    ck_assert_uint_ne(if_nametoindex("nbt0"), 0);
    t = tap_open("nbt0", 1, &err);
    ck_assert_ptr_nonnull(t);
    tap_close(t);
    delete_persistent_tap("nbt0", false);
}
END_TEST

START_TEST(test_open_existing_multiqueue)
{
    make_persistent_tap("nbt1", true);
    g_autoptr(GError) err = NULL;
    g_autoptr(Tap) t = tap_open("nbt1", 3, &err);
    ck_assert_msg(t, "%s", err ? err->message : "");
    ck_assert_uint_eq(tap_queue_count(t), 3);
    g_autoptr(GError) single = NULL;
    ck_assert_ptr_null(tap_open("nbt1", 1, &single));
    expect_error(single, NIMBUS_ERROR_INVALID, "multi_queue");
    g_clear_pointer(&t, tap_close);
    delete_persistent_tap("nbt1", true);
}
END_TEST

START_TEST(test_busy_created)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Tap) t = tap_create(NULL, NULL, 1, &err);
    ck_assert_ptr_nonnull(t);
    g_autoptr(GError) busy = NULL;
    ck_assert_ptr_null(tap_open(tap_name(t), 1, &busy));
    expect_error(busy, NIMBUS_ERROR_IO, "busy");
}
END_TEST

START_TEST(test_offloads)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Tap) t = tap_create(NULL, NULL, 1, &err);
    ck_assert_ptr_nonnull(t);
    unsigned sup = tap_offloads_supported(t);
    ck_assert(sup & TAP_OFFLOAD_CSUM);
    ck_assert(sup & TAP_OFFLOAD_TSO4);
    ck_assert(sup & TAP_OFFLOAD_TSO6);
    ck_assert_int_eq(tap_set_offload(t, sup), 0);
    ck_assert_int_eq(tap_set_offload(t, TAP_OFFLOAD_CSUM), 0);
    ck_assert_int_eq(tap_set_offload(t, 0), 0);
    ck_assert_int_eq(tap_set_offload(t, 0x80000000u), -EINVAL); /* unknown bit */
}
END_TEST

START_TEST(test_multiqueue_attach_detach)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Tap) t = tap_create(NULL, NULL, 4, &err);
    ck_assert_msg(t, "%s", err ? err->message : "");
    ck_assert_uint_eq(tap_queue_count(t), 4);
    for (unsigned i = 0; i < 4; i++) {
        ck_assert(tap_queue_enabled(t, i));
        for (unsigned j = 0; j < i; j++)
            ck_assert_int_ne(tap_fd(t, i), tap_fd(t, j));
    }
    ck_assert_int_eq(tap_set_queue_enabled(t, 2, false), 0);
    ck_assert(!tap_queue_enabled(t, 2));
    ck_assert_int_eq(tap_set_queue_enabled(t, 2, false), 0); /* idempotent */
    ck_assert_int_eq(tap_set_queue_enabled(t, 3, false), 0);
    ck_assert_int_eq(tap_set_queue_enabled(t, 2, true), 0);
    ck_assert(tap_queue_enabled(t, 2));
    ck_assert_int_eq(tap_set_queue_enabled(t, 4, true), -EINVAL);

    g_autoptr(Tap) single = tap_create(NULL, NULL, 1, &err);
    ck_assert_ptr_nonnull(single);
    ck_assert_int_eq(tap_set_queue_enabled(single, 0, true), 0);
    ck_assert_int_eq(tap_set_queue_enabled(single, 0, false), -EINVAL);
}
END_TEST

/* ---- frames through the tap ---- */

static int packet_socket(const char *ifname)
{
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
    memset(f, 0xff, 6);                                         /* broadcast */
    memcpy(f + 6, (uint8_t[]){ 0x02, 0, 0, 0, 0, 0x42 }, 6);    /* local MAC */
    f[12] = TEST_ETHERTYPE >> 8;
    f[13] = TEST_ETHERTYPE & 0xff;
    for (size_t i = 0; i < payload; i++)
        f[14 + i] = (uint8_t)(seed + i);
    return 14 + payload;
}

static bool wait_readable(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, ms) == 1;
}

START_TEST(test_frames_both_ways)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Tap) t = tap_create("10.211.78.1", "255.255.255.0", 1, &err);
    ck_assert_msg(t, "%s", err ? err->message : "");
    AUTO_FD int ps = packet_socket(tap_name(t));

    /* Guest -> host: a frame written to the tap (zero header) comes out of
     * the interface. */
    uint8_t hdr[TAP_VNET_HDR_LEN] = { 0 };
    uint8_t eth[256];
    size_t len = make_eth(eth, 100, 5);
    struct iovec iov[2] = { { hdr, sizeof hdr }, { eth, len } };
    ck_assert_int_eq(tap_writev(t, 0, iov, 2), (ssize_t)(sizeof hdr + len));
    ck_assert(wait_readable(ps, 2000));
    uint8_t got[2048];
    ck_assert_int_eq(recv(ps, got, sizeof got, 0), (ssize_t)len);
    ck_assert_mem_eq(got, eth, len);

    /* Host -> guest: a frame sent on the interface is read from the tap
     * with a virtio-net header. Skip other traffic (IPv6 autoconf...). */
    len = make_eth(eth, 64, 9);
    struct sockaddr_ll to = { .sll_family = AF_PACKET,
                              .sll_protocol = htons(TEST_ETHERTYPE),
                              .sll_ifindex = (int)if_nametoindex(tap_name(t)),
                              .sll_halen = 6 };
    memset(to.sll_addr, 0xff, 6);
    ck_assert_int_eq(sendto(ps, eth, len, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)len);
    bool found = false;
    for (int tries = 0; tries < 50 && !found; tries++) {
        ck_assert(wait_readable(tap_fd(t, 0), 2000));
        ssize_t n = tap_read(t, 0, got, sizeof got);
        if (n == -EAGAIN)
            continue;
        ck_assert_int_ge(n, TAP_VNET_HDR_LEN + 14);
        if (got[TAP_VNET_HDR_LEN + 12] != (TEST_ETHERTYPE >> 8) ||
            got[TAP_VNET_HDR_LEN + 13] != (TEST_ETHERTYPE & 0xff))
            continue;
        ck_assert_int_eq(n, (ssize_t)(TAP_VNET_HDR_LEN + len));
        ck_assert_uint_eq(got[1], 0); /* gso_type NONE */
        ck_assert_mem_eq(got + TAP_VNET_HDR_LEN, eth, len);
        found = true;
    }
    ck_assert(found);
    /* Nothing more waiting of ours; a read does not block. */
    while (tap_read(t, 0, got, sizeof got) > 0)
        ;
    ck_assert_int_eq(tap_read(t, 0, got, sizeof got), -EAGAIN);
}
END_TEST

START_TEST(test_write_bad_gso_rejected)
{
    /* A header the kernel refuses (GSO without a size) fails the write
     * cleanly instead of reaching the network. */
    g_autoptr(GError) err = NULL;
    g_autoptr(Tap) t = tap_create(NULL, NULL, 1, &err);
    ck_assert_ptr_nonnull(t);
    uint8_t hdr[TAP_VNET_HDR_LEN] = { 0 };
    hdr[1] = 1; /* GSO_TCPV4, gso_size 0, no NEEDS_CSUM */
    uint8_t eth[64];
    size_t len = make_eth(eth, 40, 0);
    struct iovec iov[2] = { { hdr, sizeof hdr }, { eth, len } };
    ck_assert_int_lt(tap_writev(t, 0, iov, 2), 0);
}
END_TEST

static Suite *tap_suite(void)
{
    Suite *s = suite_create("tap");
    TCase *errs = tcase_create("errors");
    tcase_set_timeout(errs, 30);
    tcase_add_checked_fixture(errs, setup, NULL);
    tcase_add_test(errs, test_open_missing);
    tcase_add_test(errs, test_open_bad_names);
    tcase_add_test(errs, test_open_not_a_tap);
    tcase_add_test(errs, test_bad_queue_counts);
    tcase_add_test(errs, test_create_bad_addresses);
    suite_add_tcase(s, errs);

    TCase *tc = tcase_create("tap");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_create_with_address);
    tcase_add_test(tc, test_create_without_address_is_up);
    tcase_add_test(tc, test_open_existing);
    tcase_add_test(tc, test_open_existing_multiqueue);
    tcase_add_test(tc, test_busy_created);
    tcase_add_test(tc, test_offloads);
    tcase_add_test(tc, test_multiqueue_attach_detach);
    tcase_add_test(tc, test_frames_both_ways);
    tcase_add_test(tc, test_write_bad_gso_rejected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* Skip the whole program where no tap can be made (CI containers
     * without /dev/net/tun or CAP_NET_ADMIN). */
    GError *err = NULL;
    Tap *probe = tap_create(NULL, NULL, 1, &err);
    if (!probe) {
        printf("test_tap: skipped: cannot create a tap here: %s\n", err->message);
        g_error_free(err);
        return CHECK_SKIP_CODE;
    }
    tap_close(probe);

    SRunner *sr = srunner_create(tap_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
