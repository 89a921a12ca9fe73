#include "hypervisor/accel.h"

void accel_close(Accel *accel)
{
    if (accel)
        accel->ops->close(accel);
}
