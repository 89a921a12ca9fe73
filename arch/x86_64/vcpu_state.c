/* x86_64 vCPU state: description, save and restore (see vcpu_state.h). */
#include "arch/x86_64/vcpu_state.h"

#include "hypervisor/error.h"

#include <string.h>

#define MSR_IA32_TSC 0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MSR_IA32_CR_PAT 0x277
#define MSR_MTRR_PHYS_BASE0 0x200 /* 8 variable ranges: base/mask pairs to 0x20f */
#define MSR_MTRR_FIX_64K 0x250
#define MSR_MTRR_FIX_16K_80000 0x258
#define MSR_MTRR_FIX_16K_A0000 0x259
#define MSR_MTRR_FIX_4K_C0000 0x268 /* 8 of them, to 0x26f */
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_KVM_ASYNC_PF_EN 0x4b564d02
#define MSR_KVM_ASYNC_PF_INT 0x4b564d06

/* ---- description ----------------------------------------------------------- */

static const StateField msr_entry_fields[] = {
    STATE_U32(X86MsrEntry, index, 1),
    STATE_U64(X86MsrEntry, value, 2),
    STATE_END,
};

const StateDesc x86_msr_entry_desc = {
    .name = "x86-msr",
    .version = 1,
    .min_version = 1,
    .size = sizeof(X86MsrEntry),
    .fields = msr_entry_fields,
};

static bool mp_state_valid(uint32_t mp)
{
    switch (mp) {
    case KVM_MP_STATE_RUNNABLE:
    case KVM_MP_STATE_UNINITIALIZED:
    case KVM_MP_STATE_INIT_RECEIVED:
    case KVM_MP_STATE_HALTED:
    case KVM_MP_STATE_SIPI_RECEIVED:
    case KVM_MP_STATE_AP_RESET_HOLD:
    case KVM_MP_STATE_SUSPENDED:
        return true;
    default:
        return false;
    }
}

#define EVENTS_VALID_FLAGS                                                                     \
    (KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |                      \
     KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM | KVM_VCPUEVENT_VALID_PAYLOAD |     \
     KVM_VCPUEVENT_VALID_TRIPLE_FAULT)

static bool vcpu_post_load(void *obj, unsigned version, GError **errp)
{
    X86VcpuState *s = obj;
    const struct kvm_sregs *sr = &s->ksregs;
    unsigned pending = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(sr->interrupt_bitmap); i++)
        pending += (unsigned)__builtin_popcountll(sr->interrupt_bitmap[i]);
    if (pending > 1)
        return state_invalid(errp, "x86-vcpu", "sregs: %u pending interrupts (at most one can be)", pending);
    if (!mp_state_valid(s->kmp_state.mp_state))
        return state_invalid(errp, "x86-vcpu", "mp_state %u is not an x86 MP state", s->kmp_state.mp_state);
    if (s->kxcrs.nr_xcrs > KVM_MAX_XCRS || s->kxcrs.flags)
        return state_invalid(errp, "x86-vcpu", "xcrs: %u entries, flags %#x", s->kxcrs.nr_xcrs, s->kxcrs.flags);
    const struct kvm_vcpu_events *ev = &s->kevents;
    if (ev->flags & ~EVENTS_VALID_FLAGS)
        return state_invalid(errp, "x86-vcpu", "events: unknown flags %#x", ev->flags);
    if (ev->exception.injected > 1 || ev->exception.pending > 1 || ev->exception.has_error_code > 1 ||
        ev->interrupt.injected > 1 || ev->interrupt.soft > 1 || ev->nmi.injected > 1 ||
        ev->nmi.pending > 1 || ev->nmi.masked > 1)
        return state_invalid(errp, "x86-vcpu", "events: a flag field is neither 0 nor 1");
    if (s->kdebugregs.flags)
        return state_invalid(errp, "x86-vcpu", "debugregs: flags %#llx", (unsigned long long)s->kdebugregs.flags);
    /* Each index once: a duplicate would make the restore order matter. */
    g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (uint32_t i = 0; i < s->n_msrs; i++) {
        if (!g_hash_table_add(seen, GUINT_TO_POINTER(s->msrs[i].index + 1u)))
            return state_invalid(errp, "x86-vcpu", "MSR %#x appears twice", s->msrs[i].index);
    }
    return true;
}

static const StateField vcpu_fields[] = {
    STATE_BYTES(X86VcpuState, regs, 1),
    STATE_BYTES(X86VcpuState, sregs, 2),
    STATE_BYTES(X86VcpuState, fpu, 3),
    STATE_BYTES(X86VcpuState, xsave, 4),
    STATE_BYTES(X86VcpuState, xcrs, 5),
    STATE_BYTES(X86VcpuState, lapic, 6),
    STATE_BYTES(X86VcpuState, events, 7),
    STATE_BYTES(X86VcpuState, mp_state, 8),
    STATE_BYTES(X86VcpuState, debugregs, 9),
    STATE_STRUCT_ARRAY(X86VcpuState, msrs, n_msrs, 10, &x86_msr_entry_desc),
    STATE_END,
};

const StateDesc x86_vcpu_state_desc = {
    .name = "x86-vcpu",
    .version = 1,
    .min_version = 1,
    .size = sizeof(X86VcpuState),
    .fields = vcpu_fields,
    .post_load = vcpu_post_load,
};

/* ---- the MSR list ------------------------------------------------------------ */

static void add_index(GArray *out, GHashTable *seen, uint32_t index)
{
    if (out->len < X86_VCPU_MSRS_MAX && g_hash_table_add(seen, GUINT_TO_POINTER(index + 1u)))
        g_array_append_val(out, index);
}

GArray *x86_vcpu_state_msr_list(Accel *accel, GError **errp)
{
    g_autoptr(GArray) kvm = accel_kvm_msr_index_list(accel, errp);
    if (!kvm)
        return NULL;
    GArray *out = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
    if (kvm->len > X86_VCPU_MSRS_MAX)
        g_warning("KVM lists %u MSRs to save; only the first %u are kept", kvm->len,
                  X86_VCPU_MSRS_MAX);
    for (guint i = 0; i < kvm->len; i++)
        add_index(out, seen, g_array_index(kvm, uint32_t, i));
    /* Not in KVM's list, but guest-visible state (KVM emulates them). */
    add_index(out, seen, MSR_IA32_CR_PAT);
    add_index(out, seen, MSR_MTRR_DEF_TYPE);
    for (uint32_t i = 0; i < 16; i++)
        add_index(out, seen, MSR_MTRR_PHYS_BASE0 + i);
    add_index(out, seen, MSR_MTRR_FIX_64K);
    add_index(out, seen, MSR_MTRR_FIX_16K_80000);
    add_index(out, seen, MSR_MTRR_FIX_16K_A0000);
    for (uint32_t i = 0; i < 8; i++)
        add_index(out, seen, MSR_MTRR_FIX_4K_C0000 + i);
    return out;
}

/* ---- save -------------------------------------------------------------------- */

static struct kvm_msrs *msrs_alloc(uint32_t n)
{
    struct kvm_msrs *m = g_malloc0(sizeof(*m) + (size_t)n * sizeof(struct kvm_msr_entry));
    m->nmsrs = n;
    return m;
}

/* KVM_GET_MSRS stops at the first MSR it cannot read and returns how many it
 * read: keep those, drop the one that failed, and go on after it. */
static bool save_msrs(AccelVcpu *v, const GArray *indices, X86VcpuState *out, GError **errp)
{
    uint32_t total = MIN(indices->len, X86_VCPU_MSRS_MAX);
    out->n_msrs = 0;
    uint32_t next = 0;
    while (next < total) {
        uint32_t n = total - next;
        g_autofree struct kvm_msrs *m = msrs_alloc(n);
        for (uint32_t i = 0; i < n; i++)
            m->entries[i].index = g_array_index(indices, uint32_t, next + i);
        int r = v->ops->vcpu_get_msrs(v, m);
        if (r < 0) {
            error_set_errno(errp, r, "cannot read the vCPU's MSRs");
            return false;
        }
        uint32_t got = MIN((uint32_t)r, n);
        for (uint32_t i = 0; i < got; i++)
            out->msrs[out->n_msrs++] = (X86MsrEntry){ m->entries[i].index, m->entries[i].data };
        if (got < n)
            g_debug("MSR %#x is not readable on this vCPU; not saved", m->entries[got].index);
        next += got + 1;
    }
    return true;
}

bool x86_vcpu_state_save(AccelVcpu *v, const GArray *msr_indices, X86VcpuState *out,
                         GError **errp)
{
    memset(out, 0, sizeof(*out));
    return accel_vcpu_get(v, ACCEL_REG_REGS, "registers", out->regs, sizeof(out->regs), errp) &&
           accel_vcpu_get(v, ACCEL_REG_SREGS, "special registers", out->sregs, sizeof(out->sregs), errp) &&
           accel_vcpu_get(v, ACCEL_REG_FPU, "FPU state", out->fpu, sizeof(out->fpu), errp) &&
           accel_vcpu_get(v, ACCEL_REG_XSAVE, "XSAVE area", out->xsave, sizeof(out->xsave), errp) &&
           accel_vcpu_get(v, ACCEL_REG_XCRS, "XCRs", out->xcrs, sizeof(out->xcrs), errp) &&
           accel_vcpu_get(v, ACCEL_REG_LAPIC, "local APIC", out->lapic, sizeof(out->lapic), errp) &&
           accel_vcpu_get(v, ACCEL_REG_EVENTS, "pending events", out->events, sizeof(out->events), errp) &&
           accel_vcpu_get(v, ACCEL_REG_MP_STATE, "MP state", out->mp_state, sizeof(out->mp_state), errp) &&
           accel_vcpu_get(v, ACCEL_REG_DEBUGREGS, "debug registers", out->debugregs,
                     sizeof(out->debugregs), errp) &&
           save_msrs(v, msr_indices, out, errp);
}

/* ---- restore ----------------------------------------------------------------- */

typedef enum { MSR_PASS_EARLY, MSR_PASS_MAIN, MSR_PASS_AFTER_LAPIC } MsrPass;

static MsrPass msr_pass(uint32_t index)
{
    switch (index) {
    case MSR_KVM_ASYNC_PF_INT: /* the vector must be known when async PF gets enabled */
        return MSR_PASS_EARLY;
    case MSR_IA32_TSC_DEADLINE: /* only taken in TSC-deadline mode of the restored LAPIC */
        return MSR_PASS_AFTER_LAPIC;
    default:
        return MSR_PASS_MAIN;
    }
}

static bool restore_msrs(AccelVcpu *v, const X86VcpuState *s, MsrPass pass, GError **errp)
{
    g_autofree struct kvm_msrs *m = msrs_alloc(s->n_msrs);
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n_msrs; i++) {
        if (msr_pass(s->msrs[i].index) != pass)
            continue;
        m->entries[n].index = s->msrs[i].index;
        m->entries[n].data = s->msrs[i].value;
        n++;
    }
    m->nmsrs = n;
    if (!n)
        return true;
    int r = v->ops->vcpu_set_msrs(v, m);
    if (r < 0) {
        error_set_errno(errp, r, "cannot restore the vCPU's MSRs");
        return false;
    }
    if ((uint32_t)r < n) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_ACCEL,
                    "the accelerator refused MSR %#x = %#" G_GINT64_MODIFIER "x", m->entries[r].index,
                    (uint64_t)m->entries[r].data);
        return false;
    }
    return true;
}

bool x86_vcpu_state_restore(AccelVcpu *v, const X86VcpuState *s, GError **errp)
{
    return accel_vcpu_set(v, ACCEL_REG_SREGS, "special registers", s->sregs, sizeof(s->sregs), errp) &&
           accel_vcpu_set(v, ACCEL_REG_REGS, "registers", s->regs, sizeof(s->regs), errp) &&
           accel_vcpu_set(v, ACCEL_REG_FPU, "FPU state", s->fpu, sizeof(s->fpu), errp) &&
           accel_vcpu_set(v, ACCEL_REG_XSAVE, "XSAVE area", s->xsave, sizeof(s->xsave), errp) &&
           /* No XCRs on a host without XSAVE (KVM then refuses to set any). */
           (!s->kxcrs.nr_xcrs || accel_vcpu_set(v, ACCEL_REG_XCRS, "XCRs", s->xcrs, sizeof(s->xcrs), errp)) &&
           restore_msrs(v, s, MSR_PASS_EARLY, errp) && restore_msrs(v, s, MSR_PASS_MAIN, errp) &&
           accel_vcpu_set(v, ACCEL_REG_LAPIC, "local APIC", s->lapic, sizeof(s->lapic), errp) &&
           restore_msrs(v, s, MSR_PASS_AFTER_LAPIC, errp) &&
           accel_vcpu_set(v, ACCEL_REG_MP_STATE, "MP state", s->mp_state, sizeof(s->mp_state), errp) &&
           accel_vcpu_set(v, ACCEL_REG_EVENTS, "pending events", s->events, sizeof(s->events), errp) &&
           accel_vcpu_set(v, ACCEL_REG_DEBUGREGS, "debug registers", s->debugregs,
                     sizeof(s->debugregs), errp);
}
