/* placeholder machine while arch/x86_64 is being written */
#include "arch/arch.h"
#include "hypervisor/error.h"

static bool machine_check_config(const VmConfig *cfg, GError **errp)
{
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "x86_64 machine not built yet");
    return false;
}

static uint32_t machine_max_vcpus(Accel *accel)
{
    return 1;
}

static bool machine_build(Vm *vm, GError **errp)
{
    return machine_check_config(NULL, errp);
}

static const MachineOps machine_ops = {
    .check_config = machine_check_config,
    .max_vcpus = machine_max_vcpus,
    .build = machine_build,
};

const MachineOps *arch_machine_ops(void)
{
    return &machine_ops;
}
