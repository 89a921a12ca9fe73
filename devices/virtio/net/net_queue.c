#include "devices/virtio/net/net_queue.h"

#include "devices/virtio/net/net_packet.h"

#include <errno.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>

#define COUNT(q, field, n) __atomic_fetch_add(&(q)->counters->field, (uint64_t)(n), __ATOMIC_RELAXED)

static void host_error(NetQueue *q, const char *what, int err)
{
    uint32_t suppressed = 0;
    if (ratelimit_allow(&q->host_rl, &suppressed))
        g_warning("%s: %s: %s%s", q->name, what, g_strerror(err),
                  suppressed ? " (more suppressed)" : "");
}

static void clear_source(GSource **s)
{
    if (*s) {
        evloop_remove(*s);
        *s = NULL;
    }
}

static void broken(NetQueue *q, const char *why)
{
    q->hooks->broken(q->opaque, why);
    /* The owner stops us; make sure of it. */
    net_queue_stop(q, true);
}

/* ---- receive ---- */

typedef enum { RX_DELIVERED, RX_DROPPED, RX_NO_BUFFERS, RX_BROKEN } RxStep;

static gboolean rx_ready(int fd, GIOCondition cond, void *opaque);

static void rx_watch(NetQueue *q)
{
    if (!q->rx_watch)
        q->rx_watch = evloop_add_fd(q->loop, q->rx_fd, G_IO_IN | G_IO_ERR | G_IO_HUP, rx_ready, q);
}

/* Put the pending frame into guest buffers. */
static RxStep rx_deliver(NetQueue *q)
{
    VirtQueue *vq = q->rxq;
    bool mrg = q->features & NET_FEATURE(VIRTIO_NET_F_MRG_RXBUF);
    bool guest_csum = q->features & NET_FEATURE(VIRTIO_NET_F_GUEST_CSUM);
    unsigned cap = mrg ? MIN((unsigned)vq->s.size, q->rx_cap) : 1;
    unsigned popped = 0;
    uint64_t room = 0;

    while (popped < cap && room < q->rx_len) {
        VirtqStatus st = virtq_pop(vq, &q->rx_elems[popped]);
        if (st == VIRTQ_OK) {
            uint64_t in = q->rx_elems[popped].in_bytes;
            popped++;
            if (mrg && in < NET_HDR_LEN) {
                /* Each mergeable buffer must hold a header (5.1.6.3.1). */
                virtq_unpop(vq, (uint16_t)popped);
                broken(q, "mergeable receive buffer smaller than the virtio-net header");
                return RX_BROKEN;
            }
            room += in;
            continue;
        }
        if (virtq_is_error(st)) {
            broken(q, virtq_strerror(st));
            return RX_BROKEN;
        }
        virtq_unpop(vq, (uint16_t)popped);
        return RX_NO_BUFFERS;
    }

    int r = net_rx_copy(q->rx_buf, q->rx_len, q->rx_elems, popped, mrg, guest_csum, q->rx_lens);
    if (r > 0) {
        for (int i = 0; i < r; i++)
            virtq_fill(vq, q->rx_elems[i].head, q->rx_lens[i]);
        COUNT(q, rx_frames, 1);
        COUNT(q, rx_bytes, q->rx_len - NET_HDR_LEN);
        q->rx_len = 0;
        return RX_DELIVERED;
    }
    virtq_unpop(vq, (uint16_t)popped);
    if (r == NET_RX_BAD_BUFFER) {
        broken(q, "receive buffer smaller than the virtio-net header");
        return RX_BROKEN;
    }
    log_guest_error(q->rl, q->name, "receive buffers too small for a %zu-byte frame%s; dropped",
                    q->rx_len - NET_HDR_LEN, mrg ? " (the whole queue)" : "");
    COUNT(q, rx_dropped, 1);
    q->rx_len = 0;
    return RX_DROPPED;
}

static void rx_run(NetQueue *q)
{
    unsigned frames = 0;
    bool published = false;

    while (q->running && q->rx_on && frames < NET_QUEUE_BUDGET) {
        if (q->rx_len == 0) {
            ssize_t n = read(q->rx_fd, q->rx_buf, NET_RX_BUF_LEN);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                if (errno != EAGAIN) {
                    host_error(q, "reading from the tap (receive stopped)", errno);
                    clear_source(&q->rx_watch);
                }
                break;
            }
            if ((size_t)n < NET_HDR_LEN) {
                COUNT(q, rx_dropped, 1);
                if (n == 0) {
                    /* End of file: nothing more will come. */
                    clear_source(&q->rx_watch);
                    break;
                }
                frames++;
                continue;
            }
            q->rx_len = (size_t)n;
        }
        RxStep s = rx_deliver(q);
        if (s == RX_DELIVERED) {
            published = true;
        } else if (s == RX_NO_BUFFERS) {
            clear_source(&q->rx_watch); /* until the next receive kick */
            break;
        } else if (s == RX_BROKEN) {
            return;
        }
        frames++;
    }
    if (published && q->running) {
        virtq_flush(q->rxq);
        q->hooks->notify(q->opaque, q->rxq);
    }
}

static gboolean rx_ready(int fd, GIOCondition cond, void *opaque)
{
    NetQueue *q = opaque;
    rx_run(q);
    if (q->rx_watch && (cond & (G_IO_ERR | G_IO_HUP)) && q->rx_len == 0) {
        /* An error with nothing readable (the tap went away): stop. */
        host_error(q, "tap error (receive stopped)", EIO);
        clear_source(&q->rx_watch);
    }
    return q->rx_watch ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

void net_queue_rx_kick(NetQueue *q)
{
    if (!q->running || !q->rx_on || q->rx_watch)
        return;
    rx_watch(q);
    rx_run(q);
}

void net_queue_set_rx(NetQueue *q, bool on)
{
    q->rx_on = on;
    if (!q->running)
        return;
    if (on) {
        rx_watch(q);
        rx_run(q);
    } else {
        clear_source(&q->rx_watch);
    }
}

/* ---- transmit ---- */

typedef enum { TX_DONE, TX_AGAIN } TxStep;

static gboolean tx_writable(int fd, GIOCondition cond, void *opaque);
static gboolean tx_later(void *opaque);

static ssize_t tx_write(NetQueue *q, const VirtqElement *e)
{
    for (;;) {
        ssize_t n;
        if (e->out_num <= IOV_MAX) {
            n = writev(q->tx_fd, e->out_iov, (int)e->out_num);
        } else {
            /* More pieces than writev takes: flatten (bounded by the size check). */
            if (!q->tx_buf)
                q->tx_buf = g_malloc(NET_HDR_LEN + NET_MAX_FRAME);
            size_t len = net_iov_to_buf(e->out_iov, e->out_num, 0, q->tx_buf,
                                        NET_HDR_LEN + NET_MAX_FRAME);
            n = write(q->tx_fd, q->tx_buf, len);
        }
        if (n >= 0 || errno != EINTR)
            return n < 0 ? -errno : n;
    }
}

static TxStep tx_one(NetQueue *q)
{
    VirtqElement *e = &q->tx_elem;
    uint8_t hdr[NET_HDR_LEN] = { 0 };
    net_iov_to_buf(e->out_iov, e->out_num, 0, hdr, sizeof hdr);
    NetTxCheck c = net_tx_check(e, hdr, q->features);
    if (c != NET_TX_OK) {
        log_guest_error(q->rl, q->name, "transmit: %s (%" G_GUINT64_FORMAT " bytes); dropped",
                        net_tx_check_str(c), e->out_bytes);
        COUNT(q, tx_dropped, 1);
        return TX_DONE;
    }
    ssize_t n = tx_write(q, e);
    if (n == -EAGAIN || n == -ENOBUFS)
        return TX_AGAIN;
    if (n < 0) {
        host_error(q, "writing to the tap (frame dropped)", (int)-n);
        COUNT(q, tx_dropped, 1);
        return TX_DONE;
    }
    COUNT(q, tx_frames, 1);
    COUNT(q, tx_bytes, e->out_bytes - NET_HDR_LEN);
    return TX_DONE;
}

static void tx_run(NetQueue *q)
{
    VirtQueue *vq = q->txq;
    unsigned done = 0;
    bool filled = false;

    if (!q->running || q->tx_watch || q->tx_later)
        return; /* stopped, or a continuation is already due */
    virtq_disable_notification(vq);
    for (;;) {
        VirtqStatus st = VIRTQ_OK;
        while (done < NET_QUEUE_BUDGET && (st = virtq_pop(vq, &q->tx_elem)) == VIRTQ_OK) {
            if (tx_one(q) == TX_AGAIN) {
                virtq_unpop(vq, 1);
                q->tx_watch = evloop_add_fd(q->loop, q->tx_fd, G_IO_OUT, tx_writable, q);
                goto out;
            }
            virtq_fill(vq, q->tx_elem.head, 0);
            filled = true;
            done++;
        }
        if (virtq_is_error(st)) {
            broken(q, virtq_strerror(st));
            return;
        }
        if (done >= NET_QUEUE_BUDGET) {
            /* Let the loop's other sources run; carry on from a timer. */
            q->tx_later = evloop_add_timer(q->loop, 0, tx_later, q);
            goto out;
        }
        if (st == VIRTQ_NOT_READY || !virtq_enable_notification(vq))
            break;
        virtq_disable_notification(vq);
    }
out:
    if (filled && q->running) {
        virtq_flush(vq);
        q->hooks->notify(q->opaque, vq);
    }
}

static gboolean tx_writable(int fd, GIOCondition cond, void *opaque)
{
    NetQueue *q = opaque;
    clear_source(&q->tx_watch);
    tx_run(q);
    return G_SOURCE_REMOVE;
}

static gboolean tx_later(void *opaque)
{
    NetQueue *q = opaque;
    clear_source(&q->tx_later);
    tx_run(q);
    return G_SOURCE_REMOVE;
}

void net_queue_tx_kick(NetQueue *q)
{
    tx_run(q);
}

/* ---- life cycle ---- */

void net_queue_start(NetQueue *q, bool rx_on)
{
    g_assert(q->rxq && q->txq && q->loop && q->hooks && q->counters);
    if (!q->rx_buf) {
        q->rx_buf = g_malloc(NET_RX_BUF_LEN);
        q->rx_cap = q->rxq->max_size;
        q->rx_elems = g_new(VirtqElement, q->rx_cap);
        for (unsigned i = 0; i < q->rx_cap; i++)
            virtq_element_init(&q->rx_elems[i]);
        q->rx_lens = g_new(uint32_t, q->rx_cap);
        virtq_element_init(&q->tx_elem);
        ratelimit_init(&q->host_rl, 5000, 5);
    }
    q->running = true;
    q->rx_on = rx_on;
    if (rx_on) {
        rx_watch(q);
        rx_run(q);
    }
    tx_run(q);
}

void net_queue_stop(NetQueue *q, bool discard)
{
    q->running = false;
    clear_source(&q->rx_watch);
    clear_source(&q->tx_watch);
    clear_source(&q->tx_later);
    if (discard)
        q->rx_len = 0;
}

void net_queue_free(NetQueue *q)
{
    net_queue_stop(q, true);
    if (q->rx_elems) {
        for (unsigned i = 0; i < q->rx_cap; i++)
            virtq_element_clear(&q->rx_elems[i]);
        virtq_element_clear(&q->tx_elem);
        ratelimit_clear(&q->host_rl);
    }
    g_clear_pointer(&q->rx_elems, g_free);
    g_clear_pointer(&q->rx_lens, g_free);
    g_clear_pointer(&q->rx_buf, g_free);
    g_clear_pointer(&q->tx_buf, g_free);
    q->rx_cap = 0;
}
