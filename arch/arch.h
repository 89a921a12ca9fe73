/* The machine layer's entry points, implemented once per architecture
 * (arch/x86_64/, arch/aarch64/); only the host architecture is compiled. */
#pragma once
#include "hypervisor/vmm.h"

/* Builder and checks of this architecture's machine. */
const MachineOps *arch_machine_ops(void);
