#include "devices/serial/serial_fifo.h"

#include <glib.h>

void serial_fifo_init(SerialFifo *f, unsigned size)
{
    g_assert(size > 0 && size <= SERIAL_FIFO_MAX);
    *f = (SerialFifo){ .size = size };
}

void serial_fifo_clear(SerialFifo *f)
{
    f->head = f->count = 0;
}

bool serial_fifo_push(SerialFifo *f, uint8_t byte, unsigned cap)
{
    if (f->count >= MIN(cap, f->size))
        return false;
    f->buf[(f->head + f->count) % f->size] = byte;
    f->count++;
    return true;
}

uint8_t serial_fifo_pop(SerialFifo *f)
{
    if (f->count == 0)
        return 0;
    uint8_t b = f->buf[f->head];
    f->head = (f->head + 1) % f->size;
    f->count--;
    return b;
}

unsigned serial_fifo_save(const SerialFifo *f, uint8_t *out)
{
    for (unsigned i = 0; i < f->count; i++)
        out[i] = f->buf[(f->head + i) % f->size];
    return f->count;
}

void serial_fifo_load(SerialFifo *f, const uint8_t *in, unsigned n, unsigned cap)
{
    serial_fifo_clear(f);
    for (unsigned i = 0; i < n && serial_fifo_push(f, in[i], cap); i++)
        ;
}

size_t serial_fifo_can_receive(SerialFifo *f, size_t room)
{
    if (room == 0)
        f->stalled = true;
    return room;
}

bool serial_fifo_take_wakeup(SerialFifo *f, size_t room)
{
    if (!f->stalled || room == 0)
        return false;
    f->stalled = false;
    return true;
}
