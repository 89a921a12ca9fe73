/* Direct kernel boot on aarch64: load the arm64 Image at its text offset,
 * the initramfs as high as fits below the DTB block, and report where the
 * DTB goes and where the boot vCPU starts. */
#pragma once
#include "arch/aarch64/image.h"
#include "hypervisor/memory.h"
#include "hypervisor/vm_config.h"

#include <glib.h>

typedef struct ArmBootInfo {
    uint64_t entry;    /* PC of the boot vCPU (the Image's first instruction) */
    uint64_t dtb_addr; /* x0 */
    uint64_t initrd_start, initrd_size; /* size 0: none */
} ArmBootInfo;

/* Open the kernel and check it is an arm64 Image nimbus can boot. */
bool arm_boot_probe_kernel(const char *path, GError **errp);

/* Load payload->kernel and ->initramfs into RAM at ARM_RAM_BASE (ram_size
 * bytes, already mapped). The command line goes into the DTB. */
bool arm_boot_load(GuestMemory *mem, const PayloadConfig *payload, uint64_t ram_size,
                   ArmBootInfo *out, GError **errp);
