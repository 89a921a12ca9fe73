/* The io_uring engine (liburing): one ring per BlockDev, SQEs batched until
 * block_kick(), completions signalled through an eventfd registered with the
 * ring (io_uring_register_eventfd) and watched by the BlockDev's loop. Short
 * reads and writes are resubmitted for the rest. */
#include "devices/block/block_int.h"

#include "hypervisor/fdutil.h"

#include <errno.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define URING_ENTRIES 256u

typedef struct Uring {
    struct io_uring ring;
    bool ring_ok;
    int efd;
    GSource *src;
    unsigned queued;  /* SQEs prepared, not yet submitted */
    unsigned pending; /* in the kernel or queued */
} Uring;

static void uring_reap(BlockDev *bd);

static void uring_do_submit(Uring *u)
{
    while (u->queued) {
        int r = io_uring_submit(&u->ring);
        if (r >= 0) {
            u->queued -= MIN((unsigned)r, u->queued);
            if (r == 0)
                break;
            continue;
        }
        if (r == -EINTR)
            continue;
        /* -EAGAIN/-EBUSY: the kernel wants completions reaped first; the
         * SQEs stay queued and the next kick or completion submits them. */
        break;
    }
}

static struct io_uring_sqe *get_sqe(Uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe) {
        uring_do_submit(u);
        sqe = io_uring_get_sqe(&u->ring);
    }
    return sqe;
}

/* Prepare the (rest of the) request; false when it must be done otherwise. */
static bool prep(BlockDev *bd, Uring *u, BlockAio *aio)
{
    if (aio->op == BLOCK_OP_DISCARD && bd->is_bdev)
        return false; /* BLKDISCARD is an ioctl */
    if (aio->op == BLOCK_OP_WRITE_ZEROES && bd->no_zero_range)
        return false;
    struct io_uring_sqe *sqe = get_sqe(u);
    if (!sqe)
        return false;
    off_t off = (off_t)(aio->offset + aio->done);
    switch (aio->op) {
    case BLOCK_OP_READ:
        io_uring_prep_readv(sqe, bd->fd, aio->iov, MIN(aio->iovcnt, (unsigned)IOV_MAX), off);
        break;
    case BLOCK_OP_WRITE:
        io_uring_prep_writev(sqe, bd->fd, aio->iov, MIN(aio->iovcnt, (unsigned)IOV_MAX), off);
        break;
    case BLOCK_OP_FLUSH:
        io_uring_prep_fsync(sqe, bd->fd, IORING_FSYNC_DATASYNC);
        break;
    case BLOCK_OP_DISCARD:
        io_uring_prep_fallocate(sqe, bd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                aio->offset, aio->len);
        break;
    case BLOCK_OP_WRITE_ZEROES:
        io_uring_prep_fallocate(sqe, bd->fd, block_zero_mode(aio), aio->offset, aio->len);
        break;
    }
    io_uring_sqe_set_data(sqe, aio);
    u->queued++;
    u->pending++;
    return true;
}

static void uring_submit(BlockDev *bd, BlockAio *aio)
{
    Uring *u = bd->engine_state;
    bool empty = (aio->op == BLOCK_OP_DISCARD || aio->op == BLOCK_OP_WRITE_ZEROES) && !aio->len;
    if (empty || !prep(bd, u, aio))
        block_aio_queue_done(aio, empty ? 0 : block_aio_run_sync(aio));
}

static void complete_one(BlockDev *bd, Uring *u, BlockAio *aio, int res)
{
    bool rw = aio->op == BLOCK_OP_READ || aio->op == BLOCK_OP_WRITE;
    if (res == -EINTR || res == -EAGAIN) {
        if (!prep(bd, u, aio))
            block_aio_queue_done(aio, block_aio_run_sync(aio));
        return;
    }
    if (rw && res > 0 && aio->done + (uint64_t)res < aio->len) {
        aio->done += (uint64_t)res;
        block_iov_advance(&aio->iov, &aio->iovcnt, (uint64_t)res);
        if (!prep(bd, u, aio))
            block_aio_finish(aio, -EIO);
        return;
    }
    if (rw && res == 0 && aio->len)
        res = -EIO; /* end of file inside a checked range */
    block_aio_finish(aio, res);
}

static void uring_reap(BlockDev *bd)
{
    Uring *u = bd->engine_state;
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
        BlockAio *aio = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&u->ring, cqe);
        g_assert(u->pending > 0);
        u->pending--;
        complete_one(bd, u, aio, res);
    }
    uring_do_submit(u); /* resubmissions and anything -EBUSY held back */
}

static gboolean uring_ready(int fd, GIOCondition cond, void *opaque)
{
    uint64_t v;
    while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR) {
    }
    uring_reap(opaque);
    return G_SOURCE_CONTINUE;
}

static void uring_cleanup(BlockDev *bd)
{
    Uring *u = bd->engine_state;
    if (!u)
        return;
    g_clear_pointer(&u->src, evloop_remove);
    if (u->ring_ok)
        io_uring_queue_exit(&u->ring);
    fd_closep(&u->efd);
    g_free(u);
    bd->engine_state = NULL;
}

static int uring_init(BlockDev *bd)
{
    Uring *u = g_new0(Uring, 1);
    u->efd = -1;
    bd->engine_state = u;
    int r = io_uring_queue_init(URING_ENTRIES, &u->ring, 0);
    if (r < 0)
        goto fail;
    u->ring_ok = true;
    u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (u->efd < 0) {
        r = -errno;
        goto fail;
    }
    r = io_uring_register_eventfd(&u->ring, u->efd);
    if (r < 0)
        goto fail;
    u->src = evloop_add_fd(bd->loop, u->efd, G_IO_IN, uring_ready, bd);
    return 0;
fail:
    uring_cleanup(bd);
    return r;
}

static void uring_kick(BlockDev *bd)
{
    uring_do_submit(bd->engine_state);
}

static void uring_wait(BlockDev *bd)
{
    Uring *u = bd->engine_state;
    uring_do_submit(u);
    struct io_uring_cqe *cqe;
    int r;
    do {
        r = io_uring_wait_cqe(&u->ring, &cqe);
    } while (r == -EINTR);
    g_assert(r == 0 || r == -EAGAIN || r == -EBUSY);
    uring_reap(bd);
}

static unsigned uring_pending(BlockDev *bd)
{
    Uring *u = bd->engine_state;
    return u->pending;
}

const BlockEngineOps block_engine_uring = {
    .name = "io_uring",
    .init = uring_init,
    .submit = uring_submit,
    .kick = uring_kick,
    .wait = uring_wait,
    .pending = uring_pending,
    .cleanup = uring_cleanup,
};
