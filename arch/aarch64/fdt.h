/* The aarch64 machine's device tree: what the kernel learns about RAM, the
 * vCPUs, PSCI, the timer, the GICv3 (and ITS), the PL011, PL031 and PL061 (with a gpio-keys
 * power button), the PCIe
 * host bridge and /chosen. Pure code (no KVM), built and tested on every
 * host arch. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ArmFdtConfig {
    uint64_t ram_size;             /* RAM at ARM_RAM_BASE */
    unsigned ncpus;
    const uint64_t *mpidr;         /* ncpus MPIDR_EL1 values (read from KVM after VCPU_INIT) */
    const char *cmdline;
    uint64_t initrd_start, initrd_size; /* size 0: no initrd */
    uint64_t pci_mmio64_base, pci_mmio64_size;
    bool its;                      /* describe the GICv3 ITS and use it as msi-parent of the PCIe host */
    bool pmu;                      /* describe the PMU (PPI ARM_PMU_PPI) */
    uint64_t rng_seed;             /* for /chosen/kaslr-seed and rng-seed; 0: leave out */
} ArmFdtConfig;

/* The DTB blob (at most ARM_FDT_MAX_SIZE bytes). */
GBytes *arm_fdt_build(const ArmFdtConfig *cfg, GError **errp);
