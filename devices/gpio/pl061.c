/* ARM PrimeCell GPIO (PL061), written from the PL061 Technical Reference
 * Manual (ARM DDI 0190).
 *
 *   0x000-0x3fc GPIODATA: address bits 9:2 mask the access, so that one
 *               write changes only some lines (bits outside the mask read
 *               as 0 and are not written)
 *   0x400 DIR (1 = output)   0x404 IS (1 = level)   0x408 IBE (both edges)
 *   0x40c IEV (1 = rising / high)   0x410 IE (mask)   0x414 RIS (ro)
 *   0x418 MIS (ro)   0x41c IC (wo, clears edge interrupts)   0x420 AFSEL
 *   0xfe0-0xffc  peripheral and PrimeCell IDs (what the AMBA bus probes)
 *
 * The pins: an output line shows what the guest wrote to GPIODATA, an
 * input line what the VMM drives (pl061_set_input). Every pin change is
 * checked for edges: an edge-sensitive line latches its RIS bit on a rising
 * edge (IEV set), a falling one (IEV clear) or either (IBE); IC clears it.
 * A level-sensitive line's RIS bit follows the pin (high with IEV set, low
 * without) and IC does not clear it. The SPI is high while RIS & IE.
 *
 * Accesses of 1 to 4 bytes (Linux uses byte accesses); the registers are 8
 * bits wide, their upper bytes read as zero, writes to them are ignored.
 *
 * Threads: registers on vCPU threads, key presses and the release timer on
 * the control loop's thread; `lock` covers all state. */
#include "devices/gpio/pl061.h"

#include "hypervisor/error.h"
#include "hypervisor/evloop.h"
#include "hypervisor/vm.h"

enum {
    REG_DATA_END = 0x400, /* GPIODATA spans 0x000-0x3fc */
    REG_DIR = 0x400,
    REG_IS = 0x404,
    REG_IBE = 0x408,
    REG_IEV = 0x40c,
    REG_IE = 0x410,
    REG_RIS = 0x414,
    REG_MIS = 0x418,
    REG_IC = 0x41c,
    REG_AFSEL = 0x420,
    REG_ID = 0xfe0,
};

/* PeriphID 0x00041061 (ARM, part 0x061, revision 0), PrimeCell ID B105F00D. */
static const uint8_t pl061_id[8] = { 0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };

typedef struct Pl061 {
    Device dev;
    GMutex lock;
    AddrSpace *as;
    uint64_t base;
    bool mapped;
    uint32_t gsi;
    bool irq_level; /* what we last drove on gsi */

    uint8_t data, dir, is, ibe, iev, ie, ris, afsel;
    uint8_t input;       /* levels the VMM drives */
    uint8_t held, seen;  /* see pl061_press_key */
    GSource *release;    /* the key release timer, or NULL */
    unsigned hold_ticks; /* release timer periods since the last press */
} Pl061;

/* ---- pins and interrupts --------------------------------------------- */

static uint8_t pins(Pl061 *s)
{
    return (uint8_t)((s->data & s->dir) | (s->input & ~s->dir));
}

/* The RIS bits of level-sensitive lines: the pin at its active level. */
static uint8_t level_ris(Pl061 *s)
{
    uint8_t active = (uint8_t)((pins(s) & s->iev) | (~pins(s) & ~s->iev));
    return active & s->is;
}

static uint8_t ris_read(Pl061 *s)
{
    return (uint8_t)((s->ris & ~s->is) | level_ris(s));
}

static void update_irq(Pl061 *s)
{
    bool level = (ris_read(s) & s->ie) != 0;
    IrqRouter *r = vm_irq(s->dev.vm);
    if (level == s->irq_level || !r)
        return;
    irq_line_set(r, s->gsi, level);
    s->irq_level = level;
}

/* The pins went from `before` to what they are now: latch the edges the
 * edge-sensitive lines wait for. */
static void detect_edges(Pl061 *s, uint8_t before)
{
    uint8_t now = pins(s);
    uint8_t rising = now & ~before, falling = before & ~now;
    uint8_t wanted = (uint8_t)((rising & (s->iev | s->ibe)) | (falling & (~s->iev | s->ibe)));
    s->ris |= wanted & ~s->is;
}

/* ---- registers ------------------------------------------------------- */

static uint32_t reg_read(Pl061 *s, uint64_t reg)
{
    if (reg < REG_DATA_END) {
        uint8_t mask = (uint8_t)(reg >> 2);
        uint8_t v = pins(s) & mask;
        s->seen |= s->held & v; /* the guest has sampled the pressed key */
        return v;
    }
    switch (reg) {
    case REG_DIR: return s->dir;
    case REG_IS: return s->is;
    case REG_IBE: return s->ibe;
    case REG_IEV: return s->iev;
    case REG_IE: return s->ie;
    case REG_RIS: return ris_read(s);
    case REG_MIS: return ris_read(s) & s->ie;
    case REG_AFSEL: return s->afsel;
    default:
        if (reg >= REG_ID && reg < REG_ID + 4 * sizeof(pl061_id))
            return pl061_id[(reg - REG_ID) / 4];
        return 0; /* reserved and write-only registers read as zero */
    }
}

static void reg_write(Pl061 *s, uint64_t reg, uint8_t v)
{
    uint8_t before = pins(s);
    if (reg < REG_DATA_END) {
        uint8_t mask = (uint8_t)(reg >> 2);
        s->data = (uint8_t)((s->data & ~mask) | (v & mask));
    } else {
        switch (reg) {
        case REG_DIR: s->dir = v; break;
        case REG_IS: s->is = v; break;
        case REG_IBE: s->ibe = v; break;
        case REG_IEV: s->iev = v; break;
        case REG_IE: s->ie = v; break;
        case REG_IC: s->ris &= (uint8_t)~v; break;
        case REG_AFSEL: s->afsel = v; break;
        default: break; /* read-only, reserved and ID registers */
        }
    }
    /* Outputs changing, or a line turning around, are pin changes too. */
    detect_edges(s, before);
}

static uint64_t pl061_read(void *opaque, uint64_t offset, unsigned size)
{
    Pl061 *s = opaque;
    unsigned lane = offset & 3;
    g_mutex_lock(&s->lock);
    uint32_t v = lane ? 0 : reg_read(s, offset);
    g_mutex_unlock(&s->lock);
    return v;
}

static void pl061_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    Pl061 *s = opaque;
    if (offset & 3)
        return; /* the upper bytes of a register alone: nothing there */
    g_mutex_lock(&s->lock);
    reg_write(s, offset, (uint8_t)value);
    update_irq(s);
    g_mutex_unlock(&s->lock);
}

static const RegionOps pl061_region_ops = {
    .read = pl061_read,
    .write = pl061_write,
    .valid_min = 1,
    .valid_max = 4,
    .impl_min = 1,
    .impl_max = 4,
};

/* ---- the VMM's side: input lines and keys ---------------------------- */

static void input_set(Pl061 *s, uint8_t bit, bool level)
{
    uint8_t before = pins(s);
    s->input = level ? (uint8_t)(s->input | bit) : (uint8_t)(s->input & ~bit);
    detect_edges(s, before);
    update_irq(s);
}

void pl061_set_input(Device *d, unsigned line, bool level)
{
    Pl061 *s = DEVICE_CAST(Pl061, d);
    g_assert(line < PL061_LINES);
    g_mutex_lock(&s->lock);
    input_set(s, (uint8_t)(1u << line), level);
    g_mutex_unlock(&s->lock);
}

static gboolean release_fire(void *opaque);

static void release_arm(Pl061 *s)
{
    g_clear_pointer(&s->release, evloop_remove);
    if (s->held)
        s->release = evloop_add_timer(vm_control_loop(s->dev.vm), PL061_KEY_HOLD_MS, release_fire, s);
}

/* Release the keys the guest has seen pressed; all of them once the
 * longest hold is over (a guest without the driver never looks). */
static gboolean release_fire(void *opaque)
{
    Pl061 *s = opaque;
    g_mutex_lock(&s->lock);
    g_clear_pointer(&s->release, evloop_remove);
    bool timeout = ++s->hold_ticks >= PL061_KEY_MAX_HOLD_MS / PL061_KEY_HOLD_MS;
    uint8_t up = timeout ? s->held : s->seen & s->held;
    s->held &= (uint8_t)~up;
    s->seen &= (uint8_t)~up;
    input_set(s, up, false);
    release_arm(s);
    g_mutex_unlock(&s->lock);
    return G_SOURCE_REMOVE;
}

void pl061_press_key(Device *d, unsigned line)
{
    Pl061 *s = DEVICE_CAST(Pl061, d);
    g_assert(line < PL061_LINES);
    uint8_t bit = (uint8_t)(1u << line);
    g_mutex_lock(&s->lock);
    s->held |= bit;
    s->seen &= (uint8_t)~bit;
    s->hold_ticks = 0;
    input_set(s, bit, true);
    release_arm(s);
    g_mutex_unlock(&s->lock);
}

/* ---- device ---------------------------------------------------------- */

static bool pl061_realize(Device *d, const void *opaque, GError **errp)
{
    Pl061 *s = DEVICE_CAST(Pl061, d);
    const Pl061Config *cfg = opaque;
    g_mutex_init(&s->lock);
    s->gsi = cfg->gsi;
    s->base = cfg->base;
    s->as = vm_mmio(d->vm);
    if (!vm_irq(d->vm)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "%s: no interrupt router", d->id);
        return false;
    }
    if (!addrspace_map(s->as, d->id, cfg->base, PL061_MMIO_SIZE, &pl061_region_ops, s, errp))
        return false;
    s->mapped = true;
    return true;
}

/* Reset: all lines inputs, interrupts off and clear. What the VMM drives
 * stays driven; a pressed key is still released by its timer. */
static void pl061_reset(Device *d)
{
    Pl061 *s = DEVICE_CAST(Pl061, d);
    g_mutex_lock(&s->lock);
    s->data = s->dir = s->is = s->ibe = s->iev = s->ie = s->ris = s->afsel = 0;
    update_irq(s);
    g_mutex_unlock(&s->lock);
}

static void pl061_unrealize(Device *d)
{
    Pl061 *s = DEVICE_CAST(Pl061, d);
    if (s->mapped)
        addrspace_unmap(s->as, s->base, NULL);
    g_clear_pointer(&s->release, evloop_remove);
    g_mutex_clear(&s->lock);
}

/* ---- state (the description is in pl061_state.c) ----------------------- */

static bool pl061_state_sync(Device *d, void *opaque, DeviceStateDir dir, GError **errp)
{
    Pl061 *s = DEVICE_CAST(Pl061, d);
    Pl061State *st = opaque;
    g_mutex_lock(&s->lock);
    if (dir == DEVICE_STATE_SAVE) {
        *st = (Pl061State){
            .data = s->data, .dir = s->dir, .is = s->is, .ibe = s->ibe, .iev = s->iev,
            .ie = s->ie, .ris = s->ris & (uint8_t)~s->is, .afsel = s->afsel, .input = s->input,
            .held = s->held, .seen = s->seen,
        };
    } else {
        g_clear_pointer(&s->release, evloop_remove); /* post_load_all re-arms */
        s->data = st->data;
        s->dir = st->dir;
        s->is = st->is;
        s->ibe = st->ibe;
        s->iev = st->iev;
        s->ie = st->ie;
        s->ris = st->ris & (uint8_t)~st->is;
        s->afsel = st->afsel;
        s->input = st->input;
        s->held = st->held & st->input;
        s->seen = st->seen & s->held;
        s->hold_ticks = 0;
    }
    g_mutex_unlock(&s->lock);
    return true;
}

/* After every device loaded: drive the line the registers imply, and
 * wait again to release a key that was pressed when the VM was saved. */
static bool pl061_post_load_all(Device *d, GError **errp)
{
    Pl061 *s = DEVICE_CAST(Pl061, d);
    g_mutex_lock(&s->lock);
    s->irq_level = false;
    update_irq(s);
    release_arm(s);
    g_mutex_unlock(&s->lock);
    return true;
}

const DeviceOps pl061_ops = {
    .type = "pl061",
    .instance_size = sizeof(Pl061),
    .stage = DEVICE_STAGE_PLATFORM,
    .realize = pl061_realize,
    .reset = pl061_reset,
    .state = &pl061_state,
    .state_sync = pl061_state_sync,
    .post_load_all = pl061_post_load_all,
    .unrealize = pl061_unrealize,
};
