/* The virtio core: what every virtio device shares whatever its transport
 * (virtio 1.2 section 2 and 3): the device status machine, feature
 * negotiation, the configuration generation, the queues with their notifier
 * eventfds on the device's I/O loop, activation, reset, pause/resume and the
 * NEEDS_RESET error state. Register decoding lives in transport_pci.c. */
#include "devices/virtio/virtio_internal.h"

#include "hypervisor/error.h"
#include "hypervisor/vm.h"
#include "migration/state.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Feature bits the core implements for every device. */
#define CORE_FEATURES                                                                      \
    ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_INDIRECT_DESC) |                \
     (1ull << VIRTIO_F_RING_EVENT_IDX))

static VirtioCore *core(VirtioDevice *vdev)
{
    return vdev->core;
}

static const char *dev_id(VirtioDevice *vdev)
{
    return vdev->pci.dev.id;
}

static bool is_active(VirtioDevice *vdev)
{
    return g_atomic_int_get(&core(vdev)->active) && !g_atomic_int_get(&core(vdev)->paused);
}

/* ---- notifiers on the I/O loop ---------------------------------------- */

static void drain_eventfd(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) < 0 && errno == EINTR)
        ;
}

static gboolean kick_ready(int fd, GIOCondition cond, void *opaque)
{
    VirtioQueueCtx *qc = opaque;
    drain_eventfd(fd);
    if (is_active(qc->vdev) && qc->vdev->ops->queue_notify)
        qc->vdev->ops->queue_notify(qc->vdev, qc->index);
    return G_SOURCE_CONTINUE;
}

static void watch_start(VirtioDevice *vdev)
{
    for (unsigned i = 0; i < vdev->info.num_queues; i++) {
        VirtioQueueCtx *qc = &core(vdev)->q[i];
        if (!qc->source && qc->kick_fd >= 0)
            qc->source = evloop_add_fd(core(vdev)->io, qc->kick_fd, G_IO_IN, kick_ready, qc);
    }
}

/* On the I/O loop (so no kick callback is running). */
static void watch_stop(void *opaque)
{
    VirtioDevice *vdev = opaque;
    for (unsigned i = 0; i < vdev->info.num_queues; i++)
        g_clear_pointer(&core(vdev)->q[i].source, evloop_remove);
}

/* Process whatever the driver made available while we were not looking
 * (before DRIVER_OK, while paused): one notify per enabled queue. */
static void kick_all(VirtioDevice *vdev)
{
    for (unsigned i = 0; i < vdev->info.num_queues; i++)
        if (virtq_is_ready(&vdev->queues[i]))
            virtio_core_kick(vdev, i);
}

/* ---- errors ------------------------------------------------------------ */

static void needs_reset_va(VirtioDevice *vdev, const char *fmt, va_list ap)
{
    VirtioCore *c = core(vdev);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    g_mutex_lock(&c->lock);
    bool first = !(c->status & VIRTIO_STATUS_NEEDS_RESET);
    g_atomic_int_set(&c->active, 0);
    __atomic_store_n(&c->status, c->status | VIRTIO_STATUS_NEEDS_RESET, __ATOMIC_RELEASE);
    g_mutex_unlock(&c->lock);
    log_guest_error(&vdev->guest_err, dev_id(vdev), "device needs reset: %s", msg);
    /* The spec asks for a configuration interrupt once DRIVER_OK is set;
     * before that it is harmless and lets the driver see it early. */
    if (first)
        virtio_pci_interrupt(vdev, -1);
}

void virtio_device_set_needs_reset(VirtioDevice *vdev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    needs_reset_va(vdev, fmt, ap);
    va_end(ap);
}

/* ---- status machine ---------------------------------------------------- */

static bool features_acceptable(VirtioDevice *vdev, uint64_t offered, uint64_t wanted)
{
    if (wanted & ~offered) {
        log_guest_error(&vdev->guest_err, dev_id(vdev),
                        "driver accepted features 0x%" G_GINT64_MODIFIER "x never offered",
                        wanted & ~offered);
        return false;
    }
    if (!(wanted & (1ull << VIRTIO_F_VERSION_1))) {
        log_guest_error(&vdev->guest_err, dev_id(vdev),
                        "driver without VIRTIO_F_VERSION_1 (legacy drivers are not supported)");
        return false;
    }
    return !vdev->ops->features_ok || vdev->ops->features_ok(vdev, wanted);
}

typedef struct ActivateCall {
    VirtioDevice *vdev;
    bool ok;
    GError *err;
} ActivateCall;

/* On the I/O loop: device callbacks always run there. */
static void activate_on_io(void *opaque)
{
    ActivateCall *a = opaque;
    VirtioDevice *vdev = a->vdev;
    /* A reset (another vCPU) may have overtaken us: nothing to activate. */
    uint8_t st = virtio_device_status(vdev);
    if (!(st & VIRTIO_STATUS_DRIVER_OK) || (st & VIRTIO_STATUS_NEEDS_RESET)) {
        a->ok = true;
        return;
    }
    a->ok = !vdev->ops->activate || vdev->ops->activate(vdev, &a->err);
    if (a->ok)
        g_atomic_int_set(&core(vdev)->active, 1);
}

static void activate(VirtioDevice *vdev)
{
    VirtioCore *c = core(vdev);
    uint64_t features = virtio_device_features(vdev);
    for (unsigned i = 0; i < vdev->info.num_queues; i++)
        virtq_set_features(&vdev->queues[i], features);
    virtio_pci_activate(vdev);
    ActivateCall a = { .vdev = vdev };
    evloop_run_sync(c->io, activate_on_io, &a);
    if (!a.ok) {
        virtio_device_set_needs_reset(vdev, "activation failed: %s",
                                      a.err ? a.err->message : "?");
        g_clear_error(&a.err);
        return;
    }
    kick_all(vdev);
}

/* On the I/O loop: stop the device and reset its queues. */
static void reset_on_io(void *opaque)
{
    VirtioDevice *vdev = opaque;
    g_atomic_int_set(&core(vdev)->active, 0);
    if (vdev->ops->reset)
        vdev->ops->reset(vdev);
    for (unsigned i = 0; i < vdev->info.num_queues; i++) {
        virtq_reset(&vdev->queues[i]);
        if (core(vdev)->q[i].kick_fd >= 0)
            drain_eventfd(core(vdev)->q[i].kick_fd);
    }
}

static void core_reset(VirtioDevice *vdev, bool function_reset)
{
    VirtioCore *c = core(vdev);
    g_atomic_int_set(&c->active, 0);
    evloop_run_sync(c->io, reset_on_io, vdev);
    g_mutex_lock(&c->lock);
    c->guest_features = 0;
    c->features = 0;
    __atomic_store_n(&c->status, 0, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < vdev->info.num_queues; i++)
        memset(c->q[i].addr, 0, sizeof c->q[i].addr);
    g_mutex_unlock(&c->lock);
    virtio_pci_reset(vdev, function_reset);
}

void virtio_core_write_status(VirtioDevice *vdev, uint8_t value)
{
    VirtioCore *c = core(vdev);
    if (value == 0) {
        core_reset(vdev, false);
        return;
    }
    g_mutex_lock(&c->lock);
    uint8_t old = c->status;
    /* NEEDS_RESET belongs to the device; the driver only adds bits. */
    uint8_t next = (value & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET);
    uint8_t cleared = old & ~next & ~VIRTIO_STATUS_NEEDS_RESET;
    if (cleared) {
        log_guest_error(&vdev->guest_err, dev_id(vdev),
                        "device_status 0x%02x -> 0x%02x clears bits without a reset", old, value);
        next |= cleared;
    }
    uint8_t added = next & ~old;
    bool do_activate = false;
    const char *violation = NULL;
    if (added & VIRTIO_STATUS_FEATURES_OK) {
        if (!(old & VIRTIO_STATUS_DRIVER) && !(added & VIRTIO_STATUS_DRIVER)) {
            next &= ~VIRTIO_STATUS_FEATURES_OK;
            log_guest_error(&vdev->guest_err, dev_id(vdev), "FEATURES_OK before DRIVER");
        } else if (!features_acceptable(vdev, c->host_features, c->guest_features)) {
            next &= ~VIRTIO_STATUS_FEATURES_OK; /* refused: the driver reads it back clear */
        } else {
            c->features = c->guest_features;
        }
    }
    if (added & VIRTIO_STATUS_DRIVER_OK) {
        if (!(next & VIRTIO_STATUS_FEATURES_OK))
            violation = "DRIVER_OK without FEATURES_OK";
        else if (!(next & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)))
            do_activate = true;
    }
    if (added & VIRTIO_STATUS_FAILED)
        g_atomic_int_set(&c->active, 0); /* the driver gave up: stop processing */
    __atomic_store_n(&c->status, next, __ATOMIC_RELEASE);
    g_mutex_unlock(&c->lock);
    if (violation)
        virtio_device_set_needs_reset(vdev, "%s", violation);
    else if (do_activate)
        activate(vdev);
}

uint8_t virtio_device_status(VirtioDevice *vdev)
{
    return __atomic_load_n(&core(vdev)->status, __ATOMIC_ACQUIRE);
}

/* ---- features and configuration ---------------------------------------- */

uint64_t virtio_core_host_features(VirtioDevice *vdev)
{
    return core(vdev)->host_features;
}

uint64_t virtio_core_guest_features(VirtioDevice *vdev)
{
    g_mutex_lock(&core(vdev)->lock);
    uint64_t f = core(vdev)->guest_features;
    g_mutex_unlock(&core(vdev)->lock);
    return f;
}

void virtio_core_set_guest_features(VirtioDevice *vdev, unsigned word, uint32_t value)
{
    VirtioCore *c = core(vdev);
    if (word > 1)
        return; /* no features beyond bit 63: writes to higher words are ignored */
    g_mutex_lock(&c->lock);
    if ((c->status & VIRTIO_STATUS_FEATURES_OK) || !(c->status & VIRTIO_STATUS_DRIVER)) {
        g_mutex_unlock(&c->lock);
        log_guest_error(&vdev->guest_err, dev_id(vdev),
                        "driver_feature written outside feature negotiation (status 0x%02x)",
                        c->status);
        return;
    }
    unsigned shift = 32 * word;
    c->guest_features = (c->guest_features & ~(0xffffffffull << shift)) | (uint64_t)value << shift;
    g_mutex_unlock(&c->lock);
}

uint64_t virtio_device_features(VirtioDevice *vdev)
{
    g_mutex_lock(&core(vdev)->lock);
    uint64_t f = core(vdev)->features;
    g_mutex_unlock(&core(vdev)->lock);
    return f;
}

bool virtio_device_has_feature(VirtioDevice *vdev, unsigned bit)
{
    return bit < 64 && (virtio_device_features(vdev) >> bit) & 1;
}

uint8_t virtio_core_config_generation(VirtioDevice *vdev)
{
    g_mutex_lock(&core(vdev)->lock);
    uint8_t g = core(vdev)->config_generation;
    g_mutex_unlock(&core(vdev)->lock);
    return g;
}

void virtio_notify_config(VirtioDevice *vdev)
{
    g_mutex_lock(&core(vdev)->lock);
    core(vdev)->config_generation++;
    bool ok = core(vdev)->status & VIRTIO_STATUS_DRIVER_OK;
    g_mutex_unlock(&core(vdev)->lock);
    if (ok)
        virtio_pci_interrupt(vdev, -1);
}

void virtio_notify(VirtioDevice *vdev, unsigned queue)
{
    g_assert(queue < vdev->info.num_queues);
    if (!g_atomic_int_get(&core(vdev)->active))
        return;
    if (virtq_should_notify(&vdev->queues[queue]))
        virtio_pci_interrupt(vdev, (int)queue);
}

/* ---- queue registers --------------------------------------------------- */

/* Queue configuration is only legal before DRIVER_OK (no VIRTIO_F_RING_RESET). */
static bool queue_config_allowed(VirtioDevice *vdev, unsigned q, const char *what)
{
    if (!(core(vdev)->status & VIRTIO_STATUS_DRIVER_OK))
        return true;
    log_guest_error(&vdev->guest_err, dev_id(vdev), "q%u: %s after DRIVER_OK ignored", q, what);
    return false;
}

uint16_t virtio_core_queue_size(VirtioDevice *vdev, unsigned q)
{
    g_mutex_lock(&core(vdev)->lock);
    uint16_t s = vdev->queues[q].s.size;
    g_mutex_unlock(&core(vdev)->lock);
    return s;
}

void virtio_core_queue_set_size(VirtioDevice *vdev, unsigned q, uint16_t size)
{
    g_mutex_lock(&core(vdev)->lock);
    VirtqStatus st = VIRTQ_OK;
    if (queue_config_allowed(vdev, q, "queue_size write"))
        st = virtq_set_size(&vdev->queues[q], size);
    g_mutex_unlock(&core(vdev)->lock);
    if (virtq_is_error(st))
        virtio_device_set_needs_reset(vdev, "q%u: queue_size %u: %s", q, size, virtq_strerror(st));
}

uint64_t virtio_core_queue_addr(VirtioDevice *vdev, unsigned q, VirtioQueueAddr which)
{
    g_mutex_lock(&core(vdev)->lock);
    uint64_t a = core(vdev)->q[q].addr[which];
    g_mutex_unlock(&core(vdev)->lock);
    return a;
}

void virtio_core_queue_set_addr(VirtioDevice *vdev, unsigned q, VirtioQueueAddr which,
                                uint64_t value, uint64_t mask)
{
    g_mutex_lock(&core(vdev)->lock);
    if (virtq_is_ready(&vdev->queues[q])) {
        log_guest_error(&vdev->guest_err, dev_id(vdev), "q%u: address write while enabled", q);
    } else if (queue_config_allowed(vdev, q, "address write")) {
        uint64_t *a = &core(vdev)->q[q].addr[which];
        *a = (*a & ~mask) | (value & mask);
    }
    g_mutex_unlock(&core(vdev)->lock);
}

bool virtio_core_queue_enabled(VirtioDevice *vdev, unsigned q)
{
    g_mutex_lock(&core(vdev)->lock);
    bool on = virtq_is_ready(&vdev->queues[q]);
    g_mutex_unlock(&core(vdev)->lock);
    return on;
}

void virtio_core_queue_enable(VirtioDevice *vdev, unsigned q)
{
    VirtioCore *c = core(vdev);
    VirtQueue *vq = &vdev->queues[q];
    VirtqStatus st = VIRTQ_OK;
    g_mutex_lock(&c->lock);
    if (virtq_is_ready(vq) || !queue_config_allowed(vdev, q, "queue_enable")) {
        g_mutex_unlock(&c->lock);
        return;
    }
    const uint64_t *a = c->q[q].addr;
    st = virtq_set_addresses(vq, a[VIRTIO_QADDR_DESC], a[VIRTIO_QADDR_DRIVER], a[VIRTIO_QADDR_DEVICE]);
    if (!virtq_is_error(st))
        st = virtq_enable(vq);
    g_mutex_unlock(&c->lock);
    if (virtq_is_error(st))
        virtio_device_set_needs_reset(vdev, "q%u: cannot enable: %s", q, virtq_strerror(st));
}

void virtio_core_kick(VirtioDevice *vdev, unsigned q)
{
    uint64_t one = 1;
    int fd = core(vdev)->q[q].kick_fd;
    /* EAGAIN means the counter is saturated: a kick is pending anyway. */
    while (fd >= 0 && write(fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

void virtio_device_queue_kick(VirtioDevice *vdev, unsigned queue)
{
    g_assert(queue < vdev->info.num_queues);
    virtio_core_kick(vdev, queue);
}

int virtio_core_kick_fd(VirtioDevice *vdev, unsigned q)
{
    return core(vdev)->q[q].kick_fd;
}

/* ---- lifecycle --------------------------------------------------------- */

static bool info_valid(const VirtioDeviceInfo *info, GError **errp)
{
    uint16_t s = info->queue_max_size;
    if (info->num_queues < 1 || info->num_queues > 1024) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "%u virtqueues (1..1024)",
                    info->num_queues);
        return false;
    }
    if (s == 0 || (s & (s - 1)) || s > VIRTQ_MAX_SIZE) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "queue size %u is not a power of two in 1..%u", s, VIRTQ_MAX_SIZE);
        return false;
    }
    if (info->config_size > 0x1000) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "device configuration of %u bytes (at most 4096)", info->config_size);
        return false;
    }
    return true;
}

bool virtio_device_init(VirtioDevice *vdev, const VirtioDeviceOps *ops,
                        const VirtioDeviceInfo *info, GError **errp)
{
    g_assert(vdev->pci.dev.vm && !vdev->core);
    if (!info_valid(info, errp))
        return false;
    Vm *vm = vdev->pci.dev.vm;
    EventLoop *io = vm_io_loop(vm, errp);
    if (!io)
        return false;
    vdev->ops = ops;
    vdev->info = *info;
    ratelimit_init(&vdev->guest_err, 1000, 10);
    VirtioCore *c = g_new0(VirtioCore, 1);
    vdev->core = c;
    g_mutex_init(&c->lock);
    c->io = io;
    c->host_features = (ops->features ? ops->features(vdev) : 0) | CORE_FEATURES;
    c->q = g_new0(VirtioQueueCtx, info->num_queues);
    vdev->queues = g_new0(VirtQueue, info->num_queues);
    for (unsigned i = 0; i < info->num_queues; i++) {
        VirtioQueueCtx *qc = &c->q[i];
        qc->vdev = vdev;
        qc->index = i;
        qc->name = g_strdup_printf("%s q%u", dev_id(vdev), i);
        qc->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        virtq_init(&vdev->queues[i], vm_memory(vm), qc->name, &vdev->guest_err,
                   info->queue_max_size);
        if (qc->kick_fd < 0) {
            error_set_errno(errp, -errno, "%s: eventfd", dev_id(vdev));
            return false;
        }
    }
    if (!virtio_pci_init(vdev, errp))
        return false;
    watch_start(vdev);
    return true;
}

void virtio_device_cleanup(VirtioDevice *vdev)
{
    VirtioCore *c = core(vdev);
    if (!c) {
        virtio_pci_cleanup(vdev);
        return;
    }
    evloop_run_sync(c->io, watch_stop, vdev);
    virtio_pci_cleanup(vdev); /* unplugged: no more guest accesses or ioeventfds */
    for (unsigned i = 0; i < vdev->info.num_queues; i++) {
        if (c->q[i].kick_fd >= 0)
            close(c->q[i].kick_fd);
        g_free(c->q[i].name);
    }
    g_free(c->q);
    g_clear_pointer(&vdev->queues, g_free);
    g_mutex_clear(&c->lock);
    g_free(c);
    vdev->core = NULL;
    ratelimit_clear(&vdev->guest_err);
}

void virtio_device_reset(VirtioDevice *vdev)
{
    if (core(vdev))
        core_reset(vdev, true);
}

void virtio_device_pause(VirtioDevice *vdev)
{
    if (!core(vdev) || g_atomic_int_get(&core(vdev)->paused))
        return;
    g_atomic_int_set(&core(vdev)->paused, 1);
    evloop_run_sync(core(vdev)->io, watch_stop, vdev);
}

void virtio_device_resume(VirtioDevice *vdev)
{
    VirtioCore *c = core(vdev);
    if (!c || !g_atomic_int_get(&c->paused))
        return;
    /* Guest memory may have changed while paused: re-resolve the rings. */
    for (unsigned i = 0; i < vdev->info.num_queues; i++) {
        VirtQueue *vq = &vdev->queues[i];
        VirtqStatus st = virtq_is_ready(vq) ? virtq_remap(vq) : VIRTQ_OK;
        if (virtq_is_error(st))
            virtio_device_set_needs_reset(vdev, "q%u after resume: %s", i, virtq_strerror(st));
    }
    g_atomic_int_set(&c->paused, 0);
    watch_start(vdev);
    if (g_atomic_int_get(&c->active))
        kick_all(vdev);
}

VirtQueue *virtio_device_queue(VirtioDevice *vdev, unsigned index)
{
    g_assert(index < vdev->info.num_queues);
    return &vdev->queues[index];
}

GuestMemory *virtio_device_memory(VirtioDevice *vdev)
{
    return vm_memory(vdev->pci.dev.vm);
}

EventLoop *virtio_device_io_loop(VirtioDevice *vdev)
{
    return core(vdev)->io;
}

/* ---- state (the descriptions are in virtio_state.c) ---------------------- */

bool virtio_core_state_sync(VirtioDevice *vdev, VirtioState *st, DeviceStateDir dir, GError **errp)
{
    VirtioCore *c = core(vdev);
    unsigned nq = vdev->info.num_queues;
    g_assert(nq <= VIRTIO_STATE_QUEUES_MAX);
    if (dir == DEVICE_STATE_SAVE) {
        g_mutex_lock(&c->lock);
        st->status = c->status;
        st->config_generation = c->config_generation;
        st->guest_features = c->guest_features;
        st->features = c->features;
        st->num_queues = (uint16_t)nq;
        for (unsigned i = 0; i < nq; i++)
            memcpy(st->queues[i].addr, c->q[i].addr, sizeof st->queues[i].addr);
        g_mutex_unlock(&c->lock);
        /* The device is paused: the I/O loop does not touch the queues. */
        for (unsigned i = 0; i < nq; i++)
            virtq_save(&vdev->queues[i], &st->queues[i].vq);
        return true;
    }
    if (st->num_queues != nq) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "%u queues in the state, the device has %u",
                    st->num_queues, nq);
        return false;
    }
    uint64_t offered = virtio_core_host_features(vdev);
    if ((st->features & ~offered) || (st->guest_features & ~offered)) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID,
                    "features 0x%" G_GINT64_MODIFIER "x not offered by this device", st->features);
        return false;
    }
    g_mutex_lock(&c->lock);
    c->guest_features = st->guest_features;
    c->features = st->features;
    c->config_generation = st->config_generation;
    __atomic_store_n(&c->status, st->status, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < nq; i++)
        memcpy(c->q[i].addr, st->queues[i].addr, sizeof c->q[i].addr);
    g_mutex_unlock(&c->lock);
    for (unsigned i = 0; i < nq; i++) {
        VirtqStatus vs = virtq_load(&vdev->queues[i], &st->queues[i].vq);
        if (vs != VIRTQ_OK) {
            g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "queue %u: %s", i, virtq_strerror(vs));
            return false;
        }
    }
    if (!(st->status & VIRTIO_STATUS_DRIVER_OK) || (st->status & VIRTIO_STATUS_NEEDS_RESET))
        return true;
    ActivateCall a = { .vdev = vdev };
    evloop_run_sync(c->io, activate_on_io, &a);
    if (!a.ok) {
        if (a.err)
            g_propagate_prefixed_error(errp, a.err, "activation: ");
        else
            g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "activation failed");
        return false;
    }
    if (!g_atomic_int_get(&c->paused))
        kick_all(vdev); /* not paused (tests): else resume kicks */
    return true;
}
