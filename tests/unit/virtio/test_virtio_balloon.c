/* virtio-balloon: the page discarding and statistics pieces on their own,
 * then the device end to end with the test playing the driver through PCI
 * (vdevtest.c) on memfd-backed guest RAM, so that discarded pages can be
 * seen to read back as zeros (and, for shared memory, to leave the memfd).
 * Hostile cases: PFNs outside RAM or huge, odd-sized buffers, bogus stats
 * tags, reports of non-RAM memory, descriptors outside RAM. */
#include "devices/virtio/balloon/balloon.h"
#include "devices/virtio/balloon/balloon_pages.h"
#include "hypervisor/vm_config.h"
#include "support/check_main.h"
#include "vdevtest.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096u
#define RAM_SIZE (8ull << 20)
#define BASE VDEV_FREE_GPA  /* test pages: 0x400000.. */
#define BASE_PFN (BASE >> 12)
#define QSIZE 16
#define WAIT_MS 3000
#define INFLATE 0
#define DEFLATE 1
#define STATS 2
#define F(bit) (1ull << (bit))

static VdevTest *T;

static void setup_private(void)
{
    T = vdevtest_new(VDEV_RAM_PRIVATE, RAM_SIZE);
}

static void setup_shared(void)
{
    T = vdevtest_new(VDEV_RAM_SHARED, RAM_SIZE);
}

static void teardown(void)
{
    vdevtest_free(T);
    T = NULL;
}

static void fill_pages(Gpa gpa, unsigned n, uint8_t byte)
{
    memset(vdevtest_hva(T, gpa, (uint64_t)n * PAGE), byte, (size_t)n * PAGE);
}

/* The memfd has a hole (no pages) over [gpa, gpa + len). */
static bool memfd_hole(Gpa gpa, uint64_t len)
{
    off_t data = lseek(T->ram->fd, (off_t)gpa, SEEK_DATA);
    return (data < 0 && errno == ENXIO) || (data >= 0 && (uint64_t)data >= gpa + len);
}

static bool page_is(Gpa gpa, uint8_t byte)
{
    const uint8_t *p = vdevtest_hva(T, gpa, PAGE);
    for (unsigned i = 0; i < PAGE; i++)
        if (p[i] != byte)
            return false;
    return true;
}

/* User-mode QEMU (the aarch64 unit tests) accepts madvise() and does
 * nothing, so discarded pages keep their bytes: the cases that check
 * discarding skip with a note there. */
static bool discard_ignored(void)
{
    /* Guest RAM is a memfd, mapped shared or private: probe both ways. */
    int fd = memfd_create("probe", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, PAGE), 0);
    bool ignored = false;
    const int flags[] = { MAP_SHARED, MAP_PRIVATE };
    const int advice[] = { MADV_REMOVE, MADV_DONTNEED };
    for (unsigned i = 0; i < 2; i++) {
        uint8_t *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, flags[i], fd, 0);
        ck_assert(p != MAP_FAILED);
        p[0] = 1;
        ignored |= madvise(p, PAGE, advice[i]) < 0 || p[0] != 0;
        munmap(p, PAGE);
    }
    close(fd);
    if (ignored)
        fprintf(stderr, "madvise() does not discard memfd pages here: discard case skipped\n");
    return ignored;
}
#define SKIP_IF_DISCARD_IGNORED()                                                   \
    do {                                                                            \
        if (discard_ignored())                                                      \
            return;                                                                 \
    } while (0)

/* ---- pure pieces ---------------------------------------------------------- */

START_TEST(test_ram_region)
{
    g_autoptr(GPtrArray) regs = memory_regions(vm_memory(T->vm));
    ck_assert_ptr_eq(balloon_ram_region(regs, 0, PAGE), T->ram);
    ck_assert_ptr_eq(balloon_ram_region(regs, RAM_SIZE - PAGE, PAGE), T->ram);
    ck_assert_ptr_null(balloon_ram_region(regs, RAM_SIZE - PAGE, PAGE + 1));
    ck_assert_ptr_null(balloon_ram_region(regs, RAM_SIZE, PAGE));
    ck_assert_ptr_null(balloon_ram_region(regs, 0, 0));
    ck_assert_ptr_null(balloon_ram_region(regs, UINT64_MAX - 10, PAGE));
    /* A ROM/device mapping is guest memory but never RAM to discard. */
    void *rom = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_autoptr(GError) err = NULL;
    ck_assert(memory_add_mapping(vm_memory(T->vm), "rom", 0x1000000, PAGE, rom, 0, &err));
    g_autoptr(GPtrArray) regs2 = memory_regions(vm_memory(T->vm));
    ck_assert_ptr_null(balloon_ram_region(regs2, 0x1000000, PAGE));
    ck_assert(memory_remove(vm_memory(T->vm), 0x1000000, &err));
    munmap(rom, PAGE);
}
END_TEST

START_TEST(test_discarder_pfns)
{
    SKIP_IF_DISCARD_IGNORED();
    fill_pages(BASE, 8, 0xaa);
    BalloonDiscarder d;
    balloon_discarder_begin(&d, vm_memory(T->vm));
    ck_assert(balloon_discarder_add_pfn(&d, BASE_PFN + 0));
    ck_assert(balloon_discarder_add_pfn(&d, BASE_PFN + 1)); /* merged with the first */
    ck_assert(balloon_discarder_add_pfn(&d, BASE_PFN + 2));
    ck_assert(balloon_discarder_add_pfn(&d, BASE_PFN + 5));
    ck_assert(!balloon_discarder_add_pfn(&d, RAM_SIZE >> 12));
    ck_assert(!balloon_discarder_add_pfn(&d, 0xffffffffu));
    ck_assert(!balloon_discarder_add_pfn(&d, UINT64_MAX));
    ck_assert(!balloon_discarder_add_pfn(&d, UINT64_MAX >> 12));
    balloon_discarder_end(&d);
    ck_assert_uint_eq(d.discarded_bytes, 4 * PAGE);
    ck_assert_uint_eq(d.failed_bytes, 0);
    ck_assert_uint_eq(d.rejected, 4);
    for (unsigned i = 0; i < 8; i++)
        ck_assert_msg(page_is(BASE + i * PAGE, (i <= 2 || i == 5) ? 0 : 0xaa), "page %u", i);
    /* The pages are still usable guest memory. */
    fill_pages(BASE, 1, 0x5c);
    ck_assert(page_is(BASE, 0x5c));
}
END_TEST

/* Shared memory: the pages must leave the memfd, not just our mapping. */
START_TEST(test_discarder_shared_frees)
{
    SKIP_IF_DISCARD_IGNORED();
    fill_pages(BASE, 16, 0x77);
    ck_assert(!memfd_hole(BASE, PAGE));
    BalloonDiscarder d;
    balloon_discarder_begin(&d, vm_memory(T->vm));
    for (unsigned i = 0; i < 16; i++)
        ck_assert(balloon_discarder_add_pfn(&d, BASE_PFN + i));
    balloon_discarder_end(&d);
    ck_assert_uint_eq(d.discarded_bytes, 16 * PAGE);
    ck_assert(memfd_hole(BASE, 16 * PAGE));
    uint8_t buf[PAGE];
    ck_assert_int_eq(pread(T->ram->fd, buf, PAGE, BASE), PAGE);
    for (unsigned i = 0; i < PAGE; i++)
        ck_assert_uint_eq(buf[i], 0);
}
END_TEST

START_TEST(test_discarder_ranges)
{
    SKIP_IF_DISCARD_IGNORED();
    fill_pages(BASE, 4, 0x11);
    BalloonDiscarder d;
    balloon_discarder_begin(&d, vm_memory(T->vm));
    /* Not page aligned: only the whole pages inside are dropped. */
    uint8_t *p = vdevtest_hva(T, BASE, 4 * PAGE);
    ck_assert(balloon_discarder_add_range(&d, p + 100, 3 * PAGE));
    uint8_t host[64];
    ck_assert(!balloon_discarder_add_range(&d, host, sizeof host));
    ck_assert(!balloon_discarder_add_range(&d, p, RAM_SIZE)); /* runs past the end */
    ck_assert(!balloon_discarder_add_range(&d, p, 0));
    balloon_discarder_end(&d);
    ck_assert_uint_eq(d.rejected, 3);
    ck_assert_uint_eq(d.discarded_bytes, 2 * PAGE);
    ck_assert(page_is(BASE, 0x11)); /* the partial pages at both ends are kept */
    ck_assert(page_is(BASE + PAGE, 0) && page_is(BASE + 2 * PAGE, 0));
    ck_assert(page_is(BASE + 3 * PAGE, 0x11));
}
END_TEST

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
    p[0] = (uint8_t)tag;
    p[1] = (uint8_t)(tag >> 8);
    for (int i = 0; i < 8; i++)
        p[2 + i] = (uint8_t)(val >> (8 * i));
}

START_TEST(test_stats_parse)
{
    uint8_t buf[45];
    put_stat(buf, BALLOON_STAT_MEMFREE, 0x1122334455667788ull);
    put_stat(buf + 10, 999, 5); /* unknown tag */
    put_stat(buf + 20, BALLOON_STAT_SWAP_IN, 7);
    put_stat(buf + 30, BALLOON_STAT_DIRECT_RECLAIMS, 9);
    memset(buf + 40, 0xee, 5); /* half an entry */
    /* Entries straddle the iovecs. */
    struct iovec iov[] = { { buf, 3 }, { buf + 3, 14 }, { buf + 17, 28 } };
    BalloonStats s = { 0 };
    unsigned unknown;
    ck_assert_uint_eq(balloon_stats_parse(iov, 3, SIZE_MAX, &s, &unknown), 4);
    ck_assert_uint_eq(unknown, 1);
    ck_assert_uint_eq(s.value[BALLOON_STAT_MEMFREE], 0x1122334455667788ull);
    ck_assert_uint_eq(s.value[BALLOON_STAT_SWAP_IN], 7);
    ck_assert_uint_eq(s.value[BALLOON_STAT_DIRECT_RECLAIMS], 9);
    ck_assert_uint_eq(s.valid, (1u << BALLOON_STAT_MEMFREE) | (1u << BALLOON_STAT_SWAP_IN) |
                                   (1u << BALLOON_STAT_DIRECT_RECLAIMS));
    /* The cap on bytes parsed. */
    BalloonStats s2 = { 0 };
    ck_assert_uint_eq(balloon_stats_parse(iov, 3, 15, &s2, &unknown), 1);
    ck_assert_uint_eq(s2.valid, 1u << BALLOON_STAT_MEMFREE);
    ck_assert_uint_eq(balloon_stats_parse(iov, 0, SIZE_MAX, &s2, &unknown), 0);
    ck_assert_str_eq(balloon_stat_name(BALLOON_STAT_MEMFREE), "free_memory");
    ck_assert_ptr_null(balloon_stat_name(BALLOON_STAT_COUNT));
}
END_TEST

/* ---- the device --------------------------------------------------------------- */

static Device *add_balloon(uint64_t size, bool oom, bool reporting)
{
    BalloonConfig bc = { .size = size, .deflate_on_oom = oom, .free_page_reporting = reporting };
    return vdevtest_add(T, &virtio_balloon_ops, "balloon0", &bc);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Send PFNs (plus `extra` junk bytes) on queue q and wait for the buffer. */
static void send_pfns(uint16_t q, const uint32_t *pfns, unsigned n, unsigned extra)
{
    uint32_t len = n * 4 + extra;
    Gpa g = virtq_driver_alloc(&T->q[q], len ? len : 1, 8);
    uint8_t *p = vdevtest_hva(T, g, len ? len : 1);
    for (unsigned i = 0; i < n; i++)
        put_le32(p + 4 * i, pfns[i]);
    memset(p + 4 * n, 0xff, extra);
    uint16_t head = virtq_driver_add(&T->q[q], &(VirtqDriverBuf){ g, len, false }, 1);
    vdevtest_kick(T, q);
    uint32_t id, used_len;
    ck_assert(vdevtest_wait_used(T, q, &id, &used_len, WAIT_MS));
    ck_assert_uint_eq(id, head);
}

START_TEST(test_features_and_config)
{
    add_balloon(2ull << 20, false, false);
    uint64_t f = vdevtest_offered(T);
    ck_assert(f & F(VIRTIO_BALLOON_F_STATS_VQ));
    ck_assert(!(f & F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM)));
    ck_assert(!(f & F(VIRTIO_BALLOON_F_PAGE_REPORTING)));
    ck_assert(!(f & F(VIRTIO_BALLOON_F_MUST_TELL_HOST)));
    ck_assert(!(f & F(VIRTIO_BALLOON_F_FREE_PAGE_HINT)));
    ck_assert_uint_eq(vdevtest_num_queues(T), 3);
    ck_assert_uint_eq(vdevtest_devcfg_read(T, VIRTIO_BALLOON_CFG_NUM_PAGES, 4), 512);
    ck_assert_uint_eq(vdevtest_devcfg_read(T, VIRTIO_BALLOON_CFG_ACTUAL, 4), 0);
    ck_assert_uint_eq(vdevtest_devcfg_read(T, 0, 8), 512);

    /* The driver reports its balloon size; num_pages is not the driver's. */
    vdevtest_bring_up(T, F(VIRTIO_BALLOON_F_STATS_VQ), 3, QSIZE);
    vdevtest_devcfg_write(T, VIRTIO_BALLOON_CFG_ACTUAL, 300, 4);
    ck_assert_uint_eq(balloon_actual(T->dev), 300ull * PAGE);
    vdevtest_devcfg_write(T, VIRTIO_BALLOON_CFG_ACTUAL + 1, 0x01, 1); /* byte writes merge */
    ck_assert_uint_eq(vdevtest_devcfg_read(T, VIRTIO_BALLOON_CFG_ACTUAL, 4), 300 | 0x100);
    vdevtest_devcfg_write(T, VIRTIO_BALLOON_CFG_NUM_PAGES, 7, 4);
    vdevtest_devcfg_write(T, VIRTIO_BALLOON_CFG_NUM_PAGES + 2, 7, 4); /* straddles both */
    ck_assert_uint_eq(vdevtest_devcfg_read(T, VIRTIO_BALLOON_CFG_NUM_PAGES, 4), 512);

    /* A new target: config changes, generation moves. */
    uint8_t gen = vdevtest_config_generation(T);
    g_autoptr(GError) err = NULL;
    ck_assert(balloon_set_target(T->dev, (4ull << 20) + 100, &err));
    ck_assert_uint_eq(vdevtest_devcfg_read(T, VIRTIO_BALLOON_CFG_NUM_PAGES, 4), 1024);
    ck_assert_uint_eq(balloon_target(T->dev), 4ull << 20);
    ck_assert_uint_ne(vdevtest_config_generation(T), gen);
    ck_assert(!balloon_set_target(T->dev, RAM_SIZE + PAGE, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_uint_eq(balloon_target(T->dev), 4ull << 20);

    /* A driver reset forgets actual; the host's target stays. */
    vdevtest_cc_write(T, VDEV_CC_STATUS, 0, 1);
    ck_assert_uint_eq(balloon_actual(T->dev), 0);
    ck_assert_uint_eq(vdevtest_devcfg_read(T, VIRTIO_BALLOON_CFG_NUM_PAGES, 4), 1024);
}
END_TEST

START_TEST(test_optional_features)
{
    add_balloon(0, true, true);
    uint64_t f = vdevtest_offered(T);
    ck_assert(f & F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    ck_assert(f & F(VIRTIO_BALLOON_F_PAGE_REPORTING));
    ck_assert_uint_eq(vdevtest_num_queues(T), 4);
    ck_assert(!vdevtest_negotiate(T, F(VIRTIO_F_VERSION_1) | F(VIRTIO_BALLOON_F_FREE_PAGE_HINT)));
}
END_TEST

START_TEST(test_inflate_deflate)
{
    SKIP_IF_DISCARD_IGNORED();
    add_balloon(1ull << 20, true, false);
    vdevtest_bring_up(T, F(VIRTIO_BALLOON_F_STATS_VQ) | F(VIRTIO_BALLOON_F_DEFLATE_ON_OOM), 3,
                      QSIZE);
    fill_pages(BASE, 8, 0xaa);
    /* Good PFNs mixed with hostile ones: outside RAM, the largest PFN. */
    uint32_t pfns[] = { BASE_PFN, BASE_PFN + 1, BASE_PFN + 3, 0xffffffffu,
                        (uint32_t)(RAM_SIZE >> 12), BASE_PFN + 7 };
    send_pfns(INFLATE, pfns, 6, 0);
    for (unsigned i = 0; i < 8; i++)
        ck_assert_msg(page_is(BASE + i * PAGE, (i == 0 || i == 1 || i == 3 || i == 7) ? 0 : 0xaa),
                      "page %u", i);
    BalloonCounters c;
    balloon_counters(T->dev, &c);
    ck_assert_uint_eq(c.inflated_pages, 4);
    ck_assert_uint_eq(c.rejected_pfns, 2);
    ck_assert_uint_eq(c.discarded_bytes, 4 * PAGE);

    /* An odd-sized buffer: the whole PFNs count, the tail is ignored. */
    uint32_t one = BASE_PFN + 2;
    send_pfns(INFLATE, &one, 1, 3);
    ck_assert(page_is(BASE + 2 * PAGE, 0));
    /* Buffers with no PFN at all (too short, empty) just complete. */
    send_pfns(INFLATE, NULL, 0, 2);
    send_pfns(INFLATE, NULL, 0, 0);
    balloon_counters(T->dev, &c);
    ck_assert_uint_eq(c.inflated_pages, 5);

    /* Deflate: nothing to do but complete; the pages work again. */
    send_pfns(DEFLATE, pfns, 3, 0);
    balloon_counters(T->dev, &c);
    ck_assert_uint_eq(c.deflated_pages, 3);
    fill_pages(BASE, 1, 0x42);
    ck_assert(page_is(BASE, 0x42));
    ck_assert(!(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET));
}
END_TEST

START_TEST(test_inflate_shared)
{
    SKIP_IF_DISCARD_IGNORED();
    add_balloon(1ull << 20, false, false);
    vdevtest_bring_up(T, F(VIRTIO_BALLOON_F_STATS_VQ), 3, QSIZE);
    fill_pages(BASE, 32, 0x99);
    ck_assert(!memfd_hole(BASE, PAGE));
    uint32_t pfns[32];
    for (unsigned i = 0; i < 32; i++)
        pfns[i] = (uint32_t)(BASE_PFN + 31 - i); /* descending: no merging */
    send_pfns(INFLATE, pfns, 32, 0);
    ck_assert(memfd_hole(BASE, 32 * PAGE));
    ck_assert(page_is(BASE + 17 * PAGE, 0));
}
END_TEST

START_TEST(test_inflate_outside_ram)
{
    SKIP_IF_DISCARD_IGNORED();
    add_balloon(1ull << 20, false, false);
    vdevtest_bring_up(T, F(VIRTIO_BALLOON_F_STATS_VQ), 3, QSIZE);
    /* The buffer itself (not a PFN in it) lies outside guest RAM. */
    virtq_driver_set_desc(&T->q[INFLATE], 0, RAM_SIZE + PAGE, 64, 0, 0);
    virtq_driver_expose(&T->q[INFLATE], 0);
    vdevtest_kick(T, INFLATE);
    ck_assert(vdevtest_wait_status(T, VIRTIO_STATUS_NEEDS_RESET, WAIT_MS));
    /* Recovery after a reset. */
    vdevtest_bring_up(T, F(VIRTIO_BALLOON_F_STATS_VQ), 3, QSIZE);
    fill_pages(BASE, 1, 0x33);
    uint32_t pfn = BASE_PFN;
    send_pfns(INFLATE, &pfn, 1, 0);
    ck_assert(page_is(BASE, 0));
}
END_TEST

/* Post a stats buffer with the given (tag, value) pairs. */
static uint16_t post_stats(const uint16_t *tags, const uint64_t *vals, unsigned n)
{
    Gpa g = virtq_driver_alloc(&T->q[STATS], n * 10, 8);
    uint8_t *p = vdevtest_hva(T, g, n * 10);
    for (unsigned i = 0; i < n; i++)
        put_stat(p + 10 * i, tags[i], vals[i]);
    uint16_t head = virtq_driver_add(&T->q[STATS], &(VirtqDriverBuf){ g, n * 10, false }, 1);
    vdevtest_kick(T, STATS);
    return head;
}

static bool stats_updates(uint64_t n)
{
    BalloonStats s;
    gint64 end = g_get_monotonic_time() + WAIT_MS * 1000;
    while (g_get_monotonic_time() < end) {
        balloon_stats(T->dev, &s);
        if (s.updates >= n)
            return true;
        g_usleep(500);
    }
    return false;
}

START_TEST(test_stats)
{
    add_balloon(0, false, false);
    vdevtest_bring_up(T, F(VIRTIO_BALLOON_F_STATS_VQ), 3, QSIZE);
    BalloonStats s;
    ck_assert(!balloon_stats(T->dev, &s));
    balloon_request_stats(T->dev); /* nothing held yet: a no-op */

    uint16_t tags[] = { BALLOON_STAT_MEMFREE, 0x7fff, BALLOON_STAT_MEMTOT, BALLOON_STAT_SWAP_IN };
    uint64_t vals[] = { 1000, 5, 2000, 7 };
    uint16_t head = post_stats(tags, vals, 4);
    ck_assert(stats_updates(1));
    ck_assert(balloon_stats(T->dev, &s));
    ck_assert_uint_eq(s.value[BALLOON_STAT_MEMFREE], 1000);
    ck_assert_uint_eq(s.value[BALLOON_STAT_MEMTOT], 2000);
    ck_assert_uint_eq(s.value[BALLOON_STAT_SWAP_IN], 7);
    ck_assert_uint_eq(s.valid, (1u << BALLOON_STAT_MEMFREE) | (1u << BALLOON_STAT_MEMTOT) |
                                   (1u << BALLOON_STAT_SWAP_IN));
    ck_assert_int_gt(s.updated_us, 0);
    /* The device holds the buffer until it wants fresh values. */
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&T->q[STATS], &id, &len));
    balloon_request_stats(T->dev);
    ck_assert(vdevtest_wait_used(T, STATS, &id, &len, WAIT_MS));
    ck_assert_uint_eq(id, head);
    uint16_t tags2[] = { BALLOON_STAT_MEMFREE };
    uint64_t vals2[] = { 500 };
    post_stats(tags2, vals2, 1);
    ck_assert(stats_updates(2));
    balloon_stats(T->dev, &s);
    ck_assert_uint_eq(s.value[BALLOON_STAT_MEMFREE], 500);
    ck_assert_uint_eq(s.valid, 1u << BALLOON_STAT_MEMFREE);

    /* A second buffer while one is held: the older one goes back. */
    post_stats(tags, vals, 3);
    ck_assert(vdevtest_wait_used(T, STATS, &id, &len, WAIT_MS));
    ck_assert(stats_updates(3));
    /* Pause gives the held buffer back, so a paused device holds nothing. */
    g_autoptr(GError) err = NULL;
    ck_assert(T->dev->ops->pause(T->dev, &err));
    ck_assert(vdevtest_wait_used(T, STATS, &id, &len, WAIT_MS));
    ck_assert(T->dev->ops->resume(T->dev, &err));
    ck_assert(!(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET));
}
END_TEST

/* Report a range of guest memory on queue q; wait for the buffer. */
static void report(uint16_t q, Gpa gpa, uint32_t len)
{
    uint16_t head = virtq_driver_add(&T->q[q], &(VirtqDriverBuf){ gpa, len, true }, 1);
    vdevtest_kick(T, q);
    uint32_t id, used;
    ck_assert(vdevtest_wait_used(T, q, &id, &used, WAIT_MS));
    ck_assert_uint_eq(id, head);
}

START_TEST(test_reporting)
{
    SKIP_IF_DISCARD_IGNORED();
    add_balloon(0, false, true);
    uint64_t f = F(VIRTIO_BALLOON_F_STATS_VQ) | F(VIRTIO_BALLOON_F_PAGE_REPORTING);
    vdevtest_bring_up(T, f, 4, QSIZE);
    fill_pages(BASE, 4, 0x66);
    report(3, BASE + PAGE, 2 * PAGE);
    ck_assert(page_is(BASE, 0x66));
    ck_assert(page_is(BASE + PAGE, 0) && page_is(BASE + 2 * PAGE, 0));
    ck_assert(page_is(BASE + 3 * PAGE, 0x66));
    BalloonCounters c;
    balloon_counters(T->dev, &c);
    ck_assert_uint_eq(c.reported_bytes, 2 * PAGE);

    /* Without STATS_VQ, reporting_vq takes index 2 (as drivers number it). */
    vdevtest_bring_up(T, F(VIRTIO_BALLOON_F_PAGE_REPORTING), 3, QSIZE);
    fill_pages(BASE, 1, 0x67);
    report(2, BASE, PAGE);
    ck_assert(page_is(BASE, 0));
}
END_TEST

START_TEST(test_reporting_not_ram)
{
    /* A device mapping (no memfd) the driver pretends is free memory. */
    uint8_t *rom = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(rom, MAP_FAILED);
    memset(rom, 0x5a, 4 * PAGE);
    g_autoptr(GError) err = NULL;
    ck_assert(memory_add_mapping(vm_memory(T->vm), "rom", RAM_SIZE, 4 * PAGE, rom, 0, &err));
    add_balloon(0, false, true);
    vdevtest_bring_up(T, F(VIRTIO_BALLOON_F_STATS_VQ) | F(VIRTIO_BALLOON_F_PAGE_REPORTING), 4,
                      QSIZE);
    report(3, RAM_SIZE, 4 * PAGE);
    for (unsigned i = 0; i < 4 * PAGE; i++)
        ck_assert_uint_eq(rom[i], 0x5a);
    uint32_t pfn = (uint32_t)(RAM_SIZE >> 12);
    send_pfns(INFLATE, &pfn, 1, 0);
    ck_assert_uint_eq(rom[0], 0x5a);
    BalloonCounters c;
    balloon_counters(T->dev, &c);
    ck_assert_uint_eq(c.reported_bytes, 0);
    ck_assert_uint_eq(c.rejected_pfns, 2);
    ck_assert(!(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET));
    vdevtest_free(T); /* before the mapping goes */
    T = NULL;
    munmap(rom, 4 * PAGE);
}
END_TEST

START_TEST(test_unused_queue_kick)
{
    add_balloon(0, false, true);
    /* PAGE_REPORTING offered but not taken: queue 3 has no role. */
    vdevtest_bring_up(T, F(VIRTIO_BALLOON_F_STATS_VQ), 4, QSIZE);
    virtq_driver_add(&T->q[3], &(VirtqDriverBuf){ BASE, PAGE, true }, 1);
    vdevtest_kick(T, 3);
    g_usleep(50 * 1000);
    uint32_t id, len;
    ck_assert(!virtq_driver_get_used(&T->q[3], &id, &len));
    ck_assert(!(vdevtest_status(T) & VIRTIO_STATUS_NEEDS_RESET));
}
END_TEST

static Suite *virtio_balloon_suite(void)
{
    Suite *s = suite_create("virtio_balloon");
    TCase *tc = tcase_create("pages");
    tcase_add_checked_fixture(tc, setup_private, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ram_region);
    tcase_add_test(tc, test_discarder_pfns);
    tcase_add_test(tc, test_discarder_ranges);
    tcase_add_test(tc, test_stats_parse);
    suite_add_tcase(s, tc);

    tc = tcase_create("pages_shared");
    tcase_add_checked_fixture(tc, setup_shared, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_discarder_pfns);
    tcase_add_test(tc, test_discarder_shared_frees);
    tcase_add_test(tc, test_inflate_shared);
    suite_add_tcase(s, tc);

    tc = tcase_create("device");
    tcase_add_checked_fixture(tc, setup_private, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_features_and_config);
    tcase_add_test(tc, test_optional_features);
    tcase_add_test(tc, test_inflate_deflate);
    tcase_add_test(tc, test_inflate_outside_ram);
    tcase_add_test(tc, test_stats);
    tcase_add_test(tc, test_reporting);
    tcase_add_test(tc, test_reporting_not_ram);
    tcase_add_test(tc, test_unused_queue_kick);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(virtio_balloon_suite)
