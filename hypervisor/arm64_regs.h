/* KVM ONE_REG ids of the arm64 registers Nimbus reads and writes: the core
 * registers (struct kvm_regs, addressed in 32-bit words) and the few system
 * registers the machine needs. Shared by the KVM backend (diagnostics) and
 * arch/aarch64 (boot state, MPIDRs). Only meaningful on an arm64 build. */
#pragma once
#include <linux/kvm.h>
#include <stddef.h>

#ifdef KVM_REG_ARM_CORE
#define ARM64_CORE_REG(field)                                                                   \
    (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(field))
#define ARM64_REG_X(n) ARM64_CORE_REG(regs.regs[(n)])
#define ARM64_REG_PC ARM64_CORE_REG(regs.pc)
#define ARM64_REG_PSTATE ARM64_CORE_REG(regs.pstate)
#define ARM64_REG_SP_EL1 ARM64_CORE_REG(sp_el1)
/* MPIDR_EL1: op0 3, op1 0, CRn 0, CRm 0, op2 5. */
#define ARM64_REG_MPIDR_EL1 ARM64_SYS_REG(3, 0, 0, 0, 5)
/* PSTATE at kernel entry: EL1 with SP_EL1 (EL1h), D, A, I and F masked. */
#define ARM64_PSTATE_EL1H_MASKED 0x3c5ull
#endif
