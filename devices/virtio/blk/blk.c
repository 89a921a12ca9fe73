/* virtio-blk: the device (DeviceOps), its features and configuration space.
 * Request processing is in blk_events.c, parsing in blk_req.c. Written from
 * the virtio 1.2 specification, section 5.2. */
#include "devices/virtio/blk/blk_internal.h"

#include "hypervisor/error.h"
#include "hypervisor/le.h"

#include <string.h>

static VirtioBlk *to_blk(VirtioDevice *vdev)
{
    return (VirtioBlk *)vdev;
}

static uint64_t blk_features(VirtioDevice *vdev)
{
    VirtioBlk *blk = to_blk(vdev);
    uint64_t f = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
                 1ull << VIRTIO_BLK_F_FLUSH;
    if (blk->cfg->readonly)
        f |= 1ull << VIRTIO_BLK_F_RO;
    else
        f |= 1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
    if (blk->cfg->num_queues > 1)
        f |= 1ull << VIRTIO_BLK_F_MQ;
    return f;
}

static void build_config(VirtioBlk *blk)
{
    uint8_t *c = blk->config;
    uint32_t lbs = block_logical_block_size(blk->bd);
    memset(c, 0, sizeof(blk->config));
    le_store64(c + BLK_CFG_CAPACITY, blk->capacity);
    le_store32(c + BLK_CFG_SEG_MAX, MAX(blk->cfg->queue_size, 3u) - 2);
    le_store32(c + BLK_CFG_BLK_SIZE, lbs);
    le_store16(c + BLK_CFG_NUM_QUEUES, (uint16_t)blk->cfg->num_queues);
    if (!blk->cfg->readonly) {
        le_store32(c + BLK_CFG_MAX_DISCARD_SECTORS, BLK_MAX_DISCARD_SECTORS);
        le_store32(c + BLK_CFG_MAX_DISCARD_SEG, BLK_MAX_SEGMENTS);
        le_store32(c + BLK_CFG_DISCARD_ALIGN, lbs / VIRTIO_BLK_SECTOR_SIZE);
        le_store32(c + BLK_CFG_MAX_WZ_SECTORS, BLK_MAX_DISCARD_SECTORS);
        le_store32(c + BLK_CFG_MAX_WZ_SEG, BLK_MAX_SEGMENTS);
        c[BLK_CFG_WZ_MAY_UNMAP] = 1;
    }
}

static void blk_config_read(VirtioDevice *vdev, uint32_t offset, void *buf, unsigned size)
{
    VirtioBlk *blk = to_blk(vdev);
    if (offset > sizeof(blk->config) || size > sizeof(blk->config) - offset) {
        memset(buf, 0xff, size);
        return;
    }
    memcpy(buf, blk->config + offset, size);
}

static void blk_config_write(VirtioDevice *vdev, uint32_t offset, const void *buf, unsigned size)
{
    /* Everything is read-only (no CONFIG_WCE): ignore, as the spec allows. */
}

static bool blk_activate(VirtioDevice *vdev, GError **errp)
{
    VirtioBlk *blk = to_blk(vdev);
    blk->limits = (BlkLimits){
        .capacity = blk->capacity,
        .readonly = blk->cfg->readonly,
        .discard = virtio_device_has_feature(vdev, VIRTIO_BLK_F_DISCARD),
        .write_zeroes = virtio_device_has_feature(vdev, VIRTIO_BLK_F_WRITE_ZEROES),
        .max_discard_sectors = BLK_MAX_DISCARD_SECTORS,
        .max_discard_seg = BLK_MAX_SEGMENTS,
        .max_write_zeroes_sectors = BLK_MAX_DISCARD_SECTORS,
        .max_write_zeroes_seg = BLK_MAX_SEGMENTS,
    };
    blk->discarding = false;
    return true;
}

static void blk_reset(VirtioDevice *vdev)
{
    /* On the I/O loop: finish what is in flight without touching the
     * queues, which the core resets next. */
    blk_drain(to_blk(vdev), true);
}

static const VirtioDeviceOps blk_virtio_ops = {
    .features = blk_features,
    .config_read = blk_config_read,
    .config_write = blk_config_write,
    .activate = blk_activate,
    .reset = blk_reset,
    .queue_notify = blk_queue_notify,
};

static bool check_config(const DiskConfig *cfg, GError **errp)
{
    if (!cfg->path || !*cfg->path) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "disk: no path");
        return false;
    }
    if (cfg->num_queues < 1 || cfg->num_queues > BLK_MAX_QUEUES) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "disk %s: num_queues=%u is not in 1..%u", cfg->path, cfg->num_queues,
                    BLK_MAX_QUEUES);
        return false;
    }
    uint32_t qs = cfg->queue_size;
    if (qs < 4 || qs > VIRTQ_MAX_SIZE || (qs & (qs - 1))) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "disk %s: queue_size=%u is not a power of two in 4..%u", cfg->path, qs,
                    VIRTQ_MAX_SIZE);
        return false;
    }
    return true;
}

static bool blk_realize(Device *d, const void *opaque, GError **errp)
{
    VirtioBlk *blk = DEVICE_CAST(VirtioBlk, d);
    const DiskConfig *cfg = opaque;
    if (!check_config(cfg, errp))
        return false;
    blk->cfg = disk_config_copy(cfg);
    if (cfg->serial) {
        size_t n = MIN(strlen(cfg->serial), (size_t)VIRTIO_BLK_ID_BYTES);
        memcpy(blk->id, cfg->serial, n); /* NUL-padded; no NUL when 20 bytes long */
    }
    BlockOpenOptions bo = { .readonly = cfg->readonly, .direct = cfg->direct };
    blk->bd = block_open(cfg->path, &bo, errp);
    if (!blk->bd)
        return false;
    blk->capacity = block_size(blk->bd) / VIRTIO_BLK_SECTOR_SIZE;
    build_config(blk);

    VirtioDeviceInfo info = {
        .device_id = VIRTIO_ID_BLOCK,
        .num_queues = cfg->num_queues,
        .queue_max_size = (uint16_t)MIN(cfg->queue_size, 32768u),
        .config_size = BLK_CFG_SIZE,
    };
    if (!virtio_device_init(&blk->vdev, &blk_virtio_ops, &info, errp))
        return false;
    if (!block_attach(blk->bd, virtio_device_io_loop(&blk->vdev), errp))
        return false;
    blk->attached = true;
    g_info("%s: %s, %" G_GUINT64_FORMAT " sectors%s%s, %u queue(s), %s engine", d->id,
           cfg->path, blk->capacity, cfg->readonly ? ", read-only" : "",
           cfg->direct ? ", O_DIRECT" : "", cfg->num_queues, block_engine_name(blk->bd));
    return true;
}

static void drain_on_io(void *opaque)
{
    blk_drain(opaque, true);
}

static void close_on_io(void *opaque)
{
    VirtioBlk *blk = opaque;
    g_clear_pointer(&blk->bd, block_close);
}

static void blk_unrealize(Device *d)
{
    VirtioBlk *blk = DEVICE_CAST(VirtioBlk, d);
    EventLoop *io = blk->attached ? virtio_device_io_loop(&blk->vdev) : NULL;
    if (io)
        evloop_run_sync(io, drain_on_io, blk);
    virtio_device_cleanup(&blk->vdev);
    if (io)
        evloop_run_sync(io, close_on_io, blk);
    else
        g_clear_pointer(&blk->bd, block_close);
    g_clear_pointer(&blk->cfg, disk_config_free);
}

static void blk_device_reset(Device *d)
{
    virtio_device_reset(VIRTIO_DEVICE(d));
}

static void pause_drain_on_io(void *opaque)
{
    blk_drain(opaque, false);
}

static bool blk_pause(Device *d, GError **errp)
{
    VirtioBlk *blk = DEVICE_CAST(VirtioBlk, d);
    virtio_device_pause(&blk->vdev);
    /* No more queue_notify; complete (and push) what is in flight. */
    if (blk->attached)
        evloop_run_sync(virtio_device_io_loop(&blk->vdev), pause_drain_on_io, blk);
    return true;
}

static bool blk_resume(Device *d, GError **errp)
{
    virtio_device_resume(VIRTIO_DEVICE(d));
    return true;
}

/* vm.counters: CH's names where it has them (read_bytes, write_ops, ...). */
static void blk_counters(Device *d, DeviceCounterFunc add, void *opaque)
{
    VirtioBlkCounters c;
    virtio_blk_get_counters(d, &c);
    add(opaque, "read_bytes", c.read_bytes);
    add(opaque, "read_ops", c.read_ops);
    add(opaque, "write_bytes", c.write_bytes);
    add(opaque, "write_ops", c.write_ops);
    add(opaque, "flush_ops", c.flush_ops);
    add(opaque, "discard_ops", c.discard_ops);
    add(opaque, "write_zeroes_ops", c.write_zeroes_ops);
    add(opaque, "io_errors", c.io_errors);
}


const DeviceOps virtio_blk_ops = {
    .type = "virtio-blk",
    .instance_size = sizeof(VirtioBlk),
    .stage = DEVICE_STAGE_PCI_DEVICE,
    .realize = blk_realize,
    .reset = blk_device_reset,
    .pause = blk_pause,
    .resume = blk_resume,
    .state = &virtio_blk_state,
    .state_sync = virtio_device_state_sync_hook,
    .post_load_all = virtio_device_post_load_all,
    .unrealize = blk_unrealize,
    .counters = blk_counters,
};
