/* virtio-blk counters: relaxed atomics bumped by the I/O thread, read by the
 * API from the control thread. */
#include "devices/virtio/blk/blk_internal.h"

static void add(uint64_t *c, uint64_t v)
{
    __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

void blk_metrics_count(VirtioBlk *blk, BlkCount what, uint64_t bytes)
{
    VirtioBlkCounters *c = &blk->counters;
    switch (what) {
    case BLK_COUNT_READ:
        add(&c->read_ops, 1);
        add(&c->read_bytes, bytes);
        break;
    case BLK_COUNT_WRITE:
        add(&c->write_ops, 1);
        add(&c->write_bytes, bytes);
        break;
    case BLK_COUNT_FLUSH:
        add(&c->flush_ops, 1);
        break;
    case BLK_COUNT_DISCARD:
        add(&c->discard_ops, 1);
        break;
    case BLK_COUNT_WRITE_ZEROES:
        add(&c->write_zeroes_ops, 1);
        break;
    case BLK_COUNT_GET_ID:
        add(&c->get_id_ops, 1);
        break;
    case BLK_COUNT_IOERR:
        add(&c->io_errors, 1);
        break;
    case BLK_COUNT_UNSUPP:
        add(&c->unsupported, 1);
        break;
    }
}

void virtio_blk_get_counters(Device *d, VirtioBlkCounters *out)
{
    VirtioBlk *blk = DEVICE_CAST(VirtioBlk, d);
    const uint64_t *src = (const uint64_t *)&blk->counters;
    uint64_t *dst = (uint64_t *)out;
    G_STATIC_ASSERT(sizeof(VirtioBlkCounters) % sizeof(uint64_t) == 0);
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
