/* Inside virtio-blk: the device struct shared by blk.c (device, features,
 * configuration), blk_events.c (queue processing, completions) and
 * blk_metrics.c (counters). */
#pragma once
#include "devices/block/block.h"
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/blk/blk_req.h"
#include "devices/virtio/virtio.h"
#include "hypervisor/vm_config.h"

/* Feature bits (virtio 1.2, 5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* struct virtio_blk_config offsets (little-endian fields). */
enum {
    BLK_CFG_CAPACITY = 0,        /* le64 */
    BLK_CFG_SIZE_MAX = 8,        /* le32 */
    BLK_CFG_SEG_MAX = 12,        /* le32 */
    BLK_CFG_BLK_SIZE = 20,       /* le32 */
    BLK_CFG_NUM_QUEUES = 34,     /* le16 */
    BLK_CFG_MAX_DISCARD_SECTORS = 36,
    BLK_CFG_MAX_DISCARD_SEG = 40,
    BLK_CFG_DISCARD_ALIGN = 44,
    BLK_CFG_MAX_WZ_SECTORS = 48,
    BLK_CFG_MAX_WZ_SEG = 52,
    BLK_CFG_WZ_MAY_UNMAP = 56,   /* u8 */
    BLK_CFG_SIZE = 60,           /* up to and including unused1[3] */
};

#define BLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per segment */
#define BLK_MAX_SEGMENTS 16u
#define BLK_MAX_QUEUES 64u

typedef struct VirtioBlk {
    VirtioDevice vdev; /* first */
    DiskConfig *cfg;
    BlockDev *bd;
    bool attached;
    uint64_t capacity; /* sectors */
    uint8_t config[BLK_CFG_SIZE];
    uint8_t id[VIRTIO_BLK_ID_BYTES];
    BlkLimits limits;   /* set at activate from the negotiated features */
    unsigned inflight;  /* requests popped and not yet pushed */
    bool discarding;    /* reset/unrealize: drop completions, push nothing */
    VirtioBlkCounters counters;
} VirtioBlk;

/* blk_events.c */
void blk_queue_notify(VirtioDevice *vdev, unsigned queue);
/* Wait for every in-flight request (on the I/O loop's thread); with
 * `discard` their completions are dropped instead of pushed. */
void blk_drain(VirtioBlk *blk, bool discard);

/* blk_metrics.c */
typedef enum {
    BLK_COUNT_READ, BLK_COUNT_WRITE, BLK_COUNT_FLUSH, BLK_COUNT_DISCARD,
    BLK_COUNT_WRITE_ZEROES, BLK_COUNT_GET_ID, BLK_COUNT_IOERR, BLK_COUNT_UNSUPP,
} BlkCount;
void blk_metrics_count(VirtioBlk *blk, BlkCount what, uint64_t bytes);
