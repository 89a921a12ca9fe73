/* The PL011 UART's state description (DESIGN §2.3 (d)). */
#include "devices/serial/pl011.h"
#include "migration/state.h"

static const StateField pl011_fields[] = {
    STATE_U16(Pl011State, ris, 1),
    STATE_U16(Pl011State, imsc, 2),
    STATE_U16(Pl011State, cr, 3),
    STATE_U8(Pl011State, lcr_h, 4),
    STATE_U8(Pl011State, ifls, 5),
    STATE_U16(Pl011State, ibrd, 6),
    STATE_U8(Pl011State, fbrd, 7),
    STATE_U8(Pl011State, ilpr, 8),
    STATE_U8(Pl011State, dmacr, 9),
    STATE_U8(Pl011State, rsr, 10),
    STATE_U8_MAX(Pl011State, rx_count, 11, PL011_RX_FIFO_SIZE),
    STATE_BYTES(Pl011State, rx, 12),
    STATE_END
};

const StateDesc pl011_state = {
    .name = "pl011", .version = 1, .min_version = 1, .size = sizeof(Pl011State),
    .fields = pl011_fields,
};
