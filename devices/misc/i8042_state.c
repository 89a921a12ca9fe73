/* The i8042's state description (DESIGN §2.3 (d)). */
#include "devices/misc/i8042.h"
#include "migration/state.h"

static const StateField i8042_fields[] = {
    STATE_U8(I8042State, ctr, 1),
    STATE_U8(I8042State, outport, 2),
    STATE_U8(I8042State, pending_cmd, 3),
    STATE_BOOL(I8042State, last_was_cmd, 4),
    STATE_U8_MAX(I8042State, out_count, 5, I8042_OUT_QUEUE),
    STATE_BYTES(I8042State, out, 6),
    STATE_END
};

const StateDesc i8042_state = {
    .name = "i8042", .version = 1, .min_version = 1, .size = sizeof(I8042State),
    .fields = i8042_fields,
};
