/* Randomized test of devices/virtio/queue.c: random bytes (raw, or biased
 * towards almost-valid values) in the descriptor table, indirect tables and
 * the avail ring, for many iterations. Every pop must return a valid element
 * (all iovecs inside guest RAM, consistent counts) or a status, never crash
 * and never touch host memory outside guest RAM (guard pages, ASan). */
#include "support/check_main.h"
#include "unit/virtio/queue_fixture.h"

#include "hypervisor/le.h"

#define ITERATIONS 5000
#define TABLES FX_DATA /* 4 KiB of candidate indirect tables */
#define TABLES_SIZE 4096u

static GRand *rng;

static uint32_t rnd(uint32_t below)
{
    return (uint32_t)g_rand_int_range(rng, 0, (gint32)below);
}

static uint64_t rnd64(void)
{
    return g_rand_int(rng) | (uint64_t)g_rand_int(rng) << 32;
}

static uint64_t biased_addr(void)
{
    switch (rnd(8)) {
    case 0: return rnd64();
    case 1: return FX_LOW_SIZE - rnd(64);
    case 2: return FX_HIGH_GPA + rnd(FX_HIGH_SIZE + 64);
    case 3: return UINT64_MAX - rnd(64);
    case 4: return TABLES + 16 * rnd(TABLES_SIZE / 16);
    default: return FX_DATA + rnd(FX_DATA_SIZE);
    }
}

static uint32_t biased_len(void)
{
    switch (rnd(6)) {
    case 0: return 0;
    case 1: return g_rand_int(rng);
    case 2: return 16 * (1 + rnd(8));
    default: return rnd(4096);
    }
}

static void biased_desc(uint8_t raw[16], uint16_t table_entries)
{
    le_store64(raw, biased_addr());
    le_store32(raw + 8, biased_len());
    le_store16(raw + 12, rnd(4) ? (uint16_t)rnd(8) : (uint16_t)g_rand_int(rng));
    le_store16(raw + 14, rnd(8) ? (uint16_t)rnd(table_entries + 2u) : (uint16_t)g_rand_int(rng));
}

static void random_fill(Gpa gpa, uint64_t len, bool biased, uint16_t entries)
{
    g_autofree uint8_t *buf = g_malloc(len);
    if (biased) {
        for (uint64_t off = 0; off + 16 <= len; off += 16)
            biased_desc(buf + off, entries);
    } else {
        for (uint64_t off = 0; off < len; off++)
            buf[off] = (uint8_t)g_rand_int(rng);
    }
    ck_assert(memory_write(fx.mem, gpa, buf, len));
}

static void check_element(const VirtqElement *e, uint16_t size)
{
    ck_assert_uint_lt(e->head, size);
    ck_assert_uint_ge(e->ndesc, 1);
    ck_assert(fx_iov_in_ram(e));
    ck_assert_ptr_eq(e->out_iov, e->iov);
    ck_assert_ptr_eq(e->in_iov, e->iov + e->out_num);
    uint64_t out = 0, in = 0;
    for (uint32_t i = 0; i < e->out_num; i++)
        out += e->out_iov[i].iov_len;
    for (uint32_t i = 0; i < e->in_num; i++)
        in += e->in_iov[i].iov_len;
    ck_assert_uint_eq(out, e->out_bytes);
    ck_assert_uint_eq(in, e->in_bytes);
    ck_assert_uint_le(out + in, 1ull << 32);
}

static bool known_status(VirtqStatus st)
{
    return (st >= VIRTQ_ERR_ORDER && st <= VIRTQ_ERR_AVAIL_IDX) || st == VIRTQ_OK ||
           st == VIRTQ_EMPTY;
}

START_TEST(test_random_rings)
{
    rng = g_rand_new_with_seed(0x5eed0000u + (guint32)_i);
    unsigned ok = 0, errors = 0;
    for (unsigned it = 0; it < ITERATIONS; it++) {
        uint16_t size = (uint16_t)(1u << rnd(9));
        uint64_t features = (rnd(2) ? VIRTQ_F_INDIRECT_DESC : 0) | (rnd(2) ? VIRTQ_F_EVENT_IDX : 0);
        fx_queue(size, features);
        bool biased = rnd(4) != 0;
        random_fill(fx.drv.desc, VIRTQ_DESC_BYTES(size), biased, size);
        random_fill(TABLES, TABLES_SIZE, biased, 8);
        if (biased) {
            for (uint16_t slot = 0; slot < size; slot++)
                virtq_driver_set_avail_slot(&fx.drv, slot,
                                            rnd(8) ? (uint16_t)rnd(size) : (uint16_t)g_rand_int(rng));
            virtq_driver_set_avail_flags(&fx.drv, (uint16_t)rnd(2));
            virtq_driver_set_used_event(&fx.drv, (uint16_t)rnd(size + 1u));
            virtq_driver_set_avail_idx(&fx.drv,
                                       rnd(8) ? (uint16_t)rnd(size + 1u) : (uint16_t)g_rand_int(rng));
        } else {
            random_fill(fx.drv.avail, VIRTQ_AVAIL_BYTES(size), false, 0);
        }
        if (rnd(4) == 0)
            virtq_disable_notification(&fx.vq);
        for (unsigned n = 0; n <= size + 1u; n++) {
            VirtqStatus st = virtq_pop(&fx.vq, &fx.el);
            ck_assert_msg(known_status(st), "status %d", st);
            if (st == VIRTQ_OK) {
                ok++;
                check_element(&fx.el, size);
                if (rnd(2))
                    virtq_push(&fx.vq, fx.el.head, (uint32_t)fx.el.in_bytes);
                else
                    virtq_fill(&fx.vq, fx.el.head, 0);
                (void)virtq_should_notify(&fx.vq);
                continue;
            }
            if (virtq_is_error(st)) {
                errors++;
                ck_assert_int_eq(virtq_pop(&fx.vq, &fx.el), st);
                ck_assert_uint_eq(fx.el.out_num + fx.el.in_num, 0);
            } else if (virtq_enable_notification(&fx.vq)) {
                continue;
            }
            break;
        }
        virtq_flush(&fx.vq);
    }
    /* Both outcomes were exercised. */
    ck_assert_uint_gt(ok, 100);
    ck_assert_uint_gt(errors, 100);
    g_rand_free(rng);
}
END_TEST

static Suite *queue_random_suite(void)
{
    fx_log_once();
    Suite *s = suite_create("virtio_queue_random");
    TCase *tc = tcase_create("random");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 110);
    tcase_add_loop_test(tc, test_random_rings, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(queue_random_suite)
