/* arm64 parts of the KVM backend: vCPU init (preferred target, PSCI, PMU),
 * ONE_REG access, the in-kernel GICv3 and ITS, and the KVM_IRQ_LINE
 * encoding of SPIs. The machine's addresses come in through AccelPlatform. */
#include "hypervisor/kvm/kvm_internal.h"

#include "hypervisor/arm64_regs.h"
#include "hypervisor/error.h"

#include <errno.h>
#include <unistd.h>

/* The first SPI's interrupt ID: IDs 0-31 are SGIs and PPIs. */
#define GIC_SPI_BASE 32u

static const KvmBlock reg_blocks[ACCEL_REG_COUNT] = {
    [ACCEL_REG_MP_STATE] = { KVM_GET_MP_STATE, KVM_SET_MP_STATE, sizeof(struct kvm_mp_state), 0 },
};

const KvmBlock *kvm_arch_reg_block(AccelRegBlock which)
{
    return which < ACCEL_REG_COUNT ? &reg_blocks[which] : NULL;
}

const KvmBlock *kvm_arch_vm_block(AccelVmState which)
{
    return NULL; /* the vGIC's state goes through device attributes (not yet) */
}

static int device_attr(int fd, uint32_t group, uint64_t attr, const void *addr)
{
    struct kvm_device_attr a = { .group = group, .attr = attr,
                                 .addr = (uint64_t)(uintptr_t)addr };
    return kvm_ioctl(fd, KVM_SET_DEVICE_ATTR, &a);
}

static int create_device(KvmVm *vm, uint32_t type)
{
    struct kvm_create_device d = { .type = type };
    int r = kvm_ioctl(vm->fd, KVM_CREATE_DEVICE, &d);
    return r < 0 ? r : (int)d.fd;
}

/* The vGIC must exist before its addresses are set; it is initialized only
 * once every vCPU has been created (kvm_arm_vm_finalize_platform). */
int kvm_arch_setup_platform(KvmVm *vm, const AccelPlatform *p)
{
    int fd = create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
    if (fd < 0)
        return fd;
    vm->gic_fd = fd;
    uint64_t dist = p->arm_gic_dist, redist = p->arm_gic_redist;
    uint32_t nr_irqs = p->arm_gic_nr_irqs;
    int r = device_attr(fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist);
    if (r >= 0)
        r = device_attr(fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist);
    if (r >= 0)
        r = device_attr(fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs);
    if (r < 0 || !p->arm_gic_its)
        return r;
    fd = create_device(vm, KVM_DEV_TYPE_ARM_VGIC_ITS);
    if (fd < 0)
        return fd;
    vm->its_fd = fd;
    uint64_t its = p->arm_gic_its;
    return device_attr(fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &its);
}

int kvm_arm_vm_finalize_platform(AccelVm *v)
{
    KvmVm *vm = (KvmVm *)v;
    if (vm->gic_fd < 0)
        return -EINVAL;
    int r = device_attr(vm->gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
    if (r >= 0 && vm->its_fd >= 0)
        r = device_attr(vm->its_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
    return r;
}

bool kvm_arch_check_caps(KvmAccel *k, GError **errp)
{
    static const KvmCap caps[] = {
        { KVM_CAP_ONE_REG, "ONE_REG" },
        { KVM_CAP_ARM_PSCI_0_2, "ARM_PSCI_0_2" },
        { KVM_CAP_DEVICE_CTRL, "DEVICE_CTRL" },
        { KVM_CAP_MP_STATE, "MP_STATE" },
    };
    return kvm_require_caps(k, caps, G_N_ELEMENTS(caps), errp);
}

/* GSIs are SPI numbers; KVM_IRQ_LINE takes the type and interrupt ID. */
uint32_t kvm_arch_irq_line(uint32_t gsi)
{
    return (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) |
           ((gsi + GIC_SPI_BASE) & KVM_ARM_IRQ_NUM_MASK);
}

bool kvm_arm_vm_has_pmu(AccelVm *v)
{
    return kvm_ioctl(((KvmVm *)v)->fd, KVM_CHECK_EXTENSION,
                     (void *)(uintptr_t)KVM_CAP_ARM_PMU_V3) > 0;
}

int kvm_arm_vcpu_init(AccelVcpu *v, uint32_t features)
{
    KvmVcpu *c = (KvmVcpu *)v;
    struct kvm_vcpu_init init = { 0 };
    int r = kvm_ioctl(c->vm->fd, KVM_ARM_PREFERRED_TARGET, &init);
    if (r < 0)
        return r;
    /* PSCI 0.2+ lets the guest start secondaries (CPU_ON) and power off or
     * reset the system, which KVM reports as system events. */
    init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
    if (features & ACCEL_ARM_VCPU_POWER_OFF)
        init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
    if (features & ACCEL_ARM_VCPU_PMU)
        init.features[0] |= 1u << KVM_ARM_VCPU_PMU_V3;
    return kvm_ioctl(c->fd, KVM_ARM_VCPU_INIT, &init);
}

int kvm_arm_vcpu_pmu_init(AccelVcpu *v, uint32_t ppi)
{
    KvmVcpu *c = (KvmVcpu *)v;
    int irq = (int)ppi;
    int r = device_attr(c->fd, KVM_ARM_VCPU_PMU_V3_CTRL, KVM_ARM_VCPU_PMU_V3_IRQ, &irq);
    return r < 0 ? r : device_attr(c->fd, KVM_ARM_VCPU_PMU_V3_CTRL, KVM_ARM_VCPU_PMU_V3_INIT, NULL);
}

int kvm_arm_vcpu_get_one_reg(AccelVcpu *v, uint64_t id, void *val)
{
    struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)(uintptr_t)val };
    return kvm_ioctl(((KvmVcpu *)v)->fd, KVM_GET_ONE_REG, &reg);
}

int kvm_arm_vcpu_set_one_reg(AccelVcpu *v, uint64_t id, const void *val)
{
    struct kvm_one_reg reg = { .id = id, .addr = (uint64_t)(uintptr_t)val };
    return kvm_ioctl(((KvmVcpu *)v)->fd, KVM_SET_ONE_REG, &reg);
}

int kvm_arch_vcpu_summary(KvmVcpu *v, VcpuRegSummary *out)
{
    uint64_t pc = 0, sp = 0, pstate = 0;
    struct kvm_mp_state mp;
    int r = kvm_arm_vcpu_get_one_reg(&v->base, ARM64_REG_PC, &pc);
    if (r >= 0)
        r = kvm_arm_vcpu_get_one_reg(&v->base, ARM64_REG_SP_EL1, &sp);
    if (r >= 0)
        r = kvm_arm_vcpu_get_one_reg(&v->base, ARM64_REG_PSTATE, &pstate);
    if (r >= 0)
        r = kvm_ioctl(v->fd, KVM_GET_MP_STATE, &mp);
    if (r < 0)
        return r;
    *out = (VcpuRegSummary){ .pc = pc, .sp = sp, .flags = pstate, .mp_state = mp.mp_state };
    return 0;
}
