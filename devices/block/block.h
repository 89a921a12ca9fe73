/* Block backends: a raw image file or a host block device, with requests
 * submitted asynchronously and completed on an EventLoop (the device's I/O
 * loop). Two engines do the I/O (DESIGN §2.3 f):
 *
 *   io_uring (file_uring.c)  one ring per BlockDev; its completion eventfd
 *                            (io_uring_register_eventfd) is a source on the
 *                            loop; submissions are batched until block_kick()
 *   sync     (file_sync.c)   the syscall runs at submit time, the completion
 *                            is queued and delivered from the loop
 *
 * The io_uring engine is used when a ring can be created; otherwise (seccomp,
 * old kernel) the sync engine takes over. NIMBUS_BLOCK_ENGINE=sync|uring in
 * the environment forces one (BlockOpenOptions.engine overrides both).
 *
 * Life of a BlockDev:
 *   block_open()    open + probe (size, alignment); no loop needed yet
 *   block_attach()  bind to the loop that runs completions, start the engine
 *   block_submit()* / block_kick()     from the loop's thread only
 *   block_drain()   wait for every in-flight request (pause, reset)
 *   block_close()   drains, detaches, closes
 *
 * Completions always arrive from the loop (never from inside block_submit),
 * so a device may submit while it walks its queue. Read/write iovecs and the
 * memory they point to must stay valid until the completion; the iovec array
 * itself is copied at submit.
 *
 * O_DIRECT (BlockOpenOptions.direct): the engines only see buffers, offsets
 * and lengths aligned to block_alignment(); requests that are not are routed
 * through aligned bounce buffers (and read-modify-write for writes that do not
 * cover whole blocks) by block.c. */
#pragma once
#include "hypervisor/evloop.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct BlockDev BlockDev;

typedef enum BlockEngineKind {
    BLOCK_ENGINE_AUTO, /* NIMBUS_BLOCK_ENGINE, else io_uring with sync fallback */
    BLOCK_ENGINE_SYNC,
    BLOCK_ENGINE_URING, /* no fallback: block_attach fails without io_uring */
} BlockEngineKind;

typedef struct BlockOpenOptions {
    bool readonly; /* O_RDONLY; writes, discards, write-zeroes fail with -EROFS */
    bool direct;   /* O_DIRECT */
    BlockEngineKind engine;
} BlockOpenOptions;

typedef enum BlockOp {
    BLOCK_OP_READ,
    BLOCK_OP_WRITE,
    BLOCK_OP_FLUSH,        /* fdatasync */
    BLOCK_OP_DISCARD,      /* hole punch / BLKDISCARD; content afterwards unspecified */
    BLOCK_OP_WRITE_ZEROES, /* the range reads back as zeroes */
} BlockOp;

/* ret: bytes transferred for read/write (always the full length), 0 for the
 * others, or -errno. Runs on the attached loop's thread. */
typedef void (*BlockCompleteFunc)(void *opaque, int64_t ret);

typedef struct BlockRequest {
    BlockOp op;
    uint64_t offset; /* bytes */
    uint64_t len;    /* discard / write-zeroes length; read/write: sum of iov */
    const struct iovec *iov; /* read/write */
    unsigned iovcnt;
    bool may_unmap; /* write-zeroes: deallocating the range is allowed */
    BlockCompleteFunc cb;
    void *opaque;
} BlockRequest;

/* Open and probe `path`. Errors (in NIMBUS_ERROR) name the file: missing,
 * not a regular file or block device, empty, smaller than 512 bytes or not a
 * multiple of 512, O_DIRECT not supported. */
BlockDev *block_open(const char *path, const BlockOpenOptions *opts, GError **errp);
/* Start the engine on `loop` (completions are delivered there). */
bool block_attach(BlockDev *bd, EventLoop *loop, GError **errp);
/* Drain, stop the engine, close the file. NULL is fine. */
void block_close(BlockDev *bd);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BlockDev, block_close)

/* Queue a request; its completion comes later from the loop, also for
 * requests refused at once (bad range, read-only: -EINVAL, -EROFS). The
 * request struct itself may be reused at return. */
void block_submit(BlockDev *bd, const BlockRequest *req);
/* Hand queued requests to the kernel (io_uring_submit); no-op for sync. */
void block_kick(BlockDev *bd);
/* Kick and wait until every submitted request has completed and its callback
 * has run. From the loop's thread (or with the loop not running). */
void block_drain(BlockDev *bd);

uint64_t block_size(const BlockDev *bd);      /* bytes, a multiple of 512 */
uint32_t block_alignment(const BlockDev *bd); /* O_DIRECT alignment, else 512 */
/* Logical block size to show the guest: BLKSSZGET for a block device, 512
 * for an image file. */
uint32_t block_logical_block_size(const BlockDev *bd);
bool block_is_readonly(const BlockDev *bd);
bool block_is_blockdev(const BlockDev *bd);
const char *block_path(const BlockDev *bd);
/* "io_uring" or "sync" once attached, NULL before. */
const char *block_engine_name(const BlockDev *bd);
unsigned block_inflight(const BlockDev *bd);
