/* virtio-blk (virtio 1.2, 5.2): a disk backed by a raw image file or a host
 * block device (devices/block/). DeviceOps "virtio-blk"; realize takes a
 * const DiskConfig *. Offers SEG_MAX, BLK_SIZE, FLUSH, RO (read-only disks),
 * MQ (num_queues > 1), DISCARD and WRITE_ZEROES (writable disks). */
#pragma once
#include "hypervisor/device.h"

#include <stdint.h>

extern const DeviceOps virtio_blk_ops;

/* Per-device counters (the API's vm.counters), updated on the I/O thread. */
typedef struct VirtioBlkCounters {
    uint64_t read_ops, read_bytes;
    uint64_t write_ops, write_bytes;
    uint64_t flush_ops;
    uint64_t discard_ops, write_zeroes_ops;
    uint64_t get_id_ops;
    uint64_t io_errors;   /* requests answered VIRTIO_BLK_S_IOERR */
    uint64_t unsupported; /* requests answered VIRTIO_BLK_S_UNSUPP */
} VirtioBlkCounters;

/* A consistent-enough snapshot (each counter read atomically) from any thread. */
void virtio_blk_get_counters(Device *d, VirtioBlkCounters *out);

/* State (blk_state.c): the virtio core only; see there. */
extern const StateDesc virtio_blk_state;
