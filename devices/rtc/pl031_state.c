/* The PL031 RTC's state description (DESIGN §2.3 (d)). */
#include "devices/rtc/pl031.h"
#include "migration/state.h"

static bool pl031_post_load(void *obj, unsigned version, GError **errp)
{
    const Pl031State *st = obj;
    if (st->offset_s > PL031_OFFSET_MAX || st->offset_s < -PL031_OFFSET_MAX) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "clock offset out of range");
        return false;
    }
    return true;
}

static const StateField pl031_fields[] = {
    STATE_I64(Pl031State, offset_s, 1),
    STATE_U32(Pl031State, mr, 2),
    STATE_U32(Pl031State, lr, 3),
    STATE_BOOL(Pl031State, imsc, 4),
    STATE_BOOL(Pl031State, ris, 5),
    STATE_END
};

const StateDesc pl031_state = {
    .name = "pl031", .version = 1, .min_version = 1, .size = sizeof(Pl031State),
    .fields = pl031_fields, .post_load = pl031_post_load,
};
