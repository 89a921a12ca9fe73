/* The PL061 GPIO controller's state description (DESIGN §2.3 (d)). */
#include "devices/gpio/pl061.h"
#include "migration/state.h"

static const StateField pl061_fields[] = {
    STATE_U8(Pl061State, data, 1),
    STATE_U8(Pl061State, dir, 2),
    STATE_U8(Pl061State, is, 3),
    STATE_U8(Pl061State, ibe, 4),
    STATE_U8(Pl061State, iev, 5),
    STATE_U8(Pl061State, ie, 6),
    STATE_U8(Pl061State, ris, 7),
    STATE_U8(Pl061State, afsel, 8),
    STATE_U8(Pl061State, input, 9),
    STATE_U8(Pl061State, held, 10),
    STATE_U8(Pl061State, seen, 11),
    STATE_END
};

const StateDesc pl061_state = {
    .name = "pl061", .version = 1, .min_version = 1, .size = sizeof(Pl061State),
    .fields = pl061_fields,
};
