/* MC146818 CMOS RTC, written from the Motorola MC146818A data sheet and the
 * PC's CMOS RAM map.
 *
 * The clock is the host's UTC clock read at the moment of each access, plus
 * a signed offset in seconds that records what the guest set. So there is no
 * timer and nothing to keep running while the VM is paused; the price is that
 * a paused guest sees host time jump forward on resume, as a real machine
 * that was suspended would.
 *
 * Not modelled: the periodic, alarm and update-ended *interrupts* (IRQ 8 is
 * never raised; Linux uses the HPET/TSC for time and only reads the clock at
 * boot) and the square-wave output. Register C still reports the
 * update-ended flag (UF) for guests that poll it.
 *
 * Threads: accessed from vCPU threads; `lock` covers the index and RAM. */
#include "devices/rtc/cmos_rtc.h"

#include "hypervisor/vm.h"

#include <string.h>

enum {
    RTC_SECONDS = 0x00,
    RTC_MINUTES = 0x02,
    RTC_HOURS = 0x04,
    RTC_WEEKDAY = 0x06,
    RTC_DAY = 0x07,
    RTC_MONTH = 0x08,
    RTC_YEAR = 0x09,
    RTC_REG_A = 0x0a,
    RTC_REG_B = 0x0b,
    RTC_REG_C = 0x0c,
    RTC_REG_D = 0x0d,
    CMOS_BASE_MEM_LO = 0x15,    /* conventional memory in KiB */
    CMOS_EXT_MEM_LO_OLD = 0x17, /* same as 0x30/0x31, read by older BIOSes */
    CMOS_EXT_MEM_LO = 0x30,     /* KiB above 1 MiB, capped at 0xffff */
    RTC_CENTURY = 0x32,
    CMOS_MEM_16M_LO = 0x34,     /* 64 KiB units between 16 MiB and 4 GiB */
    CMOS_MEM_4G_LO = 0x5b,      /* 64 KiB units above 4 GiB, 3 bytes */
    CMOS_SIZE = 128,
};

#define REG_A_UIP 0x80
#define REG_A_RESET 0x26 /* 32.768 kHz time base, 1.024 kHz rate */
#define REG_B_SET 0x80   /* the guest is setting the clock: updates halt */
#define REG_B_IRQ_ENABLES 0x78 /* PIE, AIE, UIE, SQWE: cleared by reset */
#define REG_B_DM_BINARY 0x04
#define REG_B_24H 0x02
#define REG_B_RESET REG_B_24H /* BCD, 24-hour: what PC firmware leaves */
#define REG_C_UF 0x10
#define REG_D_VRT 0x80 /* valid RAM and time */

/* UIP rises this long before each update (data sheet: 244 us). */
#define UIP_LEAD_NS 244000

typedef struct CmosRtc {
    Device dev;
    GMutex lock;
    AddrSpace *as;
    uint64_t base;
    bool mapped;

    uint8_t index;
    uint8_t ram[CMOS_SIZE]; /* RAM, alarms and registers A/B; clock fields are computed */
    int64_t offset_s;       /* guest clock minus host clock */
    bool frozen;            /* register B SET: the clock is held in frozen_tm */
    struct tm frozen_tm;    /* fields as the guest writes them, normalized on release */
    int64_t last_c_read_s;  /* guest second of the last register C read (for UF) */
    CmosRtcClock clock;
    void *clock_opaque;
} CmosRtc;

/* ---- the clock ------------------------------------------------------- */

static void host_clock(struct timespec *now, void *opaque)
{
    clock_gettime(CLOCK_REALTIME, now);
}

static struct timespec clock_now(CmosRtc *s)
{
    struct timespec ts;
    s->clock(&ts, s->clock_opaque);
    return ts;
}

static void clock_fields(CmosRtc *s, const struct timespec *now, struct tm *tm)
{
    if (s->frozen) {
        *tm = s->frozen_tm;
        return;
    }
    time_t t = (time_t)(now->tv_sec + s->offset_s);
    gmtime_r(&t, tm);
}

static bool binary_mode(CmosRtc *s)
{
    return s->ram[RTC_REG_B] & REG_B_DM_BINARY;
}

static uint8_t encode(CmosRtc *s, int v)
{
    /* A guest can set a date before year 0; show such fields as 0. */
    unsigned u = v < 0 ? 0 : (unsigned)v;
    return binary_mode(s) ? (uint8_t)u : (uint8_t)((u / 10) << 4 | (u % 10));
}

/* Lenient on purpose: a guest writing invalid BCD gets some number, and
 * timegm() normalizes whatever date results. */
static int decode(CmosRtc *s, uint8_t v)
{
    return binary_mode(s) ? v : (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t encode_hour(CmosRtc *s, int h)
{
    if (s->ram[RTC_REG_B] & REG_B_24H)
        return encode(s, h);
    /* 12-hour mode: 12, 1 .. 11, with bit 7 meaning PM. */
    int h12 = h % 12 == 0 ? 12 : h % 12;
    return encode(s, h12) | (h >= 12 ? 0x80 : 0);
}

static int decode_hour(CmosRtc *s, uint8_t v)
{
    if (s->ram[RTC_REG_B] & REG_B_24H)
        return decode(s, v);
    return decode(s, v & 0x7f) % 12 + ((v & 0x80) ? 12 : 0);
}

static uint8_t clock_read(CmosRtc *s, uint8_t reg, const struct timespec *now)
{
    struct tm tm;
    clock_fields(s, now, &tm);
    int year = tm.tm_year + 1900;
    switch (reg) {
    case RTC_SECONDS:
        return encode(s, tm.tm_sec);
    case RTC_MINUTES:
        return encode(s, tm.tm_min);
    case RTC_HOURS:
        return encode_hour(s, tm.tm_hour);
    case RTC_WEEKDAY:
        return encode(s, tm.tm_wday + 1); /* 1 = Sunday */
    case RTC_DAY:
        return encode(s, tm.tm_mday);
    case RTC_MONTH:
        return encode(s, tm.tm_mon + 1);
    case RTC_YEAR:
        return encode(s, year % 100);
    default: /* RTC_CENTURY */
        return encode(s, year / 100);
    }
}

/* The guest sets one field: change it in the current time and keep the
 * result as the new offset (or, while SET holds the clock, as the frozen
 * fields, so that writing day 31 before month 3 does not roll over). */
static void clock_write(CmosRtc *s, uint8_t reg, uint8_t v, const struct timespec *now)
{
    struct tm tm;
    clock_fields(s, now, &tm);
    int year = tm.tm_year + 1900;
    switch (reg) {
    case RTC_SECONDS:
        tm.tm_sec = decode(s, v);
        break;
    case RTC_MINUTES:
        tm.tm_min = decode(s, v);
        break;
    case RTC_HOURS:
        tm.tm_hour = decode_hour(s, v);
        break;
    case RTC_WEEKDAY:
        return; /* derived from the date */
    case RTC_DAY:
        tm.tm_mday = decode(s, v);
        break;
    case RTC_MONTH:
        tm.tm_mon = decode(s, v) - 1;
        break;
    case RTC_YEAR:
        year = year / 100 * 100 + decode(s, v);
        break;
    default: /* RTC_CENTURY */
        year = decode(s, v) * 100 + year % 100;
        break;
    }
    tm.tm_year = year - 1900;
    tm.tm_isdst = 0;
    if (s->frozen)
        s->frozen_tm = tm;
    else
        s->offset_s = (int64_t)timegm(&tm) - now->tv_sec;
}

static bool is_clock_reg(uint8_t reg)
{
    switch (reg) {
    case RTC_SECONDS:
    case RTC_MINUTES:
    case RTC_HOURS:
    case RTC_WEEKDAY:
    case RTC_DAY:
    case RTC_MONTH:
    case RTC_YEAR:
    case RTC_CENTURY:
        return true;
    default:
        return false; /* 0x01/0x03/0x05 are the alarm bytes: plain RAM */
    }
}

/* ---- registers ------------------------------------------------------- */

static uint8_t data_read(CmosRtc *s)
{
    uint8_t reg = s->index;
    struct timespec now = clock_now(s);
    if (is_clock_reg(reg))
        return clock_read(s, reg, &now);
    switch (reg) {
    case RTC_REG_A: {
        uint8_t v = s->ram[RTC_REG_A] & ~REG_A_UIP;
        if (!s->frozen && now.tv_nsec >= 1000000000L - UIP_LEAD_NS)
            v |= REG_A_UIP;
        return v;
    }
    case RTC_REG_C: {
        /* UF is set by every update and cleared by reading C. */
        int64_t sec = now.tv_sec + s->offset_s;
        uint8_t v = (!s->frozen && sec != s->last_c_read_s) ? REG_C_UF : 0;
        s->last_c_read_s = sec;
        return v;
    }
    case RTC_REG_D:
        return REG_D_VRT;
    default:
        return s->ram[reg];
    }
}

static void data_write(CmosRtc *s, uint8_t v)
{
    uint8_t reg = s->index;
    struct timespec now = clock_now(s);
    if (is_clock_reg(reg)) {
        clock_write(s, reg, v, &now);
        return;
    }
    switch (reg) {
    case RTC_REG_A:
        s->ram[RTC_REG_A] = v & ~REG_A_UIP;
        break;
    case RTC_REG_B:
        if ((v & REG_B_SET) && !s->frozen) {
            clock_fields(s, &now, &s->frozen_tm);
            s->frozen = true;
        } else if (!(v & REG_B_SET) && s->frozen) {
            s->offset_s = (int64_t)timegm(&s->frozen_tm) - now.tv_sec;
            s->frozen = false;
        }
        s->ram[RTC_REG_B] = v;
        break;
    case RTC_REG_C:
    case RTC_REG_D:
        break; /* read-only */
    default:
        s->ram[reg] = v;
        break;
    }
}

static uint64_t rtc_read(void *opaque, uint64_t offset, unsigned size)
{
    CmosRtc *s = opaque;
    if (offset == 0)
        return 0xff; /* the index register is write-only */
    g_mutex_lock(&s->lock);
    uint8_t v = data_read(s);
    g_mutex_unlock(&s->lock);
    return v;
}

static void rtc_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    CmosRtc *s = opaque;
    g_mutex_lock(&s->lock);
    if (offset == 0)
        s->index = value & 0x7f; /* bit 7 masks NMI on a PC; there is no NMI to mask */
    else
        data_write(s, (uint8_t)value);
    g_mutex_unlock(&s->lock);
}

static const RegionOps rtc_region_ops = {
    .read = rtc_read,
    .write = rtc_write,
    .valid_min = 1,
    .valid_max = 1,
};

/* ---- device ---------------------------------------------------------- */

static void put_le(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The memory-size bytes firmware-less guests and bootloaders read. */
static void ram_set_memory(CmosRtc *s, const CmosRtcConfig *cfg)
{
    const uint64_t mib = 1024 * 1024, unit = 64 * 1024;
    uint64_t below = cfg->mem_below_4g;
    uint64_t ext_kib = below > mib ? MIN((below - mib) / 1024, 0xffff) : 0;
    uint64_t mem16 = below > 16 * mib ? MIN((below - 16 * mib) / unit, 0xffff) : 0;
    uint64_t high = MIN(cfg->mem_above_4g / unit, 0xffffff);
    put_le(&s->ram[CMOS_BASE_MEM_LO], 2, 640);
    put_le(&s->ram[CMOS_EXT_MEM_LO_OLD], 2, ext_kib);
    put_le(&s->ram[CMOS_EXT_MEM_LO], 2, ext_kib);
    put_le(&s->ram[CMOS_MEM_16M_LO], 2, mem16);
    put_le(&s->ram[CMOS_MEM_4G_LO], 3, high);
}

static bool cmos_rtc_realize(Device *d, const void *opaque, GError **errp)
{
    CmosRtc *s = DEVICE_CAST(CmosRtc, d);
    const CmosRtcConfig *cfg = opaque;
    g_mutex_init(&s->lock);
    /* Battery-backed state: set once here, kept across guest resets. */
    ram_set_memory(s, cfg);
    s->ram[RTC_REG_A] = REG_A_RESET;
    s->ram[RTC_REG_B] = REG_B_RESET;
    s->clock = cfg->clock ? cfg->clock : host_clock;
    s->clock_opaque = cfg->clock_opaque;
    s->base = cfg->base;
    s->as = vm_pio(d->vm);
    if (!addrspace_map(s->as, d->id, cfg->base, 2, &rtc_region_ops, s, errp))
        return false;
    s->mapped = true;
    return true;
}

/* The RESET pin clears the interrupt enables and flags; time, RAM and the
 * data format are battery-backed and survive. */
static void cmos_rtc_reset(Device *d)
{
    CmosRtc *s = DEVICE_CAST(CmosRtc, d);
    g_mutex_lock(&s->lock);
    s->index = 0;
    s->ram[RTC_REG_B] &= ~REG_B_IRQ_ENABLES;
    g_mutex_unlock(&s->lock);
}

static void cmos_rtc_unrealize(Device *d)
{
    CmosRtc *s = DEVICE_CAST(CmosRtc, d);
    if (s->mapped)
        addrspace_unmap(s->as, s->base, NULL);
    g_mutex_clear(&s->lock);
}

/* ---- state (the description is in cmos_rtc_state.c) -------------------- */

static bool cmos_rtc_state_sync(Device *d, void *opaque, DeviceStateDir dir, GError **errp)
{
    CmosRtc *s = DEVICE_CAST(CmosRtc, d);
    CmosRtcState *st = opaque;
    G_STATIC_ASSERT(sizeof st->ram == sizeof s->ram);
    g_mutex_lock(&s->lock);
    if (dir == DEVICE_STATE_SAVE) {
        *st = (CmosRtcState){
            .index = s->index, .offset_s = s->offset_s, .last_c_read_s = s->last_c_read_s,
            .frozen = s->frozen,
        };
        memcpy(st->ram, s->ram, sizeof st->ram);
        if (s->frozen) {
            st->frozen_sec = (uint8_t)s->frozen_tm.tm_sec;
            st->frozen_min = (uint8_t)s->frozen_tm.tm_min;
            st->frozen_hour = (uint8_t)s->frozen_tm.tm_hour;
            st->frozen_mday = (uint8_t)s->frozen_tm.tm_mday;
            st->frozen_mon = (uint8_t)(s->frozen_tm.tm_mon + 1);
            st->frozen_year = (uint16_t)(s->frozen_tm.tm_year + 1900);
        }
    } else {
        s->index = st->index;
        memcpy(s->ram, st->ram, sizeof s->ram);
        s->offset_s = st->offset_s;
        s->last_c_read_s = st->last_c_read_s;
        s->frozen = st->frozen;
        memset(&s->frozen_tm, 0, sizeof s->frozen_tm);
        s->frozen_tm.tm_sec = st->frozen_sec;
        s->frozen_tm.tm_min = st->frozen_min;
        s->frozen_tm.tm_hour = st->frozen_hour;
        s->frozen_tm.tm_mday = st->frozen_mday;
        s->frozen_tm.tm_mon = st->frozen_mon - 1;
        s->frozen_tm.tm_year = st->frozen_year - 1900;
    }
    g_mutex_unlock(&s->lock);
    return true;
}

const DeviceOps cmos_rtc_ops = {
    .type = "cmos-rtc",
    .instance_size = sizeof(CmosRtc),
    .stage = DEVICE_STAGE_PLATFORM,
    .realize = cmos_rtc_realize,
    .reset = cmos_rtc_reset,
    .state = &cmos_rtc_state,
    .state_sync = cmos_rtc_state_sync,
    .unrealize = cmos_rtc_unrealize,
};
