/* The x86_64 machine's ACPI tables: RSDP, XSDT, FADT (hardware-reduced),
 * DSDT, MADT. Linux needs the MADT to find and start the other vCPUs (the
 * stock cloud kernels are built without MP-table support). */
#pragma once
#include "hypervisor/memory.h"

#include <glib.h>
#include <stdint.h>

typedef struct AcpiX86Config {
    uint32_t n_cpus;
    bool com1; /* the UART exists (--serial is not off) */
    bool pci;  /* describe the PCIe root (DSDT PCI0, MCFG) */
    uint64_t mmio64_base; /* with pci: the 64-bit BAR window (X86_PCI_MMIO64_SIZE) */
} AcpiX86Config;

/* The tables laid out from `base` (the RSDP first), as one blob. */
GBytes *acpi_x86_build(const AcpiX86Config *cfg, uint64_t base, GError **errp);

/* Build and write the tables at X86_ACPI_ADDR; returns the RSDP address. */
bool acpi_x86_write(GuestMemory *mem, const AcpiX86Config *cfg, uint64_t *rsdp_addr,
                    GError **errp);
