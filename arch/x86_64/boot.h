/* Direct kernel boot on x86_64: recognise the kernel's format (bzImage or a
 * PVH-capable ELF vmlinux), load it, the initramfs and the command line into
 * guest memory and describe the entry point for the boot vCPU. */
#pragma once
#include "arch/x86_64/e820.h"
#include "arch/x86_64/regs.h"
#include "hypervisor/memory.h"
#include "hypervisor/vm_config.h"

#include <glib.h>

typedef enum { KERNEL_FORMAT_BZIMAGE, KERNEL_FORMAT_PVH_ELF } KernelFormat;

/* Open and validate the kernel file; errors name the file and say why it is
 * not a kernel nimbus can boot. */
bool boot_probe_kernel(const char *path, KernelFormat *fmt, GError **errp);

/* Load payload->kernel, ->initramfs and ->cmdline. e820 is the guest's memory
 * map (RAM must already be mapped), rsdp_addr where the ACPI tables start (0:
 * none). Fills the boot vCPU's entry. */
bool boot_load_payload(GuestMemory *mem, const PayloadConfig *payload, const E820Map *e820,
                       uint64_t rsdp_addr, X86BootEntry *entry, GError **errp);

