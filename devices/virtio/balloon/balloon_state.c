/* virtio-balloon's state: the virtio core. The target comes from the config (and vm.resize-balloon, which changes the config); actual and the statistics are the guest's to report again. */
#include "devices/virtio/balloon/balloon.h"
#include "devices/virtio/virtio.h"
#include "migration/state.h"

static const StateField virtio_balloon_fields[] = {
    STATE_STRUCT(VirtioCoreOnlyState, common, 1, &virtio_state),
    STATE_END
};

const StateDesc virtio_balloon_state = {
    .name = "virtio-balloon", .version = 1, .min_version = 1, .size = sizeof(VirtioCoreOnlyState),
    .fields = virtio_balloon_fields,
};
