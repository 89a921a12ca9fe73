/* Tests of devices/block/: both engines (every loop test runs with _i = 0
 * for sync and _i = 1 for io_uring) on temporary image files: reads and
 * writes checked against a model of the image, flush, discard,
 * write-zeroes (fallocate and the zero-writing fallback), O_DIRECT with
 * unaligned buffers and ranges, read-only refusals, range checks, drain, and
 * the open-time errors. Completions run on an EventLoop iterated here. */
#include "devices/block/block.h"
#include "devices/block/block_int.h"
#include "hypervisor/error.h"
#include "support/check_main.h"
#include "support/uring_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IMG_SIZE (1u << 20)

static char *tmpdir;
static char *img;
static uint8_t *model; /* what the image should contain */
static EventLoop *loop;

static void setup(void)
{
    tmpdir = g_dir_make_tmp("nimbus-block-XXXXXX", NULL);
    ck_assert_ptr_nonnull(tmpdir);
    img = g_build_filename(tmpdir, "disk.img", NULL);
    model = g_malloc(IMG_SIZE);
    GRand *r = g_rand_new_with_seed(42);
    for (unsigned i = 0; i < IMG_SIZE / 4; i++)
        ((uint32_t *)model)[i] = g_rand_int(r);
    g_rand_free(r);
    ck_assert(g_file_set_contents(img, (const char *)model, IMG_SIZE, NULL));
    loop = evloop_new("block-test");
}

static void teardown(void)
{
    evloop_free(loop);
    unlink(img);
    rmdir(tmpdir);
    g_free(img);
    g_free(tmpdir);
    g_free(model);
}

static BlockEngineKind engine_of(int i)
{
    return i == 0 ? BLOCK_ENGINE_SYNC : BLOCK_ENGINE_URING;
}

/* The io_uring half (i = 1) of a loop test needs io_uring. */
static bool uring_missing(int i)
{
    return i == 1 && uring_probe_missing();
}
#define SKIP_WITHOUT_URING()                                                           \
    do {                                                                               \
        if (uring_missing(_i))                                                         \
            return;                                                                    \
    } while (0)

static BlockDev *open_img(int i, bool readonly, bool direct)
{
    g_autoptr(GError) err = NULL;
    BlockOpenOptions o = { .readonly = readonly, .direct = direct, .engine = engine_of(i) };
    BlockDev *bd = block_open(img, &o, &err);
    ck_assert_msg(bd, "%s", err ? err->message : "?");
    ck_assert_msg(block_attach(bd, loop, &err), "%s", err ? err->message : "?");
    ck_assert_str_eq(block_engine_name(bd), i == 0 ? "sync" : "io_uring");
    ck_assert_uint_eq(block_size(bd), IMG_SIZE);
    return bd;
}

typedef struct Done {
    int count;
    int64_t ret;
} Done;

static void on_done(void *opaque, int64_t ret)
{
    Done *d = opaque;
    d->count++;
    d->ret = ret;
}

static void wait_for(Done *d, int n)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
    while (d->count < n && g_get_monotonic_time() < deadline)
        g_main_context_iteration(evloop_context(loop), TRUE);
    ck_assert_int_eq(d->count, n);
}

/* Submit one request, kick, and wait for it; returns its result. */
static int64_t run(BlockDev *bd, BlockOp op, uint64_t off, uint64_t len, struct iovec *iov,
                   unsigned n, bool unmap)
{
    Done d = { 0 };
    BlockRequest r = { .op = op, .offset = off, .len = len, .iov = iov, .iovcnt = n,
                       .may_unmap = unmap, .cb = on_done, .opaque = &d };
    block_submit(bd, &r);
    ck_assert_int_eq(d.count, 0); /* never completes inside submit */
    block_kick(bd);
    wait_for(&d, 1);
    ck_assert_uint_eq(block_inflight(bd), 0);
    return d.ret;
}

static int64_t rw(BlockDev *bd, BlockOp op, uint64_t off, void *buf, uint64_t len)
{
    struct iovec v = { buf, len };
    return run(bd, op, off, 0, &v, 1, false);
}

/* The file's bytes (read without the engine) equal the model. */
static void check_file(void)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    ck_assert(g_file_get_contents(img, &data, &len, NULL));
    ck_assert_uint_eq(len, IMG_SIZE);
    g_autofree char *want = g_compute_checksum_for_data(G_CHECKSUM_SHA256, model, IMG_SIZE);
    g_autofree char *got = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)data, len);
    if (strcmp(want, got)) {
        for (unsigned i = 0; i < IMG_SIZE; i++)
            ck_assert_msg((uint8_t)data[i] == model[i], "byte %u: %02x, want %02x", i,
                          (uint8_t)data[i], model[i]);
    }
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

START_TEST(test_read_write)
{
    SKIP_WITHOUT_URING();
    BlockDev *bd = open_img(_i, false, false);
    /* Read a range split over three iovecs. */
    uint8_t a[1000], b[2096], c[1000];
    struct iovec v[3] = { { a, sizeof a }, { b, sizeof b }, { c, sizeof c } };
    ck_assert_int_eq(run(bd, BLOCK_OP_READ, 8192, 0, v, 3, false), 4096);
    ck_assert_mem_eq(a, model + 8192, sizeof a);
    ck_assert_mem_eq(b, model + 8192 + 1000, sizeof b);
    ck_assert_mem_eq(c, model + 8192 + 3096, sizeof c);
    /* Write 64 KiB from three iovecs, then the last sector of the image. */
    g_autofree uint8_t *w = g_malloc(65536);
    fill(w, 65536, 3);
    struct iovec wv[3] = { { w, 512 }, { w + 512, 60000 }, { w + 60512, 65536 - 60512 } };
    ck_assert_int_eq(run(bd, BLOCK_OP_WRITE, 4096, 0, wv, 3, false), 65536);
    memcpy(model + 4096, w, 65536);
    ck_assert_int_eq(rw(bd, BLOCK_OP_WRITE, IMG_SIZE - 512, w, 512), 512);
    memcpy(model + IMG_SIZE - 512, w, 512);
    ck_assert_int_eq(run(bd, BLOCK_OP_FLUSH, 0, 0, NULL, 0, false), 0);
    g_autofree uint8_t *back = g_malloc(IMG_SIZE);
    ck_assert_int_eq(rw(bd, BLOCK_OP_READ, 0, back, IMG_SIZE), IMG_SIZE);
    ck_assert_mem_eq(back, model, IMG_SIZE);
    block_close(bd);
    check_file();
}
END_TEST

/* Many requests in flight at once, completed in any order. */
START_TEST(test_many_inflight)
{
    SKIP_WITHOUT_URING();
    BlockDev *bd = open_img(_i, false, false);
    enum { N = 200 }; /* more than the ring has entries at once */
    static uint8_t bufs[N][4096];
    Done d = { 0 };
    for (int k = 0; k < N; k++) {
        fill(bufs[k], 4096, (uint8_t)k);
        struct iovec v = { bufs[k], 4096 };
        BlockRequest r = { .op = BLOCK_OP_WRITE, .offset = (uint64_t)k * 4096, .iov = &v,
                           .iovcnt = 1, .cb = on_done, .opaque = &d };
        block_submit(bd, &r);
        memcpy(model + k * 4096, bufs[k], 4096);
    }
    block_kick(bd);
    wait_for(&d, N);
    ck_assert_int_eq(d.ret, 4096);
    block_close(bd);
    check_file();
}
END_TEST

START_TEST(test_drain)
{
    SKIP_WITHOUT_URING();
    BlockDev *bd = open_img(_i, false, false);
    Done d = { 0 };
    static uint8_t buf[16][8192];
    for (int k = 0; k < 16; k++) {
        struct iovec v = { buf[k], sizeof buf[k] };
        BlockRequest r = { .op = k % 2 ? BLOCK_OP_READ : BLOCK_OP_WRITE,
                           .offset = (uint64_t)k * 8192, .iov = &v, .iovcnt = 1,
                           .cb = on_done, .opaque = &d };
        block_submit(bd, &r);
    }
    BlockRequest fl = { .op = BLOCK_OP_FLUSH, .cb = on_done, .opaque = &d };
    block_submit(bd, &fl);
    block_drain(bd); /* without the loop running */
    ck_assert_int_eq(d.count, 17);
    ck_assert_uint_eq(block_inflight(bd), 0);
    block_drain(bd); /* nothing in flight: returns at once */
    block_close(bd);
}
END_TEST

static void check_zero(BlockDev *bd, uint64_t off, uint64_t len)
{
    g_autofree uint8_t *back = g_malloc(len);
    g_autofree uint8_t *zero = g_malloc0(len);
    ck_assert_int_eq(rw(bd, BLOCK_OP_READ, off, back, len), (int64_t)len);
    ck_assert_mem_eq(back, zero, len);
}

START_TEST(test_discard_write_zeroes)
{
    SKIP_WITHOUT_URING();
    BlockDev *bd = open_img(_i, false, false);
    struct stat st;
    ck_assert_int_eq(run(bd, BLOCK_OP_DISCARD, 65536, 65536, NULL, 0, false), 0);
    memset(model + 65536, 0, 65536); /* ext4/tmpfs punch holes that read back as zeroes */
    check_zero(bd, 65536, 65536);
    ck_assert_int_eq(run(bd, BLOCK_OP_WRITE_ZEROES, 4096, 8192, NULL, 0, false), 0);
    memset(model + 4096, 0, 8192);
    ck_assert_int_eq(run(bd, BLOCK_OP_WRITE_ZEROES, 300000, 10240, NULL, 0, true), 0);
    memset(model + 300000, 0, 10240);
    /* Unaligned to the filesystem block: still exactly that range. */
    ck_assert_int_eq(run(bd, BLOCK_OP_WRITE_ZEROES, 512 * 1001, 512 * 3, NULL, 0, false), 0);
    memset(model + 512 * 1001, 0, 512 * 3);
    /* Zero length is fine. */
    ck_assert_int_eq(run(bd, BLOCK_OP_DISCARD, 0, 0, NULL, 0, false), 0);
    ck_assert_int_eq(run(bd, BLOCK_OP_WRITE_ZEROES, 0, 0, NULL, 0, false), 0);
    block_close(bd);
    ck_assert_int_eq(stat(img, &st), 0);
    ck_assert_int_eq(st.st_size, IMG_SIZE); /* KEEP_SIZE */
    check_file();
}
END_TEST

/* fallocate cannot zero: the layer writes zeroes itself. */
START_TEST(test_write_zeroes_fallback)
{
    SKIP_WITHOUT_URING();
    BlockDev *bd = open_img(_i, false, false);
    bd->no_zero_range = true;
    ck_assert_int_eq(run(bd, BLOCK_OP_WRITE_ZEROES, 512 * 7, (1u << 20) - 512 * 8, NULL, 0,
                         false),
                     0);
    memset(model + 512 * 7, 0, (1u << 20) - 512 * 8);
    block_close(bd);
    check_file();
}
END_TEST

START_TEST(test_direct_unaligned)
{
    SKIP_WITHOUT_URING();
    g_autoptr(GError) err = NULL;
    BlockOpenOptions o = { .direct = true, .engine = engine_of(_i) };
    BlockDev *probe = block_open(img, &o, &err);
    if (!probe) {
        /* A filesystem without O_DIRECT (old tmpfs): a clear error, no test. */
        ck_assert_ptr_nonnull(strstr(err->message, "O_DIRECT"));
        return;
    }
    block_close(probe);
    BlockDev *bd = open_img(_i, false, true);
    uint32_t a = block_alignment(bd);
    ck_assert_uint_ge(a, 512);
    /* Buffers at odd addresses, whole blocks: bounce path. */
    g_autofree uint8_t *mem = g_malloc(3 * 65536 + 64);
    uint8_t *p = mem + 1, *q = mem + 65536 + 3;
    fill(p, 8192, 9);
    struct iovec wv[2] = { { p, 4096 }, { p + 4096, 4096 } };
    ck_assert_int_eq(run(bd, BLOCK_OP_WRITE, 16384, 0, wv, 2, false), 8192);
    memcpy(model + 16384, p, 8192);
    ck_assert_int_eq(rw(bd, BLOCK_OP_READ, 16384, q, 8192), 8192);
    ck_assert_mem_eq(q, p, 8192);
    /* Ranges that do not cover whole blocks: read-modify-write. */
    fill(p, 3000, 77);
    ck_assert_int_eq(rw(bd, BLOCK_OP_WRITE, 1000, p, 3000), 3000);
    memcpy(model + 1000, p, 3000);
    ck_assert_int_eq(rw(bd, BLOCK_OP_WRITE, 40960 + 512, p, 512), 512);
    memcpy(model + 40960 + 512, p, 512);
    ck_assert_int_eq(rw(bd, BLOCK_OP_READ, 999, q, 3002), 3002);
    ck_assert_mem_eq(q, model + 999, 3002);
    /* Aligned everything: straight through. */
    void *al = NULL;
    ck_assert_int_eq(posix_memalign(&al, 4096, 8192), 0);
    fill(al, 8192, 5);
    ck_assert_int_eq(rw(bd, BLOCK_OP_WRITE, 65536, al, 8192), 8192);
    memcpy(model + 65536, al, 8192);
    free(al);
    /* Zeroing an unaligned range with the fallback writer. */
    bd->no_zero_range = true;
    ck_assert_int_eq(run(bd, BLOCK_OP_WRITE_ZEROES, 512 * 301, 512 * 5, NULL, 0, false), 0);
    memset(model + 512 * 301, 0, 512 * 5);
    /* A device with 4 KiB logical blocks: sector-sized I/O is partial. */
    bd->align = 4096;
    fill(p, 1024, 33);
    ck_assert_int_eq(rw(bd, BLOCK_OP_WRITE, 512 * 3, p, 1024), 1024);
    memcpy(model + 512 * 3, p, 1024);
    ck_assert_int_eq(rw(bd, BLOCK_OP_WRITE, 4096 * 20 - 512, p, 1024), 1024);
    memcpy(model + 4096 * 20 - 512, p, 1024);
    ck_assert_int_eq(rw(bd, BLOCK_OP_READ, 4096 * 20 - 1024, q, 2048), 2048);
    ck_assert_mem_eq(q, model + 4096 * 20 - 1024, 2048);
    ck_assert_int_eq(run(bd, BLOCK_OP_FLUSH, 0, 0, NULL, 0, false), 0);
    block_close(bd);
    check_file();
}
END_TEST

START_TEST(test_readonly)
{
    SKIP_WITHOUT_URING();
    BlockDev *bd = open_img(_i, true, false);
    ck_assert(block_is_readonly(bd));
    uint8_t buf[512] = { 1 };
    ck_assert_int_eq(rw(bd, BLOCK_OP_WRITE, 0, buf, 512), -EROFS);
    ck_assert_int_eq(run(bd, BLOCK_OP_DISCARD, 0, 4096, NULL, 0, false), -EROFS);
    ck_assert_int_eq(run(bd, BLOCK_OP_WRITE_ZEROES, 0, 4096, NULL, 0, false), -EROFS);
    ck_assert_int_eq(rw(bd, BLOCK_OP_READ, 512, buf, 512), 512);
    ck_assert_mem_eq(buf, model + 512, 512);
    ck_assert_int_eq(run(bd, BLOCK_OP_FLUSH, 0, 0, NULL, 0, false), 0);
    block_close(bd);
    check_file();
}
END_TEST

START_TEST(test_range)
{
    SKIP_WITHOUT_URING();
    BlockDev *bd = open_img(_i, false, false);
    uint8_t buf[1024];
    ck_assert_int_eq(rw(bd, BLOCK_OP_READ, IMG_SIZE - 512, buf, 1024), -EINVAL);
    ck_assert_int_eq(rw(bd, BLOCK_OP_WRITE, IMG_SIZE, buf, 512), -EINVAL);
    ck_assert_int_eq(rw(bd, BLOCK_OP_READ, UINT64_MAX - 100, buf, 512), -EINVAL);
    ck_assert_int_eq(run(bd, BLOCK_OP_DISCARD, 4096, UINT64_MAX - 1000, NULL, 0, false),
                     -EINVAL);
    ck_assert_int_eq(rw(bd, BLOCK_OP_READ, IMG_SIZE, buf, 0), 0);
    block_close(bd);
    check_file();
}
END_TEST

static void expect_open_error(const char *path, const char *phrase, int code)
{
    g_autoptr(GError) err = NULL;
    BlockOpenOptions o = { 0 };
    BlockDev *bd = block_open(path, &o, &err);
    ck_assert_ptr_null(bd);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err->message, path), "no path in: %s", err->message);
    ck_assert_msg(strstr(err->message, phrase), "no \"%s\" in: %s", phrase, err->message);
    ck_assert(g_error_matches(err, NIMBUS_ERROR, code));
}

START_TEST(test_open_errors)
{
    g_autofree char *p = g_build_filename(tmpdir, "small.img", NULL);
    ck_assert(g_file_set_contents(p, "", 0, NULL));
    expect_open_error(p, "empty", NIMBUS_ERROR_INVALID);
    g_autofree char *b511 = g_malloc0(1000);
    ck_assert(g_file_set_contents(p, b511, 511, NULL));
    expect_open_error(p, "smaller than one 512-byte sector", NIMBUS_ERROR_INVALID);
    ck_assert(g_file_set_contents(p, b511, 1000, NULL));
    expect_open_error(p, "not a multiple of 512", NIMBUS_ERROR_INVALID);
    unlink(p);
    expect_open_error(p, "No such file", NIMBUS_ERROR_NOT_FOUND);
    expect_open_error(tmpdir, "is a directory", NIMBUS_ERROR_INVALID);
    expect_open_error("/dev/null", "not a regular file or block device", NIMBUS_ERROR_INVALID);
}
END_TEST

START_TEST(test_engine_env)
{
    g_autoptr(GError) err = NULL;
    BlockOpenOptions o = { .engine = BLOCK_ENGINE_AUTO };
    g_setenv("NIMBUS_BLOCK_ENGINE", "sync", TRUE);
    BlockDev *bd = block_open(img, &o, &err);
    ck_assert(bd && block_attach(bd, loop, &err));
    ck_assert_str_eq(block_engine_name(bd), "sync");
    block_close(bd);
    g_unsetenv("NIMBUS_BLOCK_ENGINE");
    bd = block_open(img, &o, &err);
    ck_assert(bd && block_attach(bd, loop, &err));
    ck_assert_ptr_nonnull(block_engine_name(bd)); /* io_uring here, sync where refused */
    block_close(bd);
}
END_TEST

static Suite *block_suite(void)
{
    Suite *s = suite_create("block");
    TCase *tc = tcase_create("engines");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_read_write, 0, 2);
    tcase_add_loop_test(tc, test_many_inflight, 0, 2);
    tcase_add_loop_test(tc, test_drain, 0, 2);
    tcase_add_loop_test(tc, test_discard_write_zeroes, 0, 2);
    tcase_add_loop_test(tc, test_write_zeroes_fallback, 0, 2);
    tcase_add_loop_test(tc, test_direct_unaligned, 0, 2);
    tcase_add_loop_test(tc, test_readonly, 0, 2);
    tcase_add_loop_test(tc, test_range, 0, 2);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_engine_env);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(block_suite)
