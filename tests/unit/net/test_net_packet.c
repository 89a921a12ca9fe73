/* The pure virtio-net packet functions (devices/virtio/net/net_packet.c) on
 * plain host buffers dressed up as VirtqElements. */
#include "devices/net/tap.h"
#include "devices/virtio/net/net_packet.h"
#include "hypervisor/le.h"
#include "support/check_main.h"

#include <check.h>
#include <string.h>

static uint8_t *memdup(const void *p, size_t n)
{
    uint8_t *d = g_malloc(n);
    memcpy(d, p, n);
    return d;
}

/* A fake popped chain: `n` writable (or readable) pieces of the given sizes
 * carved from one malloc'd block, each piece poisoned with 0xAA. */
typedef struct FakeChain {
    VirtqElement e;
    struct iovec iov[8];
    uint8_t *mem;
} FakeChain;

static void chain_make(FakeChain *c, bool writable, const size_t *sizes, unsigned n)
{
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += sizes[i];
    memset(c, 0, sizeof *c);
    c->mem = g_malloc(total ? total : 1);
    memset(c->mem, 0xAA, total);
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
        c->iov[i].iov_base = c->mem + off;
        c->iov[i].iov_len = sizes[i];
        off += sizes[i];
    }
    c->e.iov = c->iov;
    if (writable) {
        c->e.in_iov = c->iov;
        c->e.in_num = n;
        c->e.in_bytes = total;
        c->e.out_iov = c->iov;
    } else {
        c->e.out_iov = c->iov;
        c->e.out_num = n;
        c->e.out_bytes = total;
        c->e.in_iov = c->iov + n;
    }
}

static void chain_free(FakeChain *c)
{
    g_free(c->mem);
}

/* A frame: header (flags, gso) then `payload` bytes of a counting pattern. */
static uint8_t *frame_make(size_t payload, uint8_t flags, uint8_t gso)
{
    uint8_t *f = g_malloc0(NET_HDR_LEN + payload);
    f[NET_HDR_OFF_FLAGS] = flags;
    f[NET_HDR_OFF_GSO_TYPE] = gso;
    le_store16(f + NET_HDR_OFF_NUM_BUFFERS, 0xdead);
    for (size_t i = 0; i < payload; i++)
        f[NET_HDR_LEN + i] = (uint8_t)(i * 7 + 3);
    return f;
}

/* Gather what the chains hold into one buffer, `lens[i]` bytes from each. */
static uint8_t *gather(FakeChain *chains, const uint32_t *lens, unsigned n, size_t *total)
{
    size_t t = 0;
    for (unsigned i = 0; i < n; i++)
        t += lens[i];
    uint8_t *out = g_malloc(t ? t : 1);
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
        ck_assert_uint_eq(net_iov_to_buf(chains[i].e.in_iov, chains[i].e.in_num, 0, out + off,
                                         lens[i]),
                          lens[i]);
        off += lens[i];
    }
    *total = t;
    return out;
}

static bool all_poison(const FakeChain *c)
{
    for (uint64_t i = 0; i < c->e.in_bytes + c->e.out_bytes; i++)
        if (c->mem[i] != 0xAA)
            return false;
    return true;
}

/* ---- iov helpers ---- */

START_TEST(test_iov_copy_offsets)
{
    uint8_t a[3], b[5], c[4];
    struct iovec iov[] = { { a, 3 }, { b, 5 }, { c, 4 } };
    uint8_t src[12], dst[12];
    for (int i = 0; i < 12; i++)
        src[i] = (uint8_t)(i + 1);
    ck_assert_uint_eq(net_iov_from_buf(iov, 3, 0, src, 12), 12);
    ck_assert_uint_eq(a[2], 3);
    ck_assert_uint_eq(b[0], 4);
    ck_assert_uint_eq(c[3], 12);
    memset(dst, 0, sizeof dst);
    ck_assert_uint_eq(net_iov_to_buf(iov, 3, 2, dst, 12), 10); /* short at the end */
    ck_assert_mem_eq(dst, src + 2, 10);
    ck_assert_uint_eq(net_iov_to_buf(iov, 3, 12, dst, 4), 0);  /* offset at the end */
    ck_assert_uint_eq(net_iov_to_buf(iov, 3, 100, dst, 4), 0); /* past the end */
    uint8_t x = 0x55;
    ck_assert_uint_eq(net_iov_from_buf(iov, 3, 8, &x, 1), 1); /* first byte of c */
    ck_assert_uint_eq(c[0], 0x55);
    ck_assert_uint_eq(net_iov_from_buf(iov, 0, 0, &x, 1), 0);
}
END_TEST

/* ---- receive without mergeable buffers ---- */

START_TEST(test_rx_single_fits)
{
    /* The header is split over two pieces (5 + 7 bytes) on purpose. */
    FakeChain c;
    chain_make(&c, true, (size_t[]){ 5, 7, 200 }, 3);
    g_autofree uint8_t *f = frame_make(88, NET_HDR_F_NEEDS_CSUM, 0);
    g_autofree uint8_t *copy = memdup(f, NET_HDR_LEN + 88);
    uint32_t lens[1];
    ck_assert_int_eq(net_rx_copy(f, NET_HDR_LEN + 88, &c.e, 1, false, true, lens), 1);
    ck_assert_uint_eq(lens[0], NET_HDR_LEN + 88);
    size_t total;
    g_autofree uint8_t *got = gather(&c, lens, 1, &total);
    ck_assert_uint_eq(le_load16(got + NET_HDR_OFF_NUM_BUFFERS), 1);
    ck_assert_uint_eq(got[NET_HDR_OFF_FLAGS], NET_HDR_F_NEEDS_CSUM);
    ck_assert_mem_eq(got + NET_HDR_LEN, copy + NET_HDR_LEN, 88);
    ck_assert_mem_eq(got, copy, 10);
    ck_assert_uint_eq(c.mem[NET_HDR_LEN + 88], 0xAA); /* nothing past the frame */
    chain_free(&c);
}
END_TEST

START_TEST(test_rx_single_exact_and_too_small)
{
    FakeChain c;
    chain_make(&c, true, (size_t[]){ 100 }, 1);
    uint32_t lens[1];
    g_autofree uint8_t *big = frame_make(89, 0, 0); /* 101 bytes: one too many */
    ck_assert_int_eq(net_rx_copy(big, NET_HDR_LEN + 89, &c.e, 1, false, false, lens),
                     NET_RX_TOO_SMALL);
    ck_assert(all_poison(&c));
    g_autofree uint8_t *exact = frame_make(88, 0, 0);
    ck_assert_int_eq(net_rx_copy(exact, NET_HDR_LEN + 88, &c.e, 1, false, false, lens), 1);
    ck_assert_uint_eq(lens[0], 100);
    chain_free(&c);
}
END_TEST

START_TEST(test_rx_single_bad_buffers)
{
    uint32_t lens[1];
    g_autofree uint8_t *f = frame_make(0, 0, 0); /* a bare header */
    FakeChain c;
    chain_make(&c, true, (size_t[]){ 11 }, 1);
    ck_assert_int_eq(net_rx_copy(f, NET_HDR_LEN, &c.e, 1, false, false, lens), NET_RX_BAD_BUFFER);
    ck_assert(all_poison(&c));
    chain_free(&c);
    /* A receive chain with only readable descriptors has no room at all. */
    chain_make(&c, false, (size_t[]){ 64 }, 1);
    ck_assert_int_eq(net_rx_copy(f, NET_HDR_LEN, &c.e, 1, false, false, lens), NET_RX_BAD_BUFFER);
    ck_assert(all_poison(&c));
    chain_free(&c);
    /* No chain at all. */
    ck_assert_int_eq(net_rx_copy(f, NET_HDR_LEN, NULL, 0, false, false, lens), NET_RX_MORE);
}
END_TEST

START_TEST(test_rx_data_valid)
{
    FakeChain c;
    uint32_t lens[1];
    size_t total;
    chain_make(&c, true, (size_t[]){ 64 }, 1);
    g_autofree uint8_t *f = frame_make(8, NET_HDR_F_DATA_VALID, 0);
    ck_assert_int_eq(net_rx_copy(f, NET_HDR_LEN + 8, &c.e, 1, false, false, lens), 1);
    g_autofree uint8_t *got = gather(&c, lens, 1, &total);
    ck_assert_uint_eq(got[NET_HDR_OFF_FLAGS], 0); /* not negotiated: cleared */
    f[NET_HDR_OFF_FLAGS] = NET_HDR_F_DATA_VALID;
    ck_assert_int_eq(net_rx_copy(f, NET_HDR_LEN + 8, &c.e, 1, false, true, lens), 1);
    g_autofree uint8_t *got2 = gather(&c, lens, 1, &total);
    ck_assert_uint_eq(got2[NET_HDR_OFF_FLAGS], NET_HDR_F_DATA_VALID);
    chain_free(&c);
}
END_TEST

/* ---- receive with mergeable buffers ---- */

START_TEST(test_rx_mrg_spreads)
{
    FakeChain c[4];
    for (int i = 0; i < 4; i++)
        chain_make(&c[i], true, (size_t[]){ 512, 512 }, 2);
    VirtqElement e[4];
    for (int i = 0; i < 4; i++)
        e[i] = c[i].e;
    size_t len = NET_HDR_LEN + 2988; /* 3000: 1024 + 1024 + 952 */
    g_autofree uint8_t *f = frame_make(2988, 0, 0);
    g_autofree uint8_t *copy = memdup(f, len);
    uint32_t lens[4] = { 0 };
    ck_assert_int_eq(net_rx_copy(f, len, e, 4, true, false, lens), 3);
    ck_assert_uint_eq(lens[0], 1024);
    ck_assert_uint_eq(lens[1], 1024);
    ck_assert_uint_eq(lens[2], 952);
    size_t total;
    g_autofree uint8_t *got = gather(c, lens, 3, &total);
    ck_assert_uint_eq(total, len);
    ck_assert_uint_eq(le_load16(got + NET_HDR_OFF_NUM_BUFFERS), 3);
    ck_assert_mem_eq(got + NET_HDR_LEN, copy + NET_HDR_LEN, 2988);
    ck_assert(all_poison(&c[3])); /* the fourth is not used */
    for (int i = 0; i < 4; i++)
        chain_free(&c[i]);
}
END_TEST

START_TEST(test_rx_mrg_small_frame_one_buffer)
{
    FakeChain c[2];
    chain_make(&c[0], true, (size_t[]){ 1536 }, 1);
    chain_make(&c[1], true, (size_t[]){ 1536 }, 1);
    VirtqElement e[2] = { c[0].e, c[1].e };
    g_autofree uint8_t *f = frame_make(60, 0, 0);
    uint32_t lens[2];
    ck_assert_int_eq(net_rx_copy(f, NET_HDR_LEN + 60, e, 2, true, false, lens), 1);
    ck_assert_uint_eq(lens[0], NET_HDR_LEN + 60);
    ck_assert_uint_eq(le_load16(c[0].mem + NET_HDR_OFF_NUM_BUFFERS), 1);
    ck_assert(all_poison(&c[1]));
    chain_free(&c[0]);
    chain_free(&c[1]);
}
END_TEST

START_TEST(test_rx_mrg_not_enough)
{
    FakeChain c[2];
    chain_make(&c[0], true, (size_t[]){ 1024 }, 1);
    chain_make(&c[1], true, (size_t[]){ 1024 }, 1);
    VirtqElement e[2] = { c[0].e, c[1].e };
    g_autofree uint8_t *f = frame_make(2100, 0, 0);
    uint32_t lens[2];
    ck_assert_int_eq(net_rx_copy(f, NET_HDR_LEN + 2100, e, 2, true, false, lens), NET_RX_MORE);
    ck_assert(all_poison(&c[0]) && all_poison(&c[1]));
    chain_free(&c[0]);
    chain_free(&c[1]);
}
END_TEST

START_TEST(test_rx_mrg_buffer_below_header)
{
    /* Each mergeable buffer must hold a header (5.1.6.3.1): a tiny second
     * buffer is a driver bug, and nothing is written. */
    FakeChain c[3];
    chain_make(&c[0], true, (size_t[]){ 100 }, 1);
    chain_make(&c[1], true, (size_t[]){ 4 }, 1);
    chain_make(&c[2], true, (size_t[]){ 4096 }, 1);
    VirtqElement e[3] = { c[0].e, c[1].e, c[2].e };
    g_autofree uint8_t *f = frame_make(1000, 0, 0);
    uint32_t lens[3];
    ck_assert_int_eq(net_rx_copy(f, NET_HDR_LEN + 1000, e, 3, true, false, lens),
                     NET_RX_BAD_BUFFER);
    for (int i = 0; i < 3; i++) {
        ck_assert(all_poison(&c[i]));
        chain_free(&c[i]);
    }
}
END_TEST

START_TEST(test_rx_mrg_max_frame_many_buffers)
{
    /* A 64 KiB GSO frame over 12-byte-plus buffers (hostile but legal). */
    enum { N = 600 };
    FakeChain *c = g_new(FakeChain, N);
    VirtqElement *e = g_new(VirtqElement, N);
    for (int i = 0; i < N; i++) {
        chain_make(&c[i], true, (size_t[]){ 64, 48 }, 2);
        e[i] = c[i].e;
    }
    size_t len = NET_HDR_LEN + NET_MAX_FRAME;
    g_autofree uint8_t *f = frame_make(NET_MAX_FRAME, 0, 0);
    g_autofree uint32_t *lens = g_new0(uint32_t, N);
    int used = net_rx_copy(f, len, e, N, true, false, lens);
    ck_assert_int_eq(used, (int)((len + 111) / 112));
    ck_assert_uint_eq(le_load16(c[0].mem + NET_HDR_OFF_NUM_BUFFERS), (unsigned)used);
    uint64_t sum = 0;
    for (int i = 0; i < used; i++)
        sum += lens[i];
    ck_assert_uint_eq(sum, len);
    for (int i = 0; i < N; i++)
        chain_free(&c[i]);
    g_free(c);
    g_free(e);
}
END_TEST

/* ---- transmit checks ---- */

typedef struct TxCase {
    size_t bytes;
    uint8_t flags, gso;
    uint64_t features;
    NetTxCheck want;
} TxCase;

#define F(x) NET_FEATURE(VIRTIO_NET_F_##x)
static const TxCase tx_cases[] = {
    { 0, 0, 0, 0, NET_TX_SHORT },
    { 11, 0, 0, 0, NET_TX_SHORT },
    { 12, 0, 0, 0, NET_TX_OK },
    { 12 + 60, 0, 0, 0, NET_TX_OK },
    { NET_HDR_LEN + NET_MAX_FRAME, 0, 0, 0, NET_TX_OK },
    { NET_HDR_LEN + NET_MAX_FRAME + 1, 0, 0, 0, NET_TX_TOO_BIG },
    { 1u << 20, 0, 0, 0, NET_TX_TOO_BIG },
    { 100, NET_HDR_F_NEEDS_CSUM, 0, 0, NET_TX_BAD_HDR },
    { 100, NET_HDR_F_NEEDS_CSUM, 0, F(CSUM), NET_TX_OK },
    { 100, NET_HDR_F_NEEDS_CSUM, NET_HDR_GSO_TCPV4, F(CSUM), NET_TX_BAD_HDR },
    { 100, NET_HDR_F_NEEDS_CSUM, NET_HDR_GSO_TCPV4, F(CSUM) | F(HOST_TSO4), NET_TX_OK },
    { 100, NET_HDR_F_NEEDS_CSUM, NET_HDR_GSO_TCPV6, F(CSUM) | F(HOST_TSO4), NET_TX_BAD_HDR },
    { 100, NET_HDR_F_NEEDS_CSUM, NET_HDR_GSO_TCPV6, F(CSUM) | F(HOST_TSO6), NET_TX_OK },
    { 100, NET_HDR_F_NEEDS_CSUM, NET_HDR_GSO_UDP, F(CSUM) | F(HOST_TSO4), NET_TX_BAD_HDR },
    { 100, NET_HDR_F_NEEDS_CSUM, NET_HDR_GSO_TCPV4 | NET_HDR_GSO_ECN,
      F(CSUM) | F(HOST_TSO4), NET_TX_BAD_HDR },
    { 100, NET_HDR_F_NEEDS_CSUM, NET_HDR_GSO_TCPV4 | NET_HDR_GSO_ECN,
      F(CSUM) | F(HOST_TSO4) | F(HOST_ECN), NET_TX_OK },
    { 100, 0, NET_HDR_GSO_ECN, F(CSUM) | F(HOST_TSO4) | F(HOST_ECN), NET_TX_BAD_HDR },
    { 100, 0, 5, ~0ull, NET_TX_BAD_HDR },
    { 100, 0, 0xff, ~0ull, NET_TX_BAD_HDR },
};
#undef F

START_TEST(test_tx_check_table)
{
    const TxCase *tc = &tx_cases[_i];
    FakeChain c;
    /* Spread the bytes over a few pieces, the header split too. */
    size_t sizes[3] = { MIN(tc->bytes, 7), 0, 0 };
    sizes[1] = MIN(tc->bytes - sizes[0], 3);
    sizes[2] = tc->bytes - sizes[0] - sizes[1];
    chain_make(&c, false, sizes, 3);
    uint8_t hdr[NET_HDR_LEN] = { 0 };
    hdr[NET_HDR_OFF_FLAGS] = tc->flags;
    hdr[NET_HDR_OFF_GSO_TYPE] = tc->gso;
    net_iov_from_buf(c.e.out_iov, c.e.out_num, 0, hdr, MIN(sizeof hdr, tc->bytes));
    uint8_t copy[NET_HDR_LEN] = { 0 };
    net_iov_to_buf(c.e.out_iov, c.e.out_num, 0, copy, sizeof copy);
    NetTxCheck got = net_tx_check(&c.e, copy, tc->features);
    ck_assert_msg(got == tc->want, "case %d: got %d (%s), want %d", _i, got, net_tx_check_str(got),
                  tc->want);
    chain_free(&c);
}
END_TEST

START_TEST(test_tap_offload_mapping)
{
#define F(x) NET_FEATURE(VIRTIO_NET_F_##x)
    ck_assert_uint_eq(net_tap_offloads(0), 0);
    ck_assert_uint_eq(net_tap_offloads(F(GUEST_TSO4)), 0); /* no CSUM: nothing */
    ck_assert_uint_eq(net_tap_offloads(F(GUEST_CSUM)), TAP_OFFLOAD_CSUM);
    ck_assert_uint_eq(net_tap_offloads(F(GUEST_CSUM) | F(GUEST_TSO4) | F(GUEST_TSO6)),
                      TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6);
    ck_assert_uint_eq(net_tap_offloads(F(GUEST_CSUM) | F(GUEST_ECN)), TAP_OFFLOAD_CSUM);
    ck_assert_uint_eq(net_tap_offloads(F(GUEST_CSUM) | F(GUEST_TSO4) | F(GUEST_ECN)),
                      TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO_ECN);
    /* Host (transmit) offloads do not change what the tap sends us. */
    ck_assert_uint_eq(net_tap_offloads(F(CSUM) | F(HOST_TSO4) | F(HOST_TSO6)), 0);
#undef F
}
END_TEST

static Suite *net_packet_suite(void)
{
    Suite *s = suite_create("net_packet");
    TCase *tc = tcase_create("packet");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_iov_copy_offsets);
    tcase_add_test(tc, test_rx_single_fits);
    tcase_add_test(tc, test_rx_single_exact_and_too_small);
    tcase_add_test(tc, test_rx_single_bad_buffers);
    tcase_add_test(tc, test_rx_data_valid);
    tcase_add_test(tc, test_rx_mrg_spreads);
    tcase_add_test(tc, test_rx_mrg_small_frame_one_buffer);
    tcase_add_test(tc, test_rx_mrg_not_enough);
    tcase_add_test(tc, test_rx_mrg_buffer_below_header);
    tcase_add_test(tc, test_rx_mrg_max_frame_many_buffers);
    tcase_add_loop_test(tc, test_tx_check_table, 0, G_N_ELEMENTS(tx_cases));
    tcase_add_test(tc, test_tap_offload_mapping);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(net_packet_suite)
