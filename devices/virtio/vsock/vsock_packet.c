/* virtio-vsock packet header codec and validation (see vsock_packet.h). */
#include "devices/virtio/vsock/vsock_packet.h"

#include "hypervisor/le.h"

#include <string.h>

/* Field offsets in the wire header (virtio 1.2, struct virtio_vsock_hdr). */
enum {
    OFF_SRC_CID = 0,
    OFF_DST_CID = 8,
    OFF_SRC_PORT = 16,
    OFF_DST_PORT = 20,
    OFF_LEN = 24,
    OFF_TYPE = 28,
    OFF_OP = 30,
    OFF_FLAGS = 32,
    OFF_BUF_ALLOC = 36,
    OFF_FWD_CNT = 40,
};

void vsock_hdr_decode(VsockHdr *h, const uint8_t raw[VSOCK_HDR_SIZE])
{
    h->src_cid = le_load64(raw + OFF_SRC_CID);
    h->dst_cid = le_load64(raw + OFF_DST_CID);
    h->src_port = le_load32(raw + OFF_SRC_PORT);
    h->dst_port = le_load32(raw + OFF_DST_PORT);
    h->len = le_load32(raw + OFF_LEN);
    h->type = le_load16(raw + OFF_TYPE);
    h->op = le_load16(raw + OFF_OP);
    h->flags = le_load32(raw + OFF_FLAGS);
    h->buf_alloc = le_load32(raw + OFF_BUF_ALLOC);
    h->fwd_cnt = le_load32(raw + OFF_FWD_CNT);
}

void vsock_hdr_encode(const VsockHdr *h, uint8_t raw[VSOCK_HDR_SIZE])
{
    le_store64(raw + OFF_SRC_CID, h->src_cid);
    le_store64(raw + OFF_DST_CID, h->dst_cid);
    le_store32(raw + OFF_SRC_PORT, h->src_port);
    le_store32(raw + OFF_DST_PORT, h->dst_port);
    le_store32(raw + OFF_LEN, h->len);
    le_store16(raw + OFF_TYPE, h->type);
    le_store16(raw + OFF_OP, h->op);
    le_store32(raw + OFF_FLAGS, h->flags);
    le_store32(raw + OFF_BUF_ALLOC, h->buf_alloc);
    le_store32(raw + OFF_FWD_CNT, h->fwd_cnt);
}

const char *vsock_op_name(uint16_t op)
{
    static const char *const names[] = {
        [VSOCK_OP_INVALID] = "INVALID",   [VSOCK_OP_REQUEST] = "REQUEST",
        [VSOCK_OP_RESPONSE] = "RESPONSE", [VSOCK_OP_RST] = "RST",
        [VSOCK_OP_SHUTDOWN] = "SHUTDOWN", [VSOCK_OP_RW] = "RW",
        [VSOCK_OP_CREDIT_UPDATE] = "CREDIT_UPDATE", [VSOCK_OP_CREDIT_REQUEST] = "CREDIT_REQUEST",
    };
    return op < sizeof names / sizeof names[0] ? names[op] : "unknown";
}

VsockVerdict vsock_packet_check(const VsockHdr *h, uint64_t guest_cid, uint64_t payload_avail,
                                const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (h->src_cid != guest_cid) {
        *why = "source CID is not the guest's";
        return VSOCK_PKT_DROP;
    }
    if (h->dst_cid != VSOCK_CID_HOST) {
        *why = "destination CID is not the host";
        return VSOCK_PKT_DROP;
    }
    if (h->op == VSOCK_OP_INVALID || h->op > VSOCK_OP_CREDIT_REQUEST) {
        *why = "unknown op";
        return VSOCK_PKT_RESET;
    }
    if (h->type != VSOCK_TYPE_STREAM) {
        *why = "socket type other than stream";
        return VSOCK_PKT_RESET;
    }
    if (h->op == VSOCK_OP_RW) {
        if (h->len > VSOCK_MAX_PAYLOAD) {
            *why = "payload longer than the packet limit";
            return VSOCK_PKT_RESET;
        }
        if (h->len > payload_avail) {
            *why = "payload length beyond the buffers";
            return VSOCK_PKT_RESET;
        }
    }
    return VSOCK_PKT_ACCEPT;
}

uint32_t vsock_credit_free(uint32_t peer_buf_alloc, uint32_t peer_fwd_cnt, uint32_t tx_cnt)
{
    uint32_t in_flight = tx_cnt - peer_fwd_cnt; /* wraps like the counters */
    return in_flight >= peer_buf_alloc ? 0 : peer_buf_alloc - in_flight;
}

/* Walk [off, off + len) of iov, calling fn on each piece. */
static size_t iov_walk(const struct iovec *iov, unsigned n, size_t off, size_t len,
                       void (*fn)(uint8_t *p, size_t l, size_t done, void *opaque), void *opaque)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t take = l - off;
        if (take > len - done)
            take = len - done;
        fn((uint8_t *)iov[i].iov_base + off, take, done, opaque);
        done += take;
        off = 0;
    }
    return done;
}

static void copy_out(uint8_t *p, size_t l, size_t done, void *buf)
{
    memcpy((uint8_t *)buf + done, p, l);
}

static void copy_in(uint8_t *p, size_t l, size_t done, void *buf)
{
    memcpy(p, (const uint8_t *)buf + done, l);
}

size_t vsock_iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
    return iov_walk(iov, n, off, len, copy_out, buf);
}

size_t vsock_iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf,
                          size_t len)
{
    return iov_walk(iov, n, off, len, copy_in, (void *)buf);
}

unsigned vsock_iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
                         struct iovec *out, unsigned out_max, size_t *covered)
{
    unsigned k = 0;
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len && k < out_max; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t take = l - off;
        if (take > len - done)
            take = len - done;
        out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
        out[k].iov_len = take;
        k++;
        done += take;
        off = 0;
    }
    if (covered)
        *covered = done;
    return k;
}
