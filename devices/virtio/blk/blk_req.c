/* virtio-blk request parsing; see blk_req.h. Written from the virtio 1.2
 * specification, 5.2.6 "Device Operation". The guest is hostile: every length
 * is checked before use, every sector range against the capacity (without
 * overflow), and the request keeps its own copies of header and segments. */
#include "devices/virtio/blk/blk_req.h"

#include "hypervisor/le.h"

#include <glib.h>
#include <string.h>

uint64_t blk_iov_to_buf(const struct iovec *iov, unsigned n, uint64_t skip, void *buf,
                        uint64_t len)
{
    uint64_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        uint64_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        uint64_t c = MIN(l - skip, len - done);
        memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + skip, c);
        done += c;
        skip = 0;
    }
    return done;
}

uint64_t blk_iov_from_buf(const struct iovec *iov, unsigned n, uint64_t skip, const void *buf,
                          uint64_t len)
{
    uint64_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        uint64_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        uint64_t c = MIN(l - skip, len - done);
        memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)buf + done, c);
        done += c;
        skip = 0;
    }
    return done;
}

/* The sub-list [skip, skip + len) of an iovec list, as a new array. */
static void iov_slice(const struct iovec *iov, unsigned n, uint64_t skip, uint64_t len,
                      struct iovec **out, unsigned *out_n)
{
    struct iovec *v = g_new(struct iovec, n ? n : 1);
    unsigned k = 0;
    for (unsigned i = 0; i < n && len; i++) {
        uint64_t l = iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        uint64_t c = MIN(l - skip, len);
        v[k++] = (struct iovec){ (uint8_t *)iov[i].iov_base + skip, c };
        len -= c;
        skip = 0;
    }
    *out = v;
    *out_n = k;
}

static uint64_t iov_bytes(const struct iovec *iov, unsigned n)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

static BlkParseResult answer(BlkReq *req, uint8_t status, const char *why)
{
    req->status_code = status;
    req->why = why;
    return BLK_PARSE_STATUS;
}

static bool range_ok(const BlkLimits *lim, uint64_t sector, uint64_t sectors)
{
    return sector <= lim->capacity && sectors <= lim->capacity - sector;
}

static BlkParseResult parse_rw(const BlkLimits *lim, BlkReq *req)
{
    if (req->data_len % VIRTIO_BLK_SECTOR_SIZE)
        return answer(req, VIRTIO_BLK_S_IOERR, "data length is not a multiple of 512");
    if (!range_ok(lim, req->sector, req->data_len / VIRTIO_BLK_SECTOR_SIZE))
        return answer(req, VIRTIO_BLK_S_IOERR, "sector range beyond the capacity");
    if (req->type == VIRTIO_BLK_T_OUT && lim->readonly)
        return answer(req, VIRTIO_BLK_S_IOERR, "write to a read-only disk");
    return BLK_PARSE_OK;
}

static BlkParseResult parse_segments(const BlkLimits *lim, BlkReq *req)
{
    bool discard = req->type == VIRTIO_BLK_T_DISCARD;
    if (lim->readonly)
        return answer(req, VIRTIO_BLK_S_IOERR, "discard/write-zeroes on a read-only disk");
    if (!(discard ? lim->discard : lim->write_zeroes))
        return answer(req, VIRTIO_BLK_S_UNSUPP, "discard/write-zeroes not negotiated");
    uint32_t max_seg = discard ? lim->max_discard_seg : lim->max_write_zeroes_seg;
    uint32_t max_sectors = discard ? lim->max_discard_sectors : lim->max_write_zeroes_sectors;
    if (req->data_len == 0 || req->data_len % VIRTIO_BLK_SEG_BYTES)
        return answer(req, VIRTIO_BLK_S_IOERR, "segment list length is not a multiple of 16");
    if (req->data_len / VIRTIO_BLK_SEG_BYTES > max_seg)
        return answer(req, VIRTIO_BLK_S_IOERR, "more segments than max_*_seg");
    req->nsegs = (unsigned)(req->data_len / VIRTIO_BLK_SEG_BYTES);
    req->segs = g_new(BlkSegment, req->nsegs);
    for (unsigned i = 0; i < req->nsegs; i++) {
        uint8_t raw[VIRTIO_BLK_SEG_BYTES];
        blk_iov_to_buf(req->data, req->ndata, (uint64_t)i * sizeof(raw), raw, sizeof(raw));
        BlkSegment *s = &req->segs[i];
        s->sector = le_load64(raw);
        s->num_sectors = le_load32(raw + 8);
        s->flags = le_load32(raw + 12);
        uint32_t allowed = discard ? 0 : VIRTIO_BLK_WZ_F_UNMAP;
        if (s->flags & ~allowed)
            return answer(req, VIRTIO_BLK_S_UNSUPP, "unknown segment flags");
        if (s->num_sectors > max_sectors)
            return answer(req, VIRTIO_BLK_S_IOERR, "segment larger than max_*_sectors");
        if (!range_ok(lim, s->sector, s->num_sectors))
            return answer(req, VIRTIO_BLK_S_IOERR, "segment beyond the capacity");
    }
    return BLK_PARSE_OK;
}

BlkParseResult blk_req_parse(const struct iovec *out, unsigned out_num, const struct iovec *in,
                             unsigned in_num, const BlkLimits *lim, BlkReq *req)
{
    memset(req, 0, sizeof(*req));
    /* The status byte: the last byte of the last non-empty writable buffer. */
    unsigned last = in_num;
    while (last > 0 && in[last - 1].iov_len == 0)
        last--;
    if (last == 0) {
        req->why = "no device-writable status byte";
        return BLK_PARSE_MALFORMED;
    }
    req->status = (uint8_t *)in[last - 1].iov_base + in[last - 1].iov_len - 1;
    uint64_t in_data = iov_bytes(in, last) - 1;

    uint8_t hdr[VIRTIO_BLK_HDR_BYTES];
    uint64_t out_bytes = iov_bytes(out, out_num);
    if (out_bytes < sizeof(hdr)) {
        req->status = NULL;
        req->why = "request header shorter than 16 device-readable bytes";
        return BLK_PARSE_MALFORMED;
    }
    blk_iov_to_buf(out, out_num, 0, hdr, sizeof(hdr));
    req->type = le_load32(hdr);
    req->sector = le_load64(hdr + 8);

    switch (req->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_GET_ID:
        req->data_len = in_data;
        iov_slice(in, last, 0, in_data, &req->data, &req->ndata);
        if (req->type == VIRTIO_BLK_T_GET_ID)
            return in_data < VIRTIO_BLK_ID_BYTES
                       ? answer(req, VIRTIO_BLK_S_IOERR, "GET_ID buffer shorter than 20 bytes")
                       : BLK_PARSE_OK;
        return parse_rw(lim, req);
    case VIRTIO_BLK_T_OUT:
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        req->data_len = out_bytes - sizeof(hdr);
        iov_slice(out, out_num, sizeof(hdr), req->data_len, &req->data, &req->ndata);
        return req->type == VIRTIO_BLK_T_OUT ? parse_rw(lim, req) : parse_segments(lim, req);
    case VIRTIO_BLK_T_FLUSH:
        return BLK_PARSE_OK;
    default:
        return answer(req, VIRTIO_BLK_S_UNSUPP, "unsupported request type");
    }
}

void blk_req_clear(BlkReq *req)
{
    g_clear_pointer(&req->data, g_free);
    g_clear_pointer(&req->segs, g_free);
    req->ndata = 0;
    req->nsegs = 0;
}
