/* virtio-blk end to end: the test plays the guest driver through ECAM and
 * BAR accesses (vdevtest.c), with a split virtqueue in guarded guest RAM and
 * the device's I/O thread doing the work on a temporary image. Every loop
 * test runs with the sync engine (_i = 0) and with io_uring (_i = 1, through
 * NIMBUS_BLOCK_ENGINE). No KVM. */
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/blk/blk_req.h"
#include "devices/virtio/virtio.h"
#include "hypervisor/le.h"
#include "support/check_main.h"
#include "support/uring_probe.h"
#include "vdevtest.h"

#include <check.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define RAM_SIZE (8ull << 20)
#define IMG_SIZE (1u << 20)

static VdevTest *T;
static char *img;

static void setup(void)
{
    T = vdevtest_new(VDEV_RAM_GUARDED, RAM_SIZE);
    g_autoptr(GError) err = NULL;
    int fd = g_file_open_tmp("nimbus-blk-XXXXXX", &img, &err);
    ck_assert_msg(fd >= 0, "tmp: %s", err ? err->message : "?");
    ck_assert_int_eq(ftruncate(fd, IMG_SIZE), 0);
    close(fd);
}

/* Create the disk (after setup; tests choose read-only and the engine). */
static void create_disk(bool readonly, uint32_t num_queues)
{
    DiskConfig dc = { .path = img, .readonly = readonly, .num_queues = num_queues,
                      .queue_size = 128, .serial = (char *)"nimbus-serial-0001" };
    vdevtest_add(T, &virtio_blk_ops, "disk0", &dc);
    ck_assert_uint_eq(vdevtest_cfg_read(T, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_BLOCK);
    ck_assert_uint_ne(T->device, 0);
}

static void teardown(void)
{
    vdevtest_free(T);
    T = NULL;
    g_unlink(img);
    g_clear_pointer(&img, g_free);
}

/* The whole Linux-style bring-up with MSI-X, queue 0 of 64 entries. */
static void bring_up(uint64_t features)
{
    vdevtest_msix_enable(T);
    vdevtest_bring_up(T, features, 1, 64);
    ck_assert_uint_eq(T->queue_max[0], 128);
}

static bool wait_used(uint32_t *id, uint32_t *len)
{
    return vdevtest_wait_used(T, 0, id, len, VDEV_WAIT_MS);
}

/* ---- virtio-blk requests ------------------------------------------------ */

#define F_SEG_MAX (1ull << 2)
#define F_RO (1ull << 5)
#define F_BLK_SIZE (1ull << 6)
#define F_FLUSH (1ull << 9)
#define F_MQ (1ull << 12)
#define F_DISCARD (1ull << 13)
#define F_WRITE_ZEROES (1ull << 14)
#define F_ALL (F_SEG_MAX | F_BLK_SIZE | F_FLUSH | F_DISCARD | F_WRITE_ZEROES)

/* False (the case is skipped) when the io_uring half cannot run here. */
static bool use_engine(int i)
{
    g_setenv("NIMBUS_BLOCK_ENGINE", i ? "uring" : "sync", TRUE);
    return !i || !uring_probe_missing();
}

typedef struct Req {
    Gpa hdr, data, status;
    uint32_t len;
} Req;

/* Post {header} [data] {status}; data is writable for IN and GET_ID. */
static Req post_req(uint32_t type, uint64_t sector, const void *out, uint32_t len, bool writable)
{
    Req r = { .len = len };
    uint8_t h[16] = { 0 };
    le_store32(h, type);
    le_store64(h + 8, sector);
    r.hdr = virtq_driver_alloc(&T->q[0], 16, 16);
    ck_assert(memory_write(vm_memory(T->vm), r.hdr, h, 16));
    VirtqDriverBuf b[3];
    unsigned n = 0;
    b[n++] = (VirtqDriverBuf){ r.hdr, 16, false };
    if (len) {
        r.data = virtq_driver_alloc(&T->q[0], len, 512);
        if (out)
            ck_assert(memory_write(vm_memory(T->vm), r.data, out, len));
        else
            virtq_driver_fill(&T->q[0], r.data, 0xee, len);
        b[n++] = (VirtqDriverBuf){ r.data, len, writable };
    }
    r.status = virtq_driver_alloc(&T->q[0], 1, 1);
    virtq_driver_fill(&T->q[0], r.status, 0x77, 1);
    b[n++] = (VirtqDriverBuf){ r.status, 1, true };
    virtq_driver_add(&T->q[0], b, n);
    return r;
}

/* Kick, wait for the request's completion; returns the status byte. */
static uint8_t complete(const Req *r, uint32_t *used_len)
{
    vdevtest_kick(T, 0);
    uint32_t id, len;
    ck_assert(wait_used(&id, &len));
    if (used_len)
        *used_len = len;
    uint8_t st;
    ck_assert(memory_read(vm_memory(T->vm), r->status, &st, 1));
    return st;
}

static uint8_t do_req(uint32_t type, uint64_t sector, const void *out, uint32_t len,
                      bool writable, uint32_t *used_len)
{
    Req r = post_req(type, sector, out, len, writable);
    return complete(&r, used_len);
}

static uint64_t devcfg(uint32_t off, unsigned size)
{
    return vdevtest_devcfg_read(T, off, size);
}

static void file_read(uint64_t off, void *buf, size_t len)
{
    int fd = open(img, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

START_TEST(test_config_and_features)
{
    if (!use_engine(_i))
        return;
    create_disk(false, 2);
    uint64_t f = vdevtest_offered(T);
    ck_assert_uint_eq(f & F_ALL, F_ALL);
    ck_assert(f & F_MQ);
    ck_assert(!(f & F_RO));
    ck_assert_uint_eq(devcfg(0, 4) | devcfg(4, 4) << 32, IMG_SIZE / 512);
    ck_assert_uint_eq(devcfg(12, 4), 126);  /* seg_max = queue_size - 2 */
    ck_assert_uint_eq(devcfg(20, 4), 512);  /* blk_size */
    ck_assert_uint_eq(devcfg(34, 2), 2);    /* num_queues */
    ck_assert_uint_ne(devcfg(36, 4), 0);    /* max_discard_sectors */
    ck_assert_uint_ne(devcfg(40, 4), 0);    /* max_discard_seg */
    ck_assert_uint_eq(devcfg(44, 4), 1);    /* discard_sector_alignment */
    ck_assert_uint_ne(devcfg(48, 4), 0);    /* max_write_zeroes_sectors */
    ck_assert_uint_eq(devcfg(56, 1), 1);    /* write_zeroes_may_unmap */
}
END_TEST

START_TEST(test_rw_flush_get_id)
{
    if (!use_engine(_i))
        return;
    create_disk(false, 1);
    bring_up(1ull << VIRTIO_F_VERSION_1 | F_ALL);
    uint8_t w[4096], back[4096];
    for (unsigned i = 0; i < sizeof w; i++)
        w[i] = (uint8_t)(i * 13 + 1);
    uint32_t len;
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_OUT, 8, w, sizeof w, false, &len), VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(len, 1);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, &len), VIRTIO_BLK_S_OK);
    file_read(8 * 512, back, sizeof back);
    ck_assert_mem_eq(back, w, sizeof w);

    Req r = post_req(VIRTIO_BLK_T_IN, 8, NULL, 4096, true);
    ck_assert_uint_eq(complete(&r, &len), VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(len, 4097);
    ck_assert(memory_read(vm_memory(T->vm), r.data, back, sizeof back));
    ck_assert_mem_eq(back, w, sizeof w);

    r = post_req(VIRTIO_BLK_T_GET_ID, 0, NULL, 20, true);
    ck_assert_uint_eq(complete(&r, &len), VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(len, 21);
    char id[21] = { 0 };
    ck_assert(memory_read(vm_memory(T->vm), r.data, id, 20));
    ck_assert_str_eq(id, "nimbus-serial-0001");

    /* Write zeroes and discard over what was written. */
    uint8_t seg[16];
    le_store64(seg, 8);
    le_store32(seg + 8, 4);
    le_store32(seg + 12, 0);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_WRITE_ZEROES, 0, seg, 16, false, NULL),
                      VIRTIO_BLK_S_OK);
    le_store64(seg, 12);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL), VIRTIO_BLK_S_OK);
    uint8_t zero[4096] = { 0 };
    file_read(8 * 512, back, sizeof back);
    ck_assert_mem_eq(back, zero, sizeof back);

    VirtioBlkCounters c;
    virtio_blk_get_counters(&T->vdev->pci.dev, &c);
    ck_assert_uint_eq(c.write_ops, 1);
    ck_assert_uint_eq(c.write_bytes, 4096);
    ck_assert_uint_eq(c.read_ops, 1);
    ck_assert_uint_eq(c.read_bytes, 4096);
    ck_assert_uint_eq(c.flush_ops, 1);
    ck_assert_uint_eq(c.get_id_ops, 1);
    ck_assert_uint_eq(c.write_zeroes_ops, 1);
    ck_assert_uint_eq(c.discard_ops, 1);
    ck_assert_uint_ge(vdevtest_irqfd_wait(T, VDEV_VEC_QUEUE), 1);
}
END_TEST

START_TEST(test_errors_keep_device_alive)
{
    if (!use_engine(_i))
        return;
    create_disk(false, 1);
    bring_up(1ull << VIRTIO_F_VERSION_1 | F_ALL);
    /* Beyond the capacity: IOERR. Unknown type: UNSUPP. Neither resets. */
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, IMG_SIZE / 512, NULL, 512, true, NULL),
                      VIRTIO_BLK_S_IOERR);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, UINT64_MAX, NULL, 512, true, NULL),
                      VIRTIO_BLK_S_IOERR);
    ck_assert_uint_eq(do_req(77, 0, NULL, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_GET_ID, 0, NULL, 8, true, NULL), VIRTIO_BLK_S_IOERR);
    ck_assert_uint_eq(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET, 0);
    VirtioBlkCounters c;
    virtio_blk_get_counters(&T->vdev->pci.dev, &c);
    ck_assert_uint_eq(c.io_errors, 3);
    ck_assert_uint_eq(c.unsupported, 1);
    /* No status byte (only readable buffers): DEVICE_NEEDS_RESET. */
    static const uint8_t zero_hdr[16];
    vdevtest_post(T, 0, zero_hdr, sizeof zero_hdr, false, NULL);
    vdevtest_kick(T, 0);
    ck_assert(vdevtest_wait_status(T, VIRTIO_STATUS_NEEDS_RESET, VDEV_WAIT_MS));
    /* A reset and a new bring-up work again. */
    bring_up(1ull << VIRTIO_F_VERSION_1 | F_ALL);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, NULL), VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(test_readonly_disk)
{
    if (!use_engine(_i))
        return;
    create_disk(true, 1);
    uint64_t f = vdevtest_offered(T);
    ck_assert(f & F_RO);
    ck_assert(!(f & (F_DISCARD | F_WRITE_ZEROES | F_MQ)));
    bring_up(1ull << VIRTIO_F_VERSION_1 | F_RO | F_FLUSH);
    uint8_t w[512] = { 1, 2, 3 };
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_OUT, 0, w, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    uint8_t seg[16] = { 0 };
    le_store32(seg + 8, 1);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL), VIRTIO_BLK_S_IOERR);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_IN, 0, NULL, 512, true, NULL), VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, NULL), VIRTIO_BLK_S_OK);
    uint8_t back[512], zero[512] = { 0 };
    file_read(0, back, 512);
    ck_assert_mem_eq(back, zero, 512);
}
END_TEST

/* Many requests in flight, then pause (drains) and resume. */
START_TEST(test_many_and_pause)
{
    if (!use_engine(_i))
        return;
    create_disk(false, 1);
    bring_up(1ull << VIRTIO_F_VERSION_1 | F_ALL);
    enum { N = 20 };
    static uint8_t w[N][1024];
    for (int k = 0; k < N; k++) {
        memset(w[k], k + 1, sizeof w[k]);
        post_req(VIRTIO_BLK_T_OUT, (uint64_t)k * 2, w[k], sizeof w[k], false);
    }
    vdevtest_kick(T, 0);
    /* Pause may come before or after the I/O thread saw the kick: whatever
     * it had popped is complete once pause returns, and nothing more moves
     * until resume, which picks up the rest. */
    ck_assert(T->vdev->pci.dev.ops->pause(&T->vdev->pci.dev, NULL));
    uint16_t done_at_pause = virtq_driver_used_idx(&T->q[0]);
    ck_assert_uint_le(done_at_pause, N);
    g_usleep(20000);
    ck_assert_uint_eq(virtq_driver_used_idx(&T->q[0]), done_at_pause);
    ck_assert(T->vdev->pci.dev.ops->resume(&T->vdev->pci.dev, NULL));
    uint8_t back[1024];
    for (int k = 0; k < N; k++) {
        uint32_t id, len;
        ck_assert(wait_used(&id, &len));
        file_read((uint64_t)k * 1024, back, sizeof back);
        ck_assert_mem_eq(back, w[k], sizeof back);
    }
    ck_assert_uint_eq(do_req(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, NULL), VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(test_bad_images)
{
    g_autoptr(GError) err = NULL;
    int fd = open(img, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, "x", 1), 1);
    close(fd);
    DiskConfig dc = { .path = img, .num_queues = 1, .queue_size = 128 };
    ck_assert_ptr_null(device_create(T->vm, &virtio_blk_ops, "disk0", &dc, &err));
    ck_assert_ptr_nonnull(strstr(err->message, img));
    g_clear_error(&err);
    dc.queue_size = 100;
    ck_assert_ptr_null(device_create(T->vm, &virtio_blk_ops, "disk0", &dc, &err));
    g_clear_error(&err);
    dc.path = (char *)"/nonexistent/disk.img";
    dc.queue_size = 128;
    ck_assert_ptr_null(device_create(T->vm, &virtio_blk_ops, "disk0", &dc, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "/nonexistent/disk.img"));
}
END_TEST

static Suite *virtio_blk_suite(void)
{
    Suite *s = suite_create("virtio_blk");
    TCase *tc = tcase_create("end_to_end");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_config_and_features, 0, 2);
    tcase_add_loop_test(tc, test_rw_flush_get_id, 0, 2);
    tcase_add_loop_test(tc, test_errors_keep_device_alive, 0, 2);
    tcase_add_loop_test(tc, test_readonly_disk, 0, 2);
    tcase_add_loop_test(tc, test_many_and_pause, 0, 2);
    tcase_add_test(tc, test_bad_images);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(virtio_blk_suite)
