#include "arch/aarch64/gic.h"

#include "arch/aarch64/layout.h"
#include "hypervisor/error.h"

#define ARM_NR_SPIS (ARM_GIC_NR_IRQS - ARM_GIC_SPI_BASE)
/* Routes the IRQ router may allocate for MSIs, after the SPIs. */
#define ARM_MAX_GSI 4096u

bool arm_gic_create(Vm *vm, bool its, GError **errp)
{
    AccelVm *avm = vm_accel_vm(vm);
    AccelPlatform p = { .arm_gic_dist = ARM_GIC_DIST_BASE,
                        .arm_gic_redist = ARM_GIC_REDIST_BASE,
                        .arm_gic_its = its ? ARM_GIC_ITS_BASE : 0,
                        .arm_gic_nr_irqs = ARM_GIC_NR_IRQS };
    int r = avm->ops->vm_setup_platform(avm, &p);
    if (r < 0) {
        error_set_errno(errp, r, "cannot create the in-kernel GICv3%s", its ? " and ITS" : "");
        return false;
    }
    /* irqfds of level lines (PCI INTx) need a route per SPI: pin = SPI. */
    AccelRoute routes[ARM_NR_SPIS];
    for (uint32_t spi = 0; spi < ARM_NR_SPIS; spi++)
        routes[spi] = (AccelRoute){ .gsi = spi, .kind = ACCEL_ROUTE_IRQCHIP,
                                    .irqchip = { .chip = 0, .pin = spi } };
    vm_set_irq_router(vm, irq_router_new(avm, routes, ARM_NR_SPIS, ARM_NR_SPIS, ARM_MAX_GSI));
    return true;
}

bool arm_gic_finalize(Vm *vm, GError **errp)
{
    AccelVm *avm = vm_accel_vm(vm);
    int r = avm->ops->vm_finalize_platform ? avm->ops->vm_finalize_platform(avm) : 0;
    if (r < 0) {
        error_set_errno(errp, r, "cannot initialize the in-kernel GICv3");
        return false;
    }
    return irq_router_commit(vm_irq(vm), errp);
}
