/* The CMOS RTC's state description (DESIGN §2.3 (d)). */
#include "devices/rtc/cmos_rtc.h"
#include "migration/state.h"

static bool cmos_rtc_post_load(void *obj, unsigned version, GError **errp)
{
    const CmosRtcState *st = obj;
    if (st->offset_s > CMOS_RTC_OFFSET_MAX || st->offset_s < -CMOS_RTC_OFFSET_MAX ||
        st->last_c_read_s > INT64_MAX / 2 || st->last_c_read_s < INT64_MIN / 2) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "clock offset out of range");
        return false;
    }
    return true;
}

static const StateField cmos_rtc_fields[] = {
    STATE_U8_MAX(CmosRtcState, index, 1, CMOS_RTC_RAM_SIZE - 1),
    STATE_BYTES(CmosRtcState, ram, 2),
    STATE_I64(CmosRtcState, offset_s, 3),
    STATE_I64(CmosRtcState, last_c_read_s, 4),
    STATE_BOOL(CmosRtcState, frozen, 5),
    STATE_U8(CmosRtcState, frozen_sec, 6),
    STATE_U8(CmosRtcState, frozen_min, 7),
    STATE_U8(CmosRtcState, frozen_hour, 8),
    STATE_U8(CmosRtcState, frozen_mday, 9),
    STATE_U8(CmosRtcState, frozen_mon, 10),
    STATE_U16(CmosRtcState, frozen_year, 11),
    STATE_END
};

const StateDesc cmos_rtc_state = {
    .name = "cmos-rtc", .version = 1, .min_version = 1, .size = sizeof(CmosRtcState),
    .fields = cmos_rtc_fields, .post_load = cmos_rtc_post_load,
};
