/* The receive FIFO of a UART fed by a console backend: a byte ring whose
 * usable depth the UART picks per operation (its FIFO, or one holding
 * register with FIFOs off), and the flow control with the backend: when the
 * UART reports no room the backend stops reading, and it is woken once when
 * room appears again. The owning UART's lock covers it. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIAL_FIFO_MAX 32

typedef struct SerialFifo {
    uint8_t buf[SERIAL_FIFO_MAX];
    unsigned head, count;
    unsigned size;  /* of the ring: the UART's FIFO depth */
    bool stalled;   /* the backend was told there is no room */
} SerialFifo;

void serial_fifo_init(SerialFifo *f, unsigned size);
void serial_fifo_clear(SerialFifo *f);
/* False (and nothing stored) when cap bytes are already held. */
bool serial_fifo_push(SerialFifo *f, uint8_t byte, unsigned cap);
/* The oldest byte; 0 when empty. */
uint8_t serial_fifo_pop(SerialFifo *f);

/* State: the held bytes oldest first into out (size bytes), their count
 * returned; loading keeps the oldest cap of n. */
unsigned serial_fifo_save(const SerialFifo *f, uint8_t *out);
void serial_fifo_load(SerialFifo *f, const uint8_t *in, unsigned n, unsigned cap);

/* The backend asks how much it may deliver: room, remembering a stall. */
size_t serial_fifo_can_receive(SerialFifo *f, size_t room);
/* True once after a stall when there is room again: call
 * chardev_accept_input() (after dropping the UART's lock). */
bool serial_fifo_take_wakeup(SerialFifo *f, size_t room);
