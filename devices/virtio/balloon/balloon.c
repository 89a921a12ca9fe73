/* virtio-balloon (see balloon.h).
 *
 * Threads: queue_notify, activate, reset and the stats buffer run on the I/O
 * loop. num_pages and actual are atomics (config reads and writes come from
 * vCPUs, balloon_set_target from the control thread); the statistics are
 * under `lock`; the counters are relaxed atomics.
 *
 * Statistics protocol (virtio 1.2 5.5.6.3): the driver adds one buffer with
 * its current statistics; the device keeps it (popped, not used) and, to ask
 * for fresh values, gives it back; the driver then adds it again, refilled.
 * The held buffer is given back on pause too, so a paused device holds no
 * guest buffer. */
#include "devices/virtio/balloon/balloon.h"

#include "devices/virtio/balloon/balloon_pages.h"
#include "devices/virtio/virtio.h"
#include "hypervisor/error.h"
#include "hypervisor/vm.h"
#include "hypervisor/vm_config.h"

#include <string.h>

#define BALLOON_MAX_QUEUES 4
/* Most PFNs taken from one inflate/deflate buffer (Linux sends 256); the
 * rest of a larger buffer is ignored, bounding one buffer's work. */
#define BALLOON_MAX_PFNS_PER_BUFFER 65536u
/* Most bytes of one statistics buffer that are parsed. */
#define BALLOON_MAX_STATS_BYTES 4096u

typedef enum { ROLE_NONE, ROLE_INFLATE, ROLE_DEFLATE, ROLE_STATS, ROLE_REPORT } QueueRole;

typedef struct VirtioBalloon {
    VirtioDevice vdev; /* first */
    BalloonConfig cfg;
    bool lock_ready;
    GMutex lock; /* stats */
    BalloonStats stats;
    uint32_t num_pages; /* atomic */
    uint32_t actual;    /* atomic */
    gint paused;
    BalloonCounters counters; /* relaxed atomics */
    /* I/O loop only */
    QueueRole role[BALLOON_MAX_QUEUES];
    int stats_queue; /* -1: none */
    bool stats_held;
    uint16_t stats_head;
    VirtqElement elem;
} VirtioBalloon;

static VirtioBalloon *bal_of(VirtioDevice *vdev)
{
    return (VirtioBalloon *)vdev;
}

static void count(uint64_t *counter, uint64_t n)
{
    if (n)
        __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static const char *dev_id(VirtioBalloon *b)
{
    return b->vdev.pci.dev.id;
}

static bool usable(VirtioBalloon *b)
{
    uint8_t st = virtio_device_status(&b->vdev);
    return (st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_NEEDS_RESET) &&
           !g_atomic_int_get(&b->paused);
}

/* ---- inflateq / deflateq ------------------------------------------------- */

/* Walk the little-endian u32 PFNs of the readable part of `e` (they may
 * straddle iovec boundaries); returns how many there were. */
static uint64_t each_pfn(const VirtqElement *e, uint64_t max, BalloonDiscarder *disc)
{
    uint8_t acc[4];
    unsigned have = 0;
    uint64_t n = 0;
    for (uint32_t i = 0; i < e->out_num && n < max; i++) {
        const uint8_t *p = e->out_iov[i].iov_base;
        for (size_t k = 0; k < e->out_iov[i].iov_len && n < max; k++) {
            acc[have++] = p[k];
            if (have < 4)
                continue;
            have = 0;
            n++;
            if (disc) {
                uint32_t pfn = (uint32_t)acc[0] | (uint32_t)acc[1] << 8 |
                               (uint32_t)acc[2] << 16 | (uint32_t)acc[3] << 24;
                balloon_discarder_add_pfn(disc, pfn);
            }
        }
    }
    return n;
}

static void process_pfns(VirtioBalloon *b, unsigned q, bool inflate)
{
    VirtioDevice *vdev = &b->vdev;
    VirtQueue *vq = virtio_device_queue(vdev, q);
    const char *what = inflate ? "inflateq" : "deflateq";
    BalloonDiscarder disc = { 0 };
    bool began = false;
    unsigned handled = 0;
    uint64_t pfns = 0;
    for (;;) {
        if (handled == vq->s.size) { /* bound one turn; the rest gets another */
            virtio_device_queue_kick(vdev, q);
            break;
        }
        VirtqStatus st = virtq_pop(vq, &b->elem);
        if (st == VIRTQ_EMPTY || st == VIRTQ_NOT_READY)
            break;
        if (virtq_is_error(st)) {
            virtio_device_set_needs_reset(vdev, "%s: %s", what, virtq_strerror(st));
            break;
        }
        if (b->elem.out_bytes % 4)
            log_guest_error(&vdev->guest_err, dev_id(b),
                            "%s: buffer of %" G_GUINT64_FORMAT " bytes is not whole PFNs", what,
                            b->elem.out_bytes);
        if (b->elem.out_bytes / 4 > BALLOON_MAX_PFNS_PER_BUFFER)
            log_guest_error(&vdev->guest_err, dev_id(b),
                            "%s: %" G_GUINT64_FORMAT " PFNs in one buffer, only %u taken", what,
                            b->elem.out_bytes / 4, BALLOON_MAX_PFNS_PER_BUFFER);
        if (inflate && !began) {
            balloon_discarder_begin(&disc, virtio_device_memory(vdev));
            began = true;
        }
        pfns += each_pfn(&b->elem, BALLOON_MAX_PFNS_PER_BUFFER, inflate ? &disc : NULL);
        if (inflate)
            balloon_discarder_flush(&disc); /* gone before the driver hears back */
        virtq_push(vq, b->elem.head, 0);
        handled++;
    }
    if (began) {
        balloon_discarder_end(&disc);
        uint64_t rejected = disc.rejected;
        if (rejected)
            log_guest_error(&vdev->guest_err, dev_id(b),
                            "inflateq: %" G_GUINT64_FORMAT " PFNs outside guest RAM ignored",
                            rejected);
        if (disc.failed_bytes)
            g_debug("%s: could not discard %" G_GUINT64_FORMAT " bytes: %s", dev_id(b),
                    disc.failed_bytes, g_strerror(disc.last_errno));
        count(&b->counters.inflated_pages, pfns - rejected);
        count(&b->counters.rejected_pfns, rejected);
        count(&b->counters.discarded_bytes, disc.discarded_bytes);
        count(&b->counters.discard_errors, disc.failed_bytes ? 1 : 0);
    } else if (!inflate) {
        count(&b->counters.deflated_pages, pfns); /* nothing to do: pages fault back in */
    }
    virtio_notify(vdev, q);
}

/* ---- reporting_vq (free page reporting) ---------------------------------- */

static void process_report(VirtioBalloon *b, unsigned q)
{
    VirtioDevice *vdev = &b->vdev;
    VirtQueue *vq = virtio_device_queue(vdev, q);
    BalloonDiscarder disc;
    balloon_discarder_begin(&disc, virtio_device_memory(vdev));
    uint64_t accepted = 0;
    unsigned handled = 0;
    for (;;) {
        if (handled == vq->s.size) {
            virtio_device_queue_kick(vdev, q);
            break;
        }
        VirtqStatus st = virtq_pop(vq, &b->elem);
        if (st == VIRTQ_EMPTY || st == VIRTQ_NOT_READY)
            break;
        if (virtq_is_error(st)) {
            virtio_device_set_needs_reset(vdev, "reporting_vq: %s", virtq_strerror(st));
            break;
        }
        /* Each buffer is a free block of guest memory (the driver maps them
         * device-writable; either direction is accepted). */
        uint32_t n = b->elem.out_num + b->elem.in_num;
        for (uint32_t i = 0; i < n; i++) {
            const struct iovec *v = &b->elem.iov[i];
            if (balloon_discarder_add_range(&disc, v->iov_base, v->iov_len))
                accepted += v->iov_len;
        }
        balloon_discarder_flush(&disc); /* the driver reuses the pages once told */
        virtq_push(vq, b->elem.head, 0);
        handled++;
    }
    balloon_discarder_end(&disc);
    if (disc.rejected)
        log_guest_error(&vdev->guest_err, dev_id(b),
                        "reporting_vq: %" G_GUINT64_FORMAT " ranges outside guest RAM ignored",
                        disc.rejected);
    if (disc.failed_bytes)
        g_debug("%s: could not discard %" G_GUINT64_FORMAT " reported bytes: %s", dev_id(b),
                disc.failed_bytes, g_strerror(disc.last_errno));
    count(&b->counters.reported_bytes, accepted);
    count(&b->counters.rejected_pfns, disc.rejected);
    count(&b->counters.discarded_bytes, disc.discarded_bytes);
    count(&b->counters.discard_errors, disc.failed_bytes ? 1 : 0);
    virtio_notify(vdev, q);
}

/* ---- statsq ---------------------------------------------------------------- */

/* Give the held statistics buffer back (asks the driver for new values). */
static void stats_release(VirtioBalloon *b)
{
    if (!b->stats_held || b->stats_queue < 0)
        return;
    b->stats_held = false;
    virtq_push(virtio_device_queue(&b->vdev, (unsigned)b->stats_queue), b->stats_head, 0);
    virtio_notify(&b->vdev, (unsigned)b->stats_queue);
}

static void process_stats(VirtioBalloon *b, unsigned q)
{
    VirtioDevice *vdev = &b->vdev;
    VirtQueue *vq = virtio_device_queue(vdev, q);
    for (unsigned handled = 0; handled < vq->s.size; handled++) {
        VirtqStatus st = virtq_pop(vq, &b->elem);
        if (st == VIRTQ_EMPTY || st == VIRTQ_NOT_READY)
            return;
        if (virtq_is_error(st)) {
            virtio_device_set_needs_reset(vdev, "statsq: %s", virtq_strerror(st));
            return;
        }
        /* A driver keeps one buffer in flight; if it sends another, the
         * older one goes back so nothing is held forever. */
        if (b->stats_held) {
            log_guest_error(&vdev->guest_err, dev_id(b), "statsq: second buffer while one is held");
            stats_release(b);
        }
        BalloonStats fresh = { 0 };
        unsigned unknown = 0;
        balloon_stats_parse(b->elem.out_iov, b->elem.out_num, BALLOON_MAX_STATS_BYTES, &fresh,
                            &unknown);
        g_mutex_lock(&b->lock);
        fresh.updates = b->stats.updates + 1;
        fresh.updated_us = g_get_monotonic_time();
        b->stats = fresh;
        g_mutex_unlock(&b->lock);
        b->stats_held = true;
        b->stats_head = b->elem.head;
    }
    virtio_device_queue_kick(vdev, q); /* a flood: later */
}

/* ---- virtio callbacks -------------------------------------------------------- */

static uint64_t bal_features(VirtioDevice *vdev)
{
    VirtioBalloon *b = bal_of(vdev);
    uint64_t f = 1ull << VIRTIO_BALLOON_F_STATS_VQ;
    if (b->cfg.deflate_on_oom)
        f |= 1ull << VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
    if (b->cfg.free_page_reporting)
        f |= 1ull << VIRTIO_BALLOON_F_PAGE_REPORTING;
    return f;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void bal_config_read(VirtioDevice *vdev, uint32_t offset, void *buf, unsigned size)
{
    VirtioBalloon *b = bal_of(vdev);
    uint8_t cfg[VIRTIO_BALLOON_CFG_SIZE];
    put_le32(cfg + VIRTIO_BALLOON_CFG_NUM_PAGES, __atomic_load_n(&b->num_pages, __ATOMIC_ACQUIRE));
    put_le32(cfg + VIRTIO_BALLOON_CFG_ACTUAL, __atomic_load_n(&b->actual, __ATOMIC_ACQUIRE));
    if (offset < sizeof cfg && size <= sizeof cfg - offset)
        memcpy(buf, cfg + offset, size);
}

static void bal_config_write(VirtioDevice *vdev, uint32_t offset, const void *buf, unsigned size)
{
    VirtioBalloon *b = bal_of(vdev);
    const uint8_t *p = buf;
    if (offset < VIRTIO_BALLOON_CFG_ACTUAL || offset >= VIRTIO_BALLOON_CFG_SIZE ||
        size > VIRTIO_BALLOON_CFG_SIZE - offset) {
        log_guest_error(&vdev->guest_err, dev_id(b),
                        "write of %u bytes at balloon config 0x%x (only actual is writable)", size,
                        offset);
        return;
    }
    unsigned shift = 8 * (offset - VIRTIO_BALLOON_CFG_ACTUAL);
    uint32_t mask = size >= 4 ? ~0u : ((1u << (8 * size)) - 1) << shift;
    uint32_t val = 0;
    for (unsigned i = 0; i < size; i++)
        val |= (uint32_t)p[i] << (8 * i);
    val <<= shift;
    uint32_t old = __atomic_load_n(&b->actual, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&b->actual, &old, (old & ~mask) | (val & mask), false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        ;
}

static bool bal_activate(VirtioDevice *vdev, GError **errp)
{
    VirtioBalloon *b = bal_of(vdev);
    unsigned n = 0;
    memset(b->role, 0, sizeof b->role);
    b->stats_queue = -1;
    b->role[n++] = ROLE_INFLATE;
    b->role[n++] = ROLE_DEFLATE;
    if (virtio_device_has_feature(vdev, VIRTIO_BALLOON_F_STATS_VQ)) {
        b->stats_queue = (int)n;
        b->role[n++] = ROLE_STATS;
    }
    if (virtio_device_has_feature(vdev, VIRTIO_BALLOON_F_PAGE_REPORTING))
        b->role[n++] = ROLE_REPORT;
    g_assert(n <= vdev->info.num_queues);
    return true;
}

static void bal_reset(VirtioDevice *vdev)
{
    VirtioBalloon *b = bal_of(vdev);
    memset(b->role, 0, sizeof b->role);
    b->stats_queue = -1;
    b->stats_held = false; /* the queue is reset right after */
    __atomic_store_n(&b->actual, 0, __ATOMIC_RELEASE);
}

static void bal_queue_notify(VirtioDevice *vdev, unsigned q)
{
    VirtioBalloon *b = bal_of(vdev);
    switch (q < BALLOON_MAX_QUEUES ? b->role[q] : ROLE_NONE) {
    case ROLE_INFLATE:
        process_pfns(b, q, true);
        break;
    case ROLE_DEFLATE:
        process_pfns(b, q, false);
        break;
    case ROLE_STATS:
        process_stats(b, q);
        break;
    case ROLE_REPORT:
        process_report(b, q);
        break;
    case ROLE_NONE:
        log_guest_error(&vdev->guest_err, dev_id(b), "notify on queue %u, unused with the "
                        "negotiated features", q);
        break;
    }
}

static const VirtioDeviceOps bal_virtio_ops = {
    .features = bal_features,
    .config_read = bal_config_read,
    .config_write = bal_config_write,
    .activate = bal_activate,
    .reset = bal_reset,
    .queue_notify = bal_queue_notify,
};

/* ---- DeviceOps ---------------------------------------------------------------- */

static uint32_t pages_of(uint64_t bytes)
{
    return (uint32_t)MIN(bytes >> VIRTIO_BALLOON_PAGE_SHIFT, (uint64_t)UINT32_MAX);
}

static bool bal_realize(Device *d, const void *opaque, GError **errp)
{
    VirtioBalloon *b = DEVICE_CAST(VirtioBalloon, d);
    const BalloonConfig *cfg = opaque;
    g_mutex_init(&b->lock);
    b->lock_ready = true;
    virtq_element_init(&b->elem);
    b->stats_queue = -1;
    if (cfg)
        b->cfg = *cfg;
    b->num_pages = pages_of(b->cfg.size);
    VirtioDeviceInfo info = {
        .device_id = VIRTIO_ID_BALLOON,
        .num_queues = 3 + (b->cfg.free_page_reporting ? 1 : 0),
        .queue_max_size = VIRTIO_BALLOON_QUEUE_SIZE,
        .config_size = VIRTIO_BALLOON_CFG_SIZE,
    };
    return virtio_device_init(&b->vdev, &bal_virtio_ops, &info, errp);
}

static void bal_dev_reset(Device *d)
{
    virtio_device_reset(VIRTIO_DEVICE(d));
}

static void release_on_io(void *opaque)
{
    VirtioBalloon *b = opaque;
    if (usable(b))
        stats_release(b);
}

static bool bal_pause(Device *d, GError **errp)
{
    VirtioBalloon *b = DEVICE_CAST(VirtioBalloon, d);
    if (!b->vdev.core)
        return true;
    evloop_run_sync(virtio_device_io_loop(&b->vdev), release_on_io, b);
    g_atomic_int_set(&b->paused, 1);
    virtio_device_pause(&b->vdev);
    return true;
}

static bool bal_resume(Device *d, GError **errp)
{
    VirtioBalloon *b = DEVICE_CAST(VirtioBalloon, d);
    g_atomic_int_set(&b->paused, 0);
    virtio_device_resume(&b->vdev);
    return true;
}

static void bal_unrealize(Device *d)
{
    VirtioBalloon *b = DEVICE_CAST(VirtioBalloon, d);
    virtio_device_cleanup(&b->vdev);
    virtq_element_clear(&b->elem);
    if (b->lock_ready)
        g_mutex_clear(&b->lock);
}


const DeviceOps virtio_balloon_ops = {
    .type = "virtio-balloon",
    .instance_size = sizeof(VirtioBalloon),
    .stage = DEVICE_STAGE_PCI_DEVICE,
    .realize = bal_realize,
    .reset = bal_dev_reset,
    .pause = bal_pause,
    .resume = bal_resume,
    .state = &virtio_balloon_state,
    .state_sync = virtio_device_state_sync_hook,
    .post_load_all = virtio_device_post_load_all,
    .unrealize = bal_unrealize,
};

/* ---- API -------------------------------------------------------------------------- */

static VirtioBalloon *balloon_of(Device *d)
{
    g_assert(d->ops == &virtio_balloon_ops);
    return DEVICE_CAST(VirtioBalloon, d);
}

bool balloon_set_target(Device *d, uint64_t bytes, GError **errp)
{
    VirtioBalloon *b = balloon_of(d);
    uint64_t ram = memory_ram_size(virtio_device_memory(&b->vdev));
    if (bytes > ram) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "balloon size %" G_GUINT64_FORMAT " bytes exceeds the guest's %" G_GUINT64_FORMAT
                    " bytes of RAM",
                    bytes, ram);
        return false;
    }
    b->cfg.size = bytes;
    __atomic_store_n(&b->num_pages, pages_of(bytes), __ATOMIC_RELEASE);
    virtio_notify_config(&b->vdev);
    return true;
}

uint64_t balloon_target(Device *d)
{
    VirtioBalloon *b = balloon_of(d);
    return (uint64_t)__atomic_load_n(&b->num_pages, __ATOMIC_ACQUIRE) << VIRTIO_BALLOON_PAGE_SHIFT;
}

uint64_t balloon_actual(Device *d)
{
    VirtioBalloon *b = balloon_of(d);
    return (uint64_t)__atomic_load_n(&b->actual, __ATOMIC_ACQUIRE) << VIRTIO_BALLOON_PAGE_SHIFT;
}

bool balloon_stats(Device *d, BalloonStats *out)
{
    VirtioBalloon *b = balloon_of(d);
    g_mutex_lock(&b->lock);
    *out = b->stats;
    g_mutex_unlock(&b->lock);
    return out->updates > 0;
}

void balloon_request_stats(Device *d)
{
    VirtioBalloon *b = balloon_of(d);
    evloop_run_sync(virtio_device_io_loop(&b->vdev), release_on_io, b);
}

void balloon_counters(Device *d, BalloonCounters *out)
{
    VirtioBalloon *b = balloon_of(d);
    const BalloonCounters *c = &b->counters;
    out->inflated_pages = __atomic_load_n(&c->inflated_pages, __ATOMIC_RELAXED);
    out->deflated_pages = __atomic_load_n(&c->deflated_pages, __ATOMIC_RELAXED);
    out->discarded_bytes = __atomic_load_n(&c->discarded_bytes, __ATOMIC_RELAXED);
    out->reported_bytes = __atomic_load_n(&c->reported_bytes, __ATOMIC_RELAXED);
    out->rejected_pfns = __atomic_load_n(&c->rejected_pfns, __ATOMIC_RELAXED);
    out->discard_errors = __atomic_load_n(&c->discard_errors, __ATOMIC_RELAXED);
}
