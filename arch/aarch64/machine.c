/* The aarch64 machine: KVM's in-kernel GICv3 + ITS, RAM at 1 GiB, the
 * PL011, PL031 and PL061 (the power button), a PCIe host (ECAM) whose MSIs reach the ITS tagged with
 * the requester id, the virtio devices, the vCPUs (secondaries powered off
 * until PSCI CPU_ON) and the kernel with its device tree. Where each piece
 * sits is in layout.h; this file only puts them together. */
#include "arch/aarch64/boot.h"
#include "arch/aarch64/fdt.h"
#include "arch/aarch64/gic.h"
#include "arch/aarch64/layout.h"
#include "arch/aarch64/regs.h"
#include "arch/aarch64/vm_state.h"
#include "arch/arch.h"
#include "arch/machine_common.h"
#include "devices/gpio/pl061.h"
#include "devices/rtc/pl031.h"
#include "devices/serial/pl011.h"
#include "hypervisor/error.h"
#include "pci/host.h"

/* KVM's default VM type gives a 40-bit guest physical address space. */
#define ARM_IPA_LIMIT (1ull << 40)
#define GIB (1ull << 30)

/* The 64-bit PCI window starts at the first 1 GiB boundary above RAM. */
static uint64_t pci_mmio64_base(uint64_t ram_size)
{
    return (ARM_RAM_BASE + ram_size + GIB - 1) & ~(GIB - 1);
}

static bool machine_check_config(const VmConfig *cfg, GError **errp)
{
    if (cfg->cpus.max_vcpus > ARM_MAX_VCPUS) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "--cpus: %u vCPUs requested, the aarch64 machine supports at most %u",
                    cfg->cpus.max_vcpus, ARM_MAX_VCPUS);
        return false;
    }
    uint64_t size = cfg->memory.size;
    if (size % ARM_KERNEL_ALIGN) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "--memory: size must be a multiple of 2 MiB on aarch64");
        return false;
    }
    if (size > ARM_IPA_LIMIT || pci_mmio64_base(size) + ARM_PCI_MMIO64_SIZE > ARM_IPA_LIMIT) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "--memory: %" G_GUINT64_FORMAT " GiB does not fit in the aarch64 machine's "
                    "1 TiB address space with the PCI windows",
                    (uint64_t)(size / GIB));
        return false;
    }
    return machine_check_common_config(cfg, errp) &&
           arm_boot_probe_kernel(cfg->payload.kernel, errp);
}

static uint32_t machine_max_vcpus(Accel *accel)
{
    int kvm = accel && accel->ops->max_vcpus ? accel->ops->max_vcpus(accel) : 0;
    return kvm > 0 ? MIN(ARM_MAX_VCPUS, (uint32_t)kvm) : ARM_MAX_VCPUS;
}

/* The vCPUs exist before the vGIC is initialized (that fixes their count);
 * the boot vCPU runs the kernel, the others wait for PSCI CPU_ON. */
static bool setup_vcpus(Vm *vm, bool *pmu, GError **errp)
{
    if (!vm_create_vcpus(vm, errp))
        return false;
    AccelVm *avm = vm_accel_vm(vm);
    *pmu = avm->ops->vm_arm_has_pmu(avm);
    for (unsigned i = 0; i < vm_vcpu_count(vm); i++) {
        AccelVcpu *v = vcpu_accel(vm_vcpu(vm, i));
        uint32_t features = (i ? ACCEL_ARM_VCPU_POWER_OFF : 0) | (*pmu ? ACCEL_ARM_VCPU_PMU : 0);
        int r = v->ops->vcpu_arm_init(v, features);
        if (r < 0) {
            error_set_errno(errp, r, "vCPU %u: KVM_ARM_VCPU_INIT failed", i);
            return false;
        }
    }
    if (!arm_gic_finalize(vm, errp))
        return false;
    /* Writes the GIC's tables to guest memory whenever the VM pauses. */
    if (!device_create(vm, &arm_vgic_ops, ARM_VGIC_DEVICE_ID, NULL, errp))
        return false;
    for (unsigned i = 0; *pmu && i < vm_vcpu_count(vm); i++) {
        AccelVcpu *v = vcpu_accel(vm_vcpu(vm, i));
        int r = v->ops->vcpu_arm_pmu_init(v, ARM_PMU_PPI);
        if (r < 0) {
            error_set_errno(errp, r, "vCPU %u: cannot initialize the PMU", i);
            return false;
        }
    }
    return true;
}

static bool setup_ram(Vm *vm, GError **errp)
{
    const MemoryConfig *mc = &vm_config(vm)->memory;
    MemoryBacking backing = { .shared = mc->shared, .hugepages = mc->hugepages,
                              .hugepage_size = mc->hugepage_size };
    return memory_add_ram(vm_memory(vm), "ram", ARM_RAM_BASE, mc->size, &backing, errp);
}

static bool setup_devices(Vm *vm, GError **errp)
{
    const VmConfig *cfg = vm_config(vm);
    if (cfg->serial.mode != CONSOLE_MODE_OFF) {
        Pl011Config uart = { .base = ARM_UART_BASE, .gsi = ARM_UART_SPI,
                             .console = &cfg->serial };
        if (!device_create(vm, &pl011_ops, "serial0", &uart, errp))
            return false;
    }
    Pl031Config rtc = { .base = ARM_RTC_BASE, .gsi = ARM_RTC_SPI };
    Pl061Config gpio = { .base = ARM_GPIO_BASE, .gsi = ARM_GPIO_SPI };
    return device_create(vm, &pl031_ops, "rtc0", &rtc, errp) &&
           device_create(vm, &pl061_ops, "gpio0", &gpio, errp);
}

static bool setup_pci(Vm *vm, GError **errp)
{
    /* No I/O window: port space would need an MMIO alias and no device
     * Nimbus builds has an I/O BAR. MSIs go to the ITS, which tells
     * devices apart by the requester id. */
    PciHostConfig host = {
        .ecam_base = ARM_PCI_ECAM_BASE,
        .ecam_size = ARM_PCI_ECAM_SIZE,
        .mmio32_base = ARM_PCI_MMIO32_BASE,
        .mmio32_size = ARM_PCI_MMIO32_SIZE,
        .mmio64_base = pci_mmio64_base(vm_config(vm)->memory.size),
        .mmio64_size = ARM_PCI_MMIO64_SIZE,
        .intx_gsi_base = ARM_PCI_INTX_SPI_BASE,
        .msi_devid = true,
    };
    return device_create(vm, &pci_host_ops, PCI_HOST_DEFAULT_ID, &host, errp) != NULL;
}

static uint64_t random_seed(void)
{
    uint64_t s = ((uint64_t)g_random_int() << 32) | g_random_int();
    return s ? s : 1;
}

/* Kernel and initramfs into RAM, the device tree after them (it needs the
 * initramfs's place and the MPIDRs), then the boot vCPU's registers. */
static bool setup_payload(Vm *vm, bool pmu, GError **errp)
{
    const VmConfig *cfg = vm_config(vm);
    ArmBootInfo boot;
    if (!arm_boot_load(vm_memory(vm), &cfg->payload, cfg->memory.size, &boot, errp))
        return false;
    unsigned n = vm_vcpu_count(vm);
    g_autofree uint64_t *mpidr = g_new0(uint64_t, n);
    for (unsigned i = 0; i < n; i++) {
        if (!arm_regs_read_mpidr(vcpu_accel(vm_vcpu(vm, i)), &mpidr[i], errp)) {
            g_prefix_error(errp, "vCPU %u: ", i);
            return false;
        }
    }
    ArmFdtConfig fc = {
        .ram_size = cfg->memory.size,
        .ncpus = n,
        .mpidr = mpidr,
        .cmdline = cfg->payload.cmdline,
        .initrd_start = boot.initrd_start,
        .initrd_size = boot.initrd_size,
        .pci_mmio64_base = pci_mmio64_base(cfg->memory.size),
        .pci_mmio64_size = ARM_PCI_MMIO64_SIZE,
        .its = true,
        .pmu = pmu,
        .rng_seed = random_seed(),
    };
    g_autoptr(GBytes) dtb = arm_fdt_build(&fc, errp);
    if (!dtb)
        return false;
    gsize len;
    const void *data = g_bytes_get_data(dtb, &len);
    if (len > ARM_FDT_MAX_SIZE || !memory_write(vm_memory(vm), boot.dtb_addr, data, len)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED,
                    "cannot write the %" G_GSIZE_FORMAT "-byte device tree", len);
        return false;
    }
    if (!arm_regs_setup_boot_cpu(vcpu_accel(vm_vcpu(vm, 0)), boot.entry, boot.dtb_addr, errp)) {
        g_prefix_error(errp, "vCPU 0: ");
        return false;
    }
    return true;
}

static bool machine_build(Vm *vm, GError **errp)
{
    bool pmu;
    return arm_gic_create(vm, true, errp) && setup_vcpus(vm, &pmu, errp) &&
           setup_ram(vm, errp) && setup_devices(vm, errp) && setup_pci(vm, errp) &&
           machine_create_virtio_devices(vm, errp) && setup_payload(vm, pmu, errp);
}

/* The power button is a key on a GPIO line (gpio-keys in the device tree):
 * a press is a rising edge, the release a falling one once the guest has
 * sampled the line. */
static bool machine_power_button(Vm *vm)
{
    Device *gpio = vm ? vm_find_device(vm, "gpio0") : NULL;
    if (!gpio)
        return false;
    pl061_press_key(gpio, ARM_GPIO_POWER_LINE);
    return true;
}

static const MachineOps machine_ops = {
    .check_config = machine_check_config,
    .max_vcpus = machine_max_vcpus,
    .build = machine_build,
    .power_button = machine_power_button,
    .save_state = arm_machine_state_save,
    .load_state = arm_machine_state_load,
};

const MachineOps *arch_machine_ops(void)
{
    return &machine_ops;
}
