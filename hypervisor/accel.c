#include "hypervisor/accel.h"

#include "hypervisor/error.h"

void accel_close(Accel *accel)
{
    if (accel)
        accel->ops->close(accel);
}

bool accel_vcpu_get(AccelVcpu *v, AccelRegBlock which, const char *what, void *buf, size_t size,
                    GError **errp)
{
    int r = v->ops->vcpu_get_regs(v, which, buf, size);
    if (r < 0)
        error_set_errno(errp, r, "cannot read the vCPU's %s", what);
    return r >= 0;
}

bool accel_vcpu_set(AccelVcpu *v, AccelRegBlock which, const char *what, const void *buf,
                    size_t size, GError **errp)
{
    int r = v->ops->vcpu_set_regs(v, which, buf, size);
    if (r < 0)
        error_set_errno(errp, r, "cannot set the vCPU's %s", what);
    return r >= 0;
}

bool accel_vm_get(AccelVm *vm, AccelVmState which, const char *what, void *buf, size_t size,
                  GError **errp)
{
    int r = vm->ops->vm_get_state(vm, which, buf, size);
    if (r < 0)
        error_set_errno(errp, r, "cannot read the VM's %s", what);
    return r >= 0;
}

bool accel_vm_set(AccelVm *vm, AccelVmState which, const char *what, const void *buf, size_t size,
                  GError **errp)
{
    int r = vm->ops->vm_set_state(vm, which, buf, size);
    if (r < 0)
        error_set_errno(errp, r, "cannot set the VM's %s", what);
    return r >= 0;
}
