/* virtio-rng: fills each available device-writable buffer with at most its
 * size (and at most VIRTIO_RNG_MAX_REQUEST) bytes read from the source.
 *
 * The source is opened non-blocking: a source with nothing to give (an
 * empty pipe) completes the request short, possibly with 0 bytes, which the
 * driver treats as "try again". A regular file is read from its start again
 * at its end, so a file source never runs dry. */
#include "devices/virtio/rng/rng.h"

#include "devices/virtio/virtio.h"
#include "hypervisor/error.h"
#include "hypervisor/vm_config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct VirtioRng {
    VirtioDevice vdev; /* first */
    int fd;
    bool seekable;
    char *src;
    VirtqElement elem; /* used on the I/O thread only */
} VirtioRng;

static VirtioRng *rng_of(VirtioDevice *vdev)
{
    return (VirtioRng *)vdev;
}

/* Read up to len bytes into p; at EOF of a regular file start over once. */
static size_t source_read(VirtioRng *r, uint8_t *p, size_t len)
{
    bool rewound = false;
    for (;;) {
        ssize_t n = read(r->fd, p, len);
        if (n > 0)
            return (size_t)n;
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && r->seekable && !rewound && lseek(r->fd, 0, SEEK_SET) == 0) {
            rewound = true;
            continue;
        }
        return 0; /* EOF, EAGAIN or an error: a short answer */
    }
}

static uint32_t fill(VirtioRng *r, const VirtqElement *e)
{
    uint64_t budget = MIN(e->in_bytes, (uint64_t)VIRTIO_RNG_MAX_REQUEST);
    uint32_t done = 0;
    for (uint32_t i = 0; i < e->in_num && done < budget; i++) {
        uint8_t *base = e->in_iov[i].iov_base;
        size_t want = (size_t)MIN((uint64_t)e->in_iov[i].iov_len, budget - done);
        size_t got = 0;
        while (got < want) {
            size_t n = source_read(r, base + got, want - got);
            if (n == 0)
                break;
            got += n;
        }
        done += (uint32_t)got;
        if (got < want)
            break;
    }
    return done;
}

static void rng_queue_notify(VirtioDevice *vdev, unsigned queue)
{
    VirtioRng *r = rng_of(vdev);
    VirtQueue *vq = virtio_device_queue(vdev, queue);
    unsigned handled = 0;
    for (;;) {
        /* Bound one call by the queue size; the rest gets another turn. */
        if (handled == vq->s.size) {
            virtio_device_queue_kick(vdev, queue);
            break;
        }
        VirtqStatus st = virtq_pop(vq, &r->elem);
        if (st == VIRTQ_EMPTY || st == VIRTQ_NOT_READY)
            break;
        if (virtq_is_error(st)) {
            virtio_device_set_needs_reset(vdev, "%s", virtq_strerror(st));
            return;
        }
        virtq_fill(vq, r->elem.head, fill(r, &r->elem));
        virtq_flush(vq);
        handled++;
    }
    if (handled)
        virtio_notify(vdev, queue);
}

static const VirtioDeviceOps rng_virtio_ops = {
    .queue_notify = rng_queue_notify,
};

static bool rng_realize(Device *d, const void *opaque, GError **errp)
{
    VirtioRng *r = DEVICE_CAST(VirtioRng, d);
    const RngConfig *cfg = opaque;
    r->fd = -1;
    virtq_element_init(&r->elem);
    r->src = g_strdup(cfg && cfg->src ? cfg->src : VIRTIO_RNG_DEFAULT_SOURCE);
    r->fd = open(r->src, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (r->fd < 0) {
        error_set_errno(errp, -errno, "virtio-rng source '%s'", r->src);
        return false;
    }
    struct stat st;
    r->seekable = fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode);
    VirtioDeviceInfo info = {
        .device_id = VIRTIO_ID_RNG,
        .num_queues = 1,
        .queue_max_size = VIRTIO_RNG_QUEUE_SIZE,
        .config_size = 0,
    };
    return virtio_device_init(&r->vdev, &rng_virtio_ops, &info, errp);
}

static void rng_reset(Device *d)
{
    virtio_device_reset(VIRTIO_DEVICE(d));
}

static bool rng_pause(Device *d, GError **errp)
{
    virtio_device_pause(VIRTIO_DEVICE(d)); /* requests complete synchronously */
    return true;
}

static bool rng_resume(Device *d, GError **errp)
{
    virtio_device_resume(VIRTIO_DEVICE(d));
    return true;
}

static void rng_unrealize(Device *d)
{
    VirtioRng *r = DEVICE_CAST(VirtioRng, d);
    virtio_device_cleanup(&r->vdev);
    virtq_element_clear(&r->elem);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    g_clear_pointer(&r->src, g_free);
}


const DeviceOps virtio_rng_ops = {
    .type = "virtio-rng",
    .instance_size = sizeof(VirtioRng),
    .stage = DEVICE_STAGE_PCI_DEVICE,
    .realize = rng_realize,
    .reset = rng_reset,
    .pause = rng_pause,
    .resume = rng_resume,
    .state = &virtio_rng_state,
    .state_sync = virtio_device_state_sync_hook,
    .post_load_all = virtio_device_post_load_all,
    .unrealize = rng_unrealize,
};
