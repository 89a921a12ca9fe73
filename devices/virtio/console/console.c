/* virtio-console, single port (see console.h).
 *
 * Threads: the chardev is created on the device's I/O loop, so its input
 * callbacks (can_receive/receive) run on the same thread as queue_notify,
 * activate and reset: the receive queue has a single user and needs no lock.
 * Guest output reaches chardev_write() from the I/O thread (transmitq) or a
 * vCPU (emerg_wr); chardev_write is thread-safe and never blocks.
 *
 * Input flow control: can_receive() reports the room of the first receive
 * buffer the driver has posted (taken and given back with virtq_unpop, so
 * nothing stays popped between callbacks); with no buffer it reports 0 and
 * the chardev stops reading until the driver posts buffers (receiveq kick ->
 * chardev_accept_input). Input is never read from the host before the guest
 * can take it, so nothing is lost while the guest is slow. */
#include "devices/virtio/console/console.h"

#include "devices/chardev/chardev.h"
#include "devices/virtio/virtio.h"
#include "hypervisor/error.h"
#include "hypervisor/vm.h"
#include "hypervisor/vm_config.h"

#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

typedef struct VirtioConsole {
    VirtioDevice vdev; /* first */
    Chardev *chr;
    EventLoop *io;     /* where chr lives (kept for unrealize) */
    uint16_t cols, rows;
    bool has_size;
    /* I/O loop only */
    bool running; /* activated and not reset since */
    VirtqElement rx_elem, tx_elem;
    /* any thread */
    gint paused;
    uint64_t tx_bytes, rx_bytes, rx_dropped; /* relaxed atomics */
} VirtioConsole;

static VirtioConsole *con_of(VirtioDevice *vdev)
{
    return (VirtioConsole *)vdev;
}

static void count(uint64_t *counter, uint64_t n)
{
    __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/* ---- host -> guest (receiveq) ------------------------------------------ */

static bool rx_usable(VirtioConsole *c)
{
    VirtioDevice *vdev = &c->vdev;
    return c->running && !g_atomic_int_get(&c->paused) &&
           !(virtio_device_status(vdev) & VIRTIO_STATUS_NEEDS_RESET) &&
           virtq_is_ready(virtio_device_queue(vdev, VIRTIO_CONSOLE_RX_QUEUE));
}

/* Pop the next receive buffer with room; buffers without any writable byte
 * are completed empty on the way (they could never take input). */
static VirtqStatus rx_pop(VirtioConsole *c, VirtQueue *vq, bool *completed)
{
    for (unsigned tries = 0; tries <= vq->s.size; tries++) {
        VirtqStatus st = virtq_pop(vq, &c->rx_elem);
        if (st != VIRTQ_OK) {
            if (virtq_is_error(st))
                virtio_device_set_needs_reset(&c->vdev, "receiveq: %s", virtq_strerror(st));
            return st;
        }
        if (c->rx_elem.in_bytes > 0)
            return VIRTQ_OK;
        log_guest_error(&c->vdev.guest_err, c->vdev.pci.dev.id,
                        "receive buffer without writable space");
        virtq_push(vq, c->rx_elem.head, 0);
        *completed = true;
    }
    return VIRTQ_EMPTY;
}

static size_t con_can_receive(void *opaque)
{
    VirtioConsole *c = opaque;
    if (!rx_usable(c))
        return 0;
    VirtQueue *vq = virtio_device_queue(&c->vdev, VIRTIO_CONSOLE_RX_QUEUE);
    bool completed = false;
    size_t room = 0;
    if (rx_pop(c, vq, &completed) == VIRTQ_OK) {
        room = (size_t)MIN(c->rx_elem.in_bytes, (uint64_t)SIZE_MAX);
        virtq_unpop(vq, 1);
    }
    if (completed)
        virtio_notify(&c->vdev, VIRTIO_CONSOLE_RX_QUEUE);
    return room;
}

static uint32_t copy_to_iov(const struct iovec *iov, uint32_t n, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    for (uint32_t i = 0; i < n && done < len; i++) {
        size_t k = MIN(iov[i].iov_len, len - done);
        memcpy(iov[i].iov_base, buf + done, k);
        done += k;
    }
    return (uint32_t)done;
}

static void con_receive(void *opaque, const uint8_t *buf, size_t len)
{
    VirtioConsole *c = opaque;
    VirtQueue *vq = virtio_device_queue(&c->vdev, VIRTIO_CONSOLE_RX_QUEUE);
    size_t done = 0;
    bool completed = false;
    while (done < len && rx_usable(c)) {
        if (rx_pop(c, vq, &completed) != VIRTQ_OK)
            break;
        uint32_t n = copy_to_iov(c->rx_elem.in_iov, c->rx_elem.in_num, buf + done, len - done);
        virtq_push(vq, c->rx_elem.head, n);
        completed = true;
        done += n;
    }
    count(&c->rx_bytes, done);
    if (done < len)
        count(&c->rx_dropped, len - done);
    if (completed)
        virtio_notify(&c->vdev, VIRTIO_CONSOLE_RX_QUEUE);
}

/* ---- guest -> host (transmitq) ----------------------------------------- */

static void tx_process(VirtioConsole *c)
{
    VirtioDevice *vdev = &c->vdev;
    VirtQueue *vq = virtio_device_queue(vdev, VIRTIO_CONSOLE_TX_QUEUE);
    unsigned handled = 0;
    for (;;) {
        /* Bound one call by the queue size; the rest gets another turn. */
        if (handled == vq->s.size) {
            virtio_device_queue_kick(vdev, VIRTIO_CONSOLE_TX_QUEUE);
            break;
        }
        VirtqStatus st = virtq_pop(vq, &c->tx_elem);
        if (st == VIRTQ_EMPTY || st == VIRTQ_NOT_READY)
            break;
        if (virtq_is_error(st)) {
            virtio_device_set_needs_reset(vdev, "transmitq: %s", virtq_strerror(st));
            return;
        }
        for (uint32_t i = 0; i < c->tx_elem.out_num; i++) {
            const struct iovec *v = &c->tx_elem.out_iov[i];
            if (c->chr)
                chardev_write(c->chr, v->iov_base, v->iov_len);
        }
        count(&c->tx_bytes, c->tx_elem.out_bytes);
        virtq_push(vq, c->tx_elem.head, 0); /* nothing written to the guest */
        handled++;
    }
    virtio_notify(vdev, VIRTIO_CONSOLE_TX_QUEUE);
}

/* ---- virtio callbacks (I/O loop, except config access on vCPUs) --------- */

static uint64_t con_features(VirtioDevice *vdev)
{
    uint64_t f = 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE;
    if (con_of(vdev)->has_size)
        f |= 1ull << VIRTIO_CONSOLE_F_SIZE;
    return f;
}

static void con_config_read(VirtioDevice *vdev, uint32_t offset, void *buf, unsigned size)
{
    VirtioConsole *c = con_of(vdev);
    uint8_t cfg[VIRTIO_CONSOLE_CFG_SIZE] = { 0 };
    if (c->has_size) {
        cfg[VIRTIO_CONSOLE_CFG_COLS] = (uint8_t)c->cols;
        cfg[VIRTIO_CONSOLE_CFG_COLS + 1] = (uint8_t)(c->cols >> 8);
        cfg[VIRTIO_CONSOLE_CFG_ROWS] = (uint8_t)c->rows;
        cfg[VIRTIO_CONSOLE_CFG_ROWS + 1] = (uint8_t)(c->rows >> 8);
    }
    /* max_nr_ports only means something with MULTIPORT; emerg_wr reads 0. */
    if (offset < sizeof cfg && size <= sizeof cfg - offset)
        memcpy(buf, cfg + offset, size);
}

static void con_config_write(VirtioDevice *vdev, uint32_t offset, const void *buf, unsigned size)
{
    VirtioConsole *c = con_of(vdev);
    if (offset != VIRTIO_CONSOLE_CFG_EMERG_WR) {
        log_guest_error(&vdev->guest_err, vdev->pci.dev.id,
                        "write of %u bytes to read-only console config at 0x%x", size, offset);
        return;
    }
    /* One character per write, in the low byte (the driver writes a le32). */
    const uint8_t *b = buf;
    if (c->chr)
        chardev_write(c->chr, b, 1);
    count(&c->tx_bytes, 1);
}

static bool con_activate(VirtioDevice *vdev, GError **errp)
{
    VirtioConsole *c = con_of(vdev);
    c->running = true;
    if (c->chr)
        chardev_accept_input(c->chr); /* read input now that buffers may exist */
    return true;
}

static void con_reset(VirtioDevice *vdev)
{
    con_of(vdev)->running = false; /* can_receive says 0 from now on */
}

static void con_queue_notify(VirtioDevice *vdev, unsigned queue)
{
    VirtioConsole *c = con_of(vdev);
    if (queue == VIRTIO_CONSOLE_TX_QUEUE)
        tx_process(c);
    else if (c->chr)
        chardev_accept_input(c->chr); /* new receive buffers: read again */
}

static const VirtioDeviceOps con_virtio_ops = {
    .features = con_features,
    .config_read = con_config_read,
    .config_write = con_config_write,
    .activate = con_activate,
    .reset = con_reset,
    .queue_notify = con_queue_notify,
};

/* ---- the chardev, on the I/O loop -------------------------------------- */

typedef struct ChardevCall {
    VirtioConsole *c;
    const ConsoleConfig *cfg;
    GError *err;
} ChardevCall;

static void chardev_open_on_io(void *opaque)
{
    ChardevCall *call = opaque;
    VirtioConsole *c = call->c;
    c->chr = chardev_new(call->cfg, c->io, &call->err);
    if (c->chr)
        chardev_set_receiver(c->chr, con_can_receive, con_receive, c);
}

static void chardev_close_on_io(void *opaque)
{
    VirtioConsole *c = opaque;
    g_clear_pointer(&c->chr, chardev_free);
}

/* ---- DeviceOps ---------------------------------------------------------- */

static void probe_size(VirtioConsole *c, const ConsoleConfig *cfg)
{
    struct winsize ws;
    if (cfg->mode != CONSOLE_MODE_TTY || !isatty(STDOUT_FILENO) ||
        ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 || !ws.ws_col || !ws.ws_row)
        return;
    c->cols = ws.ws_col;
    c->rows = ws.ws_row;
    c->has_size = true;
}

static bool con_realize(Device *d, const void *opaque, GError **errp)
{
    VirtioConsole *c = DEVICE_CAST(VirtioConsole, d);
    const ConsoleConfig *cfg = opaque;
    virtq_element_init(&c->rx_elem);
    virtq_element_init(&c->tx_elem);
    if (!cfg || cfg->mode == CONSOLE_MODE_OFF) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "virtio-console needs a backend (mode off means no device)");
        return false;
    }
    probe_size(c, cfg);
    VirtioDeviceInfo info = {
        .device_id = VIRTIO_ID_CONSOLE,
        .num_queues = 2,
        .queue_max_size = VIRTIO_CONSOLE_QUEUE_SIZE,
        .config_size = VIRTIO_CONSOLE_CFG_SIZE,
    };
    if (!virtio_device_init(&c->vdev, &con_virtio_ops, &info, errp))
        return false;
    c->io = virtio_device_io_loop(&c->vdev);
    ChardevCall call = { .c = c, .cfg = cfg };
    evloop_run_sync(c->io, chardev_open_on_io, &call);
    if (!c->chr) {
        g_propagate_prefixed_error(errp, call.err, "virtio-console: ");
        return false;
    }
    if (chardev_pty_path(c->chr)) {
        g_message("%s: virtio-console pty at %s", d->id, chardev_pty_path(c->chr)); /* as the serial's */
        vm_set_console_pty(d->vm, d->id, chardev_pty_path(c->chr)); /* for vm.info */
    }
    return true;
}

static void con_dev_reset(Device *d)
{
    virtio_device_reset(VIRTIO_DEVICE(d));
}

static bool con_pause(Device *d, GError **errp)
{
    VirtioConsole *c = DEVICE_CAST(VirtioConsole, d);
    /* Input stops first; virtio_device_pause then waits on the I/O loop,
     * so a receive callback already running has finished when it returns. */
    g_atomic_int_set(&c->paused, 1);
    virtio_device_pause(&c->vdev);
    return true;
}

static bool con_resume(Device *d, GError **errp)
{
    VirtioConsole *c = DEVICE_CAST(VirtioConsole, d);
    virtio_device_resume(&c->vdev);
    g_atomic_int_set(&c->paused, 0);
    if (c->chr)
        chardev_accept_input(c->chr);
    return true;
}

static void con_unrealize(Device *d)
{
    VirtioConsole *c = DEVICE_CAST(VirtioConsole, d);
    /* The backend goes first: after this no input callback can run. */
    if (c->io)
        evloop_run_sync(c->io, chardev_close_on_io, c);
    virtio_device_cleanup(&c->vdev);
    virtq_element_clear(&c->rx_elem);
    virtq_element_clear(&c->tx_elem);
}


const DeviceOps virtio_console_ops = {
    .type = "virtio-console",
    .instance_size = sizeof(VirtioConsole),
    .stage = DEVICE_STAGE_PCI_DEVICE,
    .realize = con_realize,
    .reset = con_dev_reset,
    .pause = con_pause,
    .resume = con_resume,
    .state = &virtio_console_state,
    .state_sync = virtio_device_state_sync_hook,
    .post_load_all = virtio_device_post_load_all,
    .unrealize = con_unrealize,
};

const char *console_pty_path(Device *d)
{
    g_assert(d->ops == &virtio_console_ops);
    VirtioConsole *c = DEVICE_CAST(VirtioConsole, d);
    return c->chr ? chardev_pty_path(c->chr) : NULL;
}

void console_counters(Device *d, ConsoleCounters *out)
{
    g_assert(d->ops == &virtio_console_ops);
    VirtioConsole *c = DEVICE_CAST(VirtioConsole, d);
    out->tx_bytes = __atomic_load_n(&c->tx_bytes, __ATOMIC_RELAXED);
    out->rx_bytes = __atomic_load_n(&c->rx_bytes, __ATOMIC_RELAXED);
    out->rx_dropped = __atomic_load_n(&c->rx_dropped, __ATOMIC_RELAXED);
}
