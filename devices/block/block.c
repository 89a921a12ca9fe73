/* Block layer common part: open and probe an image, choose and start the
 * engine, check requests, O_DIRECT bounce buffers, the completion queue and
 * drain. See block.h. */
#include "devices/block/block_int.h"

#include "hypervisor/error.h"
#include "hypervisor/fdutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECTOR 512u

static bool probe_alignment(BlockDev *bd, GError **errp)
{
    bd->align = SECTOR;
    bd->logical_size = SECTOR;
    if (bd->is_bdev) {
        int lbs = 0;
        if (ioctl(bd->fd, BLKSSZGET, &lbs) < 0) {
            error_set_errno(errp, -errno, "disk %s: BLKSSZGET", bd->path);
            return false;
        }
        if (lbs < (int)SECTOR || lbs > 65536 || (lbs & (lbs - 1))) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                        "disk %s: unsupported logical block size %d", bd->path, lbs);
            return false;
        }
        bd->logical_size = (uint32_t)lbs;
        if (bd->direct)
            bd->align = (uint32_t)lbs;
        return true;
    }
    if (!bd->direct)
        return true;
    /* A file opened O_DIRECT: the filesystem tells its alignment (Linux
     * 6.1+); without that answer, page alignment is always enough. */
    struct statx stx;
    uint32_t a = 4096;
    if (statx(bd->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
        a = MAX(stx.stx_dio_offset_align, stx.stx_dio_mem_align);
        a = MAX(a, SECTOR);
    }
    if (a & (a - 1))
        a = 4096;
    bd->align = a;
    return true;
}

static bool probe_size(BlockDev *bd, GError **errp)
{
    struct stat st;
    if (fstat(bd->fd, &st) < 0) {
        error_set_errno(errp, -errno, "disk %s: stat", bd->path);
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "disk %s: is a directory, not an image file or block device", bd->path);
        return false;
    }
    if (S_ISBLK(st.st_mode)) {
        bd->is_bdev = true;
        if (ioctl(bd->fd, BLKGETSIZE64, &bd->size) < 0) {
            error_set_errno(errp, -errno, "disk %s: BLKGETSIZE64", bd->path);
            return false;
        }
    } else if (S_ISREG(st.st_mode)) {
        bd->size = (uint64_t)st.st_size;
    } else {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "disk %s: not a regular file or block device", bd->path);
        return false;
    }
    if (bd->size == 0) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "disk %s: the image is empty",
                    bd->path);
        return false;
    }
    if (bd->size < SECTOR) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "disk %s: the image (%" G_GUINT64_FORMAT
                    " bytes) is smaller than one 512-byte sector",
                    bd->path, bd->size);
        return false;
    }
    if (bd->size % SECTOR) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "disk %s: the image size (%" G_GUINT64_FORMAT
                    " bytes) is not a multiple of 512 bytes",
                    bd->path, bd->size);
        return false;
    }
    return true;
}

BlockDev *block_open(const char *path, const BlockOpenOptions *opts, GError **errp)
{
    g_autoptr(BlockDev) bd = g_new0(BlockDev, 1);
    bd->fd = -1;
    bd->done_efd = -1;
    bd->done_tail = &bd->done_head;
    bd->path = g_strdup(path);
    bd->readonly = opts->readonly;
    bd->direct = opts->direct;
    bd->kind = opts->engine;

    int flags = (bd->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (bd->direct ? O_DIRECT : 0);
    bd->fd = open(path, flags);
    if (bd->fd < 0 && errno == EINVAL && bd->direct) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                    "disk %s: the filesystem does not support O_DIRECT (direct=on)", path);
        return NULL;
    }
    if (bd->fd < 0) {
        int e = errno;
        if (e == EISDIR)
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                        "disk %s: is a directory, not an image file or block device", path);
        else
            error_set_errno(errp, -e, "disk %s", path);
        return NULL;
    }
    if (!probe_size(bd, errp) || !probe_alignment(bd, errp))
        return NULL;
    return g_steal_pointer(&bd);
}

static const BlockEngineOps *engine_for(BlockEngineKind kind, bool *fallback)
{
    *fallback = false;
    if (kind == BLOCK_ENGINE_AUTO) {
        const char *env = g_getenv("NIMBUS_BLOCK_ENGINE");
        if (env && !strcmp(env, "sync"))
            return &block_engine_sync;
        if (env && (!strcmp(env, "uring") || !strcmp(env, "io_uring")))
            return &block_engine_uring;
        if (env && *env)
            g_warning("NIMBUS_BLOCK_ENGINE=%s: unknown engine, using the default", env);
        *fallback = true;
        return &block_engine_uring;
    }
    return kind == BLOCK_ENGINE_SYNC ? &block_engine_sync : &block_engine_uring;
}

static void deliver_done(BlockDev *bd)
{
    /* Take the whole list: callbacks may queue new completions. */
    BlockAio *list = bd->done_head;
    bd->done_head = NULL;
    bd->done_tail = &bd->done_head;
    while (list) {
        BlockAio *aio = list;
        list = aio->next;
        block_aio_finish(aio, aio->ret);
    }
}

static gboolean done_ready(int fd, GIOCondition cond, void *opaque)
{
    uint64_t v;
    while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR) {
    }
    deliver_done(opaque);
    return G_SOURCE_CONTINUE;
}

bool block_attach(BlockDev *bd, EventLoop *loop, GError **errp)
{
    g_assert(!bd->loop);
    bd->done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (bd->done_efd < 0) {
        error_set_errno(errp, -errno, "disk %s: eventfd", bd->path);
        return false;
    }
    bd->loop = loop;
    bd->done_src = evloop_add_fd(loop, bd->done_efd, G_IO_IN, done_ready, bd);

    bool fallback;
    const BlockEngineOps *eng = engine_for(bd->kind, &fallback);
    int r = eng->init(bd);
    if (r < 0 && fallback) {
        g_info("disk %s: %s engine unavailable (%s), using synchronous I/O", bd->path,
               eng->name, g_strerror(-r));
        eng = &block_engine_sync;
        r = eng->init(bd);
    }
    if (r < 0) {
        error_set_errno(errp, r, "disk %s: starting the %s engine", bd->path, eng->name);
        return false;
    }
    bd->engine = eng;
    return true;
}

void block_close(BlockDev *bd)
{
    if (!bd)
        return;
    if (bd->engine) {
        block_drain(bd);
        bd->engine->cleanup(bd);
        bd->engine = NULL;
    }
    g_clear_pointer(&bd->done_src, evloop_remove);
    fd_closep(&bd->done_efd);
    fd_closep(&bd->fd);
    g_free(bd->path);
    g_free(bd);
}

void block_aio_queue_done(BlockAio *aio, int64_t ret)
{
    BlockDev *bd = aio->bd;
    aio->ret = ret;
    aio->next = NULL;
    bool was_empty = !bd->done_head;
    *bd->done_tail = aio;
    bd->done_tail = &aio->next;
    if (was_empty) {
        uint64_t one = 1;
        while (write(bd->done_efd, &one, sizeof(one)) < 0 && errno == EINTR) {
        }
    }
}

void block_iov_advance(struct iovec **iov, unsigned *cnt, uint64_t n)
{
    while (n && *cnt) {
        if (n < (*iov)->iov_len) {
            (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
            (*iov)->iov_len -= n;
            return;
        }
        n -= (*iov)->iov_len;
        (*iov)++;
        (*cnt)--;
    }
}

static bool is_aligned(const BlockDev *bd, const BlockRequest *req)
{
    uint64_t m = bd->align - 1;
    if ((req->offset | req->len) & m)
        return false;
    for (unsigned i = 0; i < req->iovcnt; i++)
        if (((uintptr_t)req->iov[i].iov_base | req->iov[i].iov_len) & m)
            return false;
    return true;
}

static void free_aio(BlockAio *aio)
{
    g_free(aio->user_iov);
    g_free(aio->iov_mem);
    free(aio->bounce);
    g_free(aio);
}

void block_aio_finish(BlockAio *aio, int64_t ret)
{
    BlockDev *bd = aio->bd;
    if (aio->op == BLOCK_OP_WRITE_ZEROES && (ret == -EOPNOTSUPP || ret == -EINVAL)) {
        /* fallocate cannot zero this range here: write zeroes instead. */
        bd->no_zero_range = true;
        ret = block_aio_run_sync(aio);
    }
    if (aio->op == BLOCK_OP_DISCARD && ret == -EOPNOTSUPP)
        ret = 0; /* discard is a hint */
    if (ret >= 0 && aio->op == BLOCK_OP_READ && aio->bounce) {
        uint64_t copied = 0;
        for (unsigned i = 0; i < aio->user_iovcnt; i++) {
            memcpy(aio->user_iov[i].iov_base, (uint8_t *)aio->bounce + copied,
                   aio->user_iov[i].iov_len);
            copied += aio->user_iov[i].iov_len;
        }
    }
    if (ret >= 0 && (aio->op == BLOCK_OP_READ || aio->op == BLOCK_OP_WRITE))
        ret = (int64_t)aio->len;
    BlockCompleteFunc cb = aio->cb;
    void *opaque = aio->opaque;
    free_aio(aio);
    g_assert(bd->inflight > 0);
    bd->inflight--;
    cb(opaque, ret);
}

static uint64_t iov_total(const struct iovec *iov, unsigned cnt)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < cnt; i++)
        n += iov[i].iov_len;
    return n;
}

void block_submit(BlockDev *bd, const BlockRequest *req)
{
    g_assert(bd->engine);
    BlockAio *aio = g_new0(BlockAio, 1);
    aio->bd = bd;
    aio->op = req->op;
    aio->offset = req->offset;
    aio->may_unmap = req->may_unmap;
    aio->cb = req->cb;
    aio->opaque = req->opaque;
    bd->inflight++;

    bool rw = req->op == BLOCK_OP_READ || req->op == BLOCK_OP_WRITE;
    aio->len = rw ? iov_total(req->iov, req->iovcnt) : req->len;
    if (rw) {
        aio->iov = aio->iov_mem = g_memdup2(req->iov, sizeof(*req->iov) * req->iovcnt);
        aio->iovcnt = req->iovcnt;
    }

    if (req->op != BLOCK_OP_READ && req->op != BLOCK_OP_FLUSH && bd->readonly) {
        block_aio_queue_done(aio, -EROFS);
        return;
    }
    if (req->op != BLOCK_OP_FLUSH &&
        (aio->offset > bd->size || aio->len > bd->size - aio->offset)) {
        block_aio_queue_done(aio, -EINVAL);
        return;
    }
    if (rw && aio->len == 0) {
        block_aio_queue_done(aio, 0);
        return;
    }
    if (rw && bd->direct && !is_aligned(bd, req)) {
        if ((aio->offset | aio->len) & (bd->align - 1)) {
            /* Partial blocks: read-modify-write, synchronously. */
            block_aio_queue_done(aio, block_aio_run_sync(aio));
            return;
        }
        /* Whole blocks in unaligned memory: one aligned bounce buffer. */
        if (posix_memalign(&aio->bounce, bd->align, aio->len)) {
            block_aio_queue_done(aio, -ENOMEM);
            return;
        }
        aio->user_iov = aio->iov;
        aio->user_iovcnt = aio->iovcnt;
        if (req->op == BLOCK_OP_WRITE) {
            uint64_t copied = 0;
            for (unsigned i = 0; i < aio->user_iovcnt; i++) {
                memcpy((uint8_t *)aio->bounce + copied, aio->user_iov[i].iov_base,
                       aio->user_iov[i].iov_len);
                copied += aio->user_iov[i].iov_len;
            }
        }
        aio->iov = aio->iov_mem = g_new(struct iovec, 1);
        aio->iov[0] = (struct iovec){ aio->bounce, aio->len };
        aio->iovcnt = 1;
    }
    bd->engine->submit(bd, aio);
}

void block_kick(BlockDev *bd)
{
    if (bd->engine)
        bd->engine->kick(bd);
}

void block_drain(BlockDev *bd)
{
    if (!bd->engine)
        return;
    bd->engine->kick(bd);
    while (bd->inflight) {
        if (bd->done_head) {
            deliver_done(bd);
            continue;
        }
        g_assert(bd->engine->pending(bd) > 0);
        bd->engine->wait(bd);
    }
}

uint64_t block_size(const BlockDev *bd)
{
    return bd->size;
}

uint32_t block_alignment(const BlockDev *bd)
{
    return bd->align;
}

uint32_t block_logical_block_size(const BlockDev *bd)
{
    return bd->logical_size;
}

bool block_is_readonly(const BlockDev *bd)
{
    return bd->readonly;
}

bool block_is_blockdev(const BlockDev *bd)
{
    return bd->is_bdev;
}

const char *block_path(const BlockDev *bd)
{
    return bd->path;
}

const char *block_engine_name(const BlockDev *bd)
{
    return bd->engine ? bd->engine->name : NULL;
}

unsigned block_inflight(const BlockDev *bd)
{
    return bd->inflight;
}
