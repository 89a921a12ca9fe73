/* ARM PrimeCell RTC (PL031), written from its Technical Reference Manual
 * (ARM DDI 0224).
 *
 *   0x000 DR   counter (ro)      0x004 MR   match      0x008 LR   load
 *   0x00c CR   start (reads 1)   0x010 IMSC mask       0x014 RIS  raw status
 *   0x018 MIS  masked status     0x01c ICR  clear (wo)
 *   0xfe0-0xffc  peripheral and PrimeCell IDs
 *
 * The counter is the host's UTC seconds plus a signed offset that LR writes
 * set, read at the moment of each access: nothing runs while the VM is
 * paused, and the guest's clock has moved on with real time afterwards, as
 * with the CMOS RTC on x86. The counter always runs (there is no firmware
 * to start it), so CR reads 1 and writes to it have no effect, as on the
 * hardware once started.
 *
 * The alarm: when the counter reaches MR, RIS is set and, unmasked, drives
 * the interrupt line until ICR clears it. A one-shot timer on the control
 * loop wakes up at the second the counter should match; it checks the
 * counter again and re-arms for the remainder if it fired early or if the
 * wait was longer than one step. MR and LR writes re-arm it.
 *
 * Threads: registers on vCPU threads, the alarm timer on the control loop;
 * `lock` covers all state. */
#include "devices/rtc/pl031.h"

#include "hypervisor/vm.h"

enum {
    REG_DR = 0x000,
    REG_MR = 0x004,
    REG_LR = 0x008,
    REG_CR = 0x00c,
    REG_IMSC = 0x010,
    REG_RIS = 0x014,
    REG_MIS = 0x018,
    REG_ICR = 0x01c,
    REG_ID = 0xfe0,
};

/* PeriphID 0x00041031 (ARM, part 0x031), PrimeCell ID B105F00D. */
static const uint8_t pl031_id[8] = { 0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };

#define ALARM_MAX_WAIT_S 86400u /* longer waits are done in steps */
#define ALARM_HORIZON_S 0x80000000u /* half the counter's range */

typedef struct Pl031 {
    Device dev;
    GMutex lock;
    AddrSpace *as;
    uint64_t base;
    bool mapped;
    uint32_t gsi;
    bool irq_level; /* what we last drove on gsi */
    Pl031Clock clock;
    void *clock_opaque;
    GSource *alarm; /* pending match timer, or NULL */

    int64_t offset_s;
    uint32_t mr, lr;
    bool imsc, ris;
} Pl031;

static void host_clock(struct timespec *now, void *opaque)
{
    clock_gettime(CLOCK_REALTIME, now);
}

static uint32_t counter(Pl031 *s, const struct timespec *now)
{
    return (uint32_t)(now->tv_sec + s->offset_s);
}

static void update_irq(Pl031 *s)
{
    bool level = s->ris && s->imsc;
    IrqRouter *r = vm_irq(s->dev.vm);
    if (level == s->irq_level || !r)
        return;
    irq_line_set(r, s->gsi, level);
    s->irq_level = level;
}

/* ---- the alarm -------------------------------------------------------- */

static void alarm_arm(Pl031 *s);

/* The counter has reached MR (now or within the last 68 years: the timer
 * may run late, and MR must not be missed for that). */
static bool alarm_reached(Pl031 *s, const struct timespec *now)
{
    return counter(s, now) - s->mr < ALARM_HORIZON_S;
}

static gboolean alarm_fire(void *opaque)
{
    Pl031 *s = opaque;
    struct timespec now;
    g_mutex_lock(&s->lock);
    s->clock(&now, s->clock_opaque);
    if (alarm_reached(s, &now)) {
        g_clear_pointer(&s->alarm, evloop_remove);
        s->ris = true;
        update_irq(s);
    } else {
        alarm_arm(s); /* early, or one step of a long wait */
    }
    g_mutex_unlock(&s->lock);
    return G_SOURCE_REMOVE;
}

/* Match now, or wait for the second in which the counter reaches MR. A
 * match behind the counter comes round when the counter wraps, in over 68
 * years: no timer for that. */
static void alarm_arm(Pl031 *s)
{
    g_clear_pointer(&s->alarm, evloop_remove);
    struct timespec now;
    s->clock(&now, s->clock_opaque);
    uint32_t wait_s = s->mr - counter(s, &now); /* modulo 2^32, as the counter wraps */
    if (wait_s == 0) {
        s->ris = true;
        return;
    }
    if (wait_s >= ALARM_HORIZON_S)
        return;
    uint64_t ms = (uint64_t)MIN(wait_s, ALARM_MAX_WAIT_S) * 1000 - (uint64_t)now.tv_nsec / 1000000;
    s->alarm = evloop_add_timer(vm_control_loop(s->dev.vm), (unsigned)ms, alarm_fire, s);
}

/* ---- registers ------------------------------------------------------- */

static uint64_t pl031_read(void *opaque, uint64_t offset, unsigned size)
{
    Pl031 *s = opaque;
    struct timespec now;
    uint32_t v;
    g_mutex_lock(&s->lock);
    s->clock(&now, s->clock_opaque);
    switch (offset) {
    case REG_DR: v = counter(s, &now); break;
    case REG_MR: v = s->mr; break;
    case REG_LR: v = s->lr; break;
    case REG_CR: v = 1; break;
    case REG_IMSC: v = s->imsc; break;
    case REG_RIS: v = s->ris; break;
    case REG_MIS: v = s->ris && s->imsc; break;
    default:
        if (offset >= REG_ID && offset < REG_ID + 4 * sizeof(pl031_id))
            v = pl031_id[(offset - REG_ID) / 4];
        else
            v = 0; /* reserved and write-only registers read as zero */
        break;
    }
    g_mutex_unlock(&s->lock);
    return v;
}

static void pl031_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    Pl031 *s = opaque;
    uint32_t v = (uint32_t)value;
    struct timespec now;
    g_mutex_lock(&s->lock);
    s->clock(&now, s->clock_opaque);
    switch (offset) {
    case REG_MR:
        s->mr = v;
        alarm_arm(s);
        break;
    case REG_LR:
        s->lr = v;
        s->offset_s = (int64_t)v - now.tv_sec;
        alarm_arm(s);
        break;
    case REG_IMSC:
        s->imsc = v & 1;
        break;
    case REG_ICR:
        if (v & 1)
            s->ris = false;
        break;
    default:
        break; /* DR, CR, status and ID registers */
    }
    update_irq(s);
    g_mutex_unlock(&s->lock);
}

/* Word accesses only, as on the APB bus it sits on. */
static const RegionOps pl031_region_ops = {
    .read = pl031_read,
    .write = pl031_write,
    .valid_min = 4,
    .valid_max = 4,
};

/* ---- device ---------------------------------------------------------- */

static bool pl031_realize(Device *d, const void *opaque, GError **errp)
{
    Pl031 *s = DEVICE_CAST(Pl031, d);
    const Pl031Config *cfg = opaque;
    g_mutex_init(&s->lock);
    s->clock = cfg->clock ? cfg->clock : host_clock;
    s->clock_opaque = cfg->clock_opaque;
    s->gsi = cfg->gsi;
    s->base = cfg->base;
    s->as = vm_mmio(d->vm);
    if (!addrspace_map(s->as, d->id, cfg->base, PL031_MMIO_SIZE, &pl031_region_ops, s, errp))
        return false;
    s->mapped = true;
    return true;
}

/* Reset clears the interrupt and the alarm; the time is battery-backed. */
static void pl031_reset(Device *d)
{
    Pl031 *s = DEVICE_CAST(Pl031, d);
    g_mutex_lock(&s->lock);
    g_clear_pointer(&s->alarm, evloop_remove);
    s->mr = s->lr = 0;
    s->imsc = s->ris = false;
    g_mutex_unlock(&s->lock);
}

static void pl031_unrealize(Device *d)
{
    Pl031 *s = DEVICE_CAST(Pl031, d);
    if (s->mapped)
        addrspace_unmap(s->as, s->base, NULL);
    g_clear_pointer(&s->alarm, evloop_remove);
    g_mutex_clear(&s->lock);
}

/* ---- state (the description is in pl031_state.c) ----------------------- */

static bool pl031_state_sync(Device *d, void *opaque, DeviceStateDir dir, GError **errp)
{
    Pl031 *s = DEVICE_CAST(Pl031, d);
    Pl031State *st = opaque;
    g_mutex_lock(&s->lock);
    if (dir == DEVICE_STATE_SAVE) {
        *st = (Pl031State){ .offset_s = s->offset_s, .mr = s->mr, .lr = s->lr,
                            .imsc = s->imsc, .ris = s->ris };
    } else {
        g_clear_pointer(&s->alarm, evloop_remove); /* post_load_all re-arms */
        s->offset_s = st->offset_s;
        s->mr = st->mr;
        s->lr = st->lr;
        s->imsc = st->imsc;
        s->ris = st->ris;
    }
    g_mutex_unlock(&s->lock);
    return true;
}

/* After every device loaded: a pending alarm waits again (one whose second
 * passed while the VM was saved is missed, as it would be by a guest
 * that set MR behind the counter), and the line shows RIS. */
static bool pl031_post_load_all(Device *d, GError **errp)
{
    Pl031 *s = DEVICE_CAST(Pl031, d);
    g_mutex_lock(&s->lock);
    if (!s->ris)
        alarm_arm(s);
    s->irq_level = false;
    update_irq(s);
    g_mutex_unlock(&s->lock);
    return true;
}

const DeviceOps pl031_ops = {
    .type = "pl031",
    .instance_size = sizeof(Pl031),
    .stage = DEVICE_STAGE_PLATFORM,
    .realize = pl031_realize,
    .reset = pl031_reset,
    .state = &pl031_state,
    .state_sync = pl031_state_sync,
    .post_load_all = pl031_post_load_all,
    .unrealize = pl031_unrealize,
};
