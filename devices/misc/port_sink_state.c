/* The port sink's state description: empty (reads are constant, writes are
 * dropped). It describes the Device base and nothing in it. */
#include "devices/misc/port_sink.h"
#include "migration/state.h"

static const StateField port_sink_fields[] = {
    STATE_END
};

const StateDesc port_sink_state = {
    .name = "port-sink", .version = 1, .min_version = 1, .size = sizeof(Device),
    .fields = port_sink_fields,
};
