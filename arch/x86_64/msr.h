/* Model-specific registers every vCPU starts with: syscall MSRs cleared,
 * fast strings enabled, and the MTRRs' default type write-back so the guest
 * does not run its RAM uncached (it has no firmware to program them). */
#pragma once
#include "hypervisor/accel.h"

#include <glib.h>
#include <linux/kvm.h>

/* g_malloc'd struct kvm_msrs with the boot values. */
struct kvm_msrs *msr_boot_list(void);
bool msr_setup_boot(AccelVcpu *v, GError **errp);
