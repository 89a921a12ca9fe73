/* virtio-blk request processing on the device's I/O loop: pop chains, parse
 * them (blk_req.c), hand the I/O to the block backend and complete each
 * request from its callback: status byte, used element, interrupt.
 *
 * Durability: a FLUSH is answered only from the completion of the backend's
 * fdatasync, so whatever the driver saw completed before it sent the flush is
 * on stable storage when the flush completes. */
#include "devices/virtio/blk/blk_internal.h"

#include <errno.h>
#include <string.h>

typedef struct BlkInflight {
    VirtioBlk *blk;
    unsigned queue;
    VirtqElement elem;
    BlkReq req;
    unsigned pending; /* backend operations outstanding (segments) */
    int64_t error;    /* first failure among them */
} BlkInflight;

static RateLimit host_err_rl = RATELIMIT_INIT(5000, 5);

static void inflight_free(BlkInflight *r)
{
    blk_req_clear(&r->req);
    virtq_element_clear(&r->elem);
    g_free(r);
}

/* Answer the request and give the chain back. */
static void finish(BlkInflight *r, uint8_t status, uint32_t written)
{
    VirtioBlk *blk = r->blk;
    if (status == VIRTIO_BLK_S_IOERR)
        blk_metrics_count(blk, BLK_COUNT_IOERR, 0);
    else if (status == VIRTIO_BLK_S_UNSUPP)
        blk_metrics_count(blk, BLK_COUNT_UNSUPP, 0);
    if (!blk->discarding) {
        *r->req.status = status;
        virtq_push(virtio_device_queue(&blk->vdev, r->queue), r->elem.head, written);
        virtio_notify(&blk->vdev, r->queue);
    }
    g_assert(blk->inflight > 0);
    blk->inflight--;
    inflight_free(r);
}

static void io_done(void *opaque, int64_t ret)
{
    BlkInflight *r = opaque;
    VirtioBlk *blk = r->blk;
    if (ret < 0 && !r->error)
        r->error = ret;
    if (--r->pending)
        return;
    if (r->error) {
        uint32_t dropped;
        if (ratelimit_allow(&host_err_rl, &dropped))
            g_warning("%s: request type %u at sector %" G_GUINT64_FORMAT ": %s",
                      blk->vdev.pci.dev.id, r->req.type, r->req.sector,
                      g_strerror((int)-r->error));
        finish(r, VIRTIO_BLK_S_IOERR, 1);
        return;
    }
    switch (r->req.type) {
    case VIRTIO_BLK_T_IN:
        blk_metrics_count(blk, BLK_COUNT_READ, r->req.data_len);
        finish(r, VIRTIO_BLK_S_OK, (uint32_t)MIN(r->req.data_len + 1, (uint64_t)UINT32_MAX));
        return;
    case VIRTIO_BLK_T_OUT:
        blk_metrics_count(blk, BLK_COUNT_WRITE, r->req.data_len);
        break;
    case VIRTIO_BLK_T_FLUSH:
        blk_metrics_count(blk, BLK_COUNT_FLUSH, 0);
        break;
    case VIRTIO_BLK_T_DISCARD:
        blk_metrics_count(blk, BLK_COUNT_DISCARD, 0);
        break;
    case VIRTIO_BLK_T_WRITE_ZEROES:
        blk_metrics_count(blk, BLK_COUNT_WRITE_ZEROES, 0);
        break;
    }
    finish(r, VIRTIO_BLK_S_OK, 1);
}

static void submit(BlkInflight *r, BlockOp op, uint64_t sector, uint64_t sectors, bool unmap)
{
    BlockRequest br = {
        .op = op,
        .offset = sector * VIRTIO_BLK_SECTOR_SIZE,
        .len = sectors * VIRTIO_BLK_SECTOR_SIZE,
        .iov = r->req.data,
        .iovcnt = r->req.ndata,
        .may_unmap = unmap,
        .cb = io_done,
        .opaque = r,
    };
    r->pending++;
    block_submit(r->blk->bd, &br);
}

static void execute(BlkInflight *r)
{
    VirtioBlk *blk = r->blk;
    BlkReq *q = &r->req;
    switch (q->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        if (q->data_len == 0) {
            finish(r, VIRTIO_BLK_S_OK, 1);
            return;
        }
        submit(r, q->type == VIRTIO_BLK_T_IN ? BLOCK_OP_READ : BLOCK_OP_WRITE, q->sector, 0,
               false);
        return;
    case VIRTIO_BLK_T_FLUSH:
        if (blk->cfg->readonly) {
            blk_metrics_count(blk, BLK_COUNT_FLUSH, 0);
            finish(r, VIRTIO_BLK_S_OK, 1);
            return;
        }
        submit(r, BLOCK_OP_FLUSH, 0, 0, false);
        return;
    case VIRTIO_BLK_T_GET_ID:
        blk_iov_from_buf(q->data, q->ndata, 0, blk->id, sizeof(blk->id));
        blk_metrics_count(blk, BLK_COUNT_GET_ID, 0);
        finish(r, VIRTIO_BLK_S_OK, VIRTIO_BLK_ID_BYTES + 1);
        return;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        /* Hold one reference while submitting, so that a segment list of
         * zero-length segments still completes exactly once. */
        r->pending = 1;
        for (unsigned i = 0; i < q->nsegs; i++) {
            const BlkSegment *s = &q->segs[i];
            bool wz = q->type == VIRTIO_BLK_T_WRITE_ZEROES;
            submit(r, wz ? BLOCK_OP_WRITE_ZEROES : BLOCK_OP_DISCARD, s->sector,
                   s->num_sectors, wz && (s->flags & VIRTIO_BLK_WZ_F_UNMAP));
        }
        io_done(r, 0);
        return;
    }
    g_assert_not_reached(); /* blk_req_parse() answered every other type */
}

void blk_queue_notify(VirtioDevice *vdev, unsigned queue)
{
    VirtioBlk *blk = (VirtioBlk *)vdev;
    VirtQueue *vq = virtio_device_queue(vdev, queue);
    for (;;) {
        BlkInflight *r = g_new0(BlkInflight, 1);
        virtq_element_init(&r->elem);
        VirtqStatus st = virtq_pop(vq, &r->elem);
        if (st != VIRTQ_OK) {
            inflight_free(r);
            if (virtq_is_error(st))
                virtio_device_set_needs_reset(vdev, "q%u: %s", queue, virtq_strerror(st));
            break;
        }
        r->blk = blk;
        r->queue = queue;
        blk->inflight++;
        BlkParseResult pr = blk_req_parse(r->elem.out_iov, r->elem.out_num, r->elem.in_iov,
                                          r->elem.in_num, &blk->limits, &r->req);
        if (pr == BLK_PARSE_MALFORMED) {
            virtio_device_set_needs_reset(vdev, "q%u: %s", queue, r->req.why);
            blk->inflight--;
            inflight_free(r);
            break;
        }
        if (pr == BLK_PARSE_STATUS) {
            log_guest_error(&vdev->guest_err, vdev->pci.dev.id,
                            "q%u: request type %u sector %" G_GUINT64_FORMAT ": %s", queue,
                            r->req.type, r->req.sector, r->req.why);
            finish(r, r->req.status_code, 1);
            continue;
        }
        execute(r);
    }
    block_kick(blk->bd);
}

void blk_drain(VirtioBlk *blk, bool discard)
{
    if (discard)
        blk->discarding = true;
    if (blk->bd && blk->attached)
        block_drain(blk->bd);
    g_assert(blk->inflight == 0);
}
