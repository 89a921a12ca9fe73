/* The 16550 UART's state description (DESIGN §2.3 (d)). */
#include "devices/serial/uart16550.h"
#include "migration/state.h"

static const StateField uart16550_fields[] = {
    STATE_U8(Uart16550State, ier, 1),
    STATE_U8(Uart16550State, lcr, 2),
    STATE_U8(Uart16550State, mcr, 3),
    STATE_U8(Uart16550State, scr, 4),
    STATE_U8(Uart16550State, dll, 5),
    STATE_U8(Uart16550State, dlm, 6),
    STATE_U8(Uart16550State, fcr, 7),
    STATE_U8(Uart16550State, lsr_errors, 8),
    STATE_U8(Uart16550State, msr, 9),
    STATE_BOOL(Uart16550State, thri_pending, 10),
    STATE_U8_MAX(Uart16550State, rx_count, 11, UART16550_RX_FIFO_SIZE),
    STATE_BYTES(Uart16550State, rx, 12),
    STATE_END
};

const StateDesc uart16550_state = {
    .name = "uart16550", .version = 1, .min_version = 1, .size = sizeof(Uart16550State),
    .fields = uart16550_fields,
};
