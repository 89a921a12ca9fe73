/* 16550A UART, written from the National Semiconductor PC16550D data sheet.
 *
 *   offset  read            write           with LCR.DLAB set
 *   0       RBR (rx data)   THR (tx data)   DLL (divisor low)
 *   1       IER             IER             DLM (divisor high)
 *   2       IIR             FCR
 *   3       LCR    4 MCR    5 LSR (ro)    6 MSR (ro)    7 SCR
 *
 * Transmission is instantaneous: a THR byte goes to the backend (in loopback
 * mode: into our own receive FIFO) during the guest's write, so the holding
 * and shift registers are always empty (LSR THRE and TEMT stay set) and the
 * divisor only has to read back. There is no modem: outside loopback the
 * inputs read as carrier, data-set-ready and clear-to-send.
 *
 * Threads: registers are accessed on vCPU threads, input arrives on the
 * control loop's thread; `lock` covers all state. The backend is called with
 * the lock held only for chardev_write (its lock is a leaf); the wakeup
 * chardev_accept_input is made after dropping it. */
#include "devices/serial/uart16550.h"

#include "devices/chardev/chardev.h"
#include "devices/serial/serial_console.h"
#include "devices/serial/serial_fifo.h"
#include "hypervisor/vm.h"

enum { REG_DATA, REG_IER, REG_IIR_FCR, REG_LCR, REG_MCR, REG_LSR, REG_MSR, REG_SCR, REG_COUNT };

#define IER_RDI 0x01  /* receive data available */
#define IER_THRI 0x02 /* transmit holding register empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI 0x08  /* modem status */
#define IER_MASK 0x0f

/* IIR interrupt ids, highest priority first; bit 0 set means none pending. */
#define IIR_RLSI 0x06
#define IIR_RDI 0x04
#define IIR_RX_TIMEOUT 0x0c
#define IIR_THRI 0x02
#define IIR_MSI 0x00
#define IIR_NONE 0x01
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_TRIGGER 0xc0

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08 /* on a PC: gates the IRQ output to the interrupt controller */
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

#define RX_FIFO_SIZE UART16550_RX_FIFO_SIZE
#define DIVISOR_RESET 12 /* 9600 baud from the 1.8432 MHz clock */

typedef struct Uart16550 {
    Device dev;
    GMutex lock;
    Chardev *chr;
    AddrSpace *as;
    uint64_t base;
    bool mapped;
    uint32_t gsi;
    bool irq_level; /* what we last drove on gsi */

    uint8_t ier, lcr, mcr, scr, dll, dlm;
    uint8_t fcr;        /* FIFO enable and trigger level as programmed */
    uint8_t lsr_errors; /* OE, latched until LSR is read */
    uint8_t msr;        /* lines in the high nibble, deltas in the low */
    bool thri_pending;  /* the THR-empty interrupt, until IIR read or THR write */
    SerialFifo rx;
} Uart16550;

/* ---- receive FIFO ---------------------------------------------------- */

static bool fifo_on(Uart16550 *s)
{
    return s->fcr & FCR_ENABLE;
}

/* Without FIFOs the 16550 is a 16450: one receive holding register. */
static unsigned rx_capacity(Uart16550 *s)
{
    return fifo_on(s) ? RX_FIFO_SIZE : 1;
}

/* Room for backend input. In loopback the serial input is disconnected. */
static size_t rx_room(Uart16550 *s)
{
    return (s->mcr & MCR_LOOP) ? 0 : rx_capacity(s) - s->rx.count;
}

static void rx_push(Uart16550 *s, uint8_t byte)
{
    if (!serial_fifo_push(&s->rx, byte, rx_capacity(s)))
        s->lsr_errors |= LSR_OE; /* the new character is lost, as on hardware */
}

static uint8_t rx_pop(Uart16550 *s)
{
    return serial_fifo_pop(&s->rx);
}

static void rx_clear(Uart16550 *s)
{
    serial_fifo_clear(&s->rx);
}

static unsigned rx_trigger(Uart16550 *s)
{
    static const unsigned levels[] = { 1, 4, 8, 14 };
    return levels[(s->fcr & FCR_TRIGGER) >> 6];
}

/* True once if the backend was stalled and there is room again. */
static bool rx_take_wakeup(Uart16550 *s)
{
    return serial_fifo_take_wakeup(&s->rx, rx_room(s));
}

/* ---- interrupts and modem lines -------------------------------------- */

/* The highest-priority pending interrupt, as IIR reports it. */
static uint8_t iir_id(Uart16550 *s)
{
    if ((s->ier & IER_RLSI) && (s->lsr_errors & LSR_OE))
        return IIR_RLSI;
    if ((s->ier & IER_RDI) && s->rx.count > 0) {
        /* Data below the trigger level would raise the character timeout
         * after four character times; with no line timing we raise it at
         * once. Linux handles both ids the same way. */
        return (fifo_on(s) && s->rx.count < rx_trigger(s)) ? IIR_RX_TIMEOUT : IIR_RDI;
    }
    if ((s->ier & IER_THRI) && s->thri_pending)
        return IIR_THRI;
    if ((s->ier & IER_MSI) && (s->msr & 0x0f))
        return IIR_MSI;
    return IIR_NONE;
}

static void update_irq(Uart16550 *s)
{
    /* On a PC the IRQ reaches the interrupt controller only while OUT2 is
     * set; in loopback the OUT2 pin is forced inactive, so it never does. */
    bool level = iir_id(s) != IIR_NONE && (s->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
    IrqRouter *r = vm_irq(s->dev.vm);
    if (level == s->irq_level || !r)
        return;
    irq_line_set(r, s->gsi, level);
    s->irq_level = level;
}

/* The modem inputs: wired to our own outputs in loopback, else a modem
 * that is always there and ready. */
static uint8_t modem_inputs(Uart16550 *s)
{
    if (!(s->mcr & MCR_LOOP))
        return MSR_DCD | MSR_DSR | MSR_CTS;
    uint8_t v = 0;
    v |= (s->mcr & MCR_RTS) ? MSR_CTS : 0;
    v |= (s->mcr & MCR_DTR) ? MSR_DSR : 0;
    v |= (s->mcr & MCR_OUT1) ? MSR_RI : 0;
    v |= (s->mcr & MCR_OUT2) ? MSR_DCD : 0;
    return v;
}

/* Latch the inputs and the delta bits for whatever changed. */
static void msr_update(Uart16550 *s)
{
    uint8_t now = modem_inputs(s), old = s->msr & 0xf0, changed = now ^ old;
    uint8_t delta = s->msr & 0x0f;
    delta |= (changed & MSR_CTS) ? MSR_DCTS : 0;
    delta |= (changed & MSR_DSR) ? MSR_DDSR : 0;
    delta |= (old & MSR_RI) && !(now & MSR_RI) ? MSR_TERI : 0; /* trailing edge only */
    delta |= (changed & MSR_DCD) ? MSR_DDCD : 0;
    s->msr = now | delta;
}

/* ---- registers ------------------------------------------------------- */

static uint8_t reg_read(Uart16550 *s, unsigned reg)
{
    bool dlab = s->lcr & LCR_DLAB;
    uint8_t v;
    switch (reg) {
    case REG_DATA:
        return dlab ? s->dll : rx_pop(s);
    case REG_IER:
        return dlab ? s->dlm : s->ier;
    case REG_IIR_FCR: {
        uint8_t id = iir_id(s);
        /* Reading IIR acknowledges THR-empty when it is what IIR reports. */
        if (id == IIR_THRI)
            s->thri_pending = false;
        return id | (fifo_on(s) ? IIR_FIFO_ON : 0);
    }
    case REG_LCR:
        return s->lcr;
    case REG_MCR:
        return s->mcr;
    case REG_LSR:
        v = LSR_THRE | LSR_TEMT | s->lsr_errors | (s->rx.count ? LSR_DR : 0);
        s->lsr_errors = 0;
        return v;
    case REG_MSR:
        v = s->msr;
        s->msr &= 0xf0;
        return v;
    default:
        return s->scr;
    }
}

static void thr_write(Uart16550 *s, uint8_t byte)
{
    if (s->mcr & MCR_LOOP)
        rx_push(s, byte);
    else
        chardev_write(s->chr, &byte, 1);
    /* Writing THR clears THR-empty; the byte leaves at once, so THR is
     * empty again and (when enabled) the interrupt is re-armed, which is
     * what makes the 8250 driver come back for the next batch. */
    s->thri_pending = (s->ier & IER_THRI) != 0;
}

static void ier_write(Uart16550 *s, uint8_t v)
{
    uint8_t old = s->ier;
    s->ier = v & IER_MASK;
    /* Enabling THRI with THR empty raises it right away; Linux's startup
     * test (UART_BUG_THRE) checks exactly this, twice. */
    if ((s->ier & IER_THRI) && !(old & IER_THRI))
        s->thri_pending = true;
    else if (!(s->ier & IER_THRI))
        s->thri_pending = false;
}

static void fcr_write(Uart16550 *s, uint8_t v)
{
    if ((v ^ s->fcr) & FCR_ENABLE)
        rx_clear(s); /* switching between 16450 and FIFO mode empties the FIFOs */
    if (!(v & FCR_ENABLE)) {
        s->fcr = 0; /* the other bits only take when FCR0 is written as 1 */
        return;
    }
    if (v & FCR_CLEAR_RX)
        rx_clear(s);
    /* Clearing the transmit FIFO and DMA mode have nothing to act on. */
    s->fcr = v & (FCR_ENABLE | FCR_TRIGGER);
}

static void reg_write(Uart16550 *s, unsigned reg, uint8_t v)
{
    bool dlab = s->lcr & LCR_DLAB;
    switch (reg) {
    case REG_DATA:
        if (dlab)
            s->dll = v;
        else
            thr_write(s, v);
        break;
    case REG_IER:
        if (dlab)
            s->dlm = v;
        else
            ier_write(s, v);
        break;
    case REG_IIR_FCR:
        fcr_write(s, v);
        break;
    case REG_LCR:
        s->lcr = v;
        break;
    case REG_MCR:
        s->mcr = v & MCR_MASK;
        msr_update(s);
        break;
    case REG_SCR:
        s->scr = v;
        break;
    default:
        break; /* LSR and MSR: writes are a factory test mode; ignored */
    }
}

static uint64_t uart_read(void *opaque, uint64_t offset, unsigned size)
{
    Uart16550 *s = opaque;
    g_mutex_lock(&s->lock);
    uint8_t v = reg_read(s, (unsigned)offset % REG_COUNT);
    update_irq(s);
    bool wake = rx_take_wakeup(s);
    g_mutex_unlock(&s->lock);
    if (wake)
        chardev_accept_input(s->chr);
    return v;
}

static void uart_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    Uart16550 *s = opaque;
    g_mutex_lock(&s->lock);
    reg_write(s, (unsigned)offset % REG_COUNT, (uint8_t)value);
    update_irq(s);
    bool wake = rx_take_wakeup(s);
    g_mutex_unlock(&s->lock);
    if (wake)
        chardev_accept_input(s->chr);
}

static const RegionOps uart_region_ops = {
    .read = uart_read,
    .write = uart_write,
    .valid_min = 1,
    .valid_max = 1,
};

/* ---- backend input (control loop thread) ----------------------------- */

static size_t uart_can_receive(void *opaque)
{
    Uart16550 *s = opaque;
    g_mutex_lock(&s->lock);
    size_t room = serial_fifo_can_receive(&s->rx, rx_room(s));
    g_mutex_unlock(&s->lock);
    return room;
}

static void uart_receive(void *opaque, const uint8_t *buf, size_t len)
{
    Uart16550 *s = opaque;
    g_mutex_lock(&s->lock);
    if (!(s->mcr & MCR_LOOP)) {
        for (size_t i = 0; i < len; i++)
            rx_push(s, buf[i]);
    }
    update_irq(s);
    g_mutex_unlock(&s->lock);
}

/* ---- device ---------------------------------------------------------- */

static bool uart16550_realize(Device *d, const void *opaque, GError **errp)
{
    Uart16550 *s = DEVICE_CAST(Uart16550, d);
    const Uart16550Config *cfg = opaque;
    g_mutex_init(&s->lock);
    s->gsi = cfg->gsi;
    s->base = cfg->base;
    s->as = cfg->mmio ? vm_mmio(d->vm) : vm_pio(d->vm);
    serial_fifo_init(&s->rx, RX_FIFO_SIZE);
    s->chr = serial_console_open(d, cfg->console, uart_can_receive, uart_receive, s, errp);
    if (!s->chr)
        return false;
    if (!addrspace_map(s->as, d->id, cfg->base, REG_COUNT, &uart_region_ops, s, errp))
        return false;
    s->mapped = true;
    return true;
}

static void uart16550_reset(Device *d)
{
    Uart16550 *s = DEVICE_CAST(Uart16550, d);
    g_mutex_lock(&s->lock);
    s->ier = s->lcr = s->mcr = s->scr = s->fcr = s->lsr_errors = 0;
    s->dll = DIVISOR_RESET;
    s->dlm = 0;
    s->msr = modem_inputs(s); /* no deltas at power-on */
    s->thri_pending = false;
    rx_clear(s);
    bool wake = rx_take_wakeup(s);
    g_mutex_unlock(&s->lock);
    if (wake)
        chardev_accept_input(s->chr);
}

static void uart16550_unrealize(Device *d)
{
    Uart16550 *s = DEVICE_CAST(Uart16550, d);
    if (s->mapped)
        addrspace_unmap(s->as, s->base, NULL);
    /* After this no input callback can run any more. */
    chardev_free(s->chr);
    g_mutex_clear(&s->lock);
}

/* ---- state (the description is in uart16550_state.c) ------------------- */

static bool uart16550_state_sync(Device *d, void *opaque, DeviceStateDir dir, GError **errp)
{
    Uart16550 *s = DEVICE_CAST(Uart16550, d);
    Uart16550State *st = opaque;
    g_mutex_lock(&s->lock);
    if (dir == DEVICE_STATE_SAVE) {
        *st = (Uart16550State){
            .ier = s->ier, .lcr = s->lcr, .mcr = s->mcr, .scr = s->scr, .dll = s->dll,
            .dlm = s->dlm, .fcr = s->fcr, .lsr_errors = s->lsr_errors, .msr = s->msr,
            .thri_pending = s->thri_pending,
        };
        st->rx_count = (uint8_t)serial_fifo_save(&s->rx, st->rx);
    } else {
        s->ier = st->ier & IER_MASK;
        s->lcr = st->lcr;
        s->mcr = st->mcr & MCR_MASK;
        s->scr = st->scr;
        s->dll = st->dll;
        s->dlm = st->dlm;
        s->fcr = st->fcr & (FCR_ENABLE | FCR_TRIGGER);
        s->lsr_errors = st->lsr_errors & LSR_OE;
        s->msr = st->msr;
        s->thri_pending = st->thri_pending;
        /* Without FIFOs only one byte fits: keep the oldest (the rest
         * could not have been received). */
        serial_fifo_load(&s->rx, st->rx, st->rx_count, rx_capacity(s));
    }
    g_mutex_unlock(&s->lock);
    return true;
}

/* After every device loaded: drive the IRQ line the registers imply. */
static bool uart16550_post_load_all(Device *d, GError **errp)
{
    Uart16550 *s = DEVICE_CAST(Uart16550, d);
    g_mutex_lock(&s->lock);
    s->irq_level = false;
    update_irq(s);
    bool wake = rx_take_wakeup(s);
    g_mutex_unlock(&s->lock);
    if (wake)
        chardev_accept_input(s->chr);
    return true;
}

const DeviceOps uart16550_ops = {
    .type = "uart16550",
    .instance_size = sizeof(Uart16550),
    .stage = DEVICE_STAGE_PLATFORM,
    .realize = uart16550_realize,
    .reset = uart16550_reset,
    .state = &uart16550_state,
    .state_sync = uart16550_state_sync,
    .post_load_all = uart16550_post_load_all,
    .unrealize = uart16550_unrealize,
};
