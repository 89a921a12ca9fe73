/* The ACPI GED's state description (DESIGN §2.3 (d)). */
#include "devices/acpi/ged.h"
#include "migration/state.h"

static const StateField ged_fields[] = {
    STATE_U8(GedState, events, 1),
    STATE_END
};

const StateDesc ged_state = {
    .name = "acpi-ged", .version = 1, .min_version = 1, .size = sizeof(GedState),
    .fields = ged_fields,
};
