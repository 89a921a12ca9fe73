/* CPUID for each vCPU: what host and KVM support (KVM_GET_SUPPORTED_CPUID),
 * with the topology of one socket of n_vcpus single-threaded cores, this
 * vCPU's APIC ID, the hypervisor bit and KVM's paravirtual leaves (kvmclock,
 * PV EOI, ...). Pure: takes and returns struct kvm_cpuid2 buffers, so the
 * topology is unit-tested without /dev/kvm. */
#pragma once
#include <glib.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

/* Build the CPUID table of vCPU `index` (also its APIC ID) out of n_vcpus.
 * Returns a g_malloc'd struct kvm_cpuid2. */
struct kvm_cpuid2 *cpuid_build(const struct kvm_cpuid2 *supported, uint32_t index,
                               uint32_t n_vcpus);

/* The entry for (function, index) or NULL. */
const struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *c, uint32_t function,
                                          uint32_t index);

/* Bits needed to hold values 0..n-1 (the APIC ID shift for n cores). */
uint32_t cpuid_id_bits(uint32_t n);
