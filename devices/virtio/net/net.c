/* virtio-net: features, configuration space, the control queue and the
 * life cycle. The data path is net_queue.c, the wire formats net_packet.c,
 * the backend devices/net/tap.c. */
#include "devices/virtio/net/net.h"

#include "devices/net/tap.h"
#include "devices/virtio/net/net_packet.h"
#include "devices/virtio/net/net_queue.h"
#include "devices/virtio/virtio.h"
#include "hypervisor/error.h"
#include "hypervisor/le.h"
#include "hypervisor/vm_config.h"

#include <string.h>

#define NET_DEFAULT_QUEUE_SIZE 256u

typedef struct VirtioNet {
    VirtioDevice vdev; /* first */
    Tap *tap;
    uint8_t mac[6];
    unsigned max_pairs;
    uint64_t offered;  /* device feature bits */
    uint64_t features; /* negotiated (activate) */
    EventLoop *io;
    /* I/O loop state */
    bool active;
    unsigned pairs;    /* queue pairs in use */
    unsigned started;  /* queue pairs whose NetQueue runs */
    NetQueue *queues;  /* max_pairs */
    VirtqElement ctrl_elem;
    NetCounters counters;
    RateLimit rl;
    char *name;
    char **qnames;
} VirtioNet;

#define NET(vdev) ((VirtioNet *)(void *)(vdev))

static const NetQueueHooks net_queue_hooks;

/* ---- features and configuration ---- */

static uint64_t net_offered(VirtioNet *n)
{
    uint64_t f = NET_FEATURE(VIRTIO_NET_F_MAC) | NET_FEATURE(VIRTIO_NET_F_STATUS) |
                 NET_FEATURE(VIRTIO_NET_F_MRG_RXBUF) | NET_FEATURE(VIRTIO_NET_F_CSUM) |
                 NET_FEATURE(VIRTIO_NET_F_HOST_TSO4) | NET_FEATURE(VIRTIO_NET_F_HOST_TSO6) |
                 NET_FEATURE(VIRTIO_NET_F_HOST_ECN);
    unsigned o = tap_offloads_supported(n->tap);
    if (o & TAP_OFFLOAD_CSUM) {
        f |= NET_FEATURE(VIRTIO_NET_F_GUEST_CSUM);
        if (o & TAP_OFFLOAD_TSO4)
            f |= NET_FEATURE(VIRTIO_NET_F_GUEST_TSO4);
        if (o & TAP_OFFLOAD_TSO6)
            f |= NET_FEATURE(VIRTIO_NET_F_GUEST_TSO6);
        if (o & TAP_OFFLOAD_TSO_ECN)
            f |= NET_FEATURE(VIRTIO_NET_F_GUEST_ECN);
    }
    if (n->max_pairs > 1)
        f |= NET_FEATURE(VIRTIO_NET_F_MQ) | NET_FEATURE(VIRTIO_NET_F_CTRL_VQ) |
             NET_FEATURE(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS);
    return f;
}

static uint64_t net_features(VirtioDevice *vdev)
{
    return NET(vdev)->offered;
}

/* The dependencies of 5.1.3.1: refuse a driver that breaks them. */
static bool net_features_ok(VirtioDevice *vdev, uint64_t f)
{
#define HAS(bit) ((f & NET_FEATURE(VIRTIO_NET_F_##bit)) != 0)
    bool ok = true;
    if ((HAS(GUEST_TSO4) || HAS(GUEST_TSO6) || HAS(GUEST_UFO)) && !HAS(GUEST_CSUM))
        ok = false;
    if (HAS(GUEST_ECN) && !HAS(GUEST_TSO4) && !HAS(GUEST_TSO6))
        ok = false;
    if ((HAS(HOST_TSO4) || HAS(HOST_TSO6) || HAS(HOST_UFO)) && !HAS(CSUM))
        ok = false;
    if (HAS(HOST_ECN) && !HAS(HOST_TSO4) && !HAS(HOST_TSO6))
        ok = false;
    if ((HAS(MQ) || HAS(CTRL_GUEST_OFFLOADS) || HAS(CTRL_RX)) && !HAS(CTRL_VQ))
        ok = false;
#undef HAS
    if (!ok)
        log_guest_error(&NET(vdev)->rl, NET(vdev)->name,
                        "features %#" G_GINT64_MODIFIER "x break the virtio-net dependencies", f);
    return ok;
}

static void net_config_read(VirtioDevice *vdev, uint32_t offset, void *buf, unsigned size)
{
    VirtioNet *n = NET(vdev);
    uint8_t cfg[NET_CFG_SIZE] = { 0 };
    memcpy(cfg + NET_CFG_MAC, n->mac, 6);
    le_store16(cfg + NET_CFG_STATUS, NET_STATUS_LINK_UP);
    le_store16(cfg + NET_CFG_MAX_VQ_PAIRS, (uint16_t)n->max_pairs);
    memset(buf, 0, size);
    if (offset < sizeof cfg)
        memcpy(buf, cfg + offset, MIN(size, sizeof cfg - offset));
}

static void net_config_write(VirtioDevice *vdev, uint32_t offset, const void *buf, unsigned size)
{
    /* Read-only in virtio 1.x (the MAC is writable only through CTRL_MAC). */
    log_guest_error(&NET(vdev)->rl, NET(vdev)->name,
                    "write to read-only config offset %u (size %u) ignored", offset, size);
}

/* ---- queue pairs ---- */

static unsigned ctrl_index(VirtioNet *n)
{
    return (n->features & NET_FEATURE(VIRTIO_NET_F_MQ)) ? 2 * n->max_pairs : 2;
}

static bool has_ctrl(VirtioNet *n)
{
    return n->features & NET_FEATURE(VIRTIO_NET_F_CTRL_VQ);
}

/* Use `pairs` queue pairs: tap queues attached/detached to match, receive
 * on for those, transmit of the others through queue 0. */
static bool set_pairs(VirtioNet *n, unsigned pairs)
{
    for (unsigned i = 0; i < n->max_pairs; i++) {
        int r = tap_set_queue_enabled(n->tap, i, i < pairs);
        if (r < 0) {
            g_warning("%s: tap %s queue %u: %s", n->name, tap_name(n->tap), i, g_strerror(-r));
            return false;
        }
    }
    n->pairs = pairs;
    for (unsigned i = 0; i < n->started; i++) {
        NetQueue *q = &n->queues[i];
        q->tx_fd = tap_fd(n->tap, i < pairs ? i : 0);
        net_queue_set_rx(q, i < pairs && virtq_is_ready(q->rxq));
    }
    return true;
}

static void start_all(void *opaque)
{
    VirtioNet *n = opaque;
    unsigned usable = (n->features & NET_FEATURE(VIRTIO_NET_F_MQ)) ? n->max_pairs : 1;
    n->active = true;
    n->started = 0;
    for (unsigned i = 0; i < usable; i++) {
        NetQueue *q = &n->queues[i];
        q->rxq = virtio_device_queue(&n->vdev, 2 * i);
        q->txq = virtio_device_queue(&n->vdev, 2 * i + 1);
        q->rx_fd = tap_fd(n->tap, i);
        q->tx_fd = tap_fd(n->tap, i);
        q->loop = n->io;
        q->hooks = &net_queue_hooks;
        q->opaque = n;
        q->counters = &n->counters;
        q->rl = &n->rl;
        q->name = n->qnames[i];
        q->features = n->features;
        net_queue_start(q, false);
        n->started++;
    }
    if (!set_pairs(n, 1))
        virtio_device_set_needs_reset(&n->vdev, "tap %s: cannot select queue pairs",
                                      tap_name(n->tap));
}

static void stop_all(VirtioNet *n, bool discard)
{
    for (unsigned i = 0; i < n->started; i++)
        net_queue_stop(&n->queues[i], discard);
}

static void stop_all_discard(void *opaque)
{
    VirtioNet *n = opaque;
    stop_all(n, true);
    n->active = false;
}

static void pause_all(void *opaque)
{
    stop_all(opaque, false);
}

static void resume_all(void *opaque)
{
    VirtioNet *n = opaque;
    if (!n->active)
        return;
    for (unsigned i = 0; i < n->started; i++) {
        NetQueue *q = &n->queues[i];
        net_queue_start(q, i < n->pairs && virtq_is_ready(q->rxq));
    }
}

static void hook_notify(void *opaque, VirtQueue *vq)
{
    VirtioNet *n = opaque;
    virtio_notify(&n->vdev, (unsigned)(vq - n->vdev.queues));
}

static void hook_broken(void *opaque, const char *why)
{
    VirtioNet *n = opaque;
    stop_all(n, true);
    n->active = false;
    virtio_device_set_needs_reset(&n->vdev, "%s", why);
}

static const NetQueueHooks net_queue_hooks = {
    .notify = hook_notify,
    .broken = hook_broken,
};

/* ---- control queue ---- */

static uint8_t ctrl_mq(VirtioNet *n, uint8_t cmd, const uint8_t *data, size_t len)
{
    if (!(n->features & NET_FEATURE(VIRTIO_NET_F_MQ)) || cmd != NET_CTRL_MQ_VQ_PAIRS_SET ||
        len != 2)
        return NET_CTRL_ERR;
    unsigned pairs = le_load16(data);
    if (pairs < NET_CTRL_MQ_PAIRS_MIN || pairs > n->max_pairs) {
        log_guest_error(&n->rl, n->name, "VQ_PAIRS_SET %u outside 1..%u", pairs, n->max_pairs);
        return NET_CTRL_ERR;
    }
    return set_pairs(n, pairs) ? NET_CTRL_OK : NET_CTRL_ERR;
}

static uint8_t ctrl_offloads(VirtioNet *n, uint8_t cmd, const uint8_t *data, size_t len)
{
    const uint64_t guest_bits =
        NET_FEATURE(VIRTIO_NET_F_GUEST_CSUM) | NET_FEATURE(VIRTIO_NET_F_GUEST_TSO4) |
        NET_FEATURE(VIRTIO_NET_F_GUEST_TSO6) | NET_FEATURE(VIRTIO_NET_F_GUEST_ECN) |
        NET_FEATURE(VIRTIO_NET_F_GUEST_UFO);
    if (!(n->features & NET_FEATURE(VIRTIO_NET_F_CTRL_GUEST_OFFLOADS)) ||
        cmd != NET_CTRL_GUEST_OFFLOADS_SET || len != 8)
        return NET_CTRL_ERR;
    uint64_t want = le_load64(data);
    if (want & ~(n->features & guest_bits))
        return NET_CTRL_ERR;
    int r = tap_set_offload(n->tap, net_tap_offloads(want) & tap_offloads_supported(n->tap));
    return r < 0 ? NET_CTRL_ERR : NET_CTRL_OK;
}

static void ctrl_process(VirtioNet *n)
{
    unsigned qi = ctrl_index(n);
    VirtQueue *vq = virtio_device_queue(&n->vdev, qi);
    VirtqElement *e = &n->ctrl_elem;
    bool filled = false;
    VirtqStatus st;

    while ((st = virtq_pop(vq, e)) == VIRTQ_OK) {
        if (e->out_bytes < 2 || e->in_bytes < 1) {
            hook_broken(n, "control command without class/command or ack byte");
            return;
        }
        uint8_t cmd[2 + 8];
        size_t got = net_iov_to_buf(e->out_iov, e->out_num, 0, cmd, sizeof cmd);
        size_t data_len = MIN(e->out_bytes, (uint64_t)1 << 20) - 2;
        uint8_t ack = NET_CTRL_ERR;
        if (data_len <= got - 2) {
            if (cmd[0] == NET_CTRL_CLASS_MQ)
                ack = ctrl_mq(n, cmd[1], cmd + 2, data_len);
            else if (cmd[0] == NET_CTRL_CLASS_GUEST_OFFLOADS)
                ack = ctrl_offloads(n, cmd[1], cmd + 2, data_len);
        }
        if (ack != NET_CTRL_OK)
            log_guest_error(&n->rl, n->name, "control class %u command %u: not supported",
                            cmd[0], cmd[1]);
        net_iov_from_buf(e->in_iov, e->in_num, e->in_bytes - 1, &ack, 1);
        virtq_fill(vq, e->head, 1);
        filled = true;
    }
    if (virtq_is_error(st)) {
        hook_broken(n, virtq_strerror(st));
        return;
    }
    if (filled) {
        virtq_flush(vq);
        virtio_notify(&n->vdev, qi);
    }
}

/* ---- VirtioDeviceOps ---- */

static void net_queue_notify(VirtioDevice *vdev, unsigned queue)
{
    VirtioNet *n = NET(vdev);
    if (!n->active)
        return;
    if (has_ctrl(n) && queue == ctrl_index(n)) {
        ctrl_process(n);
        return;
    }
    unsigned pair = queue / 2;
    if (pair >= n->started)
        return;
    if (queue % 2 == 0)
        net_queue_rx_kick(&n->queues[pair]);
    else
        net_queue_tx_kick(&n->queues[pair]);
}

static bool net_activate(VirtioDevice *vdev, GError **errp)
{
    VirtioNet *n = NET(vdev);
    n->features = virtio_device_features(vdev);
    unsigned offloads = net_tap_offloads(n->features) & tap_offloads_supported(n->tap);
    int r = tap_set_offload(n->tap, offloads);
    if (r < 0) {
        error_set_errno(errp, r, "%s: tap %s: TUNSETOFFLOAD %#x", n->name, tap_name(n->tap),
                        offloads);
        return false;
    }
    evloop_run_sync(n->io, start_all, n);
    return true;
}

static void net_reset(VirtioDevice *vdev)
{
    VirtioNet *n = NET(vdev);
    if (n->io)
        evloop_run_sync(n->io, stop_all_discard, n);
    n->features = 0;
    n->pairs = 0;
    if (n->tap) {
        (void)tap_set_offload(n->tap, 0);
        for (unsigned i = 0; i < n->max_pairs; i++)
            (void)tap_set_queue_enabled(n->tap, i, true);
    }
}

static const VirtioDeviceOps net_virtio_ops = {
    .features = net_features,
    .features_ok = net_features_ok,
    .config_read = net_config_read,
    .config_write = net_config_write,
    .activate = net_activate,
    .reset = net_reset,
    .queue_notify = net_queue_notify,
};

/* ---- DeviceOps ---- */

static bool net_check_config(const NetConfig *cfg, unsigned *pairs, unsigned *qsize,
                             GError **errp)
{
    unsigned nq = cfg->num_queues ? cfg->num_queues : 2;
    if (nq < 2 || nq % 2 || nq / 2 > TAP_MAX_QUEUES) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "net: num_queues=%u: must be an even number from 2 to %u", nq,
                    2 * TAP_MAX_QUEUES);
        return false;
    }
    unsigned qs = cfg->queue_size ? cfg->queue_size : NET_DEFAULT_QUEUE_SIZE;
    if (qs < 2 || qs > VIRTQ_MAX_SIZE || (qs & (qs - 1))) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "net: queue_size=%u: must be a power of two from 2 to %u", qs,
                    VIRTQ_MAX_SIZE);
        return false;
    }
    if (cfg->tap && (cfg->ip || cfg->mask)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "net: ip= and mask= are for a tap nimbus creates, not tap=%s", cfg->tap);
        return false;
    }
    *pairs = nq / 2;
    *qsize = qs;
    return true;
}

static bool net_realize(Device *d, const void *opaque, GError **errp)
{
    VirtioNet *n = DEVICE_CAST(VirtioNet, d);
    const NetConfig *cfg = opaque;
    unsigned pairs, qsize;

    n->name = g_strdup_printf("virtio-net %s", d->id ? d->id : "?");
    ratelimit_init(&n->rl, 5000, 10);
    virtq_element_init(&n->ctrl_elem);
    if (!net_check_config(cfg, &pairs, &qsize, errp))
        return false;
    n->max_pairs = pairs;
    n->qnames = g_new0(char *, pairs + 1);
    for (unsigned i = 0; i < pairs; i++)
        n->qnames[i] = g_strdup_printf("%s pair %u", n->name, i);
    n->queues = g_new0(NetQueue, pairs);

    if (cfg->mac_set) {
        memcpy(n->mac, cfg->mac, 6);
    } else {
        for (unsigned i = 0; i < 6; i++)
            n->mac[i] = (uint8_t)g_random_int_range(0, 256);
        n->mac[0] = (uint8_t)((n->mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
    }

    n->tap = cfg->tap ? tap_open(cfg->tap, pairs, errp) : tap_create(cfg->ip, cfg->mask, pairs, errp);
    if (!n->tap)
        return false;
    n->offered = net_offered(n);

    VirtioDeviceInfo info = {
        .device_id = VIRTIO_ID_NET,
        .num_queues = 2 * pairs + (pairs > 1 ? 1 : 0),
        .queue_max_size = (uint16_t)qsize,
        .config_size = NET_CFG_SIZE,
    };
    if (!virtio_device_init(&n->vdev, &net_virtio_ops, &info, errp))
        return false;
    n->io = virtio_device_io_loop(&n->vdev);
    g_info("%s: tap %s, mac %02x:%02x:%02x:%02x:%02x:%02x, %u queue pair%s of %u", n->name,
           tap_name(n->tap), n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5],
           pairs, pairs > 1 ? "s" : "", qsize);
    return true;
}

static void net_dev_reset(Device *d)
{
    virtio_device_reset(VIRTIO_DEVICE(d));
}

static bool net_pause(Device *d, GError **errp)
{
    VirtioNet *n = DEVICE_CAST(VirtioNet, d);
    virtio_device_pause(&n->vdev);
    evloop_run_sync(n->io, pause_all, n);
    return true;
}

static bool net_resume(Device *d, GError **errp)
{
    VirtioNet *n = DEVICE_CAST(VirtioNet, d);
    evloop_run_sync(n->io, resume_all, n);
    virtio_device_resume(&n->vdev);
    return true;
}

static void net_unrealize(Device *d)
{
    VirtioNet *n = DEVICE_CAST(VirtioNet, d);
    if (n->io)
        evloop_run_sync(n->io, stop_all_discard, n);
    virtio_device_cleanup(&n->vdev);
    for (unsigned i = 0; n->queues && i < n->max_pairs; i++)
        net_queue_free(&n->queues[i]);
    g_clear_pointer(&n->queues, g_free);
    g_clear_pointer(&n->tap, tap_close);
    virtq_element_clear(&n->ctrl_elem);
    g_clear_pointer(&n->qnames, g_strfreev);
    ratelimit_clear(&n->rl);
    g_clear_pointer(&n->name, g_free);
}

static void net_counters(Device *d, DeviceCounterFunc add, void *opaque)
{
    NetCounters c;
    virtio_net_counters(d, &c);
    add(opaque, "rx_bytes", c.rx_bytes);
    add(opaque, "rx_frames", c.rx_frames);
    add(opaque, "rx_dropped", c.rx_dropped);
    add(opaque, "tx_bytes", c.tx_bytes);
    add(opaque, "tx_frames", c.tx_frames);
    add(opaque, "tx_dropped", c.tx_dropped);
}


const DeviceOps virtio_net_ops = {
    .type = "virtio-net",
    .instance_size = sizeof(VirtioNet),
    .stage = DEVICE_STAGE_PCI_DEVICE,
    .realize = net_realize,
    .reset = net_dev_reset,
    .pause = net_pause,
    .resume = net_resume,
    .state = &virtio_net_state,
    .state_sync = virtio_device_state_sync_hook,
    .post_load_all = virtio_device_post_load_all,
    .unrealize = net_unrealize,
    .counters = net_counters,
};

/* ---- accessors ---- */

void virtio_net_counters(Device *d, NetCounters *out)
{
    VirtioNet *n = DEVICE_CAST(VirtioNet, d);
    g_assert(d->ops == &virtio_net_ops);
    out->rx_bytes = __atomic_load_n(&n->counters.rx_bytes, __ATOMIC_RELAXED);
    out->rx_frames = __atomic_load_n(&n->counters.rx_frames, __ATOMIC_RELAXED);
    out->rx_dropped = __atomic_load_n(&n->counters.rx_dropped, __ATOMIC_RELAXED);
    out->tx_bytes = __atomic_load_n(&n->counters.tx_bytes, __ATOMIC_RELAXED);
    out->tx_frames = __atomic_load_n(&n->counters.tx_frames, __ATOMIC_RELAXED);
    out->tx_dropped = __atomic_load_n(&n->counters.tx_dropped, __ATOMIC_RELAXED);
}

const char *virtio_net_tap_name(Device *d)
{
    VirtioNet *n = DEVICE_CAST(VirtioNet, d);
    g_assert(d->ops == &virtio_net_ops);
    return n->tap ? tap_name(n->tap) : NULL;
}

void virtio_net_mac(Device *d, uint8_t mac[6])
{
    VirtioNet *n = DEVICE_CAST(VirtioNet, d);
    g_assert(d->ops == &virtio_net_ops);
    memcpy(mac, n->mac, 6);
}
