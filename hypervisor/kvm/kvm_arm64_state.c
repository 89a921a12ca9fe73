/* arm64 parts of the KVM backend that snapshot and migration need: the
 * vCPU's register list (KVM_GET_REG_LIST), its pending events, and device
 * attributes of the in-kernel GICv3 and ITS (their registers, line levels
 * and the table save/restore controls). What to read and in which order is
 * arch/aarch64/vcpu_state.c and vm_state.c; this file only moves bytes. */
#include "hypervisor/kvm/kvm_internal.h"

#include <errno.h>
#include <string.h>

int kvm_arm_vcpu_reg_list(AccelVcpu *v, uint64_t *ids, uint32_t *n)
{
    KvmVcpu *c = (KvmVcpu *)v;
    uint32_t room = *n;
    g_autofree struct kvm_reg_list *l = g_malloc0(sizeof(*l) + (size_t)room * sizeof(uint64_t));
    l->n = room;
    int r = kvm_ioctl(c->fd, KVM_GET_REG_LIST, l);
    /* On E2BIG KVM still reports how many there are. */
    *n = (uint32_t)l->n;
    if (r < 0)
        return r;
    memcpy(ids, l->reg, (size_t)l->n * sizeof(uint64_t));
    return 0;
}

int kvm_arm_vcpu_events(AccelVcpu *v, bool set, void *events, size_t size)
{
    if (size != sizeof(struct kvm_vcpu_events))
        return -EINVAL;
    KvmVcpu *c = (KvmVcpu *)v;
    return kvm_ioctl(c->fd, set ? KVM_SET_VCPU_EVENTS : KVM_GET_VCPU_EVENTS, events);
}

int kvm_arm_vm_gic_attr(AccelVm *v, AccelArmGicDev dev, bool set, uint32_t group, uint64_t attr,
                        void *val)
{
    KvmVm *vm = (KvmVm *)v;
    int fd = dev == ACCEL_ARM_ITS ? vm->its_fd : vm->gic_fd;
    if (fd < 0)
        return -ENODEV;
    struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)val };
    return kvm_ioctl(fd, set ? KVM_SET_DEVICE_ATTR : KVM_GET_DEVICE_ATTR, &a);
}
