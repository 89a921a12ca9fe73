/* virtio-rng's state: nothing beyond the virtio core (entropy requests are served synchronously; a paused device has none in flight). */
#include "devices/virtio/rng/rng.h"
#include "devices/virtio/virtio.h"
#include "migration/state.h"

static const StateField virtio_rng_fields[] = {
    STATE_STRUCT(VirtioCoreOnlyState, common, 1, &virtio_state),
    STATE_END
};

const StateDesc virtio_rng_state = {
    .name = "virtio-rng", .version = 1, .min_version = 1, .size = sizeof(VirtioCoreOnlyState),
    .fields = virtio_rng_fields,
};
