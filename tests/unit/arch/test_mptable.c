/* Tests of arch/x86_64/mptable.c: the MP floating pointer and configuration
 * table (Intel MP spec 1.4) parsed back entry by entry for several CPU
 * counts, and the CPU counts it must refuse. */
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mptable.h"
#include "hypervisor/error.h"
#include "support/check_main.h"
#include "unit/arch/bzimage_image.h"

#include <string.h>

typedef struct ParsedMp {
    unsigned cpus, buses, ioapics, iointrs, lintrs;
    int ioapic_id;
} ParsedMp;

static void check_table(uint64_t addr, uint32_t n, GBytes *b)
{
    gsize len;
    const uint8_t *p = g_bytes_get_data(b, &len);
    ck_assert_uint_le(len, X86_MPTABLE_MAX);
    ck_assert_uint_ge(len, 16 + 44);

    /* Floating pointer. */
    ck_assert_mem_eq(p, "_MP_", 4);
    ck_assert_uint_eq(test_rd32(p + 4), addr + 16);
    ck_assert_uint_eq(p[8], 1);  /* 16-byte units */
    ck_assert_uint_eq(p[9], 4);  /* spec 1.4 */
    ck_assert_uint_eq(mptable_checksum(p, 16), 0);
    for (unsigned i = 11; i < 16; i++)
        ck_assert_uint_eq(p[i], 0); /* no default configuration: the table is there */

    /* Configuration table header. */
    const uint8_t *h = p + (test_rd32(p + 4) - addr);
    ck_assert_ptr_eq(h, p + 16);
    ck_assert_mem_eq(h, "PCMP", 4);
    uint16_t base_len = test_rd16(h + 4);
    ck_assert_uint_eq(base_len, len - 16);
    ck_assert_uint_eq(h[6], 4);
    ck_assert_uint_eq(mptable_checksum(h, base_len), 0);
    ck_assert_uint_eq(test_rd32(h + 28), 0); /* no OEM table */
    ck_assert_uint_eq(test_rd32(h + 36), X86_LAPIC_ADDR);
    ck_assert_uint_eq(test_rd16(h + 40), 0); /* no extended table */
    uint16_t count = test_rd16(h + 34);

    /* Walk the entries. */
    ParsedMp m = { .ioapic_id = -1 };
    size_t off = 44;
    unsigned entries = 0;
    int last_type = -1;
    while (off < base_len) {
        const uint8_t *e = h + off;
        ck_assert_int_ge(e[0], last_type); /* entries sorted by type */
        last_type = e[0];
        switch (e[0]) {
        case 0: /* processor */
            ck_assert_uint_le(off + 20, base_len);
            ck_assert_uint_eq(e[1], m.cpus);            /* APIC ID i */
            ck_assert_uint_ne(e[2], 0);                 /* APIC version */
            ck_assert(e[3] & 1);                        /* enabled */
            ck_assert_uint_eq(!!(e[3] & 2), m.cpus == 0); /* BSP only on CPU 0 */
            m.cpus++;
            off += 20;
            break;
        case 1: /* bus */
            ck_assert_uint_eq(e[1], 0);
            ck_assert_mem_eq(e + 2, "ISA   ", 6);
            m.buses++;
            off += 8;
            break;
        case 2: /* IOAPIC */
            m.ioapic_id = e[1];
            ck_assert(e[3] & 1);
            ck_assert_uint_eq(test_rd32(e + 4), 0xfec00000u);
            m.ioapics++;
            off += 8;
            break;
        case 3: /* I/O interrupt */
            ck_assert_uint_eq(e[1], 0);                 /* INT */
            ck_assert_uint_eq(test_rd16(e + 2), 0);     /* conforms to ISA */
            ck_assert_uint_eq(e[4], 0);                 /* ISA bus */
            ck_assert_uint_eq(e[5], m.iointrs);         /* IRQ i ... */
            ck_assert_uint_eq(e[6], (unsigned)m.ioapic_id);
            ck_assert_uint_eq(e[7], m.iointrs);         /* ... on pin i */
            m.iointrs++;
            off += 8;
            break;
        case 4: /* local interrupt */
            ck_assert_uint_eq(e[1], m.lintrs == 0 ? 3 : 1); /* ExtINT, then NMI */
            ck_assert_uint_eq(e[6], 0xff);                  /* every LAPIC */
            ck_assert_uint_eq(e[7], m.lintrs);              /* LINT0, LINT1 */
            m.lintrs++;
            off += 8;
            break;
        default:
            ck_abort_msg("unknown MP entry type %u at %zu", e[0], off);
        }
        entries++;
    }
    ck_assert_uint_eq(off, base_len);
    ck_assert_uint_eq(entries, count);
    ck_assert_uint_eq(m.cpus, n);
    ck_assert_uint_eq(m.buses, 1);
    ck_assert_uint_eq(m.ioapics, 1);
    ck_assert_uint_eq(m.ioapic_id, n); /* first ID after the CPUs' */
    ck_assert_uint_eq(m.iointrs, 16);
    ck_assert_uint_eq(m.lintrs, 2);
}

static const uint32_t cpu_counts[] = { 1, 2, 4, 40, 41, 100, X86_MAX_VCPUS };

START_TEST(test_build)
{
    uint32_t n = cpu_counts[_i];
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) b = mptable_build(X86_MPTABLE_ADDR, n, &err);
    ck_assert_msg(b != NULL, "%u CPUs: %s", n, err ? err->message : "?");
    ck_assert_ptr_null(err);
    check_table(X86_MPTABLE_ADDR, n, b);
}
END_TEST

START_TEST(test_build_other_address)
{
    g_autoptr(GBytes) b = mptable_build(0xf0000, 3, NULL);
    ck_assert_ptr_nonnull(b);
    check_table(0xf0000, 3, b);
}
END_TEST

START_TEST(test_fits_the_layout)
{
    /* The biggest table fits the space layout.h reserves for it, and that
     * space is RAM the guest never allocates (the EBDA and the legacy hole
     * up to 1 MiB). */
    g_autoptr(GBytes) b = mptable_build(X86_MPTABLE_ADDR, X86_MAX_VCPUS, NULL);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_le(X86_MPTABLE_ADDR + g_bytes_get_size(b), X86_BIOS_AREA_END);
    ck_assert_uint_le(X86_MPTABLE_ADDR + X86_MPTABLE_MAX, X86_BIOS_AREA_END);
    ck_assert_uint_ge(X86_MPTABLE_ADDR, X86_LOW_RAM_END);
    /* The floating pointer itself is where Linux scans: the last KiB below
     * 640 KiB. */
    ck_assert_uint_ge(X86_MPTABLE_ADDR, 639 * 1024);
    ck_assert_uint_le(X86_MPTABLE_ADDR + 16, 640 * 1024);
    /* Clear of the ACPI tables. */
    ck_assert_uint_le(X86_MPTABLE_ADDR + X86_MPTABLE_MAX, X86_ACPI_ADDR);
}
END_TEST

static const uint32_t bad_counts[] = { 0, X86_MAX_VCPUS + 1, 256, 1000, UINT32_MAX };

START_TEST(test_reject)
{
    g_autoptr(GError) err = NULL;
    GBytes *b = mptable_build(X86_MPTABLE_ADDR, bad_counts[_i], &err);
    ck_assert_ptr_null(b);
    ck_assert_ptr_nonnull(err);
    ck_assert(err->domain == NIMBUS_ERROR);
    ck_assert_int_eq(err->code, NIMBUS_ERROR_INVALID);
}
END_TEST

START_TEST(test_checksum)
{
    static const uint8_t z[4] = { 0 };
    static const uint8_t v[] = { 0x01, 0xff, 0x80, 0x80 };
    ck_assert_uint_eq(mptable_checksum(z, 0), 0);
    ck_assert_uint_eq(mptable_checksum(z, sizeof z), 0);
    ck_assert_uint_eq(mptable_checksum(v, 2), 0);
    ck_assert_uint_eq(mptable_checksum(v, 3), 0x80);
    ck_assert_uint_eq(mptable_checksum(v, 4), 0);
}
END_TEST

static Suite *mptable_suite(void)
{
    Suite *s = suite_create("mptable");
    TCase *tc = tcase_create("build");
    tcase_set_timeout(tc, 10);
    tcase_add_loop_test(tc, test_build, 0, G_N_ELEMENTS(cpu_counts));
    tcase_add_test(tc, test_build_other_address);
    tcase_add_test(tc, test_fits_the_layout);
    tcase_add_loop_test(tc, test_reject, 0, G_N_ELEMENTS(bad_counts));
    tcase_add_test(tc, test_checksum);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(mptable_suite)
