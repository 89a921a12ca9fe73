/* virtio-vsock, the pure parts: header codec and validation, credit
 * arithmetic, iovec helpers, the byte ring and the connection table. No
 * device, no guest: test_virtio_vsock.c drives the device end to end. */
#include "devices/virtio/vsock/vsock_conn.h"
#include "devices/virtio/vsock/vsock_packet.h"
#include "hypervisor/le.h"
#include "support/check_main.h"

#include <check.h>
#include <string.h>

static VsockHdr mkhdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t len)
{
    return (VsockHdr){ .src_cid = 3, .dst_cid = VSOCK_CID_HOST, .src_port = src_port,
                       .dst_port = dst_port, .len = len, .type = VSOCK_TYPE_STREAM, .op = op,
                       .buf_alloc = 65536 };
}

START_TEST(test_hdr_codec)
{
    VsockHdr h = { .src_cid = 0x0102030405060708ull, .dst_cid = 2, .src_port = 0xa1a2a3a4,
                   .dst_port = 1234, .len = 77, .type = 1, .op = VSOCK_OP_RW, .flags = 3,
                   .buf_alloc = 0x10000, .fwd_cnt = 0xfffffff0 };
    uint8_t raw[VSOCK_HDR_SIZE];
    vsock_hdr_encode(&h, raw);
    /* The wire layout, field by field (little-endian, packed). */
    ck_assert_uint_eq(le_load64(raw + 0), h.src_cid);
    ck_assert_uint_eq(raw[0], 0x08);
    ck_assert_uint_eq(le_load64(raw + 8), 2);
    ck_assert_uint_eq(le_load32(raw + 16), 0xa1a2a3a4);
    ck_assert_uint_eq(le_load32(raw + 20), 1234);
    ck_assert_uint_eq(le_load32(raw + 24), 77);
    ck_assert_uint_eq(le_load16(raw + 28), 1);
    ck_assert_uint_eq(le_load16(raw + 30), VSOCK_OP_RW);
    ck_assert_uint_eq(le_load32(raw + 32), 3);
    ck_assert_uint_eq(le_load32(raw + 36), 0x10000);
    ck_assert_uint_eq(le_load32(raw + 40), 0xfffffff0);
    VsockHdr back;
    vsock_hdr_decode(&back, raw);
    ck_assert_uint_eq(back.src_cid, h.src_cid);
    ck_assert_uint_eq(back.dst_cid, h.dst_cid);
    ck_assert_uint_eq(back.src_port, h.src_port);
    ck_assert_uint_eq(back.dst_port, h.dst_port);
    ck_assert_uint_eq(back.len, h.len);
    ck_assert_uint_eq(back.type, h.type);
    ck_assert_uint_eq(back.op, h.op);
    ck_assert_uint_eq(back.flags, h.flags);
    ck_assert_uint_eq(back.buf_alloc, h.buf_alloc);
    ck_assert_uint_eq(back.fwd_cnt, h.fwd_cnt);
    ck_assert_str_eq(vsock_op_name(VSOCK_OP_CREDIT_REQUEST), "CREDIT_REQUEST");
    ck_assert_str_eq(vsock_op_name(999), "unknown");
}
END_TEST

START_TEST(test_packet_check)
{
    const char *why;
    VsockHdr h = mkhdr(VSOCK_OP_RW, 100, 200, 10);
    ck_assert_int_eq(vsock_packet_check(&h, 3, 10, &why), VSOCK_PKT_ACCEPT);
    ck_assert_int_eq(vsock_packet_check(&h, 3, 9, &why), VSOCK_PKT_RESET); /* len past buffers */
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(vsock_packet_check(&h, 4, 10, &why), VSOCK_PKT_DROP); /* spoofed source */
    h.dst_cid = 7;
    ck_assert_int_eq(vsock_packet_check(&h, 3, 10, &why), VSOCK_PKT_DROP);
    h = mkhdr(VSOCK_OP_RW, 1, 2, VSOCK_MAX_PAYLOAD + 1);
    ck_assert_int_eq(vsock_packet_check(&h, 3, UINT32_MAX, &why), VSOCK_PKT_RESET);
    h = mkhdr(0, 1, 2, 0);
    ck_assert_int_eq(vsock_packet_check(&h, 3, 0, &why), VSOCK_PKT_RESET);
    h = mkhdr(8, 1, 2, 0);
    ck_assert_int_eq(vsock_packet_check(&h, 3, 0, &why), VSOCK_PKT_RESET);
    h = mkhdr(VSOCK_OP_REQUEST, 1, 2, 0);
    h.type = 2; /* seqpacket: not offered */
    ck_assert_int_eq(vsock_packet_check(&h, 3, 0, &why), VSOCK_PKT_RESET);
    /* Control packets: a stray len is ignored, not trusted. */
    h = mkhdr(VSOCK_OP_CREDIT_UPDATE, 1, 2, 5000);
    ck_assert_int_eq(vsock_packet_check(&h, 3, 0, NULL), VSOCK_PKT_ACCEPT);
    for (uint16_t op = VSOCK_OP_REQUEST; op <= VSOCK_OP_CREDIT_REQUEST; op++) {
        h = mkhdr(op, 1, 2, 0);
        ck_assert_int_eq(vsock_packet_check(&h, 3, 0, NULL), VSOCK_PKT_ACCEPT);
    }
}
END_TEST

START_TEST(test_credit_math)
{
    ck_assert_uint_eq(vsock_credit_free(1000, 0, 0), 1000);
    ck_assert_uint_eq(vsock_credit_free(1000, 0, 400), 600);
    ck_assert_uint_eq(vsock_credit_free(1000, 400, 400), 1000);
    ck_assert_uint_eq(vsock_credit_free(1000, 0, 1000), 0);
    /* Counters wrap at 2^32. */
    ck_assert_uint_eq(vsock_credit_free(1000, 0xfffffff0u, 0x10), 1000 - 0x20);
    /* A hostile fwd_cnt ahead of what we sent, or more in flight than the
     * buffer: no credit, never a huge number. */
    ck_assert_uint_eq(vsock_credit_free(1000, 5000, 10), 0);
    ck_assert_uint_eq(vsock_credit_free(0, 0, 0), 0);

    VsockConn *c = vsock_conn_new(1, 2, -1);
    VsockHdr h = mkhdr(VSOCK_OP_CREDIT_UPDATE, 2, 1, 0);
    h.buf_alloc = 100;
    h.fwd_cnt = 0;
    vsock_conn_peer_credit_update(c, &h);
    c->tx_cnt = 60;
    ck_assert_uint_eq(vsock_conn_peer_credit(c), 40);
    /* Our side: the guest may send what the ring holds. */
    ck_assert(vsock_conn_rx_fits(c, VSOCK_CONN_BUF_ALLOC));
    ck_assert(!vsock_conn_rx_fits(c, VSOCK_CONN_BUF_ALLOC + 1));
    /* Credit update due once the guest's view of our free space is low and
     * something was forwarded since we last told it. */
    ck_assert(!vsock_conn_credit_update_due(c));
    c->rx_cnt = VSOCK_CONN_BUF_ALLOC - 10;
    ck_assert(!vsock_conn_credit_update_due(c)); /* nothing forwarded yet */
    c->fwd_cnt = 100;
    ck_assert(vsock_conn_credit_update_due(c));
    VsockHdr out = { 0 };
    vsock_conn_stamp(c, &out);
    ck_assert_uint_eq(out.fwd_cnt, 100);
    ck_assert_uint_eq(out.buf_alloc, VSOCK_CONN_BUF_ALLOC);
    ck_assert(!vsock_conn_credit_update_due(c));
    vsock_conn_free(c);
}
END_TEST

START_TEST(test_iov_helpers)
{
    uint8_t a[3], b[5], c[7];
    struct iovec iov[] = { { a, 3 }, { b, 0 }, { b, 5 }, { c, 7 } };
    uint8_t src[15], dst[15];
    for (unsigned i = 0; i < 15; i++)
        src[i] = (uint8_t)(i + 1);
    ck_assert_uint_eq(vsock_iov_from_buf(iov, 4, 0, src, 15), 15);
    ck_assert_uint_eq(a[2], 3);
    ck_assert_uint_eq(b[0], 4);
    ck_assert_uint_eq(c[6], 15);
    memset(dst, 0, sizeof dst);
    ck_assert_uint_eq(vsock_iov_to_buf(iov, 4, 2, dst, 100), 13); /* ends with the iovecs */
    ck_assert_mem_eq(dst, src + 2, 13);
    struct iovec out[4];
    size_t covered;
    unsigned k = vsock_iov_slice(iov, 4, 4, 6, out, 4, &covered);
    ck_assert_uint_eq(covered, 6);
    ck_assert_uint_eq(k, 2);
    ck_assert_ptr_eq(out[0].iov_base, b + 1);
    ck_assert_uint_eq(out[0].iov_len, 4);
    ck_assert_ptr_eq(out[1].iov_base, c);
    ck_assert_uint_eq(out[1].iov_len, 2);
    k = vsock_iov_slice(iov, 4, 0, 15, out, 2, &covered); /* out[] too short */
    ck_assert_uint_eq(k, 2);
    ck_assert_uint_eq(covered, 8);
    k = vsock_iov_slice(iov, 4, 100, 5, out, 4, &covered);
    ck_assert_uint_eq(k, 0);
    ck_assert_uint_eq(covered, 0);
}
END_TEST

START_TEST(test_ring)
{
    VsockRing r;
    vsock_ring_init(&r, 8);
    ck_assert_uint_eq(vsock_ring_free(&r), 8);
    ck_assert_uint_eq(vsock_ring_push(&r, "abcdef", 6), 6);
    vsock_ring_consume(&r, 4);
    ck_assert_uint_eq(vsock_ring_push(&r, "ghijklmn", 8), 6); /* only 6 free */
    struct iovec v[2];
    unsigned k = vsock_ring_peek(&r, v);
    ck_assert_uint_eq(k, 2);
    ck_assert_uint_eq(v[0].iov_len + v[1].iov_len, 8);
    char flat[8];
    memcpy(flat, v[0].iov_base, v[0].iov_len);
    memcpy(flat + v[0].iov_len, v[1].iov_base, v[1].iov_len);
    ck_assert_mem_eq(flat, "efghijkl", 8);
    vsock_ring_consume(&r, 8);
    ck_assert_uint_eq(vsock_ring_peek(&r, v), 0);
    vsock_ring_clear(&r);
}
END_TEST

START_TEST(test_conn_table)
{
    VsockConnTable t;
    vsock_conn_table_init(&t);
    VsockConn *a = vsock_conn_new(5000, 777, -1);
    VsockConn *b = vsock_conn_new(5000, 778, -1);
    VsockConn *dup = vsock_conn_new(5000, 777, -1);
    ck_assert(vsock_conn_table_insert(&t, a));
    ck_assert(vsock_conn_table_insert(&t, b));
    ck_assert(!vsock_conn_table_insert(&t, dup));
    ck_assert_uint_eq(vsock_conn_table_count(&t), 2);
    ck_assert_ptr_eq(vsock_conn_table_lookup(&t, 5000, 777), a);
    ck_assert_ptr_eq(vsock_conn_table_lookup(&t, 5000, 778), b);
    ck_assert_ptr_null(vsock_conn_table_lookup(&t, 777, 5000));
    vsock_conn_table_remove(&t, dup); /* not the entry under its key: no-op */
    ck_assert_ptr_eq(vsock_conn_table_lookup(&t, 5000, 777), a);
    uint32_t p1 = vsock_conn_table_alloc_port(&t, 1234);
    ck_assert_uint_ge(p1, VSOCK_EPHEMERAL_BASE);
    VsockConn *h = vsock_conn_new(p1, 1234, -1);
    ck_assert(vsock_conn_table_insert(&t, h));
    uint32_t p2 = vsock_conn_table_alloc_port(&t, 1234);
    ck_assert_uint_ne(p1, p2);
    /* The allocator skips taken keys even after wrapping. */
    t.next_port = UINT32_MAX - 1;
    VsockConn *w = vsock_conn_new(UINT32_MAX - 1, 9, -1);
    ck_assert(vsock_conn_table_insert(&t, w));
    uint32_t p3 = vsock_conn_table_alloc_port(&t, 9);
    ck_assert_uint_eq(p3, VSOCK_EPHEMERAL_BASE);
    unsigned n;
    g_autofree uint64_t *keys = vsock_conn_table_keys(&t, &n);
    ck_assert_uint_eq(n, 4);
    for (unsigned i = 0; i < n; i++) {
        VsockConn *c = vsock_conn_table_lookup_key(&t, keys[i]);
        ck_assert_ptr_nonnull(c);
        vsock_conn_table_remove(&t, c);
        vsock_conn_free(c);
    }
    ck_assert_uint_eq(vsock_conn_table_count(&t), 0);
    vsock_conn_free(dup);
    vsock_conn_table_destroy(&t);
}
END_TEST

static Suite *vsock_packet_suite(void)
{
    Suite *s = suite_create("virtio_vsock_packet");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, test_hdr_codec);
    tcase_add_test(tc, test_packet_check);
    tcase_add_test(tc, test_credit_math);
    tcase_add_test(tc, test_iov_helpers);
    tcase_add_test(tc, test_ring);
    tcase_add_test(tc, test_conn_table);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(vsock_packet_suite)
