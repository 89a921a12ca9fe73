/* The state of one x86_64 vCPU for snapshot and live migration, as the state
 * scheme (migration/state.h) describes it, and its save/restore through the
 * accelerator.
 *
 * What the stream carries: KVM's own ABI structs (kvm_regs, kvm_sregs,
 * kvm_fpu, kvm_xsave, kvm_xcrs, kvm_lapic_state, kvm_vcpu_events,
 * kvm_mp_state, kvm_debugregs) as fixed-size byte fields. On x86_64 these are
 * fixed-layout, padding-explicit, little-endian UAPI structs whose layout KVM
 * never changes (new data gets new ioctls), so the bytes are portable between
 * any two x86_64 hosts; they are validated after load (post_load) and again
 * by KVM when set. MSRs go as a bounded array of {index, value}.
 *
 * Covered: general and special registers (with APIC base and EFER), x87/SSE
 * (kvm_fpu) and the XSAVE area, XCR0, every MSR KVM lists for migration
 * (KVM_GET_MSR_INDEX_LIST: msrs_to_save + emulated, which includes the TSC,
 * TSC_ADJUST, TSC_DEADLINE and the kvmclock/async-PF/steal-time/PV-EOI MSRs)
 * plus PAT and the MTRRs, the local APIC's register page, pending
 * events (exception, interrupt, NMI, SIPI, SMI, interrupt shadow), the MP
 * state and the debug registers.
 *
 * XSAVE: the 4 KiB legacy KVM_GET_XSAVE region. Larger areas
 * (KVM_CAP_XSAVE2, AMX tile data) only exist once userspace asks for the
 * guest's permission to use them (ARCH_REQ_XCOMP_GUEST_PERM), which Nimbus
 * never does, so 4 KiB holds every component a Nimbus guest can enable. */
#pragma once
#include "hypervisor/accel.h"
#include "migration/state.h"

#include <glib.h>
#include <linux/kvm.h>
#include <stdint.h>

/* Capacity of the MSR array. KVM lists about 100-250 MSRs depending on the
 * host (PMU counters, Hyper-V, arch LBRs); a load with more is refused. */
#define X86_VCPU_MSRS_MAX 512u
#define X86_XSAVE_SIZE 4096u

typedef struct X86MsrEntry {
    uint32_t index;
    uint64_t value;
} X86MsrEntry;

typedef struct X86VcpuState {
    union {
        uint8_t regs[sizeof(struct kvm_regs)];
        struct kvm_regs kregs;
    };
    union {
        uint8_t sregs[sizeof(struct kvm_sregs)];
        struct kvm_sregs ksregs;
    };
    union {
        uint8_t fpu[sizeof(struct kvm_fpu)];
        struct kvm_fpu kfpu;
    };
    /* struct kvm_xsave ends in a flexible array, so it is kept as bytes. */
    uint8_t xsave[X86_XSAVE_SIZE] __attribute__((aligned(8)));
    union {
        uint8_t xcrs[sizeof(struct kvm_xcrs)];
        struct kvm_xcrs kxcrs;
    };
    union {
        uint8_t lapic[sizeof(struct kvm_lapic_state)];
        struct kvm_lapic_state klapic;
    };
    union {
        uint8_t events[sizeof(struct kvm_vcpu_events)];
        struct kvm_vcpu_events kevents;
    };
    union {
        uint8_t mp_state[sizeof(struct kvm_mp_state)];
        struct kvm_mp_state kmp_state;
    };
    union {
        uint8_t debugregs[sizeof(struct kvm_debugregs)];
        struct kvm_debugregs kdebugregs;
    };
    uint32_t n_msrs; /* live entries of msrs, <= X86_VCPU_MSRS_MAX */
    X86MsrEntry msrs[X86_VCPU_MSRS_MAX];
} X86VcpuState;

_Static_assert(sizeof(struct kvm_xsave) == X86_XSAVE_SIZE, "KVM_GET_XSAVE moves 4 KiB");

/* Description "x86-vcpu" (version 1). */
extern const StateDesc x86_vcpu_state_desc;
extern const StateDesc x86_msr_entry_desc;

/* The MSR indices a vCPU's state holds: KVM's migration list
 * (accel_kvm_msr_index_list) plus PAT and the MTRRs, without duplicates,
 * at most X86_VCPU_MSRS_MAX. GArray of uint32_t. */
GArray *x86_vcpu_state_msr_list(Accel *accel, GError **errp);

/* Read the state of a vCPU that is not running (parked, with any userspace
 * I/O completed: vcpu.c does that when it parks). msr_indices as from
 * x86_vcpu_state_msr_list(); MSRs KVM refuses to read for this vCPU are left
 * out. */
bool x86_vcpu_state_save(AccelVcpu *v, const GArray *msr_indices, X86VcpuState *out,
                         GError **errp);

/* Load a saved state into a vCPU that the machine build set up (CPUID
 * already set: KVM derives what the guest may have from it). Order:
 * sregs (mode, EFER, APIC base: x2APIC decides the LAPIC layout), regs, FPU
 * then XSAVE (the XSAVE area wins where both overlap), XCRs, MSRs (except
 * TSC_DEADLINE; ASYNC_PF_INT before ASYNC_PF_EN), LAPIC, then TSC_DEADLINE
 * (KVM ignores it unless the LAPIC timer is in TSC-deadline mode), MP state,
 * events (set after the MP state: KVM refuses an INIT/SIPI MP state while an
 * SMI is pending, and events may carry one), debug registers. */
bool x86_vcpu_state_restore(AccelVcpu *v, const X86VcpuState *s, GError **errp);
