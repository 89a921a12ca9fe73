#include "devices/acpi/ged.h"

#include "hypervisor/error.h"
#include "hypervisor/log.h"
#include "hypervisor/vm.h"

#define SLP_EN 0x20
#define SLP_TYP_SHIFT 2
#define SLP_TYP_MASK 0x7

typedef struct Ged {
    Device dev;
    GMutex lock;
    uint64_t base;
    bool mmio;
    bool mapped;
    uint32_t gsi;
    uint8_t events; /* pending, under lock */
    RateLimit rl;
} Ged;

static AddrSpace *ged_space(Ged *g)
{
    return g->mmio ? vm_mmio(g->dev.vm) : vm_pio(g->dev.vm);
}

static uint64_t ged_read(void *opaque, uint64_t offset, unsigned size)
{
    Ged *g = opaque;
    if (offset != GED_REG_EVENT)
        return 0;
    g_mutex_lock(&g->lock);
    uint8_t v = g->events;
    g->events = 0;
    g_mutex_unlock(&g->lock);
    return v;
}

static void ged_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    Ged *g = opaque;
    switch (offset) {
    case GED_REG_SLEEP_CONTROL:
        if (!(value & SLP_EN))
            return;
        if (((value >> SLP_TYP_SHIFT) & SLP_TYP_MASK) == GED_SLP_TYP_S5)
            vm_request_stop(g->dev.vm, VM_STOP_POWEROFF, "ACPI S5");
        else
            log_guest_error(&g->rl, g->dev.id, "unsupported sleep state %#x",
                            (unsigned)((value >> SLP_TYP_SHIFT) & SLP_TYP_MASK));
        break;
    case GED_REG_RESET:
        if (value == GED_RESET_VALUE)
            vm_request_stop(g->dev.vm, VM_STOP_RESET, "ACPI reset register");
        break;
    default:
        break; /* sleep status (no wake events to clear), event status: read-only */
    }
}

static const RegionOps ged_region_ops = {
    .read = ged_read,
    .write = ged_write,
    .valid_min = 1,
    .valid_max = 1,
};

void ged_press_power_button(Device *d)
{
    Ged *g = DEVICE_CAST(Ged, d);
    g_mutex_lock(&g->lock);
    g->events |= GED_EVENT_POWER_BUTTON;
    g_mutex_unlock(&g->lock);
    irq_line_pulse(vm_irq(d->vm), g->gsi);
}

static bool ged_realize(Device *d, const void *opaque, GError **errp)
{
    Ged *g = DEVICE_CAST(Ged, d);
    const GedConfig *cfg = opaque;
    g_mutex_init(&g->lock);
    ratelimit_init(&g->rl, 1000, 10);
    g->base = cfg->base;
    g->mmio = cfg->mmio;
    g->gsi = cfg->gsi;
    if (!vm_irq(d->vm)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "%s: no interrupt router", d->id);
        return false;
    }
    if (!addrspace_map(ged_space(g), d->id, g->base, GED_REGS_SIZE, &ged_region_ops, g, errp))
        return false;
    g->mapped = true;
    return true;
}

static void ged_reset(Device *d)
{
    Ged *g = DEVICE_CAST(Ged, d);
    g_mutex_lock(&g->lock);
    g->events = 0;
    g_mutex_unlock(&g->lock);
}

static void ged_unrealize(Device *d)
{
    Ged *g = DEVICE_CAST(Ged, d);
    if (g->mapped)
        addrspace_unmap(ged_space(g), g->base, NULL);
    g_mutex_clear(&g->lock);
    ratelimit_clear(&g->rl);
}

/* ---- state (the description is in ged_state.c) ------------------------- */

static bool ged_state_sync(Device *d, void *opaque, DeviceStateDir dir, GError **errp)
{
    Ged *g = DEVICE_CAST(Ged, d);
    GedState *st = opaque;
    g_mutex_lock(&g->lock);
    if (dir == DEVICE_STATE_SAVE)
        st->events = g->events;
    else
        g->events = st->events;
    g_mutex_unlock(&g->lock);
    return true;
}

/* The GED interrupt is an edge: pulse it again for events the guest had not
 * read yet (it may have missed the edge the source sent). */
static bool ged_post_load_all(Device *d, GError **errp)
{
    Ged *g = DEVICE_CAST(Ged, d);
    g_mutex_lock(&g->lock);
    bool pending = g->events != 0;
    g_mutex_unlock(&g->lock);
    if (pending)
        irq_line_pulse(vm_irq(d->vm), g->gsi);
    return true;
}

const DeviceOps ged_ops = {
    .type = "acpi-ged",
    .instance_size = sizeof(Ged),
    .stage = DEVICE_STAGE_PLATFORM,
    .realize = ged_realize,
    .reset = ged_reset,
    .state = &ged_state,
    .state_sync = ged_state_sync,
    .post_load_all = ged_post_load_all,
    .unrealize = ged_unrealize,
};
