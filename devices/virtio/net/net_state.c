/* virtio-net's state: the virtio core. The MAC address, offloads and queue-pair count come from the config (the destination realizes the same device from it) and the negotiated offloads are part of the core's features. No frame is state: a frame read from the tap but not yet in a guest buffer is dropped by pause (a lost frame is something TCP and the guest's stack recover from), so nothing in flight is carried. */
#include "devices/virtio/net/net.h"
#include "devices/virtio/virtio.h"
#include "migration/state.h"

static const StateField virtio_net_fields[] = {
    STATE_STRUCT(VirtioCoreOnlyState, common, 1, &virtio_state),
    STATE_END
};

const StateDesc virtio_net_state = {
    .name = "virtio-net", .version = 1, .min_version = 1, .size = sizeof(VirtioCoreOnlyState),
    .fields = virtio_net_fields,
};
