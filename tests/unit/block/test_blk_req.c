/* Tests of devices/virtio/blk/blk_req.c: parsing virtio-blk requests from a
 * chain's iovecs, without a transport. Well-formed requests of every type,
 * headers and segments spanning buffers, and hostile chains: no status byte,
 * the header in a writable buffer or short, sector ranges that overflow or
 * pass the capacity, odd data lengths, short GET_ID buffers, bad segment
 * lists, writes to a read-only disk, unknown types; plus random chains that
 * must never be read out of bounds (run under ASan). */
#include "devices/virtio/blk/blk_req.h"
#include "hypervisor/le.h"
#include "support/check_main.h"

#include <glib.h>
#include <string.h>

#define CAP 2048u /* sectors: 1 MiB */

static BlkLimits lim(bool readonly)
{
    return (BlkLimits){
        .capacity = CAP,
        .readonly = readonly,
        .discard = !readonly,
        .write_zeroes = !readonly,
        .max_discard_sectors = 1024,
        .max_discard_seg = 4,
        .max_write_zeroes_sectors = 1024,
        .max_write_zeroes_seg = 4,
    };
}

static void hdr(uint8_t *h, uint32_t type, uint64_t sector)
{
    memset(h, 0xAA, 16); /* reserved bytes are ignored */
    le_store32(h, type);
    le_store64(h + 8, sector);
}

static void seg(uint8_t *p, uint64_t sector, uint32_t n, uint32_t flags)
{
    le_store64(p, sector);
    le_store32(p + 8, n);
    le_store32(p + 12, flags);
}

static uint8_t h[16], status, data[4096];

static BlkParseResult parse1(const BlkLimits *l, struct iovec *out, unsigned no, struct iovec *in,
                             unsigned ni, BlkReq *r)
{
    return blk_req_parse(out, no, in, ni, l, r);
}

START_TEST(test_read)
{
    BlkLimits l = lim(false);
    BlkReq r;
    hdr(h, VIRTIO_BLK_T_IN, 7);
    struct iovec out[1] = { { h, 16 } };
    struct iovec in[3] = { { data, 1024 }, { data + 1024, 512 }, { &status, 1 } };
    ck_assert_int_eq(parse1(&l, out, 1, in, 3, &r), BLK_PARSE_OK);
    ck_assert_uint_eq(r.type, VIRTIO_BLK_T_IN);
    ck_assert_uint_eq(r.sector, 7);
    ck_assert_uint_eq(r.data_len, 1536);
    ck_assert_uint_eq(r.ndata, 2);
    ck_assert_ptr_eq(r.status, &status);
    blk_req_clear(&r);
    /* Data and status in one writable buffer. */
    struct iovec one[1] = { { data, 513 } };
    ck_assert_int_eq(parse1(&l, out, 1, one, 1, &r), BLK_PARSE_OK);
    ck_assert_uint_eq(r.data_len, 512);
    ck_assert_ptr_eq(r.status, data + 512);
    ck_assert_uint_eq(r.data[0].iov_len, 512);
    blk_req_clear(&r);
    /* A trailing zero-length writable buffer does not hide the status. */
    struct iovec z[3] = { { data, 512 }, { &status, 1 }, { data + 600, 0 } };
    ck_assert_int_eq(parse1(&l, out, 1, z, 3, &r), BLK_PARSE_OK);
    ck_assert_ptr_eq(r.status, &status);
    blk_req_clear(&r);
    /* The last sector. */
    hdr(h, VIRTIO_BLK_T_IN, CAP - 1);
    struct iovec last[2] = { { data, 512 }, { &status, 1 } };
    ck_assert_int_eq(parse1(&l, out, 1, last, 2, &r), BLK_PARSE_OK);
    blk_req_clear(&r);
    /* Zero-length read at the capacity: nothing to do, fine. */
    hdr(h, VIRTIO_BLK_T_IN, CAP);
    struct iovec st[1] = { { &status, 1 } };
    ck_assert_int_eq(parse1(&l, out, 1, st, 1, &r), BLK_PARSE_OK);
    ck_assert_uint_eq(r.data_len, 0);
    blk_req_clear(&r);
}
END_TEST

START_TEST(test_write_header_split)
{
    BlkLimits l = lim(false);
    BlkReq r;
    /* Header over three buffers, data follows in the last one. */
    uint8_t buf[16 + 1024];
    hdr(buf, VIRTIO_BLK_T_OUT, 100);
    struct iovec out[3] = { { buf, 5 }, { buf + 5, 7 }, { buf + 12, 4 + 1024 } };
    struct iovec in[1] = { { &status, 1 } };
    ck_assert_int_eq(parse1(&l, out, 3, in, 1, &r), BLK_PARSE_OK);
    ck_assert_uint_eq(r.type, VIRTIO_BLK_T_OUT);
    ck_assert_uint_eq(r.sector, 100);
    ck_assert_uint_eq(r.data_len, 1024);
    ck_assert_uint_eq(r.ndata, 1);
    ck_assert_ptr_eq(r.data[0].iov_base, buf + 16);
    blk_req_clear(&r);
    /* Read-only disk: IOERR, not a reset. */
    BlkLimits ro = lim(true);
    ck_assert_int_eq(parse1(&ro, out, 3, in, 1, &r), BLK_PARSE_STATUS);
    ck_assert_uint_eq(r.status_code, VIRTIO_BLK_S_IOERR);
    ck_assert_ptr_eq(r.status, &status);
    blk_req_clear(&r);
}
END_TEST

START_TEST(test_flush_get_id)
{
    BlkLimits l = lim(true);
    BlkReq r;
    struct iovec out[1] = { { h, 16 } };
    hdr(h, VIRTIO_BLK_T_FLUSH, 0);
    struct iovec st[1] = { { &status, 1 } };
    ck_assert_int_eq(parse1(&l, out, 1, st, 1, &r), BLK_PARSE_OK);
    blk_req_clear(&r);
    hdr(h, VIRTIO_BLK_T_GET_ID, 0);
    struct iovec id[2] = { { data, 20 }, { &status, 1 } };
    ck_assert_int_eq(parse1(&l, out, 1, id, 2, &r), BLK_PARSE_OK);
    ck_assert_uint_eq(r.data_len, 20);
    blk_req_clear(&r);
    /* Short GET_ID buffer: IOERR. */
    struct iovec shortid[2] = { { data, 19 }, { &status, 1 } };
    ck_assert_int_eq(parse1(&l, out, 1, shortid, 2, &r), BLK_PARSE_STATUS);
    ck_assert_uint_eq(r.status_code, VIRTIO_BLK_S_IOERR);
    blk_req_clear(&r);
    ck_assert_int_eq(parse1(&l, out, 1, st, 1, &r), BLK_PARSE_STATUS);
    blk_req_clear(&r);
}
END_TEST

START_TEST(test_malformed)
{
    BlkLimits l = lim(false);
    BlkReq r;
    hdr(h, VIRTIO_BLK_T_IN, 0);
    struct iovec out[1] = { { h, 16 } };
    /* No writable buffer at all: no status byte. */
    ck_assert_int_eq(parse1(&l, out, 1, NULL, 0, &r), BLK_PARSE_MALFORMED);
    ck_assert_ptr_null(r.status);
    ck_assert_ptr_nonnull(r.why);
    blk_req_clear(&r);
    /* Only zero-length writable buffers. */
    struct iovec zin[2] = { { data, 0 }, { data, 0 } };
    ck_assert_int_eq(parse1(&l, out, 1, zin, 2, &r), BLK_PARSE_MALFORMED);
    blk_req_clear(&r);
    /* The header in a writable buffer (nothing readable). */
    uint8_t w[17];
    hdr(w, VIRTIO_BLK_T_IN, 0);
    struct iovec win[1] = { { w, 17 } };
    ck_assert_int_eq(parse1(&l, NULL, 0, win, 1, &r), BLK_PARSE_MALFORMED);
    blk_req_clear(&r);
    /* A short header (15 bytes over two buffers). */
    struct iovec sh[2] = { { h, 8 }, { h + 8, 7 } };
    struct iovec st[1] = { { &status, 1 } };
    ck_assert_int_eq(parse1(&l, sh, 2, st, 1, &r), BLK_PARSE_MALFORMED);
    ck_assert_ptr_null(r.status);
    blk_req_clear(&r);
}
END_TEST

/* Sector ranges: overflow and capacity give IOERR, never a reset. */
START_TEST(test_sector_range)
{
    BlkLimits l = lim(false);
    BlkReq r;
    static const uint64_t bad[] = { CAP, CAP + 1, UINT64_MAX, UINT64_MAX / 512 + 1,
                                    (UINT64_MAX / 512) - 1, 1ull << 63 };
    struct iovec out[1] = { { h, 16 } };
    struct iovec in[2] = { { data, 1024 }, { &status, 1 } };
    for (unsigned t = 0; t < 2; t++) {
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
            hdr(h, t ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, bad[i]);
            uint8_t o[16 + 512];
            memcpy(o, h, 16);
            struct iovec wo[1] = { { o, sizeof o } };
            BlkParseResult pr = t ? parse1(&l, wo, 1, in + 1, 1, &r) : parse1(&l, out, 1, in, 2, &r);
            ck_assert_int_eq(pr, BLK_PARSE_STATUS);
            ck_assert_uint_eq(r.status_code, VIRTIO_BLK_S_IOERR);
            blk_req_clear(&r);
        }
    }
    /* Two sectors starting at the last one. */
    hdr(h, VIRTIO_BLK_T_IN, CAP - 1);
    ck_assert_int_eq(parse1(&l, out, 1, in, 2, &r), BLK_PARSE_STATUS);
    blk_req_clear(&r);
}
END_TEST

START_TEST(test_data_len)
{
    BlkLimits l = lim(false);
    BlkReq r;
    hdr(h, VIRTIO_BLK_T_IN, 0);
    struct iovec out[1] = { { h, 16 } };
    struct iovec in[2] = { { data, 1000 }, { &status, 1 } };
    ck_assert_int_eq(parse1(&l, out, 1, in, 2, &r), BLK_PARSE_STATUS);
    ck_assert_uint_eq(r.status_code, VIRTIO_BLK_S_IOERR);
    blk_req_clear(&r);
    uint8_t o[16 + 700];
    hdr(o, VIRTIO_BLK_T_OUT, 0);
    struct iovec wo[1] = { { o, sizeof o } };
    ck_assert_int_eq(parse1(&l, wo, 1, in + 1, 1, &r), BLK_PARSE_STATUS);
    ck_assert_uint_eq(r.status_code, VIRTIO_BLK_S_IOERR);
    blk_req_clear(&r);
}
END_TEST

START_TEST(test_unsupported)
{
    BlkLimits l = lim(false);
    BlkReq r;
    static const uint32_t types[] = { 2, 3, 5, VIRTIO_BLK_T_GET_LIFETIME,
                                      VIRTIO_BLK_T_SECURE_ERASE, 99, UINT32_MAX };
    struct iovec out[1] = { { h, 16 } };
    struct iovec in[2] = { { data, 512 }, { &status, 1 } };
    for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
        hdr(h, types[i], 0);
        ck_assert_int_eq(parse1(&l, out, 1, in, 2, &r), BLK_PARSE_STATUS);
        ck_assert_uint_eq(r.status_code, VIRTIO_BLK_S_UNSUPP);
        blk_req_clear(&r);
    }
}
END_TEST

static BlkParseResult parse_segs(const BlkLimits *l, uint32_t type, const uint8_t *segs,
                                 size_t len, BlkReq *r)
{
    static uint8_t buf[16 + 1024];
    hdr(buf, type, 0);
    memcpy(buf + 16, segs, len);
    /* Split the list at an odd place to cross buffers. */
    size_t cut = 16 + (len > 9 ? 9 : len);
    struct iovec out[2] = { { buf, cut }, { buf + cut, 16 + len - cut } };
    struct iovec in[1] = { { &status, 1 } };
    return blk_req_parse(out, 2, in, 1, l, r);
}

START_TEST(test_segments)
{
    BlkLimits l = lim(false);
    BlkReq r;
    uint8_t s[16 * 8];
    seg(s, 0, 8, 0);
    seg(s + 16, CAP - 8, 8, 0);
    ck_assert_int_eq(parse_segs(&l, VIRTIO_BLK_T_DISCARD, s, 32, &r), BLK_PARSE_OK);
    ck_assert_uint_eq(r.nsegs, 2);
    ck_assert_uint_eq(r.segs[1].sector, CAP - 8);
    ck_assert_uint_eq(r.segs[1].num_sectors, 8);
    blk_req_clear(&r);
    /* WRITE_ZEROES with UNMAP is allowed; DISCARD with any flag is UNSUPP. */
    seg(s, 16, 16, VIRTIO_BLK_WZ_F_UNMAP);
    ck_assert_int_eq(parse_segs(&l, VIRTIO_BLK_T_WRITE_ZEROES, s, 16, &r), BLK_PARSE_OK);
    ck_assert_uint_eq(r.segs[0].flags, VIRTIO_BLK_WZ_F_UNMAP);
    blk_req_clear(&r);
    ck_assert_int_eq(parse_segs(&l, VIRTIO_BLK_T_DISCARD, s, 16, &r), BLK_PARSE_STATUS);
    ck_assert_uint_eq(r.status_code, VIRTIO_BLK_S_UNSUPP);
    blk_req_clear(&r);
    seg(s, 16, 16, 2);
    ck_assert_int_eq(parse_segs(&l, VIRTIO_BLK_T_WRITE_ZEROES, s, 16, &r), BLK_PARSE_STATUS);
    ck_assert_uint_eq(r.status_code, VIRTIO_BLK_S_UNSUPP);
    blk_req_clear(&r);
    /* Beyond the capacity, overflowing, too large, too many, bad length. */
    struct {
        uint64_t sector;
        uint32_t n;
        size_t len;
    } bad[] = {
        { CAP - 7, 8, 16 }, { UINT64_MAX, 1, 16 }, { UINT64_MAX - 3, 8, 16 },
        { 0, 1025, 16 },    { 0, 1, 16 * 5 },      { 0, 1, 15 },
        { 0, 1, 0 },        { 0, 1, 17 },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        for (size_t k = 0; k < 8; k++)
            seg(s + 16 * k, bad[i].sector, bad[i].n, 0);
        for (int t = 0; t < 2; t++) {
            uint32_t type = t ? VIRTIO_BLK_T_WRITE_ZEROES : VIRTIO_BLK_T_DISCARD;
            ck_assert_int_eq(parse_segs(&l, type, s, bad[i].len, &r), BLK_PARSE_STATUS);
            ck_assert_msg(r.status_code == VIRTIO_BLK_S_IOERR, "case %zu", i);
            blk_req_clear(&r);
        }
    }
    /* Read-only: IOERR; not negotiated: UNSUPP. */
    seg(s, 0, 8, 0);
    BlkLimits ro = lim(true);
    ck_assert_int_eq(parse_segs(&ro, VIRTIO_BLK_T_DISCARD, s, 16, &r), BLK_PARSE_STATUS);
    ck_assert_uint_eq(r.status_code, VIRTIO_BLK_S_IOERR);
    blk_req_clear(&r);
    l.write_zeroes = false;
    ck_assert_int_eq(parse_segs(&l, VIRTIO_BLK_T_WRITE_ZEROES, s, 16, &r), BLK_PARSE_STATUS);
    ck_assert_uint_eq(r.status_code, VIRTIO_BLK_S_UNSUPP);
    blk_req_clear(&r);
}
END_TEST

/* Random chains over exactly-sized heap buffers: whatever the result, the
 * parser stays inside them (ASan) and OK requests are self-consistent. */
START_TEST(test_random)
{
    GRand *rnd = g_rand_new_with_seed(1234);
    BlkLimits l = lim(false);
    for (int iter = 0; iter < 20000; iter++) {
        struct iovec out[4], in[4];
        unsigned no = g_rand_int_range(rnd, 0, 5), ni = g_rand_int_range(rnd, 0, 5);
        for (unsigned i = 0; i < no; i++) {
            size_t len = g_rand_int_range(rnd, 0, 40);
            uint8_t *b = g_malloc(len ? len : 1);
            for (size_t k = 0; k < len; k++)
                b[k] = (uint8_t)g_rand_int(rnd);
            if (len >= 4 && g_rand_boolean(rnd))
                le_store32(b, (uint32_t)g_rand_int_range(rnd, 0, 15));
            out[i] = (struct iovec){ b, len };
        }
        for (unsigned i = 0; i < ni; i++) {
            size_t len = g_rand_int_range(rnd, 0, 1100);
            in[i] = (struct iovec){ g_malloc(len ? len : 1), len };
        }
        BlkReq r;
        BlkParseResult pr = blk_req_parse(out, no, in, ni, &l, &r);
        if (pr != BLK_PARSE_MALFORMED) {
            ck_assert_ptr_nonnull(r.status);
            *r.status = 0; /* must be writable and in bounds */
        }
        if (pr == BLK_PARSE_OK) {
            uint64_t t = 0;
            for (unsigned i = 0; i < r.ndata; i++)
                t += r.data[i].iov_len;
            ck_assert_uint_eq(t, r.data_len);
        }
        blk_req_clear(&r);
        for (unsigned i = 0; i < no; i++)
            g_free(out[i].iov_base);
        for (unsigned i = 0; i < ni; i++)
            g_free(in[i].iov_base);
    }
    g_rand_free(rnd);
}
END_TEST

static Suite *blk_req_suite(void)
{
    Suite *s = suite_create("blk_req");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_read);
    tcase_add_test(tc, test_write_header_split);
    tcase_add_test(tc, test_flush_get_id);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_sector_range);
    tcase_add_test(tc, test_data_len);
    tcase_add_test(tc, test_unsupported);
    tcase_add_test(tc, test_segments);
    tcase_add_test(tc, test_random);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(blk_req_suite)
