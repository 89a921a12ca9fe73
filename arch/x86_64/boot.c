#include "arch/x86_64/boot.h"

#include "arch/x86_64/bzimage.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/pvh.h"
#include "firmware/elf_loader.h"
#include "firmware/payload.h"
#include "hypervisor/error.h"
#include "hypervisor/fdutil.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#define PAGE_SIZE 4096ull
#define PAGE_ALIGN_UP(x) (((x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))

static bool read_head(int fd, const char *path, uint8_t *head, size_t cap, size_t *len,
                      GError **errp)
{
    ssize_t n = pread(fd, head, cap, 0);
    if (n < 0) {
        error_set_errno(errp, -errno, "kernel %s: read failed", path);
        return false;
    }
    *len = (size_t)n;
    return true;
}

bool boot_probe_kernel(const char *path, KernelFormat *fmt, GError **errp)
{
    uint64_t size;
    AUTO_FD int fd = payload_open(path, "kernel", &size, errp);
    if (fd < 0)
        return false;
    uint8_t head[BZ_HEAD_SIZE];
    size_t len;
    if (!read_head(fd, path, head, sizeof head, &len, errp))
        return false;
    if (bzimage_has_magic(head, len)) {
        BzImageHeader h;
        *fmt = KERNEL_FORMAT_BZIMAGE;
        return bzimage_parse(head, len, size, path, &h, errp);
    }
    if (elf_has_magic(head, len)) {
        ElfInfo info;
        g_autofree char *name = g_strdup_printf("kernel %s", path);
        if (!elf_inspect(fd, name, EM_X86_64, &info, errp))
            return false;
        if (!info.has_pvh_entry) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                        "kernel %s: ELF image without a PVH entry point (Xen note 18); build "
                        "the kernel with CONFIG_PVH=y or boot its bzImage",
                        path);
            return false;
        }
        *fmt = KERNEL_FORMAT_PVH_ELF;
        return true;
    }
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                "kernel %s: not a kernel (neither a bzImage nor a PVH ELF vmlinux)", path);
    return false;
}

/* The highest guest address + 1 of RAM below 4 GiB (the end of the last
 * e820 RAM range there). */
static uint64_t low_ram_end(const E820Map *e820)
{
    uint64_t end = 0;
    for (size_t i = 0; i < e820->count; i++) {
        const E820Entry *e = &e820->entries[i];
        if (e->type == E820_RAM && e->addr < X86_MMIO_HOLE_END)
            end = MAX(end, e->addr + e->size);
    }
    return end;
}

static bool write_cmdline(GuestMemory *mem, const char *cmdline, uint64_t max_len,
                          uint32_t *len, GError **errp)
{
    size_t n = cmdline ? strlen(cmdline) : 0;
    if (n > max_len || n + 1 > X86_CMDLINE_MAX) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "--cmdline: %zu bytes is longer than the kernel accepts (%" G_GUINT64_FORMAT
                    ")",
                    n, (guint64)MIN(max_len, X86_CMDLINE_MAX - 1));
        return false;
    }
    *len = (uint32_t)n;
    if (!memory_write(mem, X86_CMDLINE_ADDR, cmdline ? cmdline : "", n + 1)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "cannot write the command line");
        return false;
    }
    return true;
}

static bool load_bzimage(GuestMemory *mem, const PayloadConfig *p, const E820Map *e820,
                         uint64_t rsdp_addr, X86BootEntry *entry, GError **errp)
{
    uint64_t size;
    AUTO_FD int fd = payload_open(p->kernel, "kernel", &size, errp);
    if (fd < 0)
        return false;
    uint8_t head[BZ_HEAD_SIZE];
    size_t len;
    BzImageHeader h;
    if (!read_head(fd, p->kernel, head, sizeof head, &len, errp) ||
        !bzimage_parse(head, len, size, p->kernel, &h, errp))
        return false;

    uint64_t load = MAX(h.pref_address, X86_HIGH_RAM_START);
    uint64_t ram_end = low_ram_end(e820);
    uint64_t footprint = MAX((uint64_t)h.init_size, h.kernel_size);
    if (load + footprint > ram_end) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "kernel %s needs %" G_GUINT64_FORMAT " MiB from %#" G_GINT64_MODIFIER
                    "x; give more --memory",
                    p->kernel, footprint >> 20, load);
        return false;
    }
    if (!payload_load(mem, fd, p->kernel, h.setup_size, h.kernel_size, load, errp))
        return false;

    BootParamsInfo info = { .cmdline_addr = X86_CMDLINE_ADDR, .e820 = e820,
                            .rsdp_addr = rsdp_addr };
    if (!write_cmdline(mem, p->cmdline, h.cmdline_size, &info.cmdline_len, errp))
        return false;
    if (p->initramfs) {
        /* initrd_addr_max is the last byte the initrd may use. */
        uint64_t limit = MIN(ram_end, (uint64_t)h.initrd_addr_max + 1);
        if (!payload_load_initrd(mem, p->initramfs, load + footprint, limit, &info.initrd_addr,
                         &info.initrd_size, errp))
            return false;
    }
    uint8_t zp[BZ_ZERO_PAGE_SIZE];
    bzimage_build_boot_params(zp, head, &h, &info);
    if (!memory_write(mem, X86_ZERO_PAGE_ADDR, zp, sizeof zp)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "cannot write the zero page");
        return false;
    }
    /* The 64-bit entry point is 0x200 bytes into the protected-mode kernel. */
    *entry = (X86BootEntry){ .mode = X86_ENTRY_LINUX64, .rip = load + 0x200,
                             .boot_info = X86_ZERO_PAGE_ADDR };
    return true;
}

static bool load_pvh(GuestMemory *mem, const PayloadConfig *p, const E820Map *e820,
                     uint64_t rsdp_addr, X86BootEntry *entry, GError **errp)
{
    uint64_t size;
    AUTO_FD int fd = payload_open(p->kernel, "kernel", &size, errp);
    if (fd < 0)
        return false;
    ElfInfo elf;
    g_autofree char *name = g_strdup_printf("kernel %s", p->kernel);
    if (!elf_load(fd, name, EM_X86_64, mem, &elf, errp))
        return false;
    if (!elf.has_pvh_entry) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED,
                    "kernel %s: no PVH entry point", p->kernel);
        return false;
    }

    PvhInfo info = { .modlist_addr = X86_PVH_MODLIST_ADDR, .memmap_addr = X86_PVH_MEMMAP_ADDR,
                     .rsdp_addr = rsdp_addr, .e820 = e820 };
    uint32_t cmdline_len;
    if (!write_cmdline(mem, p->cmdline, X86_CMDLINE_MAX - 1, &cmdline_len, errp))
        return false;
    info.cmdline_addr = X86_CMDLINE_ADDR;
    if (p->initramfs &&
        !payload_load_initrd(mem, p->initramfs, PAGE_ALIGN_UP(elf.load_high), low_ram_end(e820),
                     &info.initrd_addr, &info.initrd_size, errp))
        return false;
    if (e820->count > X86_PVH_MEMMAP_MAX) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "memory map too large for PVH");
        return false;
    }
    uint8_t si[PVH_START_INFO_SIZE], modlist[PVH_MODLIST_ENTRY_SIZE] = { 0 };
    g_autofree uint8_t *memmap = g_malloc0(e820->count * PVH_MEMMAP_ENTRY_SIZE + 1);
    pvh_build(&info, si, modlist, memmap);
    if (!memory_write(mem, X86_PVH_INFO_ADDR, si, sizeof si) ||
        !memory_write(mem, X86_PVH_MODLIST_ADDR, modlist, sizeof modlist) ||
        !memory_write(mem, X86_PVH_MEMMAP_ADDR, memmap, e820->count * PVH_MEMMAP_ENTRY_SIZE)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "cannot write the PVH start info");
        return false;
    }
    *entry = (X86BootEntry){ .mode = X86_ENTRY_PVH32, .rip = elf.pvh_entry,
                             .boot_info = X86_PVH_INFO_ADDR };
    return true;
}

bool boot_load_payload(GuestMemory *mem, const PayloadConfig *payload, const E820Map *e820,
                       uint64_t rsdp_addr, X86BootEntry *entry, GError **errp)
{
    KernelFormat fmt;
    if (!boot_probe_kernel(payload->kernel, &fmt, errp))
        return false;
    if (fmt == KERNEL_FORMAT_BZIMAGE)
        return load_bzimage(mem, payload, e820, rsdp_addr, entry, errp);
    return load_pvh(mem, payload, e820, rsdp_addr, entry, errp);
}
