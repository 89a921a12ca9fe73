/* The Intel MultiProcessor Specification 1.4 table: how a guest without ACPI
 * learns its CPUs (for SMP bring-up), the IOAPIC and how ISA interrupts are
 * wired to it. Placed in the EBDA where Linux scans for "_MP_". */
#pragma once
#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* Build the floating pointer + configuration table for n_cpus CPUs (APIC IDs
 * 0..n-1, CPU 0 the bootstrap processor), to be placed at guest address
 * `addr`. Returns the bytes (at most X86_MPTABLE_MAX) or NULL if n_cpus is
 * out of range. */
GBytes *mptable_build(uint64_t addr, uint32_t n_cpus, GError **errp);

/* Sum of bytes mod 256 (a valid MP structure sums to 0). */
uint8_t mptable_checksum(const uint8_t *p, size_t len);
