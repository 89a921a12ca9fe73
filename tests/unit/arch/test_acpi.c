/* The x86_64 ACPI tables: structure checked here, then every table
 * decompiled by iasl (acpica-tools), which must report no error, warning or
 * checksum complaint; and the AML encoder's length encoding. */
#include "arch/x86_64/acpi.h"
#include "arch/x86_64/layout.h"
#include "devices/acpi/ged.h"
#include "firmware/acpi/acpi_table.h"
#include "firmware/acpi/aml.h"
#include "hypervisor/le.h"
#include "support/check_main.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char sig[5];
    const uint8_t *data;
    uint32_t len;
    uint64_t addr;
} Table;

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

/* Follow RSDP -> XSDT -> tables, as a guest does. */
static unsigned walk(GBytes *blob, uint64_t base, Table *out, unsigned cap)
{
    gsize n;
    const uint8_t *d = g_bytes_get_data(blob, &n);
    ck_assert_uint_ge(n, ACPI_RSDP_SIZE);
    ck_assert(memcmp(d, "RSD PTR ", 8) == 0);
    ck_assert_uint_eq(sum(d, 20), 0);
    ck_assert_uint_eq(sum(d, ACPI_RSDP_SIZE), 0);
    ck_assert_uint_eq(d[15], 2);
    uint64_t xsdt = le_load64(d + 24);
    ck_assert_uint_ge(xsdt, base);
    const uint8_t *x = d + (xsdt - base);
    ck_assert(memcmp(x, "XSDT", 4) == 0);
    uint32_t xlen = le_load32(x + 4);
    ck_assert_uint_le(xsdt - base + xlen, n);
    ck_assert_uint_eq(sum(x, xlen), 0);
    unsigned count = 0;
    out[count++] = (Table){ "XSDT", x, xlen, xsdt };
    for (uint32_t off = ACPI_HEADER_SIZE; off + 8 <= xlen && count < cap; off += 8) {
        uint64_t a = le_load64(x + off);
        ck_assert_uint_ge(a, base);
        const uint8_t *t = d + (a - base);
        uint32_t len = le_load32(t + 4);
        ck_assert_uint_le(a - base + len, n);
        ck_assert_uint_eq(sum(t, len), 0);
        Table tb = { .data = t, .len = len, .addr = a };
        memcpy(tb.sig, t, 4);
        out[count++] = tb;
        if (memcmp(t, "FACP", 4) == 0) {
            uint64_t dsdt = le_load64(t + 140);
            ck_assert_uint_eq(le_load32(t + 40), dsdt);
            const uint8_t *ds = d + (dsdt - base);
            Table dt = { "DSDT", ds, le_load32(ds + 4), dsdt };
            ck_assert_uint_eq(sum(ds, dt.len), 0);
            out[count++] = dt;
        }
    }
    return count;
}

static const Table *find(const Table *t, unsigned n, const char *sig)
{
    for (unsigned i = 0; i < n; i++)
        if (strcmp(t[i].sig, sig) == 0)
            return &t[i];
    return NULL;
}

/* Decompile one table with iasl; returns the .dsl text. */
static char *iasl_decompile(const Table *t)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("nimbus-acpi-XXXXXX", &err);
    ck_assert_msg(dir, "tmpdir: %s", err ? err->message : "");
    g_autofree char *dat = g_strdup_printf("%s/%s.dat", dir, t->sig);
    g_autofree char *dsl = g_strdup_printf("%s/%s.dsl", dir, t->sig);
    ck_assert(g_file_set_contents(dat, (const char *)t->data, t->len, NULL));
    const char *argv[] = { "iasl", "-d", dat, NULL };
    g_autofree char *out = NULL, *errout = NULL;
    int status;
    ck_assert(g_spawn_sync(dir, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                           &errout, &status, &err));
    g_autofree char *all = g_strconcat(out, errout, NULL);
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "iasl -d %s failed:\n%s", t->sig, all);
    g_autofree char *lower = g_ascii_strdown(all, -1);
    ck_assert_msg(!strstr(lower, "error") && !strstr(lower, "warning") &&
                      !strstr(lower, "checksum"),
                  "iasl complained about %s:\n%s", t->sig, all);
    char *text = NULL;
    ck_assert_msg(g_file_get_contents(dsl, &text, NULL, NULL), "no %s.dsl", t->sig);
    g_unlink(dat);
    g_unlink(dsl);
    g_rmdir(dir);
    return text;
}

static void check_config(uint32_t n_cpus, bool com1, bool pci)
{
    AcpiX86Config cfg = { .n_cpus = n_cpus, .com1 = com1, .pci = pci,
                          .mmio64_base = 0x1000000000ull };
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) blob = acpi_x86_build(&cfg, X86_ACPI_ADDR, &err);
    ck_assert_msg(blob, "%s", err ? err->message : "");
    ck_assert_uint_le(g_bytes_get_size(blob), X86_ACPI_MAX);
    Table t[8];
    unsigned n = walk(blob, X86_ACPI_ADDR, t, G_N_ELEMENTS(t));
    ck_assert_uint_eq(n, pci ? 5 : 4);
    const Table *mcfg = find(t, n, "MCFG");
    ck_assert(!mcfg == !pci);
    if (mcfg) {
        ck_assert_uint_eq(mcfg->len, 60);
        ck_assert_uint_eq(le_load64(mcfg->data + 44), X86_PCI_ECAM_BASE);
    }
    const Table *madt = find(t, n, "APIC");
    const Table *fadt = find(t, n, "FACP");
    ck_assert(madt && fadt && find(t, n, "DSDT"));

    /* FADT: revision 6, hardware-reduced, reset register and sleep
     * control/status registers in the GED's block. */
    ck_assert_uint_eq(fadt->len, 276);
    ck_assert_uint_eq(fadt->data[8], 6);
    uint32_t flags = le_load32(fadt->data + 112);
    ck_assert(flags & (1u << 20));
    ck_assert(flags & (1u << 10));
    ck_assert_uint_eq(fadt->data[116], 1); /* SystemIO */
    ck_assert_uint_eq(le_load64(fadt->data + 120), X86_GED_PORT + GED_REG_RESET);
    ck_assert_uint_eq(fadt->data[128], GED_RESET_VALUE);
    ck_assert_uint_eq(le_load64(fadt->data + 248), X86_GED_PORT + GED_REG_SLEEP_CONTROL);
    ck_assert_uint_eq(le_load64(fadt->data + 260), X86_GED_PORT + GED_REG_SLEEP_STATUS);

    /* MADT: one enabled LAPIC per CPU with APIC ID == index, one IOAPIC. */
    unsigned cpus = 0, ioapics = 0;
    for (uint32_t off = 44; off < madt->len;) {
        uint8_t type = madt->data[off], len = madt->data[off + 1];
        ck_assert_uint_ge(len, 2);
        if (type == 0) {
            ck_assert_uint_eq(madt->data[off + 3], cpus);
            ck_assert_uint_eq(le_load32(madt->data + off + 4) & 1, 1);
            cpus++;
        } else if (type == 1) {
            ck_assert_uint_eq(le_load32(madt->data + off + 4), X86_IOAPIC_ADDR);
            ioapics++;
        }
        off += len;
    }
    ck_assert_uint_eq(cpus, n_cpus);
    ck_assert_uint_eq(ioapics, 1);

    for (unsigned i = 0; i < n; i++) {
        g_autofree char *dsl = iasl_decompile(&t[i]);
        if (strcmp(t[i].sig, "DSDT") == 0) {
            ck_assert_msg((strstr(dsl, "PNP0501") != NULL) == com1, "COM1 presence");
            ck_assert(strstr(dsl, "PNP0B00"));
            ck_assert(strstr(dsl, "IRQNoFlags"));
            ck_assert(strstr(dsl, "ACPI0013"));
            ck_assert(strstr(dsl, "PNP0C0C"));
            ck_assert(strstr(dsl, "Notify (\\_SB.PWRB, 0x80)"));
            ck_assert(strstr(dsl, "Name (_S5, Package (0x02)"));
            ck_assert(!strstr(dsl, "PNP0A08") == !pci);
            ck_assert(!strstr(dsl, "_PRT") == !pci);
        }
        if (strcmp(t[i].sig, "APIC") == 0) {
            g_autofree char *last = g_strdup_printf("Local Apic ID : %02X", n_cpus - 1);
            ck_assert_msg(strstr(dsl, last), "MADT lacks %s", last);
        }
    }
}

START_TEST(tables_1cpu)
{
    check_config(1, true, false);
}
END_TEST

START_TEST(tables_2cpus_no_com1)
{
    check_config(2, false, true);
}
END_TEST

START_TEST(tables_254cpus)
{
    check_config(254, true, true);
}
END_TEST

START_TEST(rejects_bad_cpu_counts)
{
    for (uint32_t n = 0; n < 512; n += 255) {
        AcpiX86Config cfg = { .n_cpus = n };
        g_autoptr(GError) err = NULL;
        ck_assert_ptr_null(acpi_x86_build(&cfg, X86_ACPI_ADDR, &err));
        ck_assert_ptr_nonnull(err);
    }
}
END_TEST

START_TEST(aml_pkg_length_encoding)
{
    uint8_t b[4];
    ck_assert_uint_eq(aml_pkg_length(b, 0), 1);
    ck_assert_uint_eq(b[0], 1);
    ck_assert_uint_eq(aml_pkg_length(b, 62), 1);
    ck_assert_uint_eq(b[0], 63);
    /* 63 bytes of content: 2-byte length, total 65 = 0x41. */
    ck_assert_uint_eq(aml_pkg_length(b, 63), 2);
    ck_assert_uint_eq(b[0], 0x40 | 0x1);
    ck_assert_uint_eq(b[1], 0x4);
    /* 4093 + 2 = 4095: still two bytes; 4094 needs three. */
    ck_assert_uint_eq(aml_pkg_length(b, 4093), 2);
    ck_assert_uint_eq(aml_pkg_length(b, 4094), 3);
    ck_assert_uint_eq(b[0] >> 6, 2);
    uint32_t total = (b[0] & 0xf) | b[1] << 4 | b[2] << 12;
    ck_assert_uint_eq(total, 4094 + 3);
}
END_TEST

START_TEST(aml_eisaid_encoding)
{
    g_autoptr(GByteArray) b = g_byte_array_new();
    aml_eisaid(b, "PNP0501");
    /* DWordConst 0x0105D041, the well-known encoding of PNP0501. */
    const uint8_t want[] = { 0x0c, 0x41, 0xd0, 0x05, 0x01 };
    ck_assert_uint_eq(b->len, sizeof want);
    ck_assert(memcmp(b->data, want, sizeof want) == 0);
}
END_TEST

static Suite *acpi_suite(void)
{
    Suite *s = suite_create("acpi");
    TCase *tc = tcase_create("x86_64");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tables_1cpu);
    tcase_add_test(tc, tables_2cpus_no_com1);
    tcase_add_test(tc, tables_254cpus);
    tcase_add_test(tc, rejects_bad_cpu_counts);
    tcase_add_test(tc, aml_pkg_length_encoding);
    tcase_add_test(tc, aml_eisaid_encoding);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    g_autofree char *iasl = g_find_program_in_path("iasl");
    if (!iasl) {
        printf("SKIP: iasl (acpica-tools) is not installed\n");
        return CHECK_SKIP_CODE;
    }
    SRunner *sr = srunner_create(acpi_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
