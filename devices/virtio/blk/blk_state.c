/* virtio-blk's state: nothing beyond the virtio core. Requests are not state: blk_pause() waits for every in-flight request to complete (used ring written) before the state is taken, so the queues' indices are final. */
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/virtio.h"
#include "migration/state.h"

static const StateField virtio_blk_fields[] = {
    STATE_STRUCT(VirtioCoreOnlyState, common, 1, &virtio_state),
    STATE_END
};

const StateDesc virtio_blk_state = {
    .name = "virtio-blk", .version = 1, .min_version = 1, .size = sizeof(VirtioCoreOnlyState),
    .fields = virtio_blk_fields,
};
