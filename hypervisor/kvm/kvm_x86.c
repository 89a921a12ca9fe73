/* x86 parts of the KVM backend: register blocks, platform setup, CPUID and
 * MSR lists. */
#include "hypervisor/kvm/kvm_internal.h"

#include "hypervisor/error.h"

#include <errno.h>

static const KvmBlock reg_blocks[ACCEL_REG_COUNT] = {
    [ACCEL_REG_REGS] = { KVM_GET_REGS, KVM_SET_REGS, sizeof(struct kvm_regs), 0 },
    [ACCEL_REG_SREGS] = { KVM_GET_SREGS, KVM_SET_SREGS, sizeof(struct kvm_sregs), 0 },
    [ACCEL_REG_FPU] = { KVM_GET_FPU, KVM_SET_FPU, sizeof(struct kvm_fpu), 0 },
    [ACCEL_REG_LAPIC] = { KVM_GET_LAPIC, KVM_SET_LAPIC, sizeof(struct kvm_lapic_state), 0 },
    [ACCEL_REG_XSAVE] = { KVM_GET_XSAVE, KVM_SET_XSAVE, sizeof(struct kvm_xsave), 0 },
    [ACCEL_REG_XCRS] = { KVM_GET_XCRS, KVM_SET_XCRS, sizeof(struct kvm_xcrs), 0 },
    [ACCEL_REG_EVENTS] = { KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, sizeof(struct kvm_vcpu_events), 0 },
    [ACCEL_REG_MP_STATE] = { KVM_GET_MP_STATE, KVM_SET_MP_STATE, sizeof(struct kvm_mp_state), 0 },
    [ACCEL_REG_DEBUGREGS] = { KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, sizeof(struct kvm_debugregs), 0 },
};

static const KvmBlock vm_blocks[ACCEL_VMSTATE_COUNT] = {
    [ACCEL_VMSTATE_PIC_MASTER] = { KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, sizeof(struct kvm_irqchip),
                                   KVM_IRQCHIP_PIC_MASTER },
    [ACCEL_VMSTATE_PIC_SLAVE] = { KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, sizeof(struct kvm_irqchip),
                                  KVM_IRQCHIP_PIC_SLAVE },
    [ACCEL_VMSTATE_IOAPIC] = { KVM_GET_IRQCHIP, KVM_SET_IRQCHIP, sizeof(struct kvm_irqchip),
                               KVM_IRQCHIP_IOAPIC },
    [ACCEL_VMSTATE_PIT] = { KVM_GET_PIT2, KVM_SET_PIT2, sizeof(struct kvm_pit_state2), 0 },
    [ACCEL_VMSTATE_CLOCK] = { KVM_GET_CLOCK, KVM_SET_CLOCK, sizeof(struct kvm_clock_data), 0 },
};

const KvmBlock *kvm_arch_reg_block(AccelRegBlock which)
{
    return which < ACCEL_REG_COUNT ? &reg_blocks[which] : NULL;
}

const KvmBlock *kvm_arch_vm_block(AccelVmState which)
{
    return which < ACCEL_VMSTATE_COUNT ? &vm_blocks[which] : NULL;
}

int kvm_arch_setup_platform(KvmVm *vm, const AccelPlatform *p)
{
    int r = kvm_ioctl(vm->fd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)p->x86_tss_gpa);
    if (r < 0)
        return r;
    uint64_t ident = p->x86_identity_map_gpa;
    r = kvm_ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &ident);
    if (r < 0)
        return r;
    r = kvm_ioctl(vm->fd, KVM_CREATE_IRQCHIP, NULL);
    if (r < 0)
        return r;
    if (p->x86_pit) {
        /* SPEAKER_DUMMY: KVM answers port 0x61 itself, so the PIT-based
         * calibration loops in guests never exit to userspace. */
        struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
        r = kvm_ioctl(vm->fd, KVM_CREATE_PIT2, &pit);
        if (r < 0)
            return r;
    }
    return 0;
}

bool kvm_arch_check_caps(KvmAccel *k, GError **errp)
{
    static const KvmCap caps[] = {
        { KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR" },
        { KVM_CAP_SET_IDENTITY_MAP_ADDR, "SET_IDENTITY_MAP_ADDR" },
        { KVM_CAP_EXT_CPUID, "EXT_CPUID" },
        { KVM_CAP_PIT2, "PIT2" },
        { KVM_CAP_MP_STATE, "MP_STATE" },
    };
    return kvm_require_caps(k, caps, G_N_ELEMENTS(caps), errp);
}

void *accel_kvm_supported_cpuid(Accel *a, GError **errp)
{
    KvmAccel *k = (KvmAccel *)a;
    /* The kernel says E2BIG until the buffer is large enough. */
    for (uint32_t n = 128; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = g_malloc0(sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
        c->nent = n;
        int r = kvm_ioctl(k->fd, KVM_GET_SUPPORTED_CPUID, c);
        if (r >= 0)
            return c;
        g_free(c);
        if (r != -E2BIG) {
            error_set_errno(errp, r, "KVM_GET_SUPPORTED_CPUID");
            return NULL;
        }
    }
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_ACCEL, "KVM_GET_SUPPORTED_CPUID: too many leaves");
    return NULL;
}

GArray *accel_kvm_msr_index_list(Accel *a, GError **errp)
{
    KvmAccel *k = (KvmAccel *)a;
    struct kvm_msr_list probe = { .nmsrs = 0 };
    int r = kvm_ioctl(k->fd, KVM_GET_MSR_INDEX_LIST, &probe);
    if (r < 0 && r != -E2BIG) {
        error_set_errno(errp, r, "KVM_GET_MSR_INDEX_LIST");
        return NULL;
    }
    g_autofree struct kvm_msr_list *list =
        g_malloc0(sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
    list->nmsrs = probe.nmsrs;
    r = kvm_ioctl(k->fd, KVM_GET_MSR_INDEX_LIST, list);
    if (r < 0) {
        error_set_errno(errp, r, "KVM_GET_MSR_INDEX_LIST");
        return NULL;
    }
    GArray *out = g_array_sized_new(FALSE, FALSE, sizeof(uint32_t), list->nmsrs);
    g_array_append_vals(out, list->indices, list->nmsrs);
    return out;
}

uint32_t kvm_arch_irq_line(uint32_t gsi)
{
    return gsi;
}

int kvm_arch_vcpu_summary(KvmVcpu *v, VcpuRegSummary *out)
{
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_mp_state mp;
    int r = kvm_ioctl(v->fd, KVM_GET_REGS, &regs);
    if (r >= 0)
        r = kvm_ioctl(v->fd, KVM_GET_SREGS, &sregs);
    if (r >= 0)
        r = kvm_ioctl(v->fd, KVM_GET_MP_STATE, &mp);
    if (r < 0)
        return r;
    *out = (VcpuRegSummary){ .pc = regs.rip, .sp = regs.rsp, .flags = regs.rflags,
                             .cr0 = sregs.cr0, .cr3 = sregs.cr3, .mp_state = mp.mp_state };
    return 0;
}
