#include "arch/aarch64/regs.h"

#include "hypervisor/arm64_regs.h"
#include "hypervisor/error.h"

static bool set_reg(AccelVcpu *v, uint64_t id, uint64_t val, const char *name, GError **errp)
{
    int r = v->ops->vcpu_set_one_reg(v, id, &val);
    if (r < 0) {
        error_set_errno(errp, r, "cannot set %s", name);
        return false;
    }
    return true;
}

bool arm_regs_setup_boot_cpu(AccelVcpu *v, uint64_t entry, uint64_t dtb, GError **errp)
{
    /* The boot protocol: MMU and caches off (KVM's reset state), x0 holds
     * the DTB's physical address, x1-x3 are reserved and must be 0. */
    return set_reg(v, ARM64_REG_PSTATE, ARM64_PSTATE_EL1H_MASKED, "PSTATE", errp) &&
           set_reg(v, ARM64_REG_X(0), dtb, "x0", errp) &&
           set_reg(v, ARM64_REG_X(1), 0, "x1", errp) && set_reg(v, ARM64_REG_X(2), 0, "x2", errp) &&
           set_reg(v, ARM64_REG_X(3), 0, "x3", errp) &&
           set_reg(v, ARM64_REG_PC, entry, "PC", errp);
}

bool arm_regs_read_mpidr(AccelVcpu *v, uint64_t *mpidr, GError **errp)
{
    int r = v->ops->vcpu_get_one_reg(v, ARM64_REG_MPIDR_EL1, mpidr);
    if (r < 0) {
        error_set_errno(errp, r, "cannot read MPIDR_EL1");
        return false;
    }
    return true;
}
