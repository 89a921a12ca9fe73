/* virtio-vsock: the virtio device. Packets from the driver (tx queue) are
 * validated and applied to the connection table; packets for the driver
 * (rx queue) are control packets queued in `ctrl` and data read straight
 * from host sockets into rx buffers (vsock_events.c). See vsock.h. */
#include "devices/virtio/vsock/vsock_internal.h"

#include "hypervisor/error.h"
#include "hypervisor/le.h"
#include "hypervisor/vm_config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define VIRTIO_VSOCK_F_STREAM 0
#define VSOCK_CONFIG_SIZE 8u

static VirtioVsock *vsock_of(VirtioDevice *vdev)
{
    return (VirtioVsock *)vdev;
}

static const char *vsock_id(VirtioVsock *v)
{
    return v->vdev.pci.dev.id;
}

bool vsock_queues_usable(VirtioVsock *v)
{
    return v->driver_ok && !v->paused &&
           !(virtio_device_status(&v->vdev) & VIRTIO_STATUS_NEEDS_RESET);
}

/* ---- rx: packets for the driver ---------------------------------------- */

void vsock_rx_signal(VirtioVsock *v)
{
    if (v->rx_pushed) {
        v->rx_pushed = 0;
        virtio_notify(&v->vdev, VIRTIO_VSOCK_QUEUE_RX);
    }
}

/* Pop an rx buffer able to hold a header. NULL: none (or the queue broke). */
static VirtqElement *rx_pop(VirtioVsock *v)
{
    VirtQueue *vq = virtio_device_queue(&v->vdev, VIRTIO_VSOCK_QUEUE_RX);
    VirtqStatus st = virtq_pop(vq, &v->rx_elem);
    if (st == VIRTQ_OK) {
        if (v->rx_elem.in_bytes >= VSOCK_HDR_SIZE)
            return &v->rx_elem;
        virtio_device_set_needs_reset(&v->vdev, "rx buffer of %" G_GUINT64_FORMAT
                                      " bytes cannot hold a packet header",
                                      v->rx_elem.in_bytes);
        return NULL;
    }
    if (virtq_is_error(st))
        virtio_device_set_needs_reset(&v->vdev, "rx: %s", virtq_strerror(st));
    return NULL;
}

static void rx_put(VirtioVsock *v, VirtqElement *e, const VsockHdr *h)
{
    uint8_t raw[VSOCK_HDR_SIZE];
    vsock_hdr_encode(h, raw);
    vsock_iov_from_buf(e->in_iov, e->in_num, 0, raw, sizeof raw);
    VirtQueue *vq = virtio_device_queue(&v->vdev, VIRTIO_VSOCK_QUEUE_RX);
    virtq_push(vq, e->head, VSOCK_HDR_SIZE + h->len);
    v->rx_pushed++;
}

static void hdr_init(VirtioVsock *v, VsockHdr *h, uint16_t op, uint32_t local_port,
                     uint32_t peer_port)
{
    memset(h, 0, sizeof *h);
    h->src_cid = VSOCK_CID_HOST;
    h->dst_cid = v->guest_cid;
    h->src_port = local_port;
    h->dst_port = peer_port;
    h->type = VSOCK_TYPE_STREAM;
    h->op = op;
}

bool vsock_flush_ctrl(VirtioVsock *v)
{
    if (!vsock_queues_usable(v))
        return g_queue_is_empty(&v->ctrl);
    while (!g_queue_is_empty(&v->ctrl)) {
        VsockHdr *h = g_queue_peek_head(&v->ctrl);
        VsockConn *c = vsock_conn_table_lookup(&v->conns, h->src_port, h->dst_port);
        /* Only RST outlives its connection. */
        if (!c && h->op != VSOCK_OP_RST) {
            g_free(g_queue_pop_head(&v->ctrl));
            continue;
        }
        VirtqElement *e = rx_pop(v);
        if (!e) {
            v->rx_starved = true;
            return false;
        }
        if (c) {
            vsock_conn_stamp(c, h); /* the freshest credit at send time */
            if (h->op == VSOCK_OP_CREDIT_UPDATE)
                c->credit_update_queued = false;
        }
        rx_put(v, e, h);
        g_free(g_queue_pop_head(&v->ctrl));
    }
    return true;
}

bool vsock_send_ctrl(VirtioVsock *v, VsockConn *c, uint16_t op, uint32_t flags,
                     uint32_t local_port, uint32_t peer_port)
{
    if (g_queue_get_length(&v->ctrl) >= VSOCK_CTRL_HARD_MAX)
        return false;
    VsockHdr *h = g_new(VsockHdr, 1);
    hdr_init(v, h, op, local_port, peer_port);
    h->flags = flags;
    if (c && op == VSOCK_OP_CREDIT_UPDATE)
        c->credit_update_queued = true;
    g_queue_push_tail(&v->ctrl, h);
    vsock_flush_ctrl(v);
    return true;
}

/* ---- tx: packets from the driver --------------------------------------- */

static void send_rst_reply(VirtioVsock *v, const VsockHdr *h)
{
    if (h->op != VSOCK_OP_RST)
        vsock_send_ctrl(v, NULL, VSOCK_OP_RST, 0, h->dst_port, h->src_port);
}

static void guest_err(VirtioVsock *v, const VsockHdr *h, const char *what)
{
    log_guest_error(&v->vdev.guest_err, vsock_id(v),
                    "%s packet %u -> %u (len %u): %s", vsock_op_name(h->op), h->src_port,
                    h->dst_port, h->len, what);
}

/* The guest connects to host port h->dst_port. */
static void rx_request(VirtioVsock *v, const VsockHdr *h)
{
    VsockConn *old = vsock_conn_table_lookup(&v->conns, h->dst_port, h->src_port);
    if (old) {
        guest_err(v, h, "request for a connection that exists");
        vsock_conn_reset(v, old);
        return;
    }
    if (vsock_conn_table_count(&v->conns) >= VIRTIO_VSOCK_MAX_CONNS) {
        send_rst_reply(v, h);
        return;
    }
    int fd = vsock_connect_host(v, h->dst_port);
    if (fd < 0) {
        send_rst_reply(v, h);
        return;
    }
    VsockConn *c = vsock_conn_new(h->dst_port, h->src_port, fd);
    vsock_conn_peer_credit_update(c, h);
    vsock_conn_table_insert(&v->conns, c);
    if (!vsock_send_ctrl(v, c, VSOCK_OP_RESPONSE, 0, c->local_port, c->peer_port)) {
        vsock_conn_destroy(v, c);
        return;
    }
    vsock_conn_update_watch(v, c);
}

static void rx_response(VirtioVsock *v, VsockConn *c, const VsockHdr *h)
{
    if (c->state != VSOCK_CONN_CONNECTING) {
        guest_err(v, h, "response on a connection not being set up");
        vsock_conn_reset(v, c);
        return;
    }
    c->state = VSOCK_CONN_ESTABLISHED;
    c->deadline_us = 0;
    int n = g_snprintf(c->ok_line, sizeof c->ok_line, "OK %u\n", c->local_port);
    c->ok_len = (uint8_t)n;
    c->ok_off = 0;
    if (vsock_conn_flush(v, c))
        vsock_conn_update_watch(v, c);
}

static void rx_shutdown(VirtioVsock *v, VsockConn *c, const VsockHdr *h)
{
    if (h->flags & VSOCK_SHUTDOWN_RCV)
        c->peer_shut_rcv = true;
    if (h->flags & VSOCK_SHUTDOWN_SEND)
        c->peer_shut_send = true;
    if (c->peer_shut_rcv && c->peer_shut_send) {
        /* The guest closed: deliver what is buffered, then RST (the guest
         * waits for it to finish its close). */
        c->state = VSOCK_CONN_CLOSING;
        c->deadline_us = g_get_monotonic_time() + VIRTIO_VSOCK_HANDSHAKE_MS * 1000ll;
        vsock_timer_arm(v);
    }
    if (vsock_conn_flush(v, c))
        vsock_conn_update_watch(v, c);
}

static void rx_rw(VirtioVsock *v, VsockConn *c, const VsockHdr *h, const VirtqElement *e)
{
    if (c->state != VSOCK_CONN_ESTABLISHED || c->peer_shut_send) {
        guest_err(v, h, "data on a connection that is not open for it");
        vsock_conn_reset(v, c);
        return;
    }
    if (!vsock_conn_rx_fits(c, h->len)) {
        guest_err(v, h, "data beyond the advertised credit");
        vsock_conn_reset(v, c);
        return;
    }
    if (h->len && !vsock_conn_write_payload(v, c, e->out_iov, e->out_num, VSOCK_HDR_SIZE, h->len))
        return;
    if (vsock_conn_credit_update_due(c) && !c->credit_update_queued)
        vsock_send_ctrl(v, c, VSOCK_OP_CREDIT_UPDATE, 0, c->local_port, c->peer_port);
}

static void handle_tx(VirtioVsock *v, const VirtqElement *e)
{
    uint8_t raw[VSOCK_HDR_SIZE];
    VsockHdr h;
    if (e->out_bytes < VSOCK_HDR_SIZE) {
        log_guest_error(&v->vdev.guest_err, vsock_id(v),
                        "tx buffer of %" G_GUINT64_FORMAT " bytes: no packet header", e->out_bytes);
        return;
    }
    /* One copy of the header: the guest may change its memory meanwhile. */
    vsock_iov_to_buf(e->out_iov, e->out_num, 0, raw, sizeof raw);
    vsock_hdr_decode(&h, raw);
    const char *why = NULL;
    switch (vsock_packet_check(&h, v->guest_cid, e->out_bytes - VSOCK_HDR_SIZE, &why)) {
    case VSOCK_PKT_DROP:
        guest_err(v, &h, why);
        return;
    case VSOCK_PKT_RESET: {
        guest_err(v, &h, why);
        VsockConn *c = vsock_conn_table_lookup(&v->conns, h.dst_port, h.src_port);
        if (c && h.op != VSOCK_OP_RST)
            vsock_conn_reset(v, c);
        else
            send_rst_reply(v, &h);
        return;
    }
    case VSOCK_PKT_ACCEPT:
        break;
    }
    if (h.op == VSOCK_OP_REQUEST) {
        rx_request(v, &h);
        return;
    }
    VsockConn *c = vsock_conn_table_lookup(&v->conns, h.dst_port, h.src_port);
    if (!c) {
        send_rst_reply(v, &h); /* nothing of ours: the guest must forget it */
        return;
    }
    if (h.op == VSOCK_OP_RST) {
        vsock_conn_destroy(v, c);
        return;
    }
    vsock_conn_peer_credit_update(c, &h);
    switch (h.op) {
    case VSOCK_OP_RESPONSE:
        rx_response(v, c, &h);
        return;
    case VSOCK_OP_SHUTDOWN:
        rx_shutdown(v, c, &h);
        return;
    case VSOCK_OP_RW:
        rx_rw(v, c, &h, e);
        return;
    case VSOCK_OP_CREDIT_REQUEST:
        if (!c->credit_update_queued)
            vsock_send_ctrl(v, c, VSOCK_OP_CREDIT_UPDATE, 0, c->local_port, c->peer_port);
        vsock_conn_update_watch(v, c);
        return;
    case VSOCK_OP_CREDIT_UPDATE:
    default:
        vsock_conn_update_watch(v, c); /* maybe there is room to send now */
        return;
    }
}

static void process_tx(VirtioVsock *v)
{
    VirtQueue *vq = virtio_device_queue(&v->vdev, VIRTIO_VSOCK_QUEUE_TX);
    unsigned handled = 0;
    bool pushed = false;
    v->tx_blocked = false;
    while (vsock_queues_usable(v)) {
        if (g_queue_get_length(&v->ctrl) >= VSOCK_CTRL_SOFT_MAX) {
            v->tx_blocked = true; /* resumes when rx buffers drain ctrl */
            break;
        }
        if (handled == vq->s.size) {
            virtio_device_queue_kick(&v->vdev, VIRTIO_VSOCK_QUEUE_TX);
            break;
        }
        VirtqStatus st = virtq_pop(vq, &v->tx_elem);
        if (st == VIRTQ_EMPTY || st == VIRTQ_NOT_READY)
            break;
        if (virtq_is_error(st)) {
            virtio_device_set_needs_reset(&v->vdev, "tx: %s", virtq_strerror(st));
            break;
        }
        handle_tx(v, &v->tx_elem);
        virtq_push(vq, v->tx_elem.head, 0);
        pushed = true;
        handled++;
    }
    if (pushed)
        virtio_notify(&v->vdev, VIRTIO_VSOCK_QUEUE_TX);
    vsock_rx_signal(v);
}

/* The driver added rx buffers: control packets first, then socket data. */
static void process_rx(VirtioVsock *v)
{
    bool drained = vsock_flush_ctrl(v);
    if (drained && v->tx_blocked)
        virtio_device_queue_kick(&v->vdev, VIRTIO_VSOCK_QUEUE_TX);
    if (drained && v->rx_starved) {
        v->rx_starved = false;
        vsock_update_all_watches(v);
    }
    vsock_rx_signal(v);
}

/* ---- VirtioDeviceOps ---------------------------------------------------- */

static uint64_t vsock_features(VirtioDevice *vdev)
{
    return 1ull << VIRTIO_VSOCK_F_STREAM;
}

static void vsock_config_read(VirtioDevice *vdev, uint32_t offset, void *buf, unsigned size)
{
    uint8_t cfg[VSOCK_CONFIG_SIZE];
    le_store64(cfg, vsock_of(vdev)->guest_cid);
    memset(buf, 0, size);
    if (offset < sizeof cfg)
        memcpy(buf, cfg + offset, MIN((uint32_t)size, (uint32_t)sizeof cfg - offset));
}

static void vsock_config_write(VirtioDevice *vdev, uint32_t offset, const void *buf, unsigned size)
{
    log_guest_error(&vdev->guest_err, vdev->pci.dev.id,
                    "write to read-only configuration at 0x%x ignored", offset);
}

static bool vsock_activate(VirtioDevice *vdev, GError **errp)
{
    VirtioVsock *v = vsock_of(vdev);
    v->driver_ok = true;
    v->rx_starved = false;
    v->tx_blocked = false;
    return true;
}

/* Driver (or VM) reset: the guest forgot its sockets; so do we. */
static void vsock_virtio_reset(VirtioDevice *vdev)
{
    VirtioVsock *v = vsock_of(vdev);
    v->driver_ok = false;
    vsock_drop_all(v, false);
    v->rx_starved = false;
    v->tx_blocked = false;
    v->rx_pushed = 0;
}

static void vsock_queue_notify(VirtioDevice *vdev, unsigned queue)
{
    VirtioVsock *v = vsock_of(vdev);
    if (queue == VIRTIO_VSOCK_QUEUE_TX)
        process_tx(v);
    else if (queue == VIRTIO_VSOCK_QUEUE_RX)
        process_rx(v);
    /* event queue: buffers stay available; no event is ever sent */
}

static const VirtioDeviceOps vsock_virtio_ops = {
    .features = vsock_features,
    .config_read = vsock_config_read,
    .config_write = vsock_config_write,
    .activate = vsock_activate,
    .reset = vsock_virtio_reset,
    .queue_notify = vsock_queue_notify,
};

/* ---- DeviceOps ------------------------------------------------------------ */

static bool vsock_realize(Device *d, const void *opaque, GError **errp)
{
    VirtioVsock *v = DEVICE_CAST(VirtioVsock, d);
    const VsockConfig *cfg = opaque;
    v->listen_fd = -1;
    vsock_conn_table_init(&v->conns);
    g_queue_init(&v->ctrl);
    virtq_element_init(&v->rx_elem);
    virtq_element_init(&v->tx_elem);
    if (!cfg || !cfg->socket || !*cfg->socket) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "virtio-vsock needs socket=PATH");
        return false;
    }
    /* 0, 1 and 2 are the hypervisor, local and host; -1U is "any". */
    if (cfg->cid < 3 || cfg->cid >= UINT32_MAX) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "virtio-vsock cid %" G_GUINT64_FORMAT " (3..%u)", cfg->cid, UINT32_MAX - 1);
        return false;
    }
    v->guest_cid = cfg->cid;
    v->path = g_strdup(cfg->socket);
    if (!vsock_listen(v, errp))
        return false;
    VirtioDeviceInfo info = {
        .device_id = VIRTIO_ID_VSOCK,
        .num_queues = 3,
        .queue_max_size = VIRTIO_VSOCK_QUEUE_SIZE,
        .config_size = VSOCK_CONFIG_SIZE,
    };
    if (!virtio_device_init(&v->vdev, &vsock_virtio_ops, &info, errp))
        return false;
    v->io = virtio_device_io_loop(&v->vdev);
    vsock_listener_start(v);
    return true;
}

static void vsock_reset(Device *d)
{
    virtio_device_reset(VIRTIO_DEVICE(d));
}

static void set_paused_on_io(void *opaque)
{
    VirtioVsock *v = opaque;
    v->paused = true;
    vsock_update_all_watches(v); /* no socket reads into guest memory */
}

static void set_resumed_on_io(void *opaque)
{
    VirtioVsock *v = opaque;
    v->paused = false;
    vsock_flush_ctrl(v);
    vsock_update_all_watches(v);
    vsock_rx_signal(v);
}

static bool vsock_pause(Device *d, GError **errp)
{
    VirtioVsock *v = DEVICE_CAST(VirtioVsock, d);
    if (v->io)
        evloop_run_sync(v->io, set_paused_on_io, v);
    virtio_device_pause(&v->vdev);
    return true;
}

static bool vsock_resume(Device *d, GError **errp)
{
    VirtioVsock *v = DEVICE_CAST(VirtioVsock, d);
    virtio_device_resume(&v->vdev);
    if (v->io)
        evloop_run_sync(v->io, set_resumed_on_io, v);
    return true;
}

static void teardown_on_io(void *opaque)
{
    VirtioVsock *v = opaque;
    g_clear_pointer(&v->listen_watch, evloop_remove);
    vsock_drop_all(v, true);
}

static void vsock_unrealize(Device *d)
{
    VirtioVsock *v = DEVICE_CAST(VirtioVsock, d);
    if (v->io)
        evloop_run_sync(v->io, teardown_on_io, v);
    else
        vsock_drop_all(v, true); /* nothing ever ran on the loop */
    virtio_device_cleanup(&v->vdev);
    v->io = NULL;
    if (v->listen_fd >= 0)
        close(v->listen_fd);
    v->listen_fd = -1;
    if (v->path_created && v->path)
        unlink(v->path);
    v->path_created = false;
    while (!g_queue_is_empty(&v->ctrl))
        g_free(g_queue_pop_head(&v->ctrl));
    vsock_conn_table_destroy(&v->conns);
    virtq_element_clear(&v->rx_elem);
    virtq_element_clear(&v->tx_elem);
    g_clear_pointer(&v->path, g_free);
}


const DeviceOps virtio_vsock_ops = {
    .type = "virtio-vsock",
    .instance_size = sizeof(VirtioVsock),
    .stage = DEVICE_STAGE_PCI_DEVICE,
    .realize = vsock_realize,
    .reset = vsock_reset,
    .pause = vsock_pause,
    .resume = vsock_resume,
    .state = &virtio_vsock_state,
    .state_sync = virtio_device_state_sync_hook,
    .post_load_all = virtio_vsock_post_load_all,
    .unrealize = vsock_unrealize,
};
