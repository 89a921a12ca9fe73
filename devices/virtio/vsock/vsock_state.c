/* virtio-vsock's state: the virtio core. Connections cannot migrate (their host ends are UNIX sockets of this process): they are reset on restore, as cloud-hypervisor does; after load the device puts a VIRTIO_VSOCK_EVENT_TRANSPORT_RESET into the event queue (virtio_vsock_post_load_all), so the guest drops its connections and re-reads its CID. */
#include "devices/virtio/virtio.h"
#include "devices/virtio/vsock/vsock.h"
#include "migration/state.h"

#include <string.h>

static const StateField virtio_vsock_fields[] = {
    STATE_STRUCT(VirtioCoreOnlyState, common, 1, &virtio_state),
    STATE_END
};

const StateDesc virtio_vsock_state = {
    .name = "virtio-vsock", .version = 1, .min_version = 1, .size = sizeof(VirtioCoreOnlyState),
    .fields = virtio_vsock_fields,
};

#define VSOCK_EVENT_QUEUE 2
#define VIRTIO_VSOCK_EVENT_TRANSPORT_RESET 0u

/* After every device loaded: the core part, then tell the driver that every
 * connection it had is gone (virtio 1.2, 5.10.6.6: the driver resets its
 * connections and re-reads guest_cid). The event goes into the first buffer
 * of the event queue; a driver that posted none does not get it. */
bool virtio_vsock_post_load_all(Device *d, GError **errp)
{
    VirtioDevice *vdev = VIRTIO_DEVICE(d);
    if (!virtio_device_post_load(vdev, errp))
        return false;
    uint8_t status = virtio_device_status(vdev);
    if (!(status & VIRTIO_STATUS_DRIVER_OK) || (status & VIRTIO_STATUS_NEEDS_RESET))
        return true;
    VirtQueue *vq = virtio_device_queue(vdev, VSOCK_EVENT_QUEUE);
    VirtqElement e;
    virtq_element_init(&e);
    VirtqStatus st = virtq_pop(vq, &e);
    if (st == VIRTQ_OK) {
        uint32_t written = 0;
        if (e.in_num && e.in_iov[0].iov_len >= 4) {
            uint8_t ev[4] = { VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, 0, 0, 0 };
            memcpy(e.in_iov[0].iov_base, ev, sizeof ev);
            written = sizeof ev;
        }
        virtq_push(vq, e.head, written);
        virtio_notify(vdev, VSOCK_EVENT_QUEUE);
    } else if (virtq_is_error(st)) {
        virtio_device_set_needs_reset(vdev, "event queue: %s", virtq_strerror(st));
    }
    virtq_element_clear(&e);
    return true;
}
