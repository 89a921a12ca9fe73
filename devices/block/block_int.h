/* Inside the block layer: what block.c shares with the engines
 * (file_sync.c, file_uring.c). Not for devices. */
#pragma once
#include "devices/block/block.h"

typedef struct BlockAio BlockAio;

/* One request in flight. `iov` is what the engine does I/O on: the caller's
 * iovecs (copied), or one aligned bounce buffer. The engine may advance
 * `iov`/`iovcnt` after a short transfer (see block_iov_advance). */
struct BlockAio {
    BlockDev *bd;
    BlockOp op;
    uint64_t offset;
    uint64_t len;
    bool may_unmap;
    struct iovec *iov;
    unsigned iovcnt;
    struct iovec *iov_mem; /* the allocation `iov` started at */
    uint64_t done; /* bytes transferred so far (read/write) */
    /* O_DIRECT bounce: `iov` is {bounce, len}; the caller's iovecs are
     * user_iov (reads are copied out at completion). */
    void *bounce;
    struct iovec *user_iov;
    unsigned user_iovcnt;
    BlockCompleteFunc cb;
    void *opaque;
    int64_t ret;
    BlockAio *next; /* completion queue */
};

typedef struct BlockEngineOps {
    const char *name;
    /* Start on bd->loop; -errno when the engine cannot run here. */
    int (*init)(BlockDev *bd);
    /* Start the request; its end is reported with block_aio_finish() (from
     * the loop) or block_aio_queue_done(). */
    void (*submit)(BlockDev *bd, BlockAio *aio);
    void (*kick)(BlockDev *bd);
    /* Block until some engine completion has been reported (drain); only
     * called while the engine has requests in flight. */
    void (*wait)(BlockDev *bd);
    /* Requests the engine itself holds (not yet reported). */
    unsigned (*pending)(BlockDev *bd);
    void (*cleanup)(BlockDev *bd);
} BlockEngineOps;

struct BlockDev {
    char *path;
    int fd;
    uint64_t size;
    uint32_t align;        /* O_DIRECT alignment (512 when not direct) */
    uint32_t logical_size; /* logical block size the guest should see */
    bool readonly, direct, is_bdev;
    BlockEngineKind kind;
    const BlockEngineOps *engine;
    void *engine_state;
    EventLoop *loop;
    unsigned inflight; /* submitted, callback not yet run */
    /* Completions queued for delivery from the loop. */
    BlockAio *done_head;
    BlockAio **done_tail;
    int done_efd;
    GSource *done_src;
    bool no_zero_range; /* fallocate cannot zero: write zeroes instead */
};

extern const BlockEngineOps block_engine_sync;
extern const BlockEngineOps block_engine_uring;

/* Do the request with plain syscalls (blocking); 0 / bytes or -errno. */
int64_t block_aio_run_sync(BlockAio *aio);
/* The engine finished the request: fallbacks, bounce copy-out, callback.
 * From the loop's thread. */
void block_aio_finish(BlockAio *aio, int64_t ret);
/* Finish it later, from the loop (never re-entering the submitter). */
void block_aio_queue_done(BlockAio *aio, int64_t ret);
/* fallocate mode that zeroes a write-zeroes request's range. */
int block_zero_mode(const BlockAio *aio);
/* Drop `n` leading bytes of an iovec array in place. */
void block_iov_advance(struct iovec **iov, unsigned *cnt, uint64_t n);
