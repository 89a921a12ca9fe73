/* virtio-net wire formats (virtio 1.2, 5.1) and the pure parts of the packet
 * path: no queues, no fds, no threads, so they are tested with plain
 * buffers dressed up as VirtqElements.
 *
 * Every frame, in both directions, starts with the 12-byte header
 * (virtio 1.x always includes num_buffers):
 *     u8 flags; u8 gso_type; le16 hdr_len; le16 gso_size;
 *     le16 csum_start; le16 csum_offset; le16 num_buffers;
 * The tap uses the same header (TAP_VNET_HDR_LEN), so frames pass through
 * with the header as is, except what the device owns on receive:
 * num_buffers, and DATA_VALID when the driver did not ask for it. */
#pragma once
#include "devices/virtio/queue.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Feature bits (virtio 1.2, 5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_MQ 22

#define NET_FEATURE(bit) (1ull << (bit))

/* Header. */
#define NET_HDR_LEN 12u
#define NET_HDR_F_NEEDS_CSUM 1u
#define NET_HDR_F_DATA_VALID 2u
#define NET_HDR_GSO_NONE 0u
#define NET_HDR_GSO_TCPV4 1u
#define NET_HDR_GSO_UDP 3u
#define NET_HDR_GSO_TCPV6 4u
#define NET_HDR_GSO_ECN 0x80u
#define NET_HDR_OFF_FLAGS 0
#define NET_HDR_OFF_GSO_TYPE 1
#define NET_HDR_OFF_NUM_BUFFERS 10

/* Largest frame after the header: a 64 KiB GSO packet plus Ethernet and
 * VLAN headers. Larger transmit chains are dropped. */
#define NET_MAX_FRAME (65536u + 14u + 4u)
/* Receive bounce buffer: header + the largest frame the tap can hand out. */
#define NET_RX_BUF_LEN (NET_HDR_LEN + NET_MAX_FRAME)

/* Device configuration layout (5.1.4). */
#define NET_CFG_MAC 0
#define NET_CFG_STATUS 6
#define NET_CFG_MAX_VQ_PAIRS 8
#define NET_CFG_SIZE 10
#define NET_STATUS_LINK_UP 1u

/* Control queue (5.1.6.5). */
#define NET_CTRL_OK 0u
#define NET_CTRL_ERR 1u
#define NET_CTRL_CLASS_RX 0u
#define NET_CTRL_CLASS_MAC 1u
#define NET_CTRL_CLASS_VLAN 2u
#define NET_CTRL_CLASS_ANNOUNCE 3u
#define NET_CTRL_CLASS_MQ 4u
#define NET_CTRL_CLASS_GUEST_OFFLOADS 5u
#define NET_CTRL_MQ_VQ_PAIRS_SET 0u
#define NET_CTRL_MQ_PAIRS_MIN 1u
#define NET_CTRL_MQ_PAIRS_MAX 0x8000u
#define NET_CTRL_GUEST_OFFLOADS_SET 0u

/* Copy helpers between an iovec array and a linear buffer, starting `off`
 * bytes into the iovecs. Return the bytes copied (short at the end). */
size_t net_iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t net_iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf,
                        size_t len);

/* ---- receive ---- */

typedef enum NetRxResult {
    NET_RX_MORE = 0,        /* (mergeable) the buffers given hold less than the frame */
    NET_RX_TOO_SMALL = -1,  /* the frame cannot fit: drop it, buffers stay unused */
    NET_RX_BAD_BUFFER = -2, /* a buffer smaller than the header: a driver bug */
} NetRxResult;

/* Fix the header of a received frame in place: set num_buffers, drop
 * DATA_VALID when the driver did not negotiate GUEST_CSUM. */
void net_rx_fix_header(uint8_t *frame, uint16_t num_buffers, bool guest_csum);

/* Deliver `frame` (header first, `len` >= NET_HDR_LEN bytes) into the
 * writable parts of elems[0..n). Without mergeable buffers only elems[0] is
 * used and must hold the whole frame. With them, the frame is spread over as
 * many buffers as it takes, each at least a header long, and num_buffers is
 * set. On success returns the buffers used (>= 1) with lens[i] the bytes
 * written into elems[i]; otherwise a NetRxResult and guest memory is not
 * touched. The header in `frame` is updated (num_buffers). */
int net_rx_copy(uint8_t *frame, size_t len, const VirtqElement *elems, unsigned n, bool mrg,
                bool guest_csum, uint32_t *lens);

/* ---- transmit ---- */

typedef enum NetTxCheck {
    NET_TX_OK = 0,
    NET_TX_SHORT = 1,    /* fewer readable bytes than a header */
    NET_TX_TOO_BIG = 2,  /* frame larger than NET_MAX_FRAME */
    NET_TX_BAD_HDR = 3,  /* offload the driver did not negotiate */
} NetTxCheck;

/* Validate a transmit chain: `hdr` is a copy of its first NET_HDR_LEN bytes
 * (when out_bytes allows), `features` the negotiated features. */
NetTxCheck net_tx_check(const VirtqElement *e, const uint8_t *hdr, uint64_t features);
const char *net_tx_check_str(NetTxCheck c);

/* ---- control queue ---- */

/* The tap offloads (TAP_OFFLOAD_*) matching guest receive offload features. */
unsigned net_tap_offloads(uint64_t guest_features);
