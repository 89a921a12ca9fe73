/* virtio-vsock packets (virtio 1.2 section 5.10): the 44-byte little-endian
 * header every packet starts with, its validation against what a stream
 * device accepts from the driver, the credit arithmetic, and iovec helpers
 * for headers and payloads that straddle descriptors. Pure functions: no
 * device, socket or queue knowledge, so every rule is unit-testable. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VSOCK_HDR_SIZE 44u
#define VSOCK_CID_HOST 2u
/* Largest payload accepted in (and sent in) one packet. */
#define VSOCK_MAX_PAYLOAD (64u * 1024u)

enum { VSOCK_TYPE_STREAM = 1 };

typedef enum VsockOp {
    VSOCK_OP_INVALID = 0,
    VSOCK_OP_REQUEST = 1,
    VSOCK_OP_RESPONSE = 2,
    VSOCK_OP_RST = 3,
    VSOCK_OP_SHUTDOWN = 4,
    VSOCK_OP_RW = 5,
    VSOCK_OP_CREDIT_UPDATE = 6,
    VSOCK_OP_CREDIT_REQUEST = 7,
} VsockOp;

/* SHUTDOWN flags: the sender will receive / send no more. */
#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u

/* The header in host byte order. */
typedef struct VsockHdr {
    uint64_t src_cid;
    uint64_t dst_cid;
    uint32_t src_port;
    uint32_t dst_port;
    uint32_t len;
    uint16_t type;
    uint16_t op;
    uint32_t flags;
    uint32_t buf_alloc;
    uint32_t fwd_cnt;
} VsockHdr;

void vsock_hdr_decode(VsockHdr *h, const uint8_t raw[VSOCK_HDR_SIZE]);
void vsock_hdr_encode(const VsockHdr *h, uint8_t raw[VSOCK_HDR_SIZE]);
const char *vsock_op_name(uint16_t op);

/* What the device does with a packet the driver put on the tx queue. */
typedef enum VsockVerdict {
    VSOCK_PKT_ACCEPT, /* well formed: handle it */
    VSOCK_PKT_DROP,   /* not addressed to us, or from a CID that is not the guest's: ignore */
    VSOCK_PKT_RESET,  /* malformed or unsupported: answer RST (never to an RST) */
} VsockVerdict;

/* Check a decoded header. `payload_avail`: readable bytes after the header
 * in the chain. *why names the problem for the guest-error log. */
VsockVerdict vsock_packet_check(const VsockHdr *h, uint64_t guest_cid, uint64_t payload_avail,
                                const char **why);

/* Free space the peer advertised: buf_alloc minus what we sent that it has
 * not forwarded yet (32-bit wrapping counters). 0 when a hostile peer's
 * counters claim more in flight than its buffer holds. */
uint32_t vsock_credit_free(uint32_t peer_buf_alloc, uint32_t peer_fwd_cnt, uint32_t tx_cnt);

/* ---- iovecs ---- */

/* Copy between a flat buffer and [off, off + len) of an iovec array; returns
 * the bytes copied (less than len when the iovecs end first). */
size_t vsock_iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t vsock_iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf,
                          size_t len);
/* Describe [off, off + len) of iov in out[] (at most out_max entries, empty
 * entries skipped); returns the count; *covered gets the bytes described. */
unsigned vsock_iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
                         struct iovec *out, unsigned out_max, size_t *covered);
