/* The virtio core's state descriptions: a queue (VirtqState + the
 * transport's per-queue bits) and the common part every virtio device embeds
 * (virtio.h "state"). */
#include "devices/virtio/virtio_internal.h"
#include "migration/state.h"

#include <string.h>

static bool virtq_post_load(void *obj, unsigned version, GError **errp)
{
    const VirtqState *q = obj;
    if (q->size & (q->size - 1)) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "queue size %u is not a power of 2", q->size);
        return false;
    }
    if ((uint16_t)(q->last_avail_idx - q->used_idx) > q->size) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "%u chains in flight in a queue of %u",
                    (uint16_t)(q->last_avail_idx - q->used_idx), q->size);
        return false;
    }
    if (q->ready && !q->size) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "ready queue of size 0");
        return false;
    }
    return true;
}

static const StateField virtq_fields[] = {
    STATE_U16_MAX(VirtqState, size, 1, 32768),
    STATE_BOOL(VirtqState, ready, 2),
    STATE_BOOL(VirtqState, event_idx, 3),
    STATE_BOOL(VirtqState, indirect_desc, 4),
    STATE_U64(VirtqState, desc_gpa, 5),
    STATE_U64(VirtqState, avail_gpa, 6),
    STATE_U64(VirtqState, used_gpa, 7),
    STATE_U16(VirtqState, last_avail_idx, 8),
    STATE_U16(VirtqState, used_idx, 9),
    STATE_END
};

const StateDesc virtq_state = {
    .name = "virtq", .version = 1, .min_version = 1, .size = sizeof(VirtqState),
    .fields = virtq_fields, .post_load = virtq_post_load,
};

static const StateField virtio_queue_fields[] = {
    STATE_STRUCT(VirtioQueueState, vq, 1, &virtq_state),
    STATE_U64_ARRAY(VirtioQueueState, addr, 2),
    STATE_U16(VirtioQueueState, vector, 3),
    STATE_END
};

static const StateDesc virtio_queue_state = {
    .name = "virtio-queue", .version = 1, .min_version = 1, .size = sizeof(VirtioQueueState),
    .fields = virtio_queue_fields,
};

static const StateField virtio_fields[] = {
    STATE_STRUCT(VirtioState, pci, 1, &pci_device_state),
    STATE_U8(VirtioState, status, 2),
    STATE_U8(VirtioState, config_generation, 3),
    STATE_U64(VirtioState, guest_features, 4),
    STATE_U64(VirtioState, features, 5),
    STATE_U32(VirtioState, device_feature_select, 6),
    STATE_U32(VirtioState, driver_feature_select, 7),
    STATE_U16(VirtioState, queue_select, 8),
    STATE_U16(VirtioState, msix_config, 9),
    STATE_U8(VirtioState, isr, 10),
    STATE_STRUCT_ARRAY(VirtioState, queues, num_queues, 11, &virtio_queue_state),
    STATE_END
};

const StateDesc virtio_state = {
    .name = "virtio", .version = 1, .min_version = 1, .size = sizeof(VirtioState),
    .fields = virtio_fields,
};

bool virtio_device_state_sync(VirtioDevice *vdev, VirtioState *st, DeviceStateDir dir, GError **errp)
{
    if (dir == DEVICE_STATE_SAVE) {
        memset(st, 0, sizeof *st);
        bool ok = pci_device_state_sync(&vdev->pci, &st->pci, dir, errp);
        virtio_pci_state_sync(vdev, st, dir);
        return virtio_core_state_sync(vdev, st, dir, errp) && ok;
    }
    /* PCI function first (config space, BARs, MSI-X table), then the
     * transport's registers, then the core, which may activate the device. */
    if (!pci_device_state_sync(&vdev->pci, &st->pci, dir, errp))
        return false;
    virtio_pci_state_sync(vdev, st, dir);
    return virtio_core_state_sync(vdev, st, dir, errp);
}

bool virtio_device_post_load(VirtioDevice *vdev, GError **errp)
{
    pci_device_post_load(&vdev->pci);
    uint8_t status = virtio_device_status(vdev);
    if ((status & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_NEEDS_RESET))
        virtio_pci_activate(vdev); /* irqfds for the vectors in use */
    return true;
}

bool virtio_device_state_sync_hook(Device *d, void *st, DeviceStateDir dir, GError **errp)
{
    return virtio_device_state_sync(VIRTIO_DEVICE(d), &((VirtioCoreOnlyState *)st)->common, dir, errp);
}

bool virtio_device_post_load_all(Device *d, GError **errp)
{
    return virtio_device_post_load(VIRTIO_DEVICE(d), errp);
}
