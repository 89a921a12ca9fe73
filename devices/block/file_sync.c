/* The synchronous engine: each request is done with plain syscalls at submit
 * time and its completion is queued for the loop. Also the blocking
 * implementation the io_uring engine falls back on (partial-block O_DIRECT
 * writes, BLKDISCARD, zero writes when fallocate cannot zero). */
#include "devices/block/block_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define ZERO_CHUNK (1u << 20)

/* preadv/pwritev until `len` bytes moved; iov is consumed. */
static int64_t rw_loop(int fd, bool write, struct iovec *iov, unsigned cnt, uint64_t offset,
                       uint64_t len)
{
    uint64_t done = 0;
    while (done < len) {
        int n = (int)MIN(cnt, (unsigned)IOV_MAX);
        ssize_t r = write ? pwritev(fd, iov, n, (off_t)(offset + done))
                          : preadv(fd, iov, n, (off_t)(offset + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EIO; /* end of file inside a checked range: shrunk under us */
        done += (uint64_t)r;
        block_iov_advance(&iov, &cnt, (uint64_t)r);
    }
    return (int64_t)len;
}

static void copy_iov(uint8_t *buf, const struct iovec *iov, unsigned cnt, bool to_buf)
{
    for (unsigned i = 0; i < cnt; i++) {
        if (to_buf)
            memcpy(buf, iov[i].iov_base, iov[i].iov_len);
        else
            memcpy(iov[i].iov_base, buf, iov[i].iov_len);
        buf += iov[i].iov_len;
    }
}

/* O_DIRECT with a range that does not cover whole blocks: go through an
 * aligned buffer spanning the enclosing blocks; a write first reads the
 * partial first and last blocks. */
static int64_t rw_unaligned(BlockDev *bd, bool write, const struct iovec *uiov, unsigned ucnt,
                            uint64_t offset, uint64_t len)
{
    uint64_t a = bd->align;
    uint64_t start = offset & ~(a - 1);
    uint64_t end = (offset + len + a - 1) & ~(a - 1);
    uint64_t span = end - start;
    void *buf = NULL;
    if (posix_memalign(&buf, a, span))
        return -ENOMEM;
    int64_t r = 0;
    struct iovec v;
    if (!write) {
        v = (struct iovec){ buf, span };
        r = rw_loop(bd->fd, false, &v, 1, start, span);
    } else {
        if (offset != start) {
            v = (struct iovec){ buf, a };
            r = rw_loop(bd->fd, false, &v, 1, start, a);
        }
        if (r >= 0 && offset + len != end) {
            v = (struct iovec){ (uint8_t *)buf + span - a, a };
            r = rw_loop(bd->fd, false, &v, 1, end - a, a);
        }
    }
    if (r >= 0 && write) {
        copy_iov((uint8_t *)buf + (offset - start), uiov, ucnt, true);
        v = (struct iovec){ buf, span };
        r = rw_loop(bd->fd, true, &v, 1, start, span);
    }
    if (r >= 0 && !write)
        copy_iov((uint8_t *)buf + (offset - start), uiov, ucnt, false);
    free(buf);
    return r < 0 ? r : (int64_t)len;
}

static int64_t rw_sync(BlockAio *aio, bool write)
{
    BlockDev *bd = aio->bd;
    const struct iovec *uiov = aio->user_iov ? aio->user_iov : aio->iov;
    unsigned ucnt = aio->user_iov ? aio->user_iovcnt : aio->iovcnt;
    if (bd->direct && ((aio->offset | aio->len) & (bd->align - 1)))
        return rw_unaligned(bd, write, uiov, ucnt, aio->offset, aio->len);
    /* Aligned (or a bounce buffer already set up by block.c, or no O_DIRECT). */
    g_autofree struct iovec *iov = g_memdup2(aio->iov, sizeof(*iov) * aio->iovcnt);
    int64_t r = rw_loop(bd->fd, write, iov, aio->iovcnt, aio->offset + aio->done,
                        aio->len - aio->done);
    return r < 0 ? r : (int64_t)aio->len;
}

static int64_t write_zeroes(BlockDev *bd, uint64_t offset, uint64_t len)
{
    void *zero = NULL;
    size_t chunk = ZERO_CHUNK;
    if (posix_memalign(&zero, MAX(bd->align, 4096u), chunk))
        return -ENOMEM;
    memset(zero, 0, chunk);
    int64_t r = 0;
    while (len && r >= 0) {
        uint64_t n = MIN(len, (uint64_t)chunk);
        struct iovec v = { zero, n };
        if (bd->direct && ((offset | n) & (bd->align - 1)))
            r = rw_unaligned(bd, true, &v, 1, offset, n);
        else
            r = rw_loop(bd->fd, true, &v, 1, offset, n);
        offset += n;
        len -= n;
    }
    free(zero);
    return r < 0 ? r : 0;
}

static int64_t do_fallocate(BlockDev *bd, int mode, uint64_t offset, uint64_t len)
{
    while (fallocate(bd->fd, mode, (off_t)offset, (off_t)len) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

int block_zero_mode(const BlockAio *aio)
{
    if (aio->may_unmap)
        return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    return FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
}

int64_t block_aio_run_sync(BlockAio *aio)
{
    BlockDev *bd = aio->bd;
    switch (aio->op) {
    case BLOCK_OP_READ:
        return rw_sync(aio, false);
    case BLOCK_OP_WRITE:
        return rw_sync(aio, true);
    case BLOCK_OP_FLUSH:
        while (fdatasync(bd->fd) < 0) {
            if (errno != EINTR)
                return -errno;
        }
        return 0;
    case BLOCK_OP_DISCARD:
        if (aio->len == 0)
            return 0;
        if (bd->is_bdev) {
            uint64_t range[2] = { aio->offset, aio->len };
            if (ioctl(bd->fd, BLKDISCARD, range) < 0)
                return errno == EOPNOTSUPP || errno == EINVAL ? 0 : -errno;
            return 0;
        }
        return do_fallocate(bd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, aio->offset,
                            aio->len);
    case BLOCK_OP_WRITE_ZEROES:
        if (aio->len == 0)
            return 0;
        if (!bd->no_zero_range) {
            int64_t r = do_fallocate(bd, block_zero_mode(aio), aio->offset, aio->len);
            if (r != -EOPNOTSUPP && r != -EINVAL)
                return r;
            bd->no_zero_range = true;
        }
        return write_zeroes(bd, aio->offset, aio->len);
    }
    return -EINVAL;
}

static int sync_init(BlockDev *bd)
{
    return 0;
}

static void sync_submit(BlockDev *bd, BlockAio *aio)
{
    block_aio_queue_done(aio, block_aio_run_sync(aio));
}

static void sync_kick(BlockDev *bd)
{
}

static void sync_wait(BlockDev *bd)
{
    g_assert_not_reached(); /* everything is on the completion queue */
}

static unsigned sync_pending(BlockDev *bd)
{
    return 0;
}

static void sync_cleanup(BlockDev *bd)
{
}

const BlockEngineOps block_engine_sync = {
    .name = "sync",
    .init = sync_init,
    .submit = sync_submit,
    .kick = sync_kick,
    .wait = sync_wait,
    .pending = sync_pending,
    .cleanup = sync_cleanup,
};
