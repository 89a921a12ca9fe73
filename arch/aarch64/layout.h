/* Every guest-physical address and fixed interrupt of the aarch64 machine, in
 * one place. The low 1 GiB follows QEMU's `-M virt` map where a device exists
 * in both, so that stock arm64 firmware (QEMU_EFI.fd) can follow later and
 * guests see familiar addresses.
 *
 *   0x0800_0000  GICv3 distributor (64 KiB)
 *   0x0808_0000  GICv3 ITS (128 KiB: control frame + translater frame)
 *   0x080a_0000  GICv3 redistributors, 128 KiB per vCPU (up to 123 vCPUs)
 *   0x0900_0000  PL011 UART (4 KiB), SPI 1
 *   0x0901_0000  PL031 RTC (4 KiB), SPI 2
 *   0x0903_0000  PL061 GPIO (4 KiB), SPI 7: line 3 is the power button
 *   0x0904_0000  GED (ACPI-less power button is PSCI; reserved for hotplug)
 *   0x1000_0000  PCIe 32-bit MMIO window (up to 0x3eff_0000)
 *   0x3eff_0000  PCIe I/O window (64 KiB, MMIO-mapped port space)
 *   0x3f00_0000  PCIe ECAM (16 MiB: buses 0-15; we use bus 0)
 *   0x4000_0000  RAM (kernel Image, then DTB and initrd near the top)
 *   RAM end, 1 GiB aligned: PCIe 64-bit MMIO window */
#pragma once

#define ARM_GIC_DIST_BASE 0x08000000ull
#define ARM_GIC_DIST_SIZE 0x00010000ull
#define ARM_GIC_ITS_BASE 0x08080000ull
#define ARM_GIC_ITS_SIZE 0x00020000ull
#define ARM_GIC_REDIST_BASE 0x080a0000ull
#define ARM_GIC_REDIST_SIZE_PER_CPU 0x00020000ull
#define ARM_GIC_REDIST_REGION_SIZE 0x00f60000ull /* up to 0x0900_0000 */
#define ARM_MAX_VCPUS ((unsigned)(ARM_GIC_REDIST_REGION_SIZE / ARM_GIC_REDIST_SIZE_PER_CPU))
/* Interrupt IDs the vGIC implements: 32 private (SGI+PPI), then SPIs. */
#define ARM_GIC_NR_IRQS 256u
#define ARM_GIC_SPI_BASE 32u

#define ARM_UART_BASE 0x09000000ull
#define ARM_UART_SIZE 0x00001000ull
#define ARM_UART_SPI 1u
#define ARM_RTC_BASE 0x09010000ull
#define ARM_RTC_SIZE 0x00001000ull
#define ARM_RTC_SPI 2u
#define ARM_GPIO_BASE 0x09030000ull
#define ARM_GPIO_SIZE 0x00001000ull
#define ARM_GPIO_SPI 7u
/* The GPIO line of the gpio-keys KEY_POWER (the power button). */
#define ARM_GPIO_POWER_LINE 3u
#define ARM_GED_BASE 0x09040000ull
#define ARM_GED_SIZE 0x00001000ull
#define ARM_GED_SPI 9u

#define ARM_PCI_MMIO32_BASE 0x10000000ull
#define ARM_PCI_MMIO32_SIZE 0x2eff0000ull
#define ARM_PCI_IO_BASE 0x3eff0000ull
#define ARM_PCI_IO_SIZE 0x00010000ull
#define ARM_PCI_ECAM_BASE 0x3f000000ull
#define ARM_PCI_BUSES 1
#define ARM_PCI_ECAM_SIZE (ARM_PCI_BUSES * 0x100000ull)
#define ARM_PCI_INTX_SPI_BASE 3u /* INTA-D of the slots: SPIs 3-6 (swizzled) */
#define ARM_PCI_MMIO64_SIZE (64ull << 30) /* placed above RAM, 1 GiB aligned */

#define ARM_RAM_BASE 0x40000000ull
/* The Image header's text_offset is relative to a 2 MiB aligned base. */
#define ARM_KERNEL_ALIGN 0x200000ull
/* DTB: at most 2 MiB (the kernel maps it in one block), 8-byte aligned. */
#define ARM_FDT_MAX_SIZE 0x200000ull

/* Architected timer PPIs, as interrupt IDs (the DT uses ID - 16). */
#define ARM_TIMER_PPI_SECURE 29u
#define ARM_TIMER_PPI_NONSECURE 30u
#define ARM_TIMER_PPI_VIRT 27u
#define ARM_TIMER_PPI_HYP 26u
/* PMU overflow interrupt PPI (QEMU virt uses 23). */
#define ARM_PMU_PPI 23u
