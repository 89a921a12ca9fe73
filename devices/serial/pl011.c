/* ARM PrimeCell UART (PL011 r1p5), written from the PL011 Technical
 * Reference Manual (ARM DDI 0183).
 *
 *   0x000 DR     data (read: byte + error bits 11:8)   0x004 RSR/ECR
 *   0x018 FR     flags (ro)     0x020 ILPR   0x024 IBRD   0x028 FBRD
 *   0x02c LCR_H  line control   0x030 CR     0x034 IFLS   0x038 IMSC
 *   0x03c RIS (ro)  0x040 MIS (ro)  0x044 ICR (wo)  0x048 DMACR
 *   0xfe0-0xffc  peripheral and PrimeCell IDs (what the AMBA bus probes)
 *
 * Transmission is instantaneous, as on our 16550: a DR byte goes to the
 * backend (with CR.LBE: into our own receive FIFO) during the guest's
 * write, so the transmit FIFO always reads empty and every write passes the
 * transmit trigger level on the way down, which is when the TX interrupt
 * fires. Bytes are sent even before the guest sets CR.UARTEN: a kernel's
 * earlycon writes to the UART the firmware would have enabled, and we have
 * no firmware. There is no modem: outside loopback CTS, DSR and DCD read as
 * asserted, and the modem-status interrupts never fire.
 *
 * The receive timeout (data below the trigger level, idle for 32 bits) has
 * no line timing to wait for, so it is raised as soon as such data is there.
 * RX and RT follow the FIFO level on every FIFO change; ICR clears them until
 * the next change (Linux clears them by draining the FIFO).
 *
 * Accesses of 1, 2 or 4 bytes: Linux uses 16-bit accesses, its earlycon
 * 8-bit ones, firmware 32-bit ones. Only an access that includes byte 0 of a
 * register has side effects (popping the FIFO, sending, clearing).
 *
 * Threads: registers on vCPU threads, input on the control loop's thread;
 * `lock` covers all state; chardev_accept_input is called after dropping it. */
#include "devices/serial/pl011.h"

#include "devices/chardev/chardev.h"
#include "devices/serial/serial_console.h"
#include "devices/serial/serial_fifo.h"
#include "hypervisor/vm.h"

enum {
    REG_DR = 0x000,
    REG_RSR = 0x004,
    REG_FR = 0x018,
    REG_ILPR = 0x020,
    REG_IBRD = 0x024,
    REG_FBRD = 0x028,
    REG_LCR_H = 0x02c,
    REG_CR = 0x030,
    REG_IFLS = 0x034,
    REG_IMSC = 0x038,
    REG_RIS = 0x03c,
    REG_MIS = 0x040,
    REG_ICR = 0x044,
    REG_DMACR = 0x048,
    REG_ID = 0xfe0,
};

#define FR_CTS 0x001
#define FR_DSR 0x002
#define FR_DCD 0x004
#define FR_RXFE 0x010
#define FR_RXFF 0x040
#define FR_TXFE 0x080
#define FR_RI 0x100

#define LCR_H_FEN 0x10

#define CR_LBE 0x0080
#define CR_TXE 0x0100
#define CR_RXE 0x0200
#define CR_DTR 0x0400
#define CR_RTS 0x0800
#define CR_OUT1 0x1000
#define CR_OUT2 0x2000
#define CR_MASK 0xff87 /* bits 6:3 are reserved */
#define CR_RESET (CR_TXE | CR_RXE)

#define INT_RX 0x010
#define INT_TX 0x020
#define INT_RT 0x040
#define INT_OE 0x400
#define INT_MASK 0x7ff

#define RSR_OE 0x08

#define IFLS_RESET 0x12 /* both trigger levels at half full */

/* PeriphID 0x00341011 (ARM, part 0x011, revision 3 = r1p5, whose FIFOs are
 * 32 deep: Linux sizes its FIFO from this revision), PrimeCell ID B105F00D. */
static const uint8_t pl011_id[8] = { 0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1 };

#define RX_FIFO_SIZE PL011_RX_FIFO_SIZE

typedef struct Pl011 {
    Device dev;
    GMutex lock;
    Chardev *chr;
    AddrSpace *as;
    uint64_t base;
    bool mapped;
    uint32_t gsi;
    bool irq_level; /* what we last drove on gsi */

    uint16_t ris, imsc, cr, ibrd;
    uint8_t lcr_h, ifls, fbrd, ilpr, dmacr, rsr;
    SerialFifo rx;
} Pl011;

/* ---- receive FIFO ---------------------------------------------------- */

/* Without FEN the FIFO is a one-character holding register. */
static unsigned rx_capacity(Pl011 *s)
{
    return (s->lcr_h & LCR_H_FEN) ? RX_FIFO_SIZE : 1;
}

/* Room for backend input. In loopback the serial input is disconnected. */
static size_t rx_room(Pl011 *s)
{
    return (s->cr & CR_LBE) ? 0 : rx_capacity(s) - s->rx.count;
}

/* RX trigger: IFLS bits 5:3 select 1/8, 1/4, 1/2, 3/4 or 7/8 full. */
static unsigned rx_trigger(Pl011 *s)
{
    static const unsigned eighths[] = { 1, 2, 4, 6, 7, 7, 7, 7 };
    if (!(s->lcr_h & LCR_H_FEN))
        return 1;
    return RX_FIFO_SIZE * eighths[(s->ifls >> 3) & 7] / 8;
}

/* The FIFO level changed: RX and RT follow it. */
static void rx_levels(Pl011 *s)
{
    s->ris &= (uint16_t)~(INT_RX | INT_RT);
    if (s->rx.count >= rx_trigger(s))
        s->ris |= INT_RX;
    else if (s->rx.count > 0)
        s->ris |= INT_RT;
}

static void rx_push(Pl011 *s, uint8_t byte)
{
    if (!serial_fifo_push(&s->rx, byte, rx_capacity(s))) {
        /* The FIFO keeps its contents; the new character is lost. */
        s->rsr |= RSR_OE;
        s->ris |= INT_OE;
        return;
    }
    rx_levels(s);
}

static uint32_t rx_pop(Pl011 *s)
{
    uint32_t v = serial_fifo_pop(&s->rx);
    rx_levels(s);
    return v; /* error bits 11:8 stay 0: a backend delivers no framing errors */
}

static void rx_clear(Pl011 *s)
{
    serial_fifo_clear(&s->rx);
    rx_levels(s);
}

/* True once if the backend was stalled and there is room again. */
static bool rx_take_wakeup(Pl011 *s)
{
    return serial_fifo_take_wakeup(&s->rx, rx_room(s));
}

/* ---- interrupts and flags -------------------------------------------- */

static void update_irq(Pl011 *s)
{
    bool level = (s->ris & s->imsc) != 0;
    IrqRouter *r = vm_irq(s->dev.vm);
    if (level == s->irq_level || !r)
        return;
    irq_line_set(r, s->gsi, level);
    s->irq_level = level;
}

/* The modem inputs: wired to our own outputs in loopback, else a modem
 * that is always there and ready. */
static uint32_t modem_inputs(Pl011 *s)
{
    if (!(s->cr & CR_LBE))
        return FR_CTS | FR_DSR | FR_DCD;
    uint32_t v = 0;
    v |= (s->cr & CR_RTS) ? FR_CTS : 0;
    v |= (s->cr & CR_DTR) ? FR_DSR : 0;
    v |= (s->cr & CR_OUT1) ? FR_DCD : 0;
    v |= (s->cr & CR_OUT2) ? FR_RI : 0;
    return v;
}

static uint32_t fr_read(Pl011 *s)
{
    uint32_t v = FR_TXFE | modem_inputs(s);
    v |= s->rx.count == 0 ? FR_RXFE : 0;
    v |= s->rx.count == rx_capacity(s) ? FR_RXFF : 0;
    return v;
}

/* ---- registers ------------------------------------------------------- */

/* side_effects: the access includes the register's byte 0. */
static uint32_t reg_read(Pl011 *s, uint64_t reg, bool side_effects)
{
    switch (reg) {
    case REG_DR:
        if (!side_effects)
            return 0;
        return rx_pop(s);
    case REG_RSR: return s->rsr;
    case REG_FR: return fr_read(s);
    case REG_ILPR: return s->ilpr;
    case REG_IBRD: return s->ibrd;
    case REG_FBRD: return s->fbrd;
    case REG_LCR_H: return s->lcr_h;
    case REG_CR: return s->cr;
    case REG_IFLS: return s->ifls;
    case REG_IMSC: return s->imsc;
    case REG_RIS: return s->ris;
    case REG_MIS: return s->ris & s->imsc;
    case REG_DMACR: return s->dmacr;
    default:
        if (reg >= REG_ID && reg < REG_ID + 4 * sizeof(pl011_id))
            return pl011_id[(reg - REG_ID) / 4];
        return 0; /* reserved and write-only registers read as zero */
    }
}

static void dr_write(Pl011 *s, uint8_t byte)
{
    if (s->cr & CR_LBE)
        rx_push(s, byte);
    else
        chardev_write(s->chr, &byte, 1);
    s->ris |= INT_TX; /* the FIFO drained past the trigger level at once */
}

static void lcr_h_write(Pl011 *s, uint8_t v)
{
    bool fifo_changed = (v ^ s->lcr_h) & LCR_H_FEN;
    s->lcr_h = v;
    /* Switching between FIFO and holding-register mode starts empty. */
    if (fifo_changed)
        rx_clear(s);
}

static void reg_write(Pl011 *s, uint64_t reg, uint32_t v)
{
    switch (reg) {
    case REG_DR: dr_write(s, (uint8_t)v); break;
    case REG_RSR: s->rsr = 0; break; /* ECR: any write clears the errors */
    case REG_ILPR: s->ilpr = (uint8_t)v; break;
    case REG_IBRD: s->ibrd = (uint16_t)v; break;
    case REG_FBRD: s->fbrd = v & 0x3f; break;
    case REG_LCR_H: lcr_h_write(s, (uint8_t)v); break;
    case REG_CR: s->cr = v & CR_MASK; break;
    case REG_IFLS: s->ifls = v & 0x3f; rx_levels(s); break;
    case REG_IMSC: s->imsc = v & INT_MASK; break;
    case REG_ICR: s->ris &= (uint16_t)~(v & INT_MASK); break;
    case REG_DMACR: s->dmacr = v & 0x7; break;
    default: break; /* read-only, reserved and ID registers */
    }
}

static uint64_t pl011_read(void *opaque, uint64_t offset, unsigned size)
{
    Pl011 *s = opaque;
    unsigned lane = offset & 3;
    g_mutex_lock(&s->lock);
    uint32_t v = reg_read(s, offset - lane, lane == 0) >> (8 * lane);
    update_irq(s);
    bool wake = rx_take_wakeup(s);
    g_mutex_unlock(&s->lock);
    if (wake)
        chardev_accept_input(s->chr);
    return v;
}

static void pl011_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    Pl011 *s = opaque;
    if (offset & 3)
        return; /* a write to the upper bytes of a register alone: ignored */
    g_mutex_lock(&s->lock);
    reg_write(s, offset, (uint32_t)value);
    update_irq(s);
    bool wake = rx_take_wakeup(s);
    g_mutex_unlock(&s->lock);
    if (wake)
        chardev_accept_input(s->chr);
}

static const RegionOps pl011_region_ops = {
    .read = pl011_read,
    .write = pl011_write,
    .valid_min = 1,
    .valid_max = 4,
    .impl_min = 1,
    .impl_max = 4,
};

/* ---- backend input (control loop thread) ----------------------------- */

static size_t pl011_can_receive(void *opaque)
{
    Pl011 *s = opaque;
    g_mutex_lock(&s->lock);
    size_t room = serial_fifo_can_receive(&s->rx, rx_room(s));
    g_mutex_unlock(&s->lock);
    return room;
}

static void pl011_receive(void *opaque, const uint8_t *buf, size_t len)
{
    Pl011 *s = opaque;
    g_mutex_lock(&s->lock);
    if (!(s->cr & CR_LBE)) {
        for (size_t i = 0; i < len; i++)
            rx_push(s, buf[i]);
    }
    update_irq(s);
    g_mutex_unlock(&s->lock);
}

/* ---- device ---------------------------------------------------------- */

static bool pl011_realize(Device *d, const void *opaque, GError **errp)
{
    Pl011 *s = DEVICE_CAST(Pl011, d);
    const Pl011Config *cfg = opaque;
    g_mutex_init(&s->lock);
    s->gsi = cfg->gsi;
    s->base = cfg->base;
    s->as = vm_mmio(d->vm);
    s->cr = CR_RESET;
    s->ifls = IFLS_RESET;
    serial_fifo_init(&s->rx, RX_FIFO_SIZE);
    s->chr = serial_console_open(d, cfg->console, pl011_can_receive, pl011_receive, s, errp);
    if (!s->chr)
        return false;
    if (!addrspace_map(s->as, d->id, cfg->base, PL011_MMIO_SIZE, &pl011_region_ops, s, errp))
        return false;
    s->mapped = true;
    return true;
}

static void pl011_reset(Device *d)
{
    Pl011 *s = DEVICE_CAST(Pl011, d);
    g_mutex_lock(&s->lock);
    s->ris = s->imsc = s->ibrd = 0;
    s->lcr_h = s->fbrd = s->ilpr = s->dmacr = s->rsr = 0;
    s->cr = CR_RESET;
    s->ifls = IFLS_RESET;
    rx_clear(s);
    bool wake = rx_take_wakeup(s);
    g_mutex_unlock(&s->lock);
    if (wake)
        chardev_accept_input(s->chr);
}

static void pl011_unrealize(Device *d)
{
    Pl011 *s = DEVICE_CAST(Pl011, d);
    if (s->mapped)
        addrspace_unmap(s->as, s->base, NULL);
    /* After this no input callback can run any more. */
    chardev_free(s->chr);
    g_mutex_clear(&s->lock);
}

/* ---- state (the description is in pl011_state.c) ----------------------- */

static bool pl011_state_sync(Device *d, void *opaque, DeviceStateDir dir, GError **errp)
{
    Pl011 *s = DEVICE_CAST(Pl011, d);
    Pl011State *st = opaque;
    g_mutex_lock(&s->lock);
    if (dir == DEVICE_STATE_SAVE) {
        *st = (Pl011State){
            .ris = s->ris, .imsc = s->imsc, .cr = s->cr, .lcr_h = s->lcr_h, .ifls = s->ifls,
            .ibrd = s->ibrd, .fbrd = s->fbrd, .ilpr = s->ilpr, .dmacr = s->dmacr, .rsr = s->rsr,
        };
        st->rx_count = (uint8_t)serial_fifo_save(&s->rx, st->rx);
    } else {
        s->imsc = st->imsc & INT_MASK;
        s->cr = st->cr & CR_MASK;
        s->lcr_h = st->lcr_h;
        s->ifls = st->ifls & 0x3f;
        s->ibrd = st->ibrd;
        s->fbrd = st->fbrd & 0x3f;
        s->ilpr = st->ilpr;
        s->dmacr = st->dmacr & 0x7;
        s->rsr = st->rsr & 0x0f;
        /* Without FIFOs only one byte fits: keep the oldest. */
        serial_fifo_load(&s->rx, st->rx, st->rx_count, rx_capacity(s));
        /* After the FIFO, so that ICR-cleared RX/RT bits stay cleared. */
        s->ris = st->ris & INT_MASK;
    }
    g_mutex_unlock(&s->lock);
    return true;
}

/* After every device loaded: drive the IRQ line the registers imply. */
static bool pl011_post_load_all(Device *d, GError **errp)
{
    Pl011 *s = DEVICE_CAST(Pl011, d);
    g_mutex_lock(&s->lock);
    s->irq_level = false;
    update_irq(s);
    bool wake = rx_take_wakeup(s);
    g_mutex_unlock(&s->lock);
    if (wake)
        chardev_accept_input(s->chr);
    return true;
}

const DeviceOps pl011_ops = {
    .type = "pl011",
    .instance_size = sizeof(Pl011),
    .stage = DEVICE_STAGE_PLATFORM,
    .realize = pl011_realize,
    .reset = pl011_reset,
    .state = &pl011_state,
    .state_sync = pl011_state_sync,
    .post_load_all = pl011_post_load_all,
    .unrealize = pl011_unrealize,
};
