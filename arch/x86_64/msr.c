#include "arch/x86_64/msr.h"

#include "hypervisor/error.h"

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING (1ull << 0)
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MTRR_DEF_TYPE_ENABLE (1ull << 11)
#define MTRR_TYPE_WRBACK 6
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

static const struct {
    uint32_t index;
    uint64_t value;
} boot_msrs[] = {
    { MSR_IA32_SYSENTER_CS, 0 },
    { MSR_IA32_SYSENTER_ESP, 0 },
    { MSR_IA32_SYSENTER_EIP, 0 },
    { MSR_STAR, 0 },
    { MSR_LSTAR, 0 },
    { MSR_CSTAR, 0 },
    { MSR_SYSCALL_MASK, 0 },
    { MSR_KERNEL_GS_BASE, 0 },
    { MSR_IA32_MISC_ENABLE, MSR_IA32_MISC_ENABLE_FAST_STRING },
    { MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_ENABLE | MTRR_TYPE_WRBACK },
};

struct kvm_msrs *msr_boot_list(void)
{
    size_t n = G_N_ELEMENTS(boot_msrs);
    struct kvm_msrs *m = g_malloc0(sizeof *m + n * sizeof(struct kvm_msr_entry));
    m->nmsrs = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        m->entries[i].index = boot_msrs[i].index;
        m->entries[i].data = boot_msrs[i].value;
    }
    return m;
}

bool msr_setup_boot(AccelVcpu *v, GError **errp)
{
    g_autofree struct kvm_msrs *m = msr_boot_list();
    int r = v->ops->vcpu_set_msrs(v, m);
    if (r < 0) {
        error_set_errno(errp, r, "cannot set the vCPU's boot MSRs");
        return false;
    }
    if ((uint32_t)r != m->nmsrs) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_ACCEL,
                    "the accelerator refused boot MSR %#x", m->entries[r].index);
        return false;
    }
    return true;
}
