#include "arch/x86_64/acpi.h"

#include "arch/x86_64/layout.h"
#include "devices/acpi/ged.h"
#include "firmware/acpi/acpi_table.h"
#include "firmware/acpi/aml.h"
#include "hypervisor/error.h"

#include <string.h>

/* FADT (ACPI 6.x, revision 6) field offsets. */
#define FADT_SIZE 276
#define FADT_REVISION 6
#define FADT_DSDT 40
#define FADT_CENTURY 108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_SLEEP_CONTROL_REG 244
#define FADT_SLEEP_STATUS_REG 256
#define FADT_X_DSDT 140
#define FADT_HYPERVISOR_ID 268
#define FADT_BOOT_LEGACY_DEVICES (1u << 0)
#define FADT_PWR_BUTTON (1u << 4) /* power button is a control-method device */
#define FADT_SLP_BUTTON (1u << 5) /* no fixed-feature sleep button */
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_HW_REDUCED_ACPI (1u << 20)
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define RTC_CENTURY_REG 0x32

/* MADT structures. */
#define MADT_LOCAL_APIC 0
#define MADT_IO_APIC 1
#define MADT_LOCAL_APIC_NMI 4
#define MADT_CPU_ENABLED 1
#define MADT_ALL_CPUS 0xff

#define ACPI_ALIGN 8

/* Device(NAME) { _HID, _UID, _CRS } for a legacy ISA device. */
static void isa_device(GByteArray *sb, const char *name, const char *hid, unsigned uid,
                       const GByteArray *res)
{
    g_autoptr(GByteArray) body = g_byte_array_new();
    g_autoptr(GByteArray) crs = g_byte_array_new();
    aml_name_eisaid(body, "_HID", hid);
    aml_name_integer(body, "_UID", uid);
    aml_resource_template(crs, res);
    aml_name(body, "_CRS", crs);
    aml_device(sb, name, body);
}

/* \_S5: the SLP_TYP value the guest writes to the sleep control register
 * to power off (devices/acpi/ged.h). */
static void add_s5(GByteArray *dsdt)
{
    g_autoptr(GByteArray) elems = g_byte_array_new();
    g_autoptr(GByteArray) pkg = g_byte_array_new();
    aml_integer(elems, GED_SLP_TYP_S5);
    aml_integer(elems, 0);
    aml_package(pkg, 2, elems);
    aml_name(dsdt, "_S5_", pkg);
}

/* The power button (PNP0C0C) and the Generic Event Device (ACPI0013) whose
 * interrupt means "power button pressed": _EVT notifies the button, and the
 * guest's button driver reports KEY_POWER to userspace. */
static void add_power_button(GByteArray *sb)
{
    g_autoptr(GByteArray) pwrb = g_byte_array_new();
    aml_name_eisaid(pwrb, "_HID", "PNP0C0C");
    aml_name_integer(pwrb, "_UID", 0);
    aml_device(sb, "PWRB", pwrb);

    g_autoptr(GByteArray) ged = g_byte_array_new();
    g_autoptr(GByteArray) res = g_byte_array_new();
    g_autoptr(GByteArray) crs = g_byte_array_new();
    g_autoptr(GByteArray) arg = g_byte_array_new();
    g_autoptr(GByteArray) gsi = g_byte_array_new();
    g_autoptr(GByteArray) pred = g_byte_array_new();
    g_autoptr(GByteArray) notify = g_byte_array_new();
    g_autoptr(GByteArray) evt = g_byte_array_new();
    aml_name_string_value(ged, "_HID", "ACPI0013");
    aml_name_integer(ged, "_UID", 0);
    aml_res_ext_irq(res, X86_GED_GSI, true);
    aml_resource_template(crs, res);
    aml_name(ged, "_CRS", crs);
    aml_arg(arg, 0);
    aml_integer(gsi, X86_GED_GSI);
    aml_lequal(pred, arg, gsi);
    aml_notify(notify, "\\_SB.PWRB", 0x80);
    aml_if(evt, pred, notify);
    aml_method(ged, "_EVT", 1, evt);
    aml_device(sb, "GED0", ged);
}

/* Package(){ slot << 16 | 0xffff, pin, 0, gsi }: INTx of every slot routed
 * to the IOAPIC as the PCI core swizzles it. */
static void add_prt(GByteArray *pci)
{
    g_autoptr(GByteArray) entries = g_byte_array_new();
    unsigned n = 0;
    for (unsigned slot = 1; slot < 32; slot++) {
        for (unsigned pin = 0; pin < 4; pin++, n++) {
            g_autoptr(GByteArray) e = g_byte_array_new();
            aml_integer(e, ((uint64_t)slot << 16) | 0xffff);
            aml_integer(e, pin);
            aml_integer(e, 0);
            aml_integer(e, X86_PCI_INTX_GSI_BASE + (slot + pin) % 4);
            aml_package(entries, 4, e);
        }
    }
    /* More than 255 elements needs VarPackage; 31 slots x 4 pins = 124. */
    g_autoptr(GByteArray) prt = g_byte_array_new();
    aml_package(prt, n, entries);
    aml_name(pci, "_PRT", prt);
}

/* The PCIe root complex: ECAM (MCFG) for config space, CF8/CFC too, bus 0,
 * the I/O window and both MMIO windows for BARs. */
static void add_pci_root(GByteArray *sb, const AcpiX86Config *cfg)
{
    g_autoptr(GByteArray) pci = g_byte_array_new();
    g_autoptr(GByteArray) res = g_byte_array_new();
    g_autoptr(GByteArray) crs = g_byte_array_new();
    aml_name_eisaid(pci, "_HID", "PNP0A08");
    aml_name_eisaid(pci, "_CID", "PNP0A03");
    aml_name_integer(pci, "_ADR", 0);
    aml_name_integer(pci, "_SEG", 0);
    aml_name_integer(pci, "_UID", 0);
    aml_name_integer(pci, "_BBN", 0);
    aml_res_bus_range(res, 0, X86_PCI_BUSES - 1);
    aml_res_io(res, 0xcf8, 8);
    aml_res_word_io(res, X86_PCI_IO_BASE, X86_PCI_IO_BASE + X86_PCI_IO_SIZE - 1);
    aml_res_dword_memory(res, (uint32_t)X86_PCI_MMIO32_BASE,
                         (uint32_t)(X86_PCI_MMIO32_BASE + X86_PCI_MMIO32_SIZE - 1));
    aml_res_qword_memory(res, cfg->mmio64_base, cfg->mmio64_base + X86_PCI_MMIO64_SIZE - 1);
    aml_resource_template(crs, res);
    aml_name(pci, "_CRS", crs);
    add_prt(pci);
    aml_device(sb, "PCI0", pci);

    /* The ECAM window as a motherboard resource, so Linux trusts the MCFG. */
    g_autoptr(GByteArray) mres = g_byte_array_new();
    aml_res_dword_memory(mres, (uint32_t)X86_PCI_ECAM_BASE,
                         (uint32_t)(X86_PCI_ECAM_BASE + X86_PCI_ECAM_SIZE - 1));
    mres->data[4] = 0x0d; /* a consumer, not a producer, of the range */
    isa_device(sb, "MRES", "PNP0C02", 0, mres);
}

static GByteArray *build_mcfg(void)
{
    GByteArray *t = acpi_table_new("MCFG", 1);
    acpi_append_zeros(t, 8); /* reserved */
    acpi_append_u64(t, X86_PCI_ECAM_BASE);
    acpi_append_u16(t, 0); /* segment */
    acpi_append_u8(t, 0);  /* first bus */
    acpi_append_u8(t, X86_PCI_BUSES - 1);
    acpi_append_u32(t, 0);
    acpi_table_finish(t);
    return t;
}

static GByteArray *build_dsdt(const AcpiX86Config *cfg)
{
    /* Hardware-reduced ACPI has no legacy PIC, so Linux maps ISA interrupts
     * only for devices the namespace describes: each legacy device is here
     * with its ports and IRQ. The PCI root and GED come with the PCIe machine. */
    g_autoptr(GByteArray) sb = g_byte_array_new();
    g_autoptr(GByteArray) res = g_byte_array_new();
    if (cfg->com1) {
        aml_res_io(res, X86_COM1_PORT, 8);
        aml_res_irq(res, X86_COM1_GSI);
        isa_device(sb, "COM1", "PNP0501", 1, res);
        g_byte_array_set_size(res, 0);
    }
    aml_res_io(res, X86_RTC_PORT, 2);
    aml_res_irq(res, X86_RTC_GSI);
    isa_device(sb, "RTC", "PNP0B00", 0, res);
    /* No PS2K device: the i8042 is there only for its reset line, which
     * Linux pokes without a driver. Described, it would make the guest probe
     * for a keyboard and wait for replies that never come. */

    add_power_button(sb);
    if (cfg->pci)
        add_pci_root(sb, cfg);

    GByteArray *t = acpi_table_new("DSDT", 2);
    aml_scope(t, "\\_SB", sb);
    add_s5(t);
    acpi_table_finish(t);
    return t;
}

/* A Generic Address Structure for a byte-wide I/O port. */
static void put_gas_io8(GByteArray *t, size_t off, uint16_t port)
{
    t->data[off] = GAS_SYSTEM_IO;
    t->data[off + 1] = 8; /* bit width */
    t->data[off + 2] = 0; /* bit offset */
    t->data[off + 3] = GAS_ACCESS_BYTE;
    acpi_patch_u64(t, off + 4, port);
}

static GByteArray *build_fadt(uint64_t dsdt_addr)
{
    GByteArray *t = acpi_table_new("FACP", FADT_REVISION);
    acpi_append_zeros(t, FADT_SIZE - ACPI_HEADER_SIZE);
    acpi_patch_u32(t, FADT_DSDT, (uint32_t)dsdt_addr);
    acpi_patch_u64(t, FADT_X_DSDT, dsdt_addr);
    t->data[FADT_CENTURY] = RTC_CENTURY_REG;
    /* No 8042 flag: the guest skips keyboard probing (see build_dsdt). */
    t->data[FADT_IAPC_BOOT_ARCH] = FADT_BOOT_LEGACY_DEVICES;
    acpi_patch_u32(t, FADT_FLAGS, FADT_HW_REDUCED_ACPI | FADT_RESET_REG_SUP | FADT_PWR_BUTTON |
                                      FADT_SLP_BUTTON);
    put_gas_io8(t, FADT_RESET_REG, X86_GED_PORT + GED_REG_RESET);
    t->data[FADT_RESET_VALUE] = GED_RESET_VALUE;
    put_gas_io8(t, FADT_SLEEP_CONTROL_REG, X86_GED_PORT + GED_REG_SLEEP_CONTROL);
    put_gas_io8(t, FADT_SLEEP_STATUS_REG, X86_GED_PORT + GED_REG_SLEEP_STATUS);
    memcpy(t->data + FADT_HYPERVISOR_ID, "NIMBUS\0\0", 8);
    acpi_table_finish(t);
    return t;
}

static GByteArray *build_madt(uint32_t n_cpus)
{
    GByteArray *t = acpi_table_new("APIC", 5);
    acpi_append_u32(t, (uint32_t)X86_LAPIC_ADDR);
    acpi_append_u32(t, 0); /* flags: no PC-AT dual 8259 setup to disable */
    for (uint32_t i = 0; i < n_cpus; i++) {
        acpi_append_u8(t, MADT_LOCAL_APIC);
        acpi_append_u8(t, 8);
        acpi_append_u8(t, (uint8_t)i); /* ACPI processor UID */
        acpi_append_u8(t, (uint8_t)i); /* APIC ID */
        acpi_append_u32(t, MADT_CPU_ENABLED);
    }
    acpi_append_u8(t, MADT_IO_APIC);
    acpi_append_u8(t, 12);
    acpi_append_u8(t, (uint8_t)n_cpus); /* IOAPIC ID: the first after the CPUs' */
    acpi_append_u8(t, 0);
    acpi_append_u32(t, (uint32_t)X86_IOAPIC_ADDR);
    acpi_append_u32(t, 0); /* GSI base */
    /* LINT1 of every CPU is NMI (as regs_setup_lapic programs it). */
    acpi_append_u8(t, MADT_LOCAL_APIC_NMI);
    acpi_append_u8(t, 6);
    acpi_append_u8(t, MADT_ALL_CPUS);
    acpi_append_u16(t, 0); /* flags: conforms to the bus */
    acpi_append_u8(t, 1);  /* LINT1 */
    acpi_table_finish(t);
    return t;
}

static GByteArray *build_xsdt(const uint64_t *tables, size_t n)
{
    GByteArray *t = acpi_table_new("XSDT", 1);
    for (size_t i = 0; i < n; i++)
        acpi_append_u64(t, tables[i]);
    acpi_table_finish(t);
    return t;
}

/* Append `part` to `blob` at the next aligned offset; returns its address. */
static uint64_t place(GByteArray *blob, uint64_t base, GByteArray *part)
{
    guint pad = (ACPI_ALIGN - blob->len % ACPI_ALIGN) % ACPI_ALIGN;
    acpi_append_zeros(blob, pad);
    uint64_t addr = base + blob->len;
    g_byte_array_append(blob, part->data, part->len);
    g_byte_array_unref(part);
    return addr;
}

GBytes *acpi_x86_build(const AcpiX86Config *cfg, uint64_t base, GError **errp)
{
    if (cfg->n_cpus == 0 || cfg->n_cpus > X86_MAX_VCPUS) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "ACPI: cannot describe %u CPUs (1..%u)", cfg->n_cpus, X86_MAX_VCPUS);
        return NULL;
    }
    GByteArray *blob = g_byte_array_new();
    /* The RSDP goes first and is patched once the XSDT's address is known. */
    acpi_append_zeros(blob, ACPI_RSDP_SIZE);
    uint64_t dsdt = place(blob, base, build_dsdt(cfg));
    uint64_t tables[3];
    size_t n = 0;
    tables[n++] = place(blob, base, build_fadt(dsdt));
    tables[n++] = place(blob, base, build_madt(cfg->n_cpus));
    if (cfg->pci)
        tables[n++] = place(blob, base, build_mcfg());
    uint64_t xsdt = place(blob, base, build_xsdt(tables, n));
    g_autoptr(GByteArray) rsdp = acpi_rsdp_new(xsdt);
    memcpy(blob->data, rsdp->data, ACPI_RSDP_SIZE);
    if (blob->len > X86_ACPI_MAX) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "ACPI tables too large (%u bytes)",
                    blob->len);
        g_byte_array_unref(blob);
        return NULL;
    }
    return g_byte_array_free_to_bytes(blob);
}

bool acpi_x86_write(GuestMemory *mem, const AcpiX86Config *cfg, uint64_t *rsdp_addr,
                    GError **errp)
{
    g_autoptr(GBytes) tables = acpi_x86_build(cfg, X86_ACPI_ADDR, errp);
    if (!tables)
        return false;
    gsize len;
    const void *data = g_bytes_get_data(tables, &len);
    if (!memory_write(mem, X86_ACPI_ADDR, data, len)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "cannot write the ACPI tables");
        return false;
    }
    *rsdp_addr = X86_ACPI_ADDR;
    return true;
}
