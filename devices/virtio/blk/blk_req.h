/* virtio-blk request parsing (virtio 1.2, 5.2.6), independent of the
 * transport and the backend: a chain's readable and writable iovecs in, a
 * checked request (or the status to answer at once) out.
 *
 * Layout of a request: the 16-byte header {le32 type, le32 reserved, le64
 * sector} at the start of the device-readable part (it may span buffers);
 * then the data (readable for OUT, DISCARD, WRITE_ZEROES; writable for IN,
 * GET_ID); the status byte is the last device-writable byte. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

enum {
    VIRTIO_BLK_T_IN = 0,
    VIRTIO_BLK_T_OUT = 1,
    VIRTIO_BLK_T_FLUSH = 4,
    VIRTIO_BLK_T_GET_ID = 8,
    VIRTIO_BLK_T_GET_LIFETIME = 10,
    VIRTIO_BLK_T_DISCARD = 11,
    VIRTIO_BLK_T_WRITE_ZEROES = 13,
    VIRTIO_BLK_T_SECURE_ERASE = 14,
};

enum {
    VIRTIO_BLK_S_OK = 0,
    VIRTIO_BLK_S_IOERR = 1,
    VIRTIO_BLK_S_UNSUPP = 2,
};

#define VIRTIO_BLK_SECTOR_SIZE 512u
#define VIRTIO_BLK_HDR_BYTES 16u
#define VIRTIO_BLK_SEG_BYTES 16u  /* {le64 sector, le32 num_sectors, le32 flags} */
#define VIRTIO_BLK_ID_BYTES 20u
#define VIRTIO_BLK_WZ_F_UNMAP 1u

/* What the device allows; from its configuration and negotiated features. */
typedef struct BlkLimits {
    uint64_t capacity; /* 512-byte sectors */
    bool readonly;
    bool discard;      /* VIRTIO_BLK_F_DISCARD negotiated */
    bool write_zeroes; /* VIRTIO_BLK_F_WRITE_ZEROES negotiated */
    uint32_t max_discard_sectors, max_discard_seg;
    uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
} BlkLimits;

typedef struct BlkSegment {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
} BlkSegment;

typedef enum BlkParseResult {
    BLK_PARSE_OK,        /* execute `req` */
    BLK_PARSE_STATUS,    /* answer at once with req->status_code (IOERR/UNSUPP) */
    BLK_PARSE_MALFORMED, /* no status byte / short header: DEVICE_NEEDS_RESET */
} BlkParseResult;

typedef struct BlkReq {
    uint32_t type;
    uint64_t sector;
    uint8_t *status;     /* host address of the status byte (NULL if malformed) */
    struct iovec *data;  /* IN/GET_ID: writable data; OUT: readable data */
    unsigned ndata;
    uint64_t data_len;
    BlkSegment *segs;    /* DISCARD / WRITE_ZEROES */
    unsigned nsegs;
    uint8_t status_code; /* BLK_PARSE_STATUS */
    const char *why;     /* for a guest-error log line, when not OK */
} BlkReq;

/* Parse one chain. `req` is overwritten (call blk_req_clear() after any
 * result, also to reuse it). Only reads the header and segments; never
 * writes guest memory. */
BlkParseResult blk_req_parse(const struct iovec *out, unsigned out_num, const struct iovec *in,
                             unsigned in_num, const BlkLimits *lim, BlkReq *req);
void blk_req_clear(BlkReq *req);

/* Copy `len` bytes starting `skip` bytes into an iovec list; returns bytes
 * copied (fewer if the list is shorter). */
uint64_t blk_iov_to_buf(const struct iovec *iov, unsigned n, uint64_t skip, void *buf,
                        uint64_t len);
uint64_t blk_iov_from_buf(const struct iovec *iov, unsigned n, uint64_t skip, const void *buf,
                          uint64_t len);
