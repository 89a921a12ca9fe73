/* Every guest-physical address and fixed resource of the x86_64 machine, in
 * one place. Low memory is laid out the way Linux's boot protocols expect;
 * the 3-4 GiB hole holds the interrupt controllers now and the PCIe windows
 * (issue 3) later.
 *
 *   0x0000_0500  GDT (boot segments), IDT right after it (empty)
 *   0x0000_6000  PVH hvm_start_info, module list, memory map
 *   0x0000_7000  Linux zero page (struct boot_params)
 *   0x0000_8ff0  boot stack (grows down)
 *   0x0000_9000  identity page tables: PML4, PDPT, 4 PDs (first 4 GiB, 2 MiB pages)
 *   0x0002_0000  kernel command line
 *   0x0009_fc00  EBDA: MP table (SMP and IOAPIC description for ACPI-less guests)
 *   0x000e_0000  ACPI tables, RSDP first (in the BIOS area Linux scans)
 *   0x000f_fff0  real-mode reset vector: a stub that resets through the i8042
 *   0x0010_0000  first byte of high RAM; kernels load at their preferred address
 *   0xc000_0000  32-bit MMIO hole (3 GiB .. 4 GiB): PCI BARs (512 MiB), then
 *   0xe000_0000  PCIe ECAM (1 MiB per bus)
 *   0xfec0_0000  IOAPIC, 0xfee0_0000 LAPIC (in-kernel irqchip)
 *   0xfffb_c000  KVM's identity-map page and 3-page TSS (Intel real mode)
 *   4 GiB        RAM above the hole */
#pragma once

#define X86_GDT_ADDR 0x500ull
#define X86_GDT_ENTRIES 5
#define X86_IDT_ADDR 0x528ull

#define X86_PVH_INFO_ADDR 0x6000ull
#define X86_PVH_MODLIST_ADDR 0x6040ull
#define X86_PVH_MEMMAP_ADDR 0x6100ull
#define X86_PVH_MEMMAP_MAX 128 /* entries of 24 bytes: ends before 0x7000 */

#define X86_ZERO_PAGE_ADDR 0x7000ull
#define X86_BOOT_STACK_ADDR 0x8ff0ull

#define X86_PML4_ADDR 0x9000ull
#define X86_PDPT_ADDR 0xa000ull
#define X86_PD_ADDR 0xb000ull /* 4 consecutive pages */
#define X86_IDENTITY_MAPPED_SIZE (4ull << 30)

#define X86_CMDLINE_ADDR 0x20000ull
#define X86_CMDLINE_MAX 0x10000ull /* bytes, including the NUL */

#define X86_EBDA_ADDR 0x9fc00ull
#define X86_MPTABLE_ADDR X86_EBDA_ADDR
/* 16 + 44 + 20 per CPU + 20 entries of 8 bytes: 5300 bytes for X86_MAX_VCPUS.
 * Only the floating pointer must lie in the EBDA's 1 KiB; the rest runs into
 * the VGA window, which is RAM-backed but never in the e820 map. */
#define X86_MPTABLE_MAX 0x1800ull
#define X86_LOW_RAM_END X86_EBDA_ADDR /* first e820 RAM range: [0, EBDA) */
#define X86_ACPI_ADDR 0xe0000ull
#define X86_ACPI_MAX 0x20000ull /* up to the end of the BIOS area */
#define X86_RESET_VECTOR_ADDR 0xffff0ull
#define X86_BIOS_AREA_END 0x100000ull

#define X86_HIGH_RAM_START 0x100000ull
#define X86_MMIO_HOLE_START 0xc0000000ull
#define X86_MMIO_HOLE_END 0x100000000ull
#define X86_RAM_ABOVE_4G_START X86_MMIO_HOLE_END

#define X86_PCI_MMIO32_BASE X86_MMIO_HOLE_START
#define X86_PCI_MMIO32_SIZE 0x20000000ull
#define X86_PCI_ECAM_BASE 0xe0000000ull
#define X86_PCI_BUSES 1
#define X86_PCI_ECAM_SIZE (X86_PCI_BUSES * 0x100000ull)
#define X86_PCI_IO_BASE 0x1000
#define X86_PCI_IO_SIZE 0xf000
#define X86_PCI_MMIO64_SIZE (64ull << 30) /* placed above RAM, 1 GiB aligned */
#define X86_PCI_INTX_GSI_BASE 16           /* INTA-D of the slots: GSIs 16-19 */

#define X86_IOAPIC_ADDR 0xfec00000ull
#define X86_IOAPIC_PINS 24
#define X86_LAPIC_ADDR 0xfee00000ull
#define X86_KVM_IDENTITY_MAP_ADDR 0xfffbc000ull
#define X86_KVM_TSS_ADDR 0xfffbd000ull

/* Legacy I/O ports and ISA interrupt lines. */
#define X86_COM1_PORT 0x3f8
#define X86_COM1_GSI 4
#define X86_RTC_PORT 0x70
#define X86_RTC_GSI 8
#define X86_I8042_DATA_PORT 0x60
#define X86_I8042_CMD_PORT 0x64
#define X86_POST_PORT 0x80
#define X86_GED_PORT 0x600 /* ACPI sleep control/status, reset, GED events (4 bytes) */
#define X86_GED_GSI 23     /* the GED's interrupt (power button); an IOAPIC-only pin */

/* Linux's boot GDT selectors (Documentation/arch/x86/boot.rst). */
#define X86_BOOT_CS 0x10
#define X86_BOOT_DS 0x18
#define X86_BOOT_TSS 0x20

/* The most vCPUs this machine describes: the MP table's 8-bit APIC IDs with
 * the IOAPIC taking the next ID, and xAPIC mode (no x2APIC tables yet). */
#define X86_MAX_VCPUS 254
