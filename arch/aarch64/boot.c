#include "arch/aarch64/boot.h"

#include "arch/aarch64/layout.h"
#include "firmware/payload.h"
#include "hypervisor/error.h"
#include "hypervisor/fdutil.h"

#include <errno.h>
#include <unistd.h>

/* Open path and parse its Image header; returns the fd or -1. */
static int open_image(const char *path, uint64_t *size, ArmImageInfo *img, GError **errp)
{
    int fd = payload_open(path, "kernel", size, errp);
    if (fd < 0)
        return -1;
    uint8_t head[ARM_IMAGE_HEADER_SIZE];
    ssize_t n = pread(fd, head, sizeof head, 0);
    if (n < 0) {
        error_set_errno(errp, -errno, "kernel %s: read failed", path);
        close(fd);
        return -1;
    }
    if (!arm_image_parse(head, (size_t)n, *size, img, errp)) {
        g_prefix_error(errp, "kernel %s: ", path);
        close(fd);
        return -1;
    }
    return fd;
}

bool arm_boot_probe_kernel(const char *path, GError **errp)
{
    uint64_t size;
    ArmImageInfo img;
    AUTO_FD int fd = open_image(path, &size, &img, errp);
    return fd >= 0;
}

bool arm_boot_load(GuestMemory *mem, const PayloadConfig *p, uint64_t ram_size, ArmBootInfo *out,
                   GError **errp)
{
    uint64_t size;
    ArmImageInfo img;
    ArmBootPlan plan;
    AUTO_FD int fd = open_image(p->kernel, &size, &img, errp);
    if (fd < 0)
        return false;
    if (!arm_image_plan(&img, ARM_RAM_BASE, ram_size, ARM_FDT_MAX_SIZE, &plan, errp)) {
        g_prefix_error(errp, "kernel %s: ", p->kernel);
        return false;
    }
    if (!payload_load(mem, fd, p->kernel, 0, size, plan.kernel_addr, errp))
        return false;
    *out = (ArmBootInfo){ .entry = plan.kernel_addr, .dtb_addr = plan.dtb_addr };
    return !p->initramfs ||
           payload_load_initrd(mem, p->initramfs, plan.initrd_floor, plan.dtb_addr,
                               &out->initrd_start, &out->initrd_size, errp);
}
