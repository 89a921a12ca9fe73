/* A fake accelerator for unit tests: lets a Vm, its memory, address spaces
 * and IRQ router be built without /dev/kvm, and records what the VMM asked of
 * the hypervisor (interrupt lines, MSIs, memory slots) so tests can assert on
 * it. vCPUs can be created but never run. */
#pragma once
#include "hypervisor/accel.h"

#include <stdbool.h>
#include <stdint.h>

Accel *fake_accel_new(void);

/* Observations, valid while the AccelVm lives. */
bool fake_accel_irq_level(AccelVm *vm, uint32_t gsi);
unsigned fake_accel_irq_edges(AccelVm *vm, uint32_t gsi); /* 0 -> 1 transitions */
unsigned fake_accel_msi_count(AccelVm *vm);
unsigned fake_accel_memslot_count(AccelVm *vm);
