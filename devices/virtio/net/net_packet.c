#include "devices/virtio/net/net_packet.h"

#include "devices/net/tap.h"
#include "hypervisor/le.h"

#include <string.h>

G_STATIC_ASSERT(NET_HDR_LEN == TAP_VNET_HDR_LEN);

size_t net_iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
    uint8_t *dst = buf;
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t c = MIN(l - off, len - done);
        memcpy(dst + done, (const uint8_t *)iov[i].iov_base + off, c);
        done += c;
        off = 0;
    }
    return done;
}

size_t net_iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf,
                        size_t len)
{
    const uint8_t *src = buf;
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        size_t l = iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t c = MIN(l - off, len - done);
        memcpy((uint8_t *)iov[i].iov_base + off, src + done, c);
        done += c;
        off = 0;
    }
    return done;
}

void net_rx_fix_header(uint8_t *frame, uint16_t num_buffers, bool guest_csum)
{
    if (!guest_csum)
        frame[NET_HDR_OFF_FLAGS] &= (uint8_t)~NET_HDR_F_DATA_VALID;
    le_store16(frame + NET_HDR_OFF_NUM_BUFFERS, num_buffers);
}

int net_rx_copy(uint8_t *frame, size_t len, const VirtqElement *elems, unsigned n, bool mrg,
                bool guest_csum, uint32_t *lens)
{
    g_assert(len >= NET_HDR_LEN);
    if (n == 0)
        return NET_RX_MORE;
    if (!mrg) {
        /* One buffer takes the whole frame. */
        if (elems[0].in_bytes < NET_HDR_LEN)
            return NET_RX_BAD_BUFFER;
        if (elems[0].in_bytes < len)
            return NET_RX_TOO_SMALL;
        net_rx_fix_header(frame, 1, guest_csum);
        net_iov_from_buf(elems[0].in_iov, elems[0].in_num, 0, frame, len);
        lens[0] = (uint32_t)len;
        return 1;
    }

    /* Mergeable: plan first (so a short set touches nothing), then copy. */
    uint64_t room = 0;
    unsigned used = 0;
    while (used < n && room < len) {
        if (elems[used].in_bytes < NET_HDR_LEN)
            return NET_RX_BAD_BUFFER;
        room += elems[used].in_bytes;
        used++;
    }
    if (room < len)
        return NET_RX_MORE;
    if (used > UINT16_MAX)
        return NET_RX_TOO_SMALL; /* num_buffers is 16 bits */

    net_rx_fix_header(frame, (uint16_t)used, guest_csum);
    size_t off = 0;
    for (unsigned i = 0; i < used; i++) {
        size_t c = MIN((uint64_t)(len - off), elems[i].in_bytes);
        net_iov_from_buf(elems[i].in_iov, elems[i].in_num, 0, frame + off, c);
        lens[i] = (uint32_t)c;
        off += c;
    }
    g_assert(off == len);
    return (int)used;
}

NetTxCheck net_tx_check(const VirtqElement *e, const uint8_t *hdr, uint64_t features)
{
    if (e->out_bytes < NET_HDR_LEN)
        return NET_TX_SHORT;
    if (e->out_bytes > NET_HDR_LEN + NET_MAX_FRAME)
        return NET_TX_TOO_BIG;

    uint8_t flags = hdr[NET_HDR_OFF_FLAGS];
    uint8_t gso = hdr[NET_HDR_OFF_GSO_TYPE];
    if ((flags & NET_HDR_F_NEEDS_CSUM) && !(features & NET_FEATURE(VIRTIO_NET_F_CSUM)))
        return NET_TX_BAD_HDR;
    if ((gso & NET_HDR_GSO_ECN) && !(features & NET_FEATURE(VIRTIO_NET_F_HOST_ECN)))
        return NET_TX_BAD_HDR;
    switch (gso & (uint8_t)~NET_HDR_GSO_ECN) {
    case NET_HDR_GSO_NONE:
        if (gso & NET_HDR_GSO_ECN)
            return NET_TX_BAD_HDR;
        return NET_TX_OK;
    case NET_HDR_GSO_TCPV4:
        return (features & NET_FEATURE(VIRTIO_NET_F_HOST_TSO4)) ? NET_TX_OK : NET_TX_BAD_HDR;
    case NET_HDR_GSO_TCPV6:
        return (features & NET_FEATURE(VIRTIO_NET_F_HOST_TSO6)) ? NET_TX_OK : NET_TX_BAD_HDR;
    case NET_HDR_GSO_UDP:
        return (features & NET_FEATURE(VIRTIO_NET_F_HOST_UFO)) ? NET_TX_OK : NET_TX_BAD_HDR;
    default:
        return NET_TX_BAD_HDR;
    }
}

const char *net_tx_check_str(NetTxCheck c)
{
    switch (c) {
    case NET_TX_OK:
        return "ok";
    case NET_TX_SHORT:
        return "chain shorter than the virtio-net header";
    case NET_TX_TOO_BIG:
        return "frame larger than 64 KiB";
    case NET_TX_BAD_HDR:
        return "header asks for an offload that was not negotiated";
    }
    return "?";
}

unsigned net_tap_offloads(uint64_t f)
{
    unsigned o = 0;
    if (!(f & NET_FEATURE(VIRTIO_NET_F_GUEST_CSUM)))
        return 0; /* segmentation offloads need checksum offload */
    o |= TAP_OFFLOAD_CSUM;
    if (f & NET_FEATURE(VIRTIO_NET_F_GUEST_TSO4))
        o |= TAP_OFFLOAD_TSO4;
    if (f & NET_FEATURE(VIRTIO_NET_F_GUEST_TSO6))
        o |= TAP_OFFLOAD_TSO6;
    if ((f & NET_FEATURE(VIRTIO_NET_F_GUEST_ECN)) && (o & (TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6)))
        o |= TAP_OFFLOAD_TSO_ECN;
    if (f & NET_FEATURE(VIRTIO_NET_F_GUEST_UFO))
        o |= TAP_OFFLOAD_UFO;
    return o;
}
