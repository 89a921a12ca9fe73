/* Tests of arch/aarch64/fdt.c (built on every host arch): the machine's DT
 * for 1, 2 and 8 vCPUs (and MPIDRs with Aff1/Aff3) with and without initrd,
 * ITS, PMU, 64-bit PCI window and seed, each decompiled by dtc with no
 * warning at all, and the properties the kernel depends on checked value by
 * value; bad configurations give an error. */
#include "arch/aarch64/fdt.h"
#include "arch/aarch64/layout.h"
#include "firmware/fdt_builder.h"
#include "support/check_main.h"
#include "unit/firmware/dtc_check.h"

#include <string.h>

#define GiB (1ull << 30)

static uint64_t mpidr[ARM_MAX_VCPUS];

static void mpidr_default(unsigned n)
{
    /* KVM's default: Aff0 = vcpu % 16, Aff1 = vcpu / 16, bit 31 RES1. */
    for (unsigned i = 0; i < n; i++)
        mpidr[i] = 0x80000000ull | (i / 16) << 8 | (i % 16);
}

static ArmFdtConfig config(unsigned ncpus)
{
    mpidr_default(ncpus);
    return (ArmFdtConfig){ .ram_size = 2 * GiB, .ncpus = ncpus, .mpidr = mpidr,
                           .cmdline = "console=ttyAMA0 panic=-1" };
}

static uint32_t cell(GBytes *blob, const char *path, const char *prop, size_t i)
{
    size_t len;
    const uint8_t *v = fdtb_blob_prop(blob, path, prop, &len);
    ck_assert_msg(v, "%s:%s missing", path, prop);
    ck_assert_msg(len >= 4 * (i + 1), "%s:%s has %zu bytes", path, prop, len);
    v += 4 * i;
    return (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
}

static uint64_t cell64(GBytes *blob, const char *path, const char *prop, size_t i)
{
    return (uint64_t)cell(blob, path, prop, 2 * i) << 32 | cell(blob, path, prop, 2 * i + 1);
}

static size_t prop_len(GBytes *blob, const char *path, const char *prop)
{
    size_t len;
    ck_assert_msg(fdtb_blob_prop(blob, path, prop, &len), "%s:%s missing", path, prop);
    return len;
}

static bool has_prop(GBytes *blob, const char *path, const char *prop)
{
    size_t len;
    return fdtb_blob_prop(blob, path, prop, &len) != NULL;
}

static const char *str(GBytes *blob, const char *path, const char *prop)
{
    size_t len;
    const char *s = fdtb_blob_prop(blob, path, prop, &len);
    ck_assert_msg(s && len > 0 && s[len - 1] == '\0', "%s:%s not a string", path, prop);
    return s;
}

/* A string list property, compared whole (dtc versions print them
 * differently). */
static void strlist_eq(GBytes *blob, const char *path, const char *prop, const char *want, size_t want_len)
{
    size_t len;
    const char *v = fdtb_blob_prop(blob, path, prop, &len);
    ck_assert_msg(v && len == want_len && memcmp(v, want, len) == 0, "%s:%s differs", path, prop);
}

#define STRLIST_EQ(blob, path, prop, lit) strlist_eq(blob, path, prop, lit, sizeof(lit))

static GBytes *build_ok(const ArmFdtConfig *cfg)
{
    g_autoptr(GError) err = NULL;
    GBytes *blob = arm_fdt_build(cfg, &err);
    ck_assert_msg(blob, "arm_fdt_build: %s", err ? err->message : "?");
    ck_assert_uint_le(g_bytes_get_size(blob), ARM_FDT_MAX_SIZE);
    return blob;
}

#define GIC "/intc@8000000"
#define ITS GIC "/msi-controller@8080000"
#define PCIE "/pcie@3f000000"
#define UART "/pl011@9000000"
#define RTC "/pl031@9010000"
#define GPIO "/pl061@9030000"
#define POWER_KEY "/gpio-keys/poweroff"

/* The variants: vCPUs x {initrd, ITS, PMU, 64-bit window + seed}. */
static const struct {
    unsigned ncpus;
    bool initrd, its, pmu, extras;
} variants[] = {
    { 1, false, false, false, false }, { 1, true, true, true, true },
    { 2, false, true, false, false },  { 2, true, false, true, true },
    { 8, true, true, true, true },     { 8, false, false, false, false },
};

START_TEST(test_variants)
{
    ArmFdtConfig cfg = config(variants[_i].ncpus);
    if (variants[_i].initrd) {
        cfg.initrd_start = ARM_RAM_BASE + GiB;
        cfg.initrd_size = 0x123000;
    }
    cfg.its = variants[_i].its;
    cfg.pmu = variants[_i].pmu;
    if (variants[_i].extras) {
        cfg.pci_mmio64_base = ARM_RAM_BASE + 2 * GiB;
        cfg.pci_mmio64_size = ARM_PCI_MMIO64_SIZE;
        cfg.rng_seed = 0x1234;
    }
    g_autoptr(GBytes) blob = build_ok(&cfg);
    g_autofree char *dts = dtc_decompile(blob);

    /* root */
    ck_assert_str_eq(str(blob, "/", "compatible"), "linux,dummy-virt");
    ck_assert_uint_eq(cell(blob, "/", "#address-cells", 0), 2);
    ck_assert_uint_eq(cell(blob, "/", "#size-cells", 0), 2);
    uint32_t gic = cell(blob, GIC, "phandle", 0);
    ck_assert_uint_eq(cell(blob, "/", "interrupt-parent", 0), gic);
    /* memory */
    ck_assert_uint_eq(cell64(blob, "/memory@40000000", "reg", 0), ARM_RAM_BASE);
    ck_assert_uint_eq(cell64(blob, "/memory@40000000", "reg", 1), 2 * GiB);
    /* cpus */
    for (unsigned i = 0; i < cfg.ncpus; i++) {
        g_autofree char *p = g_strdup_printf("/cpus/cpu@%x", i);
        ck_assert_uint_eq(cell(blob, p, "reg", 0), i);
        ck_assert_str_eq(str(blob, p, "enable-method"), "psci");
        ck_assert_str_eq(str(blob, p, "compatible"), "arm,arm-v8");
        ck_assert_str_eq(str(blob, p, "device_type"), "cpu");
    }
    g_autofree char *extra_cpu = g_strdup_printf("/cpus/cpu@%x", cfg.ncpus);
    ck_assert(!has_prop(blob, extra_cpu, "reg"));
    STRLIST_EQ(blob, "/psci", "compatible", "arm,psci-1.0\0arm,psci-0.2");
    ck_assert_str_eq(str(blob, "/psci", "method"), "hvc");
    /* timer: secure, non-secure, virtual, hypervisor PPIs, level-low + CPU mask */
    const uint32_t ppis[] = { 13, 14, 11, 10 };
    uint32_t mask = ((1u << cfg.ncpus) - 1) << 8;
    ck_assert_uint_eq(prop_len(blob, "/timer", "interrupts"), 48);
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_uint_eq(cell(blob, "/timer", "interrupts", 3 * i), 1);
        ck_assert_uint_eq(cell(blob, "/timer", "interrupts", 3 * i + 1), ppis[i]);
        ck_assert_uint_eq(cell(blob, "/timer", "interrupts", 3 * i + 2), mask | 8);
    }
    ck_assert(has_prop(blob, "/timer", "always-on"));
    /* GIC: dist + one redistributor frame pair per vCPU, maintenance PPI 9 */
    ck_assert_str_eq(str(blob, GIC, "compatible"), "arm,gic-v3");
    ck_assert_uint_eq(cell(blob, GIC, "#interrupt-cells", 0), 3);
    ck_assert(has_prop(blob, GIC, "interrupt-controller"));
    ck_assert_uint_eq(cell64(blob, GIC, "reg", 0), ARM_GIC_DIST_BASE);
    ck_assert_uint_eq(cell64(blob, GIC, "reg", 1), ARM_GIC_DIST_SIZE);
    ck_assert_uint_eq(cell64(blob, GIC, "reg", 2), ARM_GIC_REDIST_BASE);
    ck_assert_uint_eq(cell64(blob, GIC, "reg", 3), cfg.ncpus * 0x20000ull);
    ck_assert_uint_eq(cell(blob, GIC, "interrupts", 1), 9);
    ck_assert_uint_eq(has_prop(blob, ITS, "msi-controller"), cfg.its);
    ck_assert_uint_eq(has_prop(blob, PCIE, "msi-map"), cfg.its);
    if (cfg.its) {
        ck_assert_str_eq(str(blob, ITS, "compatible"), "arm,gic-v3-its");
        ck_assert_uint_eq(cell(blob, ITS, "#msi-cells", 0), 1);
        ck_assert_uint_eq(cell64(blob, ITS, "reg", 0), ARM_GIC_ITS_BASE);
        uint32_t its = cell(blob, ITS, "phandle", 0);
        ck_assert_uint_eq(cell(blob, PCIE, "msi-map", 0), 0);
        ck_assert_uint_eq(cell(blob, PCIE, "msi-map", 1), its);
        ck_assert_uint_eq(cell(blob, PCIE, "msi-map", 2), 0);
        ck_assert_uint_eq(cell(blob, PCIE, "msi-map", 3), 0x10000);
    }
    /* PMU */
    ck_assert_uint_eq(has_prop(blob, "/pmu", "interrupts"), cfg.pmu);
    if (cfg.pmu) {
        ck_assert_str_eq(str(blob, "/pmu", "compatible"), "arm,armv8-pmuv3");
        ck_assert_uint_eq(cell(blob, "/pmu", "interrupts", 1), ARM_PMU_PPI - 16);
    }
    /* PL011 and PL031 on their SPIs with the APB clock */
    uint32_t clk = cell(blob, "/apb-pclk", "phandle", 0);
    STRLIST_EQ(blob, UART, "compatible", "arm,pl011\0arm,primecell");
    STRLIST_EQ(blob, RTC, "compatible", "arm,pl031\0arm,primecell");
    STRLIST_EQ(blob, UART, "clock-names", "uartclk\0apb_pclk");
    /* dtc's view agrees on the nodes that matter. */
    ck_assert_ptr_nonnull(strstr(dts, "pl011@9000000 {"));
    ck_assert_ptr_nonnull(strstr(dts, "pcie@3f000000 {"));
    ck_assert_uint_eq(cell(blob, UART, "clocks", 1), clk);
    ck_assert_uint_eq(cell(blob, UART, "interrupts", 0), 0);
    ck_assert_uint_eq(cell(blob, UART, "interrupts", 1), ARM_UART_SPI);
    ck_assert_uint_eq(cell(blob, UART, "interrupts", 2), 4);
    ck_assert_uint_eq(cell64(blob, UART, "reg", 0), ARM_UART_BASE);
    ck_assert_uint_eq(cell(blob, RTC, "interrupts", 1), ARM_RTC_SPI);
    ck_assert_uint_eq(cell64(blob, RTC, "reg", 0), ARM_RTC_BASE);
    ck_assert_uint_eq(cell(blob, RTC, "clocks", 0), clk);
    /* PL061 GPIO, its line 3 the gpio-keys KEY_POWER (active high) */
    STRLIST_EQ(blob, GPIO, "compatible", "arm,pl061\0arm,primecell");
    ck_assert_uint_eq(cell64(blob, GPIO, "reg", 0), ARM_GPIO_BASE);
    ck_assert_uint_eq(cell64(blob, GPIO, "reg", 1), ARM_GPIO_SIZE);
    ck_assert_uint_eq(cell(blob, GPIO, "interrupts", 0), 0);
    ck_assert_uint_eq(cell(blob, GPIO, "interrupts", 1), ARM_GPIO_SPI);
    ck_assert_uint_eq(cell(blob, GPIO, "interrupts", 2), 4);
    ck_assert_uint_eq(cell(blob, GPIO, "clocks", 0), clk);
    ck_assert_str_eq(str(blob, GPIO, "clock-names"), "apb_pclk");
    ck_assert(has_prop(blob, GPIO, "gpio-controller"));
    ck_assert_uint_eq(cell(blob, GPIO, "#gpio-cells", 0), 2);
    uint32_t gpio = cell(blob, GPIO, "phandle", 0);
    ck_assert_str_eq(str(blob, "/gpio-keys", "compatible"), "gpio-keys");
    ck_assert_str_eq(str(blob, POWER_KEY, "label"), "GPIO Key Poweroff");
    ck_assert_uint_eq(cell(blob, POWER_KEY, "linux,code", 0), 116);
    ck_assert_uint_eq(prop_len(blob, POWER_KEY, "gpios"), 12);
    ck_assert_uint_eq(cell(blob, POWER_KEY, "gpios", 0), gpio);
    ck_assert_uint_eq(cell(blob, POWER_KEY, "gpios", 1), 3);
    ck_assert_uint_eq(cell(blob, POWER_KEY, "gpios", 2), 0);
    ck_assert_ptr_nonnull(strstr(dts, "pl061@9030000 {"));
    /* PCIe */
    ck_assert_str_eq(str(blob, PCIE, "compatible"), "pci-host-ecam-generic");
    ck_assert_str_eq(str(blob, PCIE, "device_type"), "pci");
    ck_assert_uint_eq(cell64(blob, PCIE, "reg", 0), ARM_PCI_ECAM_BASE);
    ck_assert_uint_eq(cell64(blob, PCIE, "reg", 1), ARM_PCI_ECAM_SIZE);
    ck_assert_uint_eq(cell(blob, PCIE, "bus-range", 1), ARM_PCI_BUSES - 1);
    ck_assert(has_prop(blob, PCIE, "dma-coherent"));
    ck_assert_uint_eq(cell(blob, PCIE, "linux,pci-domain", 0), 0);
    size_t nranges = prop_len(blob, PCIE, "ranges") / 28;
    ck_assert_uint_eq(nranges, variants[_i].extras ? 3 : 2);
    ck_assert_uint_eq(cell(blob, PCIE, "ranges", 0), 0x01000000);
    ck_assert_uint_eq(cell(blob, PCIE, "ranges", 4), (uint32_t)ARM_PCI_IO_BASE);
    ck_assert_uint_eq(cell(blob, PCIE, "ranges", 7), 0x02000000);
    ck_assert_uint_eq(cell(blob, PCIE, "ranges", 9), (uint32_t)ARM_PCI_MMIO32_BASE);
    if (nranges == 3) {
        ck_assert_uint_eq(cell(blob, PCIE, "ranges", 14), 0x43000000);
        ck_assert_uint_eq(cell(blob, PCIE, "ranges", 17), (uint32_t)((ARM_RAM_BASE + 2 * GiB) >> 32));
        ck_assert_uint_eq(cell(blob, PCIE, "ranges", 19), (uint32_t)(ARM_PCI_MMIO64_SIZE >> 32));
    }
    /* interrupt-map: 32 slots x 4 pins x 10 cells, swizzled onto 4 SPIs */
    ck_assert_uint_eq(prop_len(blob, PCIE, "interrupt-map"), 32 * 4 * 10 * 4);
    for (uint32_t slot = 0; slot < 32; slot++) {
        for (uint32_t pin = 1; pin <= 4; pin++) {
            size_t e = (slot * 4 + pin - 1) * 10;
            ck_assert_uint_eq(cell(blob, PCIE, "interrupt-map", e), slot << 11);
            ck_assert_uint_eq(cell(blob, PCIE, "interrupt-map", e + 3), pin);
            ck_assert_uint_eq(cell(blob, PCIE, "interrupt-map", e + 4), gic);
            ck_assert_uint_eq(cell(blob, PCIE, "interrupt-map", e + 7), 0);
            ck_assert_uint_eq(cell(blob, PCIE, "interrupt-map", e + 8),
                              ARM_PCI_INTX_SPI_BASE + (slot + pin - 1) % 4);
        }
    }
    ck_assert_uint_eq(cell(blob, PCIE, "interrupt-map-mask", 0), 0x1800);
    ck_assert_uint_eq(cell(blob, PCIE, "interrupt-map-mask", 3), 7);
    /* chosen */
    ck_assert_str_eq(str(blob, "/chosen", "bootargs"), "console=ttyAMA0 panic=-1");
    ck_assert_str_eq(str(blob, "/chosen", "stdout-path"), UART);
    ck_assert_str_eq(str(blob, "/aliases", "serial0"), UART);
    ck_assert_uint_eq(has_prop(blob, "/chosen", "linux,initrd-start"), cfg.initrd_size != 0);
    if (cfg.initrd_size) {
        ck_assert_uint_eq(cell64(blob, "/chosen", "linux,initrd-start", 0), ARM_RAM_BASE + GiB);
        ck_assert_uint_eq(cell64(blob, "/chosen", "linux,initrd-end", 0), ARM_RAM_BASE + GiB + 0x123000);
    }
    ck_assert_uint_eq(has_prop(blob, "/chosen", "kaslr-seed"), cfg.rng_seed != 0);
    if (cfg.rng_seed) {
        ck_assert_uint_eq(prop_len(blob, "/chosen", "rng-seed"), 32);
        ck_assert_uint_ne(cell64(blob, "/chosen", "kaslr-seed", 0), 0);
    }
}
END_TEST

/* MPIDRs with Aff1 and Aff3 set: reg needs two cells, unit names follow. */
START_TEST(test_mpidr_affinity)
{
    ArmFdtConfig cfg = config(2);
    mpidr[0] = 0x80000000ull | 0x0100;
    mpidr[1] = 0x0100000000ull | 0x80000000ull | 0x020304;
    g_autoptr(GBytes) blob = build_ok(&cfg);
    g_autofree char *dts = dtc_decompile(blob);
    ck_assert_uint_eq(cell(blob, "/cpus", "#address-cells", 0), 2);
    ck_assert_uint_eq(cell64(blob, "/cpus/cpu@100", "reg", 0), 0x100);
    ck_assert_uint_eq(cell64(blob, "/cpus/cpu@100020304", "reg", 0), 0x100020304ull);
    /* Without Aff3 one cell; bits outside the affinity fields never show. */
    cfg = config(20);
    g_autoptr(GBytes) blob2 = build_ok(&cfg);
    g_autofree char *dts2 = dtc_decompile(blob2);
    ck_assert_uint_eq(cell(blob2, "/cpus", "#address-cells", 0), 1);
    ck_assert_uint_eq(cell(blob2, "/cpus/cpu@103", "reg", 0), 0x103);
    /* More than 8 vCPUs: the PPI CPU mask saturates at 8 bits. */
    ck_assert_uint_eq(cell(blob2, "/timer", "interrupts", 2), 0xff08);
}
END_TEST

START_TEST(test_max_cpus_fits)
{
    ArmFdtConfig cfg = config(ARM_MAX_VCPUS);
    cfg.its = cfg.pmu = true;
    cfg.initrd_start = ARM_RAM_BASE;
    cfg.initrd_size = 1;
    g_autoptr(GBytes) blob = build_ok(&cfg);
    g_autofree char *dts = dtc_decompile(blob);
    ck_assert_uint_eq(cell64(blob, GIC, "reg", 3), ARM_GIC_REDIST_REGION_SIZE);
}
END_TEST

START_TEST(test_bad_config)
{
    ArmFdtConfig good = config(2);
    ArmFdtConfig bad[7];
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        bad[i] = good;
    bad[0].ncpus = 0;
    bad[1].ncpus = ARM_MAX_VCPUS + 1;
    bad[2].mpidr = NULL;
    bad[3].ram_size = 0;
    bad[4].initrd_start = ARM_RAM_BASE + good.ram_size - 0x1000, bad[4].initrd_size = 0x2000;
    bad[5].initrd_start = 0x1000, bad[5].initrd_size = 0x1000;
    bad[6].pci_mmio64_base = UINT64_MAX - 0x1000, bad[6].pci_mmio64_size = 0x2000;
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        ck_assert_msg(!arm_fdt_build(&bad[i], &err), "bad config %zu accepted", i);
        ck_assert_ptr_nonnull(strstr(err->message, "device tree"));
    }
    /* No command line is an empty bootargs, not an error. */
    good.cmdline = NULL;
    g_autoptr(GBytes) blob = build_ok(&good);
    ck_assert_str_eq(str(blob, "/chosen", "bootargs"), "");
}
END_TEST

static Suite *arm_fdt_suite(void)
{
    Suite *s = suite_create("arm_fdt");
    TCase *tc = tcase_create("tree");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_variants, 0, G_N_ELEMENTS(variants));
    tcase_add_test(tc, test_mpidr_affinity);
    tcase_add_test(tc, test_max_cpus_fits);
    tcase_add_test(tc, test_bad_config);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(arm_fdt_suite)
