/* arm64 vCPU registers through KVM ONE_REG: the boot vCPU's entry state
 * (Linux arm64 boot protocol) and the MPIDRs the device tree names. */
#pragma once
#include "hypervisor/accel.h"

#include <glib.h>
#include <stdint.h>

/* PC = entry, x0 = DTB, x1-x3 = 0, EL1h with D, A, I, F masked. */
bool arm_regs_setup_boot_cpu(AccelVcpu *v, uint64_t entry, uint64_t dtb, GError **errp);

/* MPIDR_EL1 as KVM set it at vCPU init (the guest's CPU id). */
bool arm_regs_read_mpidr(AccelVcpu *v, uint64_t *mpidr, GError **errp);
