/* The x86_64 machine: in-kernel irqchip (PIC, IOAPIC, LAPICs) and PIT, RAM
 * around the 32-bit hole, the legacy platform devices, the vCPUs with their
 * CPUID/MSRs, the MP table and the kernel payload. Where each piece sits is
 * in layout.h; this file only puts them together. */
#include "arch/arch.h"
#include "arch/machine_common.h"
#include "arch/x86_64/acpi.h"
#include "arch/x86_64/boot.h"
#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/e820.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mptable.h"
#include "arch/x86_64/msr.h"
#include "arch/x86_64/regs.h"
#include "arch/x86_64/vm_state.h"
#include "devices/acpi/ged.h"
#include "devices/misc/i8042.h"
#include "devices/misc/port_sink.h"
#include "devices/rtc/cmos_rtc.h"
#include "devices/serial/uart16550.h"
#include "hypervisor/error.h"
#include "pci/host.h"

#define X86_ISA_GSIS 16
#define X86_MAX_GSI 1024

static bool machine_check_config(const VmConfig *cfg, GError **errp)
{
    KernelFormat fmt;
    if (cfg->cpus.max_vcpus > X86_MAX_VCPUS) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "--cpus: %u vCPUs requested, the x86_64 machine supports at most %u",
                    cfg->cpus.max_vcpus, X86_MAX_VCPUS);
        return false;
    }
    return machine_check_common_config(cfg, errp) &&
           boot_probe_kernel(cfg->payload.kernel, &fmt, errp);
}

static uint32_t machine_max_vcpus(Accel *accel)
{
    return X86_MAX_VCPUS;
}

static bool setup_irqchip(Vm *vm, GError **errp)
{
    AccelVm *avm = vm_accel_vm(vm);
    AccelPlatform p = { .x86_tss_gpa = X86_KVM_TSS_ADDR,
                        .x86_identity_map_gpa = X86_KVM_IDENTITY_MAP_ADDR,
                        .x86_pit = true };
    int r = avm->ops->vm_setup_platform(avm, &p);
    if (r < 0) {
        error_set_errno(errp, r, "cannot create the in-kernel interrupt controllers");
        return false;
    }
    /* GSI 0-15 reach both the PICs and IOAPIC pins 0-15 (the guest uses
     * whichever it enabled); 16-23 only the IOAPIC. MSIs come after. */
    AccelRoute routes[X86_ISA_GSIS * 2 + (X86_IOAPIC_PINS - X86_ISA_GSIS)];
    size_t n = 0;
    for (uint32_t gsi = 0; gsi < X86_IOAPIC_PINS; gsi++) {
        if (gsi < X86_ISA_GSIS && gsi != 2)
            routes[n++] = (AccelRoute){ .gsi = gsi, .kind = ACCEL_ROUTE_IRQCHIP,
                                        .irqchip = { .chip = gsi < 8 ? 0 : 1, .pin = gsi % 8 } };
        routes[n++] = (AccelRoute){ .gsi = gsi, .kind = ACCEL_ROUTE_IRQCHIP,
                                    .irqchip = { .chip = 2, .pin = gsi } };
    }
    IrqRouter *router = irq_router_new(avm, routes, n, X86_IOAPIC_PINS, X86_MAX_GSI);
    vm_set_irq_router(vm, router);
    return irq_router_commit(router, errp);
}

static bool setup_ram(Vm *vm, GError **errp)
{
    const MemoryConfig *mc = &vm_config(vm)->memory;
    MemoryBacking backing = { .shared = mc->shared, .hugepages = mc->hugepages,
                              .hugepage_size = mc->hugepage_size };
    uint64_t below = e820_ram_below_4g(mc->size), above = e820_ram_above_4g(mc->size);
    if (!memory_add_ram(vm_memory(vm), "ram-low", 0, below, &backing, errp))
        return false;
    return !above ||
           memory_add_ram(vm_memory(vm), "ram-high", X86_RAM_ABOVE_4G_START, above, &backing,
                          errp);
}

/* The 64-bit PCI window starts at the first 1 GiB boundary above RAM. */
static uint64_t pci_mmio64_base(const VmConfig *cfg)
{
    uint64_t end = X86_RAM_ABOVE_4G_START + e820_ram_above_4g(cfg->memory.size);
    return (end + (1ull << 30) - 1) & ~((1ull << 30) - 1);
}

static bool setup_pci(Vm *vm, GError **errp)
{
    PciHostConfig host = {
        .ecam_base = X86_PCI_ECAM_BASE,
        .ecam_size = X86_PCI_ECAM_SIZE,
        .pio_cf8 = true,
        .mmio32_base = X86_PCI_MMIO32_BASE,
        .mmio32_size = X86_PCI_MMIO32_SIZE,
        .mmio64_base = pci_mmio64_base(vm_config(vm)),
        .mmio64_size = X86_PCI_MMIO64_SIZE,
        .io_base = X86_PCI_IO_BASE,
        .io_size = X86_PCI_IO_SIZE,
        .intx_gsi_base = X86_PCI_INTX_GSI_BASE,
    };
    return device_create(vm, &pci_host_ops, PCI_HOST_DEFAULT_ID, &host, errp) != NULL;
}

static bool setup_devices(Vm *vm, GError **errp)
{
    const VmConfig *cfg = vm_config(vm);
    if (cfg->serial.mode != CONSOLE_MODE_OFF) {
        Uart16550Config uart = { .base = X86_COM1_PORT, .gsi = X86_COM1_GSI,
                                 .console = &cfg->serial };
        if (!device_create(vm, &uart16550_ops, "serial0", &uart, errp))
            return false;
    }
    CmosRtcConfig rtc = { .base = X86_RTC_PORT,
                          .mem_below_4g = e820_ram_below_4g(cfg->memory.size),
                          .mem_above_4g = e820_ram_above_4g(cfg->memory.size) };
    I8042Config kbd = { .data_port = X86_I8042_DATA_PORT, .command_port = X86_I8042_CMD_PORT };
    PortSinkConfig post = { .base = X86_POST_PORT, .size = 1, .read_value = 0xff };
    GedConfig ged = { .base = X86_GED_PORT, .gsi = X86_GED_GSI };
    return device_create(vm, &cmos_rtc_ops, "rtc0", &rtc, errp) &&
           device_create(vm, &ged_ops, "ged0", &ged, errp) &&
           device_create(vm, &i8042_ops, "i8042", &kbd, errp) &&
           device_create(vm, &port_sink_ops, "post", &post, errp);
}

static bool setup_vcpus(Vm *vm, const X86BootEntry *entry, GError **errp)
{
    if (!vm_create_vcpus(vm, errp))
        return false;
    g_autofree struct kvm_cpuid2 *supported = accel_kvm_supported_cpuid(vm_accel(vm), errp);
    if (!supported)
        return false;
    uint32_t n = vm_vcpu_count(vm);
    for (uint32_t i = 0; i < n; i++) {
        AccelVcpu *v = vcpu_accel(vm_vcpu(vm, i));
        g_autofree struct kvm_cpuid2 *cpuid = cpuid_build(supported, i, n);
        int r = v->ops->vcpu_set_cpuid(v, cpuid);
        if (r < 0) {
            error_set_errno(errp, r, "vCPU %u: cannot set CPUID", i);
            return false;
        }
        if (!msr_setup_boot(v, errp) || !regs_setup_fpu(v, errp) ||
            !regs_setup_xcr0(v, cpuid, errp) || !regs_setup_lapic(v, errp) ||
            (i == 0 && !regs_setup_boot_cpu(v, entry, errp))) {
            g_prefix_error(errp, "vCPU %u: ", i);
            return false;
        }
        /* The other vCPUs wait for INIT/SIPI from the guest's SMP bring-up. */
    }
    return true;
}

/* There is no BIOS, but Linux may still "reboot through the BIOS": on
 * hardware-reduced ACPI without EFI it tries EFI, then jumps to the real-mode
 * reset vector F000:FFF0. What a BIOS would do there is reset the machine,
 * so the stub pulses the i8042 reset line and halts. */
static bool write_reset_vector(GuestMemory *mem, GError **errp)
{
    static const uint8_t stub[] = {
        0xb0, 0xfe,      /* mov al, 0xfe */
        0xe6, 0x64,      /* out 0x64, al */
        0xf4,            /* hlt */
        0xeb, 0xfd,      /* jmp hlt */
    };
    if (!memory_write(mem, X86_RESET_VECTOR_ADDR, stub, sizeof stub)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "cannot write the reset vector");
        return false;
    }
    return true;
}

static bool setup_payload(Vm *vm, X86BootEntry *entry, GError **errp)
{
    const VmConfig *cfg = vm_config(vm);
    GuestMemory *mem = vm_memory(vm);
    E820Map e820;
    e820_build(&e820, cfg->memory.size);
    g_autoptr(GBytes) mp = mptable_build(X86_MPTABLE_ADDR, cfg->cpus.boot_vcpus, errp);
    if (!mp)
        return false;
    gsize mp_len;
    const void *mp_data = g_bytes_get_data(mp, &mp_len);
    if (!memory_write(mem, X86_MPTABLE_ADDR, mp_data, mp_len)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "cannot write the MP table");
        return false;
    }
    AcpiX86Config acpi = { .n_cpus = cfg->cpus.boot_vcpus,
                           .com1 = cfg->serial.mode != CONSOLE_MODE_OFF,
                           .pci = true,
                           .mmio64_base = pci_mmio64_base(cfg) };
    uint64_t rsdp;
    return write_reset_vector(mem, errp) && acpi_x86_write(mem, &acpi, &rsdp, errp) &&
           boot_load_payload(mem, &cfg->payload, &e820, rsdp, entry, errp) &&
           regs_write_boot_tables(mem, entry->mode, errp);
}

static bool machine_build(Vm *vm, GError **errp)
{
    X86BootEntry entry;
    return setup_irqchip(vm, errp) && setup_ram(vm, errp) && setup_devices(vm, errp) &&
           setup_pci(vm, errp) && machine_create_virtio_devices(vm, errp) &&
           setup_payload(vm, &entry, errp) && setup_vcpus(vm, &entry, errp);
}

static bool machine_power_button(Vm *vm)
{
    Device *ged = vm_find_device(vm, "ged0");
    if (!ged)
        return false;
    ged_press_power_button(ged);
    return true;
}

static const MachineOps machine_ops = {
    .check_config = machine_check_config,
    .max_vcpus = machine_max_vcpus,
    .build = machine_build,
    .power_button = machine_power_button,
    .save_state = x86_machine_state_save,
    .load_state = x86_machine_state_load,
};

const MachineOps *arch_machine_ops(void)
{
    return &machine_ops;
}
