/* The aarch64 machine's device tree (fdt.h), from the bindings in Linux's
 * Documentation/devicetree/bindings: arm/cpus, arm/psci, timer/arm,arch_timer,
 * interrupt-controller/arm,gic-v3, serial/pl011, rtc/pl031, gpio/pl061-gpio,
 * input/gpio-keys,
 * pci/host-generic-pci and pci/pci-msi, chosen.
 *
 * Interrupt specifiers of the GICv3 have three cells: type (SPI 0, PPI 1),
 * number (SPI: ID - 32, PPI: ID - 16) and flags (trigger type in bits
 * [3:0]; bits [15:8] are the GICv2-style PPI CPU mask, which the GICv3
 * driver ignores). */
#include "arch/aarch64/fdt.h"

#include "arch/aarch64/layout.h"
#include "firmware/fdt_builder.h"
#include "hypervisor/error.h"

#include <inttypes.h>

#define GIC_SPI 0u
#define GIC_PPI 1u
#define IRQ_EDGE_RISING 1u
#define IRQ_LEVEL_HIGH 4u
#define IRQ_LEVEL_LOW 8u
#define GIC_MAINT_PPI 9u /* the virtualization maintenance interrupt, as a PPI number */
#define PCI_SLOTS 32u
#define PCI_PINS 4u
#define APB_PCLK_HZ 24000000u /* what the PL011 baud divisors are computed from */
/* The MPIDR_EL1 affinity fields that identify a CPU: Aff3 [39:32], Aff2..0 [23:0]. */
#define MPIDR_HWID_MASK 0xff00ffffffull
#define KEY_POWER 116u /* Linux input event code */
#define GPIO_ACTIVE_HIGH 0u

typedef struct ArmFdt {
    FdtBuilder *b;
    const ArmFdtConfig *cfg;
    uint32_t gic, its, clk, gpio; /* phandles */
} ArmFdt;

static uint32_t hi32(uint64_t v)
{
    return (uint32_t)(v >> 32);
}

static uint32_t lo32(uint64_t v)
{
    return (uint32_t)v;
}

static bool config_check(const ArmFdtConfig *cfg, GError **errp)
{
    const char *bad = NULL;
    uint64_t ram_end = ARM_RAM_BASE + cfg->ram_size;
    if (cfg->ncpus == 0 || cfg->ncpus > ARM_MAX_VCPUS)
        bad = "vCPU count out of range";
    else if (!cfg->mpidr)
        bad = "no MPIDR values";
    else if (cfg->ram_size == 0 || ram_end < ARM_RAM_BASE)
        bad = "bad RAM size";
    else if (cfg->initrd_size && (cfg->initrd_start < ARM_RAM_BASE || cfg->initrd_start > ram_end ||
                                  cfg->initrd_size > ram_end - cfg->initrd_start))
        bad = "initrd outside RAM";
    else if (cfg->pci_mmio64_size && cfg->pci_mmio64_base + cfg->pci_mmio64_size < cfg->pci_mmio64_base)
        bad = "64-bit PCI window wraps around";
    if (bad)
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "device tree: %s", bad);
    return !bad;
}

static void add_memory(ArmFdt *f)
{
    const uint64_t reg[] = { ARM_RAM_BASE, f->cfg->ram_size };
    fdtb_begin_nodef(f->b, "memory@%llx", ARM_RAM_BASE);
    fdtb_prop_string(f->b, "device_type", "memory");
    fdtb_prop_u64s(f->b, "reg", reg, G_N_ELEMENTS(reg));
    fdtb_end_node(f->b);
}

/* reg of each cpu node is its MPIDR affinity; one cell unless some CPU has
 * a non-zero Aff3. */
static void add_cpus(ArmFdt *f)
{
    bool aff3 = false;
    for (unsigned i = 0; i < f->cfg->ncpus; i++)
        aff3 |= (f->cfg->mpidr[i] & MPIDR_HWID_MASK) >> 32 != 0;
    fdtb_begin_node(f->b, "cpus");
    fdtb_prop_u32(f->b, "#address-cells", aff3 ? 2 : 1);
    fdtb_prop_u32(f->b, "#size-cells", 0);
    for (unsigned i = 0; i < f->cfg->ncpus; i++) {
        uint64_t id = f->cfg->mpidr[i] & MPIDR_HWID_MASK;
        fdtb_begin_nodef(f->b, "cpu@%" PRIx64, id);
        fdtb_prop_string(f->b, "device_type", "cpu");
        fdtb_prop_string(f->b, "compatible", "arm,arm-v8");
        fdtb_prop_string(f->b, "enable-method", "psci");
        if (aff3)
            fdtb_prop_u64(f->b, "reg", id);
        else
            fdtb_prop_u32(f->b, "reg", (uint32_t)id);
        fdtb_end_node(f->b);
    }
    fdtb_end_node(f->b);
}

static void add_psci(ArmFdt *f)
{
    fdtb_begin_node(f->b, "psci");
    fdtb_prop_strings(f->b, "compatible", "arm,psci-1.0", "arm,psci-0.2", NULL);
    fdtb_prop_string(f->b, "method", "hvc");
    fdtb_end_node(f->b);
}

/* The GIC, with the ITS as a child: the GIC's #address-cells/#size-cells and
 * empty ranges map the child's reg 1:1. */
static void add_gic(ArmFdt *f)
{
    const uint64_t reg[] = { ARM_GIC_DIST_BASE, ARM_GIC_DIST_SIZE, ARM_GIC_REDIST_BASE,
                             f->cfg->ncpus * ARM_GIC_REDIST_SIZE_PER_CPU };
    const uint32_t maint[] = { GIC_PPI, GIC_MAINT_PPI, IRQ_LEVEL_HIGH };
    fdtb_begin_nodef(f->b, "intc@%llx", ARM_GIC_DIST_BASE);
    fdtb_prop_string(f->b, "compatible", "arm,gic-v3");
    fdtb_prop_u32(f->b, "#interrupt-cells", 3);
    fdtb_prop_empty(f->b, "interrupt-controller");
    fdtb_prop_u64s(f->b, "reg", reg, G_N_ELEMENTS(reg));
    fdtb_prop_cells(f->b, "interrupts", maint, G_N_ELEMENTS(maint));
    fdtb_prop_u32(f->b, "#address-cells", 2);
    fdtb_prop_u32(f->b, "#size-cells", 2);
    fdtb_prop_empty(f->b, "ranges");
    fdtb_prop_u32(f->b, "phandle", f->gic);
    if (f->cfg->its) {
        const uint64_t its_reg[] = { ARM_GIC_ITS_BASE, ARM_GIC_ITS_SIZE };
        fdtb_begin_nodef(f->b, "msi-controller@%llx", ARM_GIC_ITS_BASE);
        fdtb_prop_string(f->b, "compatible", "arm,gic-v3-its");
        fdtb_prop_empty(f->b, "msi-controller");
        fdtb_prop_u32(f->b, "#msi-cells", 1);
        fdtb_prop_u64s(f->b, "reg", its_reg, G_N_ELEMENTS(its_reg));
        f->its = fdtb_phandle(f->b);
        fdtb_end_node(f->b);
    }
    fdtb_end_node(f->b);
}

/* Flags of a per-CPU interrupt: the trigger plus the mask of the CPUs it
 * is wired to (8 bits at most, as GICv2-era parsers expect). */
static uint32_t ppi_flags(ArmFdt *f, uint32_t trigger)
{
    unsigned n = MIN(f->cfg->ncpus, 8u);
    return trigger | (((1u << n) - 1) << 8);
}

static void add_timer(ArmFdt *f)
{
    /* Secure, non-secure, virtual and hypervisor physical timer, in the
     * binding's order. */
    const uint32_t ids[] = { ARM_TIMER_PPI_SECURE, ARM_TIMER_PPI_NONSECURE, ARM_TIMER_PPI_VIRT,
                             ARM_TIMER_PPI_HYP };
    uint32_t irqs[3 * G_N_ELEMENTS(ids)];
    for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
        irqs[3 * i] = GIC_PPI;
        irqs[3 * i + 1] = ids[i] - 16;
        irqs[3 * i + 2] = ppi_flags(f, IRQ_LEVEL_LOW);
    }
    fdtb_begin_node(f->b, "timer");
    fdtb_prop_string(f->b, "compatible", "arm,armv8-timer");
    fdtb_prop_cells(f->b, "interrupts", irqs, G_N_ELEMENTS(irqs));
    fdtb_prop_empty(f->b, "always-on");
    fdtb_end_node(f->b);
}

static void add_pmu(ArmFdt *f)
{
    const uint32_t irq[] = { GIC_PPI, ARM_PMU_PPI - 16, ppi_flags(f, IRQ_LEVEL_HIGH) };
    fdtb_begin_node(f->b, "pmu");
    fdtb_prop_string(f->b, "compatible", "arm,armv8-pmuv3");
    fdtb_prop_cells(f->b, "interrupts", irq, G_N_ELEMENTS(irq));
    fdtb_end_node(f->b);
}

static void add_clock(ArmFdt *f)
{
    fdtb_begin_node(f->b, "apb-pclk");
    fdtb_prop_string(f->b, "compatible", "fixed-clock");
    fdtb_prop_u32(f->b, "#clock-cells", 0);
    fdtb_prop_u32(f->b, "clock-frequency", APB_PCLK_HZ);
    fdtb_prop_string(f->b, "clock-output-names", "clk24mhz");
    f->clk = fdtb_phandle(f->b);
    fdtb_end_node(f->b);
}

/* A PrimeCell device: the AMBA bus matches it by its peripheral ID
 * registers, after enabling the clocks named here. */
static void add_primecell(ArmFdt *f, const char *name, const char *compatible, uint64_t base,
                          uint64_t size, uint32_t spi, bool uart)
{
    const uint64_t reg[] = { base, size };
    const uint32_t irq[] = { GIC_SPI, spi, IRQ_LEVEL_HIGH };
    const uint32_t clocks[] = { f->clk, f->clk };
    fdtb_begin_nodef(f->b, "%s@%" PRIx64, name, base);
    fdtb_prop_strings(f->b, "compatible", compatible, "arm,primecell", NULL);
    fdtb_prop_u64s(f->b, "reg", reg, G_N_ELEMENTS(reg));
    fdtb_prop_cells(f->b, "interrupts", irq, G_N_ELEMENTS(irq));
    if (uart) {
        fdtb_prop_cells(f->b, "clocks", clocks, 2);
        fdtb_prop_strings(f->b, "clock-names", "uartclk", "apb_pclk", NULL);
    } else {
        fdtb_prop_cells(f->b, "clocks", clocks, 1);
        fdtb_prop_string(f->b, "clock-names", "apb_pclk");
    }
    fdtb_end_node(f->b);
}

/* The PL061's extra properties (it is a PrimeCell like the others): two
 * cells per GPIO, line number and flags. */
static void add_gpio(ArmFdt *f)
{
    const uint64_t reg[] = { ARM_GPIO_BASE, ARM_GPIO_SIZE };
    const uint32_t irq[] = { GIC_SPI, ARM_GPIO_SPI, IRQ_LEVEL_HIGH };
    fdtb_begin_nodef(f->b, "pl061@%llx", ARM_GPIO_BASE);
    fdtb_prop_strings(f->b, "compatible", "arm,pl061", "arm,primecell", NULL);
    fdtb_prop_u64s(f->b, "reg", reg, G_N_ELEMENTS(reg));
    fdtb_prop_cells(f->b, "interrupts", irq, G_N_ELEMENTS(irq));
    fdtb_prop_cells(f->b, "clocks", &f->clk, 1);
    fdtb_prop_string(f->b, "clock-names", "apb_pclk");
    fdtb_prop_empty(f->b, "gpio-controller");
    fdtb_prop_u32(f->b, "#gpio-cells", 2);
    f->gpio = fdtb_phandle(f->b);
    fdtb_end_node(f->b);
}

/* The power button: KEY_POWER on a GPIO line (Linux: gpio_keys). */
static void add_gpio_keys(ArmFdt *f)
{
    const uint32_t gpios[] = { f->gpio, ARM_GPIO_POWER_LINE, GPIO_ACTIVE_HIGH };
    fdtb_begin_node(f->b, "gpio-keys");
    fdtb_prop_string(f->b, "compatible", "gpio-keys");
    fdtb_begin_node(f->b, "poweroff");
    fdtb_prop_string(f->b, "label", "GPIO Key Poweroff");
    fdtb_prop_u32(f->b, "linux,code", KEY_POWER);
    fdtb_prop_cells(f->b, "gpios", gpios, G_N_ELEMENTS(gpios));
    fdtb_end_node(f->b);
    fdtb_end_node(f->b);
}

/* One ranges entry: PCI address (3 cells), CPU address (2), size (2). */
static void range_add(GArray *r, uint32_t space, uint64_t pci, uint64_t cpu, uint64_t size)
{
    const uint32_t e[] = { space, hi32(pci), lo32(pci), hi32(cpu), lo32(cpu), hi32(size), lo32(size) };
    g_array_append_vals(r, e, G_N_ELEMENTS(e));
}

/* INTx of every slot and pin to the SPIs, with the swizzle the PCI core
 * uses: pin P (1 = INTA) of slot S raises base + (S + P - 1) % 4. Each
 * entry: child unit address (3) and pin (1), the GIC, its unit address
 * (#address-cells 2, zeros) and its 3-cell specifier. */
static void add_interrupt_map(ArmFdt *f)
{
    g_autoptr(GArray) map = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    for (uint32_t slot = 0; slot < PCI_SLOTS; slot++) {
        for (uint32_t pin = 1; pin <= PCI_PINS; pin++) {
            uint32_t spi = ARM_PCI_INTX_SPI_BASE + (slot + pin - 1) % PCI_PINS;
            const uint32_t e[] = { slot << 11, 0, 0, pin, f->gic, 0, 0, GIC_SPI, spi, IRQ_LEVEL_HIGH };
            g_array_append_vals(map, e, G_N_ELEMENTS(e));
        }
    }
    const uint32_t mask[] = { 0x1800, 0, 0, 7 }; /* device number and pin */
    fdtb_prop_cells(f->b, "interrupt-map", (const uint32_t *)(void *)map->data, map->len);
    fdtb_prop_cells(f->b, "interrupt-map-mask", mask, G_N_ELEMENTS(mask));
}

static void add_pcie(ArmFdt *f)
{
    const uint64_t reg[] = { ARM_PCI_ECAM_BASE, ARM_PCI_ECAM_SIZE };
    const uint32_t bus_range[] = { 0, ARM_PCI_BUSES - 1 };
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    range_add(ranges, 0x01000000, 0, ARM_PCI_IO_BASE, ARM_PCI_IO_SIZE);              /* I/O */
    range_add(ranges, 0x02000000, ARM_PCI_MMIO32_BASE, ARM_PCI_MMIO32_BASE, ARM_PCI_MMIO32_SIZE);
    if (f->cfg->pci_mmio64_size)                                                   /* 64-bit, prefetchable */
        range_add(ranges, 0x43000000, f->cfg->pci_mmio64_base, f->cfg->pci_mmio64_base,
                  f->cfg->pci_mmio64_size);

    fdtb_begin_nodef(f->b, "pcie@%llx", ARM_PCI_ECAM_BASE);
    fdtb_prop_string(f->b, "compatible", "pci-host-ecam-generic");
    fdtb_prop_string(f->b, "device_type", "pci");
    fdtb_prop_u32(f->b, "#address-cells", 3);
    fdtb_prop_u32(f->b, "#size-cells", 2);
    fdtb_prop_u32(f->b, "#interrupt-cells", 1);
    fdtb_prop_cells(f->b, "bus-range", bus_range, G_N_ELEMENTS(bus_range));
    fdtb_prop_u64s(f->b, "reg", reg, G_N_ELEMENTS(reg));
    fdtb_prop_cells(f->b, "ranges", (const uint32_t *)(void *)ranges->data, ranges->len);
    fdtb_prop_u32(f->b, "linux,pci-domain", 0);
    fdtb_prop_empty(f->b, "dma-coherent");
    add_interrupt_map(f);
    if (f->cfg->its) {
        /* Requester ID r (bus << 8 | devfn) is ITS DeviceID r. */
        const uint32_t msi_map[] = { 0, f->its, 0, 0x10000 };
        fdtb_prop_cells(f->b, "msi-map", msi_map, G_N_ELEMENTS(msi_map));
    }
    fdtb_end_node(f->b);
}

/* splitmix64: spreads the one seed over the seed properties. */
static uint64_t seed_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void add_chosen(ArmFdt *f, const char *stdout_path)
{
    const ArmFdtConfig *cfg = f->cfg;
    fdtb_begin_node(f->b, "chosen");
    fdtb_prop_string(f->b, "bootargs", cfg->cmdline ? cfg->cmdline : "");
    fdtb_prop_string(f->b, "stdout-path", stdout_path);
    if (cfg->initrd_size) {
        fdtb_prop_u64(f->b, "linux,initrd-start", cfg->initrd_start);
        fdtb_prop_u64(f->b, "linux,initrd-end", cfg->initrd_start + cfg->initrd_size);
    }
    if (cfg->rng_seed) {
        uint64_t s = cfg->rng_seed, rng[4];
        fdtb_prop_u64(f->b, "kaslr-seed", seed_next(&s));
        for (size_t i = 0; i < G_N_ELEMENTS(rng); i++)
            rng[i] = seed_next(&s);
        fdtb_prop(f->b, "rng-seed", rng, sizeof(rng));
    }
    fdtb_end_node(f->b);
}

GBytes *arm_fdt_build(const ArmFdtConfig *cfg, GError **errp)
{
    if (!config_check(cfg, errp))
        return NULL;
    g_autoptr(FdtBuilder) b = fdtb_new(ARM_FDT_MAX_SIZE);
    ArmFdt f = { .b = b, .cfg = cfg };
    g_autofree char *uart = g_strdup_printf("/pl011@%llx", ARM_UART_BASE);

    fdtb_prop_string(b, "compatible", "linux,dummy-virt");
    fdtb_prop_string(b, "model", "nimbus");
    fdtb_prop_u32(b, "#address-cells", 2);
    fdtb_prop_u32(b, "#size-cells", 2);
    f.gic = fdtb_alloc_phandle(b);
    fdtb_prop_u32(b, "interrupt-parent", f.gic);
    add_gic(&f);
    add_memory(&f);
    add_cpus(&f);
    add_psci(&f);
    add_timer(&f);
    if (cfg->pmu)
        add_pmu(&f);
    add_clock(&f);
    add_primecell(&f, "pl011", "arm,pl011", ARM_UART_BASE, ARM_UART_SIZE, ARM_UART_SPI, true);
    add_primecell(&f, "pl031", "arm,pl031", ARM_RTC_BASE, ARM_RTC_SIZE, ARM_RTC_SPI, false);
    add_gpio(&f);
    add_gpio_keys(&f);
    add_pcie(&f);
    fdtb_begin_node(b, "aliases");
    fdtb_prop_string(b, "serial0", uart);
    fdtb_end_node(b);
    add_chosen(&f, uart);
    GBytes *blob = fdtb_finish(b, errp);
    if (!blob)
        g_prefix_error(errp, "device tree: ");
    return blob;
}
