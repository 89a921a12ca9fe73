/* The aarch64 machine's interrupt controller: KVM's in-kernel GICv3 with an
 * ITS for MSIs, at the addresses of layout.h. GSIs are SPI numbers (GSI n is
 * interrupt ID 32 + n); MSI routes follow the SPIs. */
#pragma once
#include "hypervisor/vm.h"

#include <glib.h>

/* Create the vGIC (+ ITS) and the VM's IRQ router; before the vCPUs. */
bool arm_gic_create(Vm *vm, bool its, GError **errp);

/* Initialize the vGIC once every vCPU exists, then push the routing table
 * (KVM replaces any table set earlier with its default at init). */
bool arm_gic_finalize(Vm *vm, GError **errp);
