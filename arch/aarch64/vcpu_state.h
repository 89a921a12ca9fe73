/* The state of one arm64 vCPU for snapshot and live migration, as the state
 * scheme (migration/state.h) describes it, and its save/restore through the
 * accelerator.
 *
 * Registers: every register KVM lists for the vCPU (KVM_GET_REG_LIST) goes
 * as {ONE_REG id, value}: the core registers (X0-X30, SP, PC, PSTATE, the
 * EL1 SP/ELR/SPSRs), FP/SIMD (V0-V31 as 128-bit values, FPSR, FPCR), every
 * system register KVM keeps for the guest (including the virtual timer's
 * CTL/CVAL/CNT), and the firmware pseudo-registers (PSCI version, SMCCC
 * workaround states, hypercall feature bitmaps). Letting KVM name them
 * means a newer kernel's extra registers travel too, and a destination that
 * does not know one refuses it at KVM_SET_ONE_REG instead of silently
 * losing guest state. SVE registers (up to 2048 bits) are not carried:
 * Nimbus never enables SVE for a vCPU, so KVM lists none.
 *
 * Also: the MP state (running, powered off by PSCI, suspended), pending
 * events (SError, external abort: struct kvm_vcpu_events as bytes), and the
 * vCPU's part of the GICv3 — its redistributor (LPI tables, SGI/PPI
 * configuration and pending/active bits) and CPU interface (ICC_*
 * registers) — which vm_state.c reads and writes, because their restore
 * order is tied to the distributor and ITS.
 *
 * The constants are the architecture's and KVM's ABI; they are spelled out
 * here (checked against <asm/kvm.h> on arm64) so that the descriptions and
 * their tests build on every host. */
#pragma once
#include "hypervisor/accel.h"
#include "migration/state.h"

#include <glib.h>
#include <stdint.h>

/* ONE_REG ids: arch | size | coprocessor | index. */
#define ARM_ONE_REG_ARCH_ARM64 0x6000000000000000ull
#define ARM_ONE_REG_ARCH_MASK 0xff00000000000000ull
#define ARM_ONE_REG_SIZE_SHIFT 52
#define ARM_ONE_REG_SIZE_MASK 0x00f0000000000000ull
#define ARM_ONE_REG_SIZE_U64 0x0030000000000000ull
#define ARM_ONE_REG_SYSREG (0x0013ull << 16)
#define ARM_SYSREG_ENC(op0, op1, crn, crm, op2)                                                    \
    (((uint64_t)(op0) << 14) | ((uint64_t)(op1) << 11) | ((uint64_t)(crn) << 7) |                 \
     ((uint64_t)(crm) << 3) | (uint64_t)(op2))
#define ARM_ONE_REG_SYS(op0, op1, crn, crm, op2)                                                   \
    (ARM_ONE_REG_ARCH_ARM64 | ARM_ONE_REG_SIZE_U64 | ARM_ONE_REG_SYSREG |                          \
     ARM_SYSREG_ENC(op0, op1, crn, crm, op2))
/* The virtual counter (KVM's encoding, not CNTVCT_EL0's: see asm/kvm.h). */
#define ARM_ONE_REG_TIMER_CNT ARM_ONE_REG_SYS(3, 3, 14, 3, 2)
#define ARM_ONE_REG_MPIDR_EL1 ARM_ONE_REG_SYS(3, 0, 0, 0, 5)

/* Capacity of the register array. A 6.1 kernel lists about 250-300
 * registers on a vCPU without SVE; a load with more is refused. */
#define ARM_VCPU_REGS_MAX 1024u
/* The largest register carried (V0-V31). */
#define ARM_VCPU_REG_BYTES_MAX 16u
/* sizeof(struct kvm_vcpu_events) on arm64. */
#define ARM_VCPU_EVENTS_SIZE 64u

/* KVM's arm64 MP states. */
#define ARM_MP_STATE_RUNNABLE 0u
#define ARM_MP_STATE_STOPPED 5u
#define ARM_MP_STATE_SUSPENDED 10u

typedef struct ArmRegEntry {
    uint64_t id;
    uint64_t lo, hi; /* the value, little-endian halves; hi is 0 up to 64 bits */
} ArmRegEntry;

/* The vCPU's redistributor and GIC CPU interface (vm_state.c). */
#define ARM_GIC_APR_MAX 4u
typedef struct ArmGicCpuState {
    /* RD_base frame */
    uint32_t ctlr;
    uint64_t propbaser, pendbaser;
    /* SGI_base frame: interrupt IDs 0-31 */
    uint32_t igroupr0, igrpmodr0, isenabler0, ispendr0, isactiver0;
    uint32_t ipriorityr[8];
    uint32_t icfgr1; /* PPIs (ICFGR0, the SGIs', is fixed) */
    /* CPU interface (ICC_*_EL1) */
    uint64_t icc_ctlr, icc_sre, icc_pmr, icc_bpr0, icc_bpr1, icc_igrpen0, icc_igrpen1;
    uint64_t icc_ap0r[ARM_GIC_APR_MAX], icc_ap1r[ARM_GIC_APR_MAX];
} ArmGicCpuState;

typedef struct ArmVcpuState {
    uint32_t n_regs; /* live entries of regs, <= ARM_VCPU_REGS_MAX */
    ArmRegEntry regs[ARM_VCPU_REGS_MAX];
    uint32_t mp_state; /* ARM_MP_STATE_* */
    uint8_t events[ARM_VCPU_EVENTS_SIZE] __attribute__((aligned(8)));
    ArmGicCpuState gic;
} ArmVcpuState;

/* Description "arm64-vcpu" (version 1) and its parts. */
extern const StateDesc arm_vcpu_state_desc;
extern const StateDesc arm_reg_entry_desc;
extern const StateDesc arm_gic_cpu_state_desc;

/* Bytes of a ONE_REG id's value (1 << size field). */
static inline uint32_t arm_one_reg_size(uint64_t id)
{
    return 1u << ((id & ARM_ONE_REG_SIZE_MASK) >> ARM_ONE_REG_SIZE_SHIFT);
}

/* Read registers, MP state and events of a vCPU that is not running (the
 * GIC part is vm_state.c's). */
bool arm_vcpu_state_save(AccelVcpu *v, ArmVcpuState *out, GError **errp);

/* Load them into a vCPU the machine build initialized (KVM_ARM_VCPU_INIT
 * with the same features) that has not run since: the firmware registers
 * can only be written before the first run. Every register except the
 * virtual counter (vm_state.c sets it once for the VM), then the MP state,
 * then the events. */
bool arm_vcpu_state_restore(AccelVcpu *v, const ArmVcpuState *s, GError **errp);
