/* virtio-console's state: nothing beyond the virtio core. Output is written synchronously; input not yet placed in a receive buffer stays in the host backend. */
#include "devices/virtio/console/console.h"
#include "devices/virtio/virtio.h"
#include "migration/state.h"

static const StateField virtio_console_fields[] = {
    STATE_STRUCT(VirtioCoreOnlyState, common, 1, &virtio_state),
    STATE_END
};

const StateDesc virtio_console_state = {
    .name = "virtio-console", .version = 1, .min_version = 1, .size = sizeof(VirtioCoreOnlyState),
    .fields = virtio_console_fields,
};
