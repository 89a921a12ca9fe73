/* Pure pieces of the arm64 KVM backend (hypervisor/kvm/kvm_arm64.c, aarch64
 * builds only): the KVM_IRQ_LINE number of a GSI (type SPI, interrupt ID
 * 32 + GSI) and the ONE_REG ids of the registers the machine sets. No
 * /dev/kvm needed. */
#include "hypervisor/arm64_regs.h"
#include "hypervisor/kvm/kvm_internal.h"
#include "support/check_main.h"

START_TEST(test_irq_line_spi)
{
    /* GSI n is SPI n: interrupt ID 32 + n, type 1 (SPI) in bits 24-27,
     * no vCPU index. */
    ck_assert_uint_eq(kvm_arch_irq_line(0), 0x01000020u);
    ck_assert_uint_eq(kvm_arch_irq_line(1), 0x01000021u); /* the PL011 */
    ck_assert_uint_eq(kvm_arch_irq_line(223), 0x010000ffu);
    ck_assert_uint_eq(kvm_arch_irq_line(987) >> KVM_ARM_IRQ_TYPE_SHIFT, KVM_ARM_IRQ_TYPE_SPI);
}
END_TEST

START_TEST(test_one_reg_ids)
{
    /* struct kvm_regs is addressed in 32-bit words: x0 at 0, xN at 2N,
     * sp at 62, pc at 64, pstate at 66, then sp_el1 at 68. */
    const uint64_t core = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE;
    ck_assert_uint_eq(ARM64_REG_X(0), core);
    ck_assert_uint_eq(ARM64_REG_X(3), core | 6);
    ck_assert_uint_eq(ARM64_REG_PC, core | 64);
    ck_assert_uint_eq(ARM64_REG_PSTATE, core | 66);
    ck_assert_uint_eq(ARM64_REG_SP_EL1, core | 68);
    /* MPIDR_EL1 is op0 3, op1 0, CRn 0, CRm 0, op2 5. */
    ck_assert_uint_eq(ARM64_REG_MPIDR_EL1, 0x603000000013c005ull);
    /* EL1h, D A I F masked. */
    ck_assert_uint_eq(ARM64_PSTATE_EL1H_MASKED, 0x3c5);
}
END_TEST

static Suite *kvm_arm64_suite(void)
{
    Suite *s = suite_create("kvm_arm64");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, test_irq_line_spi);
    tcase_add_test(tc, test_one_reg_ids);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(kvm_arm64_suite)
