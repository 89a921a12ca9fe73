/* virtio-vsock host side: the listening UNIX socket, the "CONNECT <port>\n"
 * handshake of host clients, the connection sockets (which fd is watched for
 * what, and the data moved on each event) and the handshake timer. */
#include "devices/virtio/vsock/vsock_internal.h"

#include "hypervisor/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define TIMER_MS 250u
/* Packets one socket event may fill before other sources get a turn. */
#define READ_BURST 16u
#define IOV_MAX_SLICE 64u

static const char *vsock_id(VirtioVsock *v)
{
    return v->vdev.pci.dev.id;
}

/* ---- the listening socket -------------------------------------------------- */

static bool fill_addr(struct sockaddr_un *sa, const char *path, GError **errp)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "vsock socket path '%s' is longer than %zu bytes", path,
                    sizeof sa->sun_path - 1);
        return false;
    }
    strcpy(sa->sun_path, path);
    return true;
}

/* Whether something accepts connections on the socket file at sa. */
static bool socket_is_live(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return true; /* cannot tell: do not clobber */
    int r = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    int err = errno;
    close(fd);
    return r == 0 || err == EAGAIN || err == EINPROGRESS;
}

bool vsock_listen(VirtioVsock *v, GError **errp)
{
    struct sockaddr_un sa;
    if (!fill_addr(&sa, v->path, errp))
        return false;
    /* PATH_<port> must fit too, for guest-initiated connections. */
    if (strlen(v->path) + 11 >= sizeof sa.sun_path) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "vsock socket path '%s' leaves no room for the _<port> suffix", v->path);
        return false;
    }
    v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (v->listen_fd < 0) {
        error_set_errno(errp, -errno, "vsock: socket");
        return false;
    }
    if (bind(v->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        struct stat st;
        if (errno != EADDRINUSE) {
            error_set_errno(errp, -errno, "vsock: bind '%s'", v->path);
            return false;
        }
        if (lstat(v->path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                        "vsock socket path '%s' exists and is not a socket", v->path);
            return false;
        }
        if (socket_is_live(&sa)) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                        "vsock socket '%s' is in use by a running process", v->path);
            return false;
        }
        /* A stale socket left by a process that is gone: replace it. */
        if (unlink(v->path) < 0 || bind(v->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            error_set_errno(errp, -errno, "vsock: bind '%s'", v->path);
            return false;
        }
    }
    v->path_created = true;
    if (listen(v->listen_fd, 64) < 0) {
        error_set_errno(errp, -errno, "vsock: listen '%s'", v->path);
        return false;
    }
    return true;
}

int vsock_connect_host(VirtioVsock *v, uint32_t port)
{
    struct sockaddr_un sa;
    g_autofree char *path = g_strdup_printf("%s_%u", v->path, port);
    if (!fill_addr(&sa, path, NULL))
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* Non-blocking: a full backlog (EAGAIN) is a refusal, not a wait. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        g_debug("%s: guest connect to host port %u (%s): %s", vsock_id(v), port, path,
                g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- pending host clients: the CONNECT line --------------------------------- */

static void pending_free(VirtioVsock *v, VsockPending *p)
{
    g_clear_pointer(&p->watch, evloop_remove);
    if (p->fd >= 0)
        close(p->fd);
    v->pending = g_list_remove(v->pending, p);
    v->npending--;
    g_free(p);
}

/* "CONNECT <decimal port>" (a trailing '\r' allowed); false if malformed. */
static bool parse_connect(const char *line, uint32_t *port)
{
    static const char cmd[] = "CONNECT ";
    if (strncmp(line, cmd, sizeof cmd - 1) != 0)
        return false;
    const char *p = line + sizeof cmd - 1;
    size_t n = strlen(p);
    if (n && p[n - 1] == '\r')
        n--;
    if (n == 0 || n > 10)
        return false;
    uint64_t val = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        val = val * 10 + (uint64_t)(p[i] - '0');
    }
    if (val > UINT32_MAX)
        return false;
    *port = (uint32_t)val;
    return true;
}

/* The line is complete: ask the guest. Takes p's fd. */
static void pending_connect(VirtioVsock *v, VsockPending *p)
{
    uint32_t port;
    if (!parse_connect(p->line, &port)) {
        g_debug("%s: host client sent a malformed line", vsock_id(v));
        pending_free(v, p);
        return;
    }
    if (!v->driver_ok || vsock_conn_table_count(&v->conns) >= VIRTIO_VSOCK_MAX_CONNS) {
        g_debug("%s: CONNECT %u refused (%s)", vsock_id(v), port,
                v->driver_ok ? "too many connections" : "no driver");
        pending_free(v, p);
        return;
    }
    uint32_t local = vsock_conn_table_alloc_port(&v->conns, port);
    VsockConn *c = vsock_conn_new(local, port, p->fd);
    c->state = VSOCK_CONN_CONNECTING;
    c->host_initiated = true;
    c->deadline_us = p->deadline_us;
    p->fd = -1;
    pending_free(v, p);
    vsock_conn_table_insert(&v->conns, c);
    if (!vsock_send_ctrl(v, c, VSOCK_OP_REQUEST, 0, c->local_port, c->peer_port)) {
        vsock_conn_destroy(v, c);
        return;
    }
    vsock_rx_signal(v);
}

static gboolean pending_ready(int fd, GIOCondition cond, void *opaque)
{
    VsockPending *p = opaque;
    VirtioVsock *v = p->owner;
    char buf[sizeof p->line];
    size_t room = sizeof p->line - 1 - p->len;
    ssize_t n = recv(fd, buf, room, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        pending_free(v, p);
        return G_SOURCE_REMOVE;
    }
    /* Consume up to the newline only: what follows is stream data. */
    char *nl = memchr(buf, '\n', (size_t)n);
    size_t take = nl ? (size_t)(nl - buf) + 1 : (size_t)n;
    ssize_t got = recv(fd, buf, take, 0);
    if (got != (ssize_t)take) {
        pending_free(v, p);
        return G_SOURCE_REMOVE;
    }
    memcpy(p->line + p->len, buf, nl ? take - 1 : take);
    p->len += (unsigned)(nl ? take - 1 : take);
    p->line[p->len] = '\0';
    if (nl) {
        pending_connect(v, p);
        return G_SOURCE_REMOVE;
    }
    if (p->len >= sizeof p->line - 1) {
        pending_free(v, p); /* no newline where one must be */
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean listen_ready(int fd, GIOCondition cond, void *opaque)
{
    VirtioVsock *v = opaque;
    for (unsigned i = 0; i < 16; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            break;
        if (v->npending >= VIRTIO_VSOCK_MAX_PENDING) {
            close(cfd);
            continue;
        }
        VsockPending *p = g_new0(VsockPending, 1);
        p->owner = v;
        p->fd = cfd;
        p->deadline_us = g_get_monotonic_time() + VIRTIO_VSOCK_HANDSHAKE_MS * 1000ll;
        v->pending = g_list_prepend(v->pending, p);
        v->npending++;
        p->watch = evloop_add_fd(v->io, cfd, G_IO_IN, pending_ready, p);
        vsock_timer_arm(v);
    }
    return G_SOURCE_CONTINUE;
}

void vsock_listener_start(VirtioVsock *v)
{
    if (v->io && v->listen_fd >= 0 && !v->listen_watch)
        v->listen_watch = evloop_add_fd(v->io, v->listen_fd, G_IO_IN, listen_ready, v);
}

/* ---- connection sockets -------------------------------------------------------- */

void vsock_conn_destroy(VirtioVsock *v, VsockConn *c)
{
    g_clear_pointer(&c->watch, evloop_remove);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    vsock_conn_table_remove(&v->conns, c);
    vsock_conn_free(c);
}

void vsock_conn_reset(VirtioVsock *v, VsockConn *c)
{
    vsock_send_ctrl(v, NULL, VSOCK_OP_RST, 0, c->local_port, c->peer_port);
    vsock_conn_destroy(v, c);
}

/* After the guest shut a direction, or buffered data drained: finish what
 * can be finished. False when c was freed. */
static bool conn_settle(VirtioVsock *v, VsockConn *c)
{
    if (c->out.len || c->ok_off < c->ok_len)
        return true;
    if (c->state == VSOCK_CONN_CLOSING) {
        vsock_conn_reset(v, c); /* the RST that completes the guest's close */
        return false;
    }
    if (c->peer_shut_send && !c->host_shut_wr) {
        shutdown(c->fd, SHUT_WR);
        c->host_shut_wr = true;
    }
    if (c->host_eof && c->peer_shut_send) {
        vsock_conn_reset(v, c); /* both directions are done */
        return false;
    }
    return true;
}

static bool write_failed(VirtioVsock *v, VsockConn *c, int err)
{
    if (err == EAGAIN || err == EINTR)
        return false;
    g_debug("%s: host socket of %u:%u: %s", vsock_id(v), c->local_port, c->peer_port,
            g_strerror(err));
    vsock_conn_reset(v, c);
    return true;
}

bool vsock_conn_flush(VirtioVsock *v, VsockConn *c)
{
    while (c->ok_off < c->ok_len) {
        ssize_t n = send(c->fd, c->ok_line + c->ok_off, c->ok_len - c->ok_off, MSG_NOSIGNAL);
        if (n < 0)
            return !write_failed(v, c, errno);
        c->ok_off += (uint8_t)n;
    }
    uint32_t before = c->fwd_cnt;
    while (c->out.len) {
        struct iovec iov[2];
        unsigned k = vsock_ring_peek(&c->out, iov);
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = k };
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (write_failed(v, c, errno))
                return false;
            break;
        }
        vsock_ring_consume(&c->out, (size_t)n);
        c->fwd_cnt += (uint32_t)n;
    }
    if (c->fwd_cnt != before && vsock_conn_credit_update_due(c) && !c->credit_update_queued)
        vsock_send_ctrl(v, c, VSOCK_OP_CREDIT_UPDATE, 0, c->local_port, c->peer_port);
    return conn_settle(v, c);
}

bool vsock_conn_write_payload(VirtioVsock *v, VsockConn *c, const struct iovec *iov,
                              unsigned n, size_t off, uint32_t len)
{
    c->rx_cnt += len;
    size_t done = 0;
    if (c->out.len == 0 && c->ok_off == c->ok_len) {
        struct iovec slice[IOV_MAX_SLICE];
        size_t covered;
        unsigned k = vsock_iov_slice(iov, n, off, len, slice, IOV_MAX_SLICE, &covered);
        struct msghdr msg = { .msg_iov = slice, .msg_iovlen = k };
        ssize_t w = k ? sendmsg(c->fd, &msg, MSG_NOSIGNAL) : 0;
        if (w < 0 && write_failed(v, c, errno))
            return false;
        if (w > 0) {
            done = (size_t)w;
            c->fwd_cnt += (uint32_t)w;
        }
    }
    size_t queued = vsock_ring_push_iov(&c->out, iov, n, off + done, len - done);
    g_assert(queued == len - done); /* rx_fits() checked the room; the chain holds len */
    vsock_conn_update_watch(v, c);
    return true;
}

/* Socket data for the guest: read into rx buffers while it has credit. */
static bool conn_to_guest(VirtioVsock *v, VsockConn *c)
{
    VirtQueue *vq = virtio_device_queue(&v->vdev, VIRTIO_VSOCK_QUEUE_RX);
    for (unsigned i = 0; i < READ_BURST; i++) {
        uint32_t credit = vsock_conn_peer_credit(c);
        if (!credit || !vsock_queues_usable(v) || !vsock_flush_ctrl(v))
            break;
        VirtqElement *e = NULL;
        VirtqStatus st = virtq_pop(vq, &v->rx_elem);
        if (st != VIRTQ_OK) {
            if (virtq_is_error(st))
                virtio_device_set_needs_reset(&v->vdev, "rx: %s", virtq_strerror(st));
            else
                v->rx_starved = true;
            break;
        }
        e = &v->rx_elem;
        if (e->in_bytes < VSOCK_HDR_SIZE) {
            virtio_device_set_needs_reset(&v->vdev, "rx buffer cannot hold a packet header");
            break;
        }
        uint64_t room = MIN(e->in_bytes - VSOCK_HDR_SIZE, (uint64_t)VSOCK_MAX_PAYLOAD);
        size_t want = (size_t)MIN(room, (uint64_t)credit);
        struct iovec slice[IOV_MAX_SLICE];
        size_t covered;
        unsigned k = vsock_iov_slice(e->in_iov, e->in_num, VSOCK_HDR_SIZE, want, slice,
                                     IOV_MAX_SLICE, &covered);
        ssize_t n = k ? readv(c->fd, slice, (int)k) : 0;
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            virtq_unpop(vq, 1);
            break;
        }
        if (n <= 0 && k > 0) {
            virtq_unpop(vq, 1);
            if (n < 0) {
                write_failed(v, c, errno);
                return false;
            }
            /* EOF: the host will send no more. */
            c->host_eof = true;
            if (c->peer_shut_send) {
                vsock_conn_reset(v, c);
                return false;
            }
            vsock_send_ctrl(v, c, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND, c->local_port,
                            c->peer_port);
            break;
        }
        if (n <= 0) {
            /* A buffer with no room for payload: hand it back and wait for
             * the driver's next rx kick (no busy loop on the socket). */
            virtq_unpop(vq, 1);
            v->rx_starved = true;
            break;
        }
        VsockHdr h = {
            .src_cid = VSOCK_CID_HOST,
            .dst_cid = v->guest_cid,
            .src_port = c->local_port,
            .dst_port = c->peer_port,
            .len = (uint32_t)n,
            .type = VSOCK_TYPE_STREAM,
            .op = VSOCK_OP_RW,
        };
        vsock_conn_stamp(c, &h);
        uint8_t raw[VSOCK_HDR_SIZE];
        vsock_hdr_encode(&h, raw);
        vsock_iov_from_buf(e->in_iov, e->in_num, 0, raw, sizeof raw);
        virtq_push(vq, e->head, VSOCK_HDR_SIZE + (uint32_t)n);
        v->rx_pushed++;
        c->tx_cnt += (uint32_t)n;
        if ((size_t)n < want)
            break; /* drained the socket for now */
    }
    return true;
}

static gboolean conn_ready(int fd, GIOCondition cond, void *opaque)
{
    VsockConn *c = opaque;
    VirtioVsock *v = c->owner;
    bool flush = c->ok_off < c->ok_len || c->out.len;
    /* A hang-up while only writes were wanted: the write reports it. */
    if (flush || ((cond & (G_IO_HUP | G_IO_ERR)) && !(c->watch_cond & G_IO_IN))) {
        if (!vsock_conn_flush(v, c))
            return G_SOURCE_REMOVE;
    }
    if (c->watch_cond & G_IO_IN) {
        bool alive = conn_to_guest(v, c);
        vsock_rx_signal(v);
        if (!alive)
            return G_SOURCE_REMOVE;
    }
    vsock_conn_update_watch(v, c);
    return G_SOURCE_CONTINUE;
}

static GIOCondition wanted(VirtioVsock *v, VsockConn *c)
{
    GIOCondition cond = 0;
    if (c->ok_off < c->ok_len || c->out.len)
        cond |= G_IO_OUT;
    if (c->state == VSOCK_CONN_ESTABLISHED && !c->peer_shut_rcv && !c->host_eof &&
        !v->rx_starved && vsock_queues_usable(v) && vsock_conn_peer_credit(c) > 0)
        cond |= G_IO_IN;
    return cond;
}

void vsock_conn_update_watch(VirtioVsock *v, VsockConn *c)
{
    GIOCondition cond = c->fd >= 0 ? wanted(v, c) : 0;
    if ((c->watch != NULL) == (cond != 0) && cond == c->watch_cond)
        return;
    g_clear_pointer(&c->watch, evloop_remove);
    c->watch_cond = cond;
    c->owner = v;
    if (cond)
        c->watch = evloop_add_fd(v->io, c->fd, cond, conn_ready, c);
}

void vsock_update_all_watches(VirtioVsock *v)
{
    unsigned n;
    g_autofree uint64_t *keys = vsock_conn_table_keys(&v->conns, &n);
    for (unsigned i = 0; i < n; i++) {
        VsockConn *c = vsock_conn_table_lookup_key(&v->conns, keys[i]);
        if (c)
            vsock_conn_update_watch(v, c);
    }
}

/* ---- timer: handshakes and closings that take too long ------------------------ */

static gboolean timer_tick(void *opaque)
{
    VirtioVsock *v = opaque;
    int64_t now = g_get_monotonic_time();
    bool waiting = false;
    for (GList *l = v->pending, *next; l; l = next) {
        next = l->next;
        VsockPending *p = l->data;
        if (now >= p->deadline_us)
            pending_free(v, p);
        else
            waiting = true;
    }
    unsigned n;
    g_autofree uint64_t *keys = vsock_conn_table_keys(&v->conns, &n);
    for (unsigned i = 0; i < n; i++) {
        VsockConn *c = vsock_conn_table_lookup_key(&v->conns, keys[i]);
        if (!c || c->state == VSOCK_CONN_ESTABLISHED)
            continue;
        if (now < c->deadline_us) {
            waiting = true;
            continue;
        }
        g_debug("%s: connection %u:%u timed out (%s)", vsock_id(v), c->local_port,
                c->peer_port, c->state == VSOCK_CONN_CONNECTING ? "no response" : "closing");
        vsock_conn_reset(v, c);
    }
    vsock_rx_signal(v);
    if (waiting)
        return G_SOURCE_CONTINUE;
    g_clear_pointer(&v->timer, evloop_remove);
    return G_SOURCE_REMOVE;
}

void vsock_timer_arm(VirtioVsock *v)
{
    if (!v->timer && v->io)
        v->timer = evloop_add_timer(v->io, TIMER_MS, timer_tick, v);
}

void vsock_drop_all(VirtioVsock *v, bool pending_too)
{
    if (v->conns.map) {
        unsigned n;
        g_autofree uint64_t *keys = vsock_conn_table_keys(&v->conns, &n);
        for (unsigned i = 0; i < n; i++) {
            VsockConn *c = vsock_conn_table_lookup_key(&v->conns, keys[i]);
            if (c)
                vsock_conn_destroy(v, c);
        }
    }
    while (pending_too && v->pending)
        pending_free(v, v->pending->data);
    while (!g_queue_is_empty(&v->ctrl))
        g_free(g_queue_pop_head(&v->ctrl));
    if (pending_too || !v->pending)
        g_clear_pointer(&v->timer, evloop_remove);
}
