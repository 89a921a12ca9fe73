/* Initial vCPU state for the two direct-boot entries:
 *  - Linux 64-bit boot protocol (bzImage): long mode, identity-mapped first
 *    4 GiB, __BOOT_CS/__BOOT_DS flat segments, RSI = zero page;
 *  - PVH: 32-bit protected mode, paging off, flat segments, EBX = start info.
 * Plus what every vCPU needs (FPU control words, LAPIC LINT0/LINT1 wiring).
 * The table builders are pure and unit-tested; the setters talk to the accel. */
#pragma once
#include "hypervisor/accel.h"
#include "hypervisor/memory.h"

#include <glib.h>
#include <linux/kvm.h>
#include <stdint.h>

typedef enum { X86_ENTRY_LINUX64, X86_ENTRY_PVH32 } X86EntryMode;

typedef struct X86BootEntry {
    X86EntryMode mode;
    uint64_t rip;
    uint64_t boot_info; /* zero page (RSI) or hvm_start_info (EBX) */
} X86BootEntry;

/* A GDT descriptor from access/flags bits (0xF0FF: G, D/B, L, AVL | P, DPL, S, type). */
uint64_t regs_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);
/* The KVM segment register for a descriptor loaded with `selector`. */
struct kvm_segment regs_segment_from_gdt(uint64_t entry, uint16_t selector);

/* The boot GDT for `mode` (X86_GDT_ENTRIES descriptors). */
void regs_build_gdt(X86EntryMode mode, uint64_t gdt[]);
/* Write GDT, IDT and (for long mode) the identity page tables into the guest. */
bool regs_write_boot_tables(GuestMemory *mem, X86EntryMode mode, GError **errp);
/* Special registers of the boot CPU for `mode`, starting from `base`. */
void regs_build_sregs(X86EntryMode mode, struct kvm_sregs *s);

bool regs_setup_boot_cpu(AccelVcpu *v, const X86BootEntry *entry, GError **errp);
bool regs_setup_fpu(AccelVcpu *v, GError **errp);
/* Start with XCR0 = every user state component the CPUID table offers
 * (leaf 0xD), which is what the guest enables anyway. Keeps KVM's view of
 * XCR0 right under nested hypervisors that do not forward XSETBV exits, and
 * CPUID.0xD.0:EBX consistent for the guest. No-op without XSAVE. */
bool regs_setup_xcr0(AccelVcpu *v, const struct kvm_cpuid2 *cpuid, GError **errp);
/* LINT0 = ExtINT (the PIC), LINT1 = NMI, as the MP table describes. */
bool regs_setup_lapic(AccelVcpu *v, GError **errp);
