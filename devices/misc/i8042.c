/* The i8042 keyboard controller, reduced to what a headless guest touches.
 *
 * Its reason to exist is reset: command 0xFE ("pulse output line 0", the CPU
 * reset line) ends the VM with VM_STOP_RESET. Around that it answers the
 * controller commands Linux's i8042 driver issues while probing, so that no
 * command is left waiting for a reply (the driver would poll the status port
 * for half a second per command): the command byte, the self-tests, the
 * output port, and the AUX tests, which report "no mouse" so the driver skips
 * the AUX port at once. No keyboard is attached: bytes sent to it are
 * ignored, and no interrupt (IRQ 1/12) is ever raised.
 *
 * Threads: accessed from vCPU threads; `lock` covers the state. */
#include "devices/misc/i8042.h"

#include "hypervisor/vm.h"

/* Status register (port 0x64, read). */
#define STS_OBF 0x01     /* output buffer full: data port has a byte */
#define STS_SYS 0x04     /* system flag: self-test passed (mirrors CTR bit 2) */
#define STS_CMD 0x08     /* last write was to the command port */
#define STS_UNLOCK 0x10  /* keyboard not inhibited */

/* Controller command byte ("CTR"). */
#define CTR_SYS 0x04
#define CTR_KBD_DISABLE 0x10
#define CTR_AUX_DISABLE 0x20
#define CTR_RESET 0x65 /* kbd interrupt, system flag, no AUX, scancode translation */

/* Output port: bit 0 is the CPU reset line (active low), bit 1 the A20 gate. */
#define OUTPORT_RESET_LINE 0x01
#define OUTPORT_RESET 0x03

enum {
    CMD_READ_CTR = 0x20,    /* 0x20..0x3f read controller RAM; 0x20 is the CTR */
    CMD_WRITE_CTR = 0x60,   /* 0x60..0x7f write controller RAM (data byte follows) */
    CMD_AUX_DISABLE = 0xa7,
    CMD_AUX_ENABLE = 0xa8,
    CMD_AUX_TEST = 0xa9,
    CMD_SELF_TEST = 0xaa,
    CMD_KBD_TEST = 0xab,
    CMD_KBD_DISABLE = 0xad,
    CMD_KBD_ENABLE = 0xae,
    CMD_READ_INPORT = 0xc0,
    CMD_READ_OUTPORT = 0xd0,
    CMD_WRITE_OUTPORT = 0xd1,
    CMD_WRITE_KBD_OUT = 0xd2, /* next data byte appears as if from the keyboard */
    CMD_AUX_LOOP = 0xd3,      /* ... as if from the mouse */
    CMD_WRITE_AUX = 0xd4,
    CMD_PULSE_FIRST = 0xf0,   /* 0xf0..0xff: pulse output port bits 0-3 low */
};

#define OUT_QUEUE I8042_OUT_QUEUE

typedef struct I8042 {
    Device dev;
    GMutex lock;
    AddrSpace *as;
    uint64_t data_port, cmd_port;
    bool data_mapped, cmd_mapped;

    uint8_t ctr;
    uint8_t outport;
    uint8_t pending_cmd; /* a command waiting for its data byte; 0: none */
    bool last_was_cmd;
    uint8_t out[OUT_QUEUE]; /* bytes waiting to be read from the data port */
    unsigned out_head, out_count;
} I8042;

static void out_push(I8042 *s, uint8_t v)
{
    if (s->out_count == OUT_QUEUE)
        return;
    s->out[(s->out_head + s->out_count) % OUT_QUEUE] = v;
    s->out_count++;
}

static uint8_t out_pop(I8042 *s)
{
    if (s->out_count == 0)
        return 0;
    uint8_t v = s->out[s->out_head];
    s->out_head = (s->out_head + 1) % OUT_QUEUE;
    s->out_count--;
    return v;
}

static uint8_t status(I8042 *s)
{
    return STS_UNLOCK | (s->ctr & CTR_SYS ? STS_SYS : 0) | (s->last_was_cmd ? STS_CMD : 0) |
           (s->out_count ? STS_OBF : 0);
}

/* Returns true when the command resets the machine. */
static bool command(I8042 *s, uint8_t cmd)
{
    s->last_was_cmd = true;
    s->pending_cmd = 0;
    /* A new command supersedes unread replies: a driver that gave up on one
     * reply must not read it as the answer to the next command. */
    s->out_count = 0;
    if (cmd >= CMD_PULSE_FIRST)
        return !(cmd & OUTPORT_RESET_LINE); /* 0xfe: pulse the reset line */
    if (cmd >= CMD_READ_CTR && cmd < CMD_WRITE_CTR) {
        out_push(s, cmd == CMD_READ_CTR ? s->ctr : 0);
        return false;
    }
    if (cmd >= CMD_WRITE_CTR && cmd < 0x80) {
        s->pending_cmd = cmd;
        return false;
    }
    switch (cmd) {
    case CMD_AUX_DISABLE:
        s->ctr |= CTR_AUX_DISABLE;
        break;
    case CMD_AUX_ENABLE:
        s->ctr &= ~CTR_AUX_DISABLE;
        break;
    case CMD_AUX_TEST:
        out_push(s, 0x01); /* "clock line stuck low": no mouse */
        break;
    case CMD_SELF_TEST:
        out_push(s, 0x55); /* passed */
        break;
    case CMD_KBD_TEST:
        out_push(s, 0x00); /* interface fine */
        break;
    case CMD_KBD_DISABLE:
        s->ctr |= CTR_KBD_DISABLE;
        break;
    case CMD_KBD_ENABLE:
        s->ctr &= ~CTR_KBD_DISABLE;
        break;
    case CMD_READ_INPORT:
        out_push(s, 0x00);
        break;
    case CMD_READ_OUTPORT:
        out_push(s, s->outport);
        break;
    case CMD_WRITE_OUTPORT:
    case CMD_WRITE_KBD_OUT:
    case CMD_AUX_LOOP:
    case CMD_WRITE_AUX:
        s->pending_cmd = cmd;
        break;
    default:
        break; /* unknown or vendor-specific: ignored, as on many chips */
    }
    return false;
}

/* Returns true when the byte resets the machine. */
static bool data(I8042 *s, uint8_t v)
{
    uint8_t cmd = s->pending_cmd;
    s->last_was_cmd = false;
    s->pending_cmd = 0;
    switch (cmd) {
    case CMD_WRITE_CTR:
        s->ctr = v;
        break;
    case CMD_WRITE_OUTPORT:
        s->outport = v;
        return !(v & OUTPORT_RESET_LINE);
    case CMD_WRITE_KBD_OUT:
        out_push(s, v);
        break;
    case CMD_AUX_LOOP:
        /* Echoed without the AUX-data status bit, since there is no AUX
         * channel: Linux reads that as "loop test failed" and moves on to
         * CMD_AUX_TEST, which then reports no mouse. */
        out_push(s, v);
        break;
    default:
        break; /* other controller RAM, the mouse, or the (absent) keyboard */
    }
    return false;
}

static uint64_t i8042_read(I8042 *s, bool is_cmd_port)
{
    g_mutex_lock(&s->lock);
    uint8_t v = is_cmd_port ? status(s) : out_pop(s);
    g_mutex_unlock(&s->lock);
    return v;
}

static void i8042_write(I8042 *s, bool is_cmd_port, uint8_t v)
{
    g_mutex_lock(&s->lock);
    g_debug("i8042: %s write %#x", is_cmd_port ? "command" : "data", v);
    bool reset = is_cmd_port ? command(s, v) : data(s, v);
    g_mutex_unlock(&s->lock);
    if (reset)
        vm_request_stop(s->dev.vm, VM_STOP_RESET, "i8042 reset");
}

static uint64_t data_port_read(void *opaque, uint64_t offset, unsigned size)
{
    return i8042_read(opaque, false);
}

static void data_port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    i8042_write(opaque, false, (uint8_t)value);
}

static uint64_t cmd_port_read(void *opaque, uint64_t offset, unsigned size)
{
    return i8042_read(opaque, true);
}

static void cmd_port_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    i8042_write(opaque, true, (uint8_t)value);
}

static const RegionOps data_port_ops = {
    .read = data_port_read,
    .write = data_port_write,
    .valid_min = 1,
    .valid_max = 1,
};

static const RegionOps cmd_port_ops = {
    .read = cmd_port_read,
    .write = cmd_port_write,
    .valid_min = 1,
    .valid_max = 1,
};

static bool i8042_realize(Device *d, const void *opaque, GError **errp)
{
    I8042 *s = DEVICE_CAST(I8042, d);
    const I8042Config *cfg = opaque;
    g_mutex_init(&s->lock);
    s->as = vm_pio(d->vm);
    s->data_port = cfg->data_port;
    s->cmd_port = cfg->command_port;
    g_autofree char *data_name = g_strdup_printf("%s-data", d->id);
    g_autofree char *cmd_name = g_strdup_printf("%s-cmd", d->id);
    if (!addrspace_map(s->as, data_name, s->data_port, 1, &data_port_ops, s, errp))
        return false;
    s->data_mapped = true;
    if (!addrspace_map(s->as, cmd_name, s->cmd_port, 1, &cmd_port_ops, s, errp))
        return false;
    s->cmd_mapped = true;
    return true;
}

static void i8042_reset(Device *d)
{
    I8042 *s = DEVICE_CAST(I8042, d);
    g_mutex_lock(&s->lock);
    s->ctr = CTR_RESET;
    s->outport = OUTPORT_RESET;
    s->pending_cmd = 0;
    s->last_was_cmd = true; /* power-on status reads 0x1c */
    s->out_head = s->out_count = 0;
    g_mutex_unlock(&s->lock);
}

static void i8042_unrealize(Device *d)
{
    I8042 *s = DEVICE_CAST(I8042, d);
    if (s->cmd_mapped)
        addrspace_unmap(s->as, s->cmd_port, NULL);
    if (s->data_mapped)
        addrspace_unmap(s->as, s->data_port, NULL);
    g_mutex_clear(&s->lock);
}

/* ---- state (the description is in i8042_state.c) ----------------------- */

static bool i8042_state_sync(Device *d, void *opaque, DeviceStateDir dir, GError **errp)
{
    I8042 *s = DEVICE_CAST(I8042, d);
    I8042State *st = opaque;
    g_mutex_lock(&s->lock);
    if (dir == DEVICE_STATE_SAVE) {
        *st = (I8042State){
            .ctr = s->ctr, .outport = s->outport, .pending_cmd = s->pending_cmd,
            .last_was_cmd = s->last_was_cmd, .out_count = (uint8_t)s->out_count,
        };
        for (unsigned i = 0; i < s->out_count; i++)
            st->out[i] = s->out[(s->out_head + i) % OUT_QUEUE];
    } else {
        s->ctr = st->ctr;
        s->outport = st->outport;
        s->pending_cmd = st->pending_cmd;
        s->last_was_cmd = st->last_was_cmd;
        s->out_head = s->out_count = 0;
        for (unsigned i = 0; i < st->out_count && i < OUT_QUEUE; i++)
            out_push(s, st->out[i]);
    }
    g_mutex_unlock(&s->lock);
    return true;
}

const DeviceOps i8042_ops = {
    .type = "i8042",
    .instance_size = sizeof(I8042),
    .stage = DEVICE_STAGE_PLATFORM,
    .realize = i8042_realize,
    .reset = i8042_reset,
    .state = &i8042_state,
    .state_sync = i8042_state_sync,
    .unrealize = i8042_unrealize,
};
