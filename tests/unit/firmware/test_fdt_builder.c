/* Tests of firmware/fdt_builder.c: a small tree read back through the
 * builder's reader and dtc, growth past the first buffer, and every misuse
 * (duplicate node, bad names, unbalanced nodes, values beyond the size
 * limit) giving a GError that names the node and property, never an abort. */
#include "firmware/fdt_builder.h"
#include "hypervisor/error.h"
#include "support/check_main.h"
#include "unit/firmware/dtc_check.h"

#include <string.h>

static uint32_t be32_at(const void *p, size_t i)
{
    const uint8_t *b = (const uint8_t *)p + 4 * i;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

START_TEST(test_small_tree)
{
    g_autoptr(FdtBuilder) b = fdtb_new(64 * 1024);
    const uint64_t reg[] = { 0x40000000, 0x10000000 };
    const uint32_t cells[] = { 1, 2, 0xdeadbeef };
    ck_assert(fdtb_prop_u32(b, "#address-cells", 2));
    fdtb_prop_u32(b, "#size-cells", 2);
    fdtb_prop_string(b, "compatible", "test,board");
    ck_assert(fdtb_begin_node(b, "memory@40000000"));
    fdtb_prop_string(b, "device_type", "memory");
    fdtb_prop_u64s(b, "reg", reg, 2);
    uint32_t ph = fdtb_phandle(b);
    ck_assert_uint_eq(ph, 1);
    fdtb_end_node(b);
    ck_assert(fdtb_begin_nodef(b, "node%d", 7));
    fdtb_prop_strings(b, "list", "a", "bc", NULL);
    fdtb_prop_cells(b, "cells", cells, 3);
    fdtb_prop_empty(b, "flag");
    fdtb_prop_u64(b, "big", 0x0102030405060708ull);
    ck_assert_uint_eq(fdtb_phandle(b), 2);
    ck_assert(fdtb_end_node(b));
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) blob = fdtb_finish(b, &err);
    ck_assert_msg(blob, "%s", err ? err->message : "?");

    size_t len;
    const char *s = fdtb_blob_prop(blob, "/", "compatible", &len);
    ck_assert_str_eq(s, "test,board");
    const uint8_t *v = fdtb_blob_prop(blob, "/memory@40000000", "reg", &len);
    ck_assert_uint_eq(len, 16);
    ck_assert_uint_eq(be32_at(v, 1), 0x40000000);
    ck_assert_uint_eq(be32_at(v, 3), 0x10000000);
    v = fdtb_blob_prop(blob, "/node7", "list", &len);
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(v, "a\0bc", 5) == 0);
    v = fdtb_blob_prop(blob, "/node7", "cells", &len);
    ck_assert_uint_eq(len, 12);
    ck_assert_uint_eq(be32_at(v, 2), 0xdeadbeef);
    v = fdtb_blob_prop(blob, "/node7", "big", &len);
    ck_assert_uint_eq(be32_at(v, 0), 0x01020304);
    ck_assert_uint_eq(be32_at(v, 1), 0x05060708);
    ck_assert_ptr_nonnull(fdtb_blob_prop(blob, "/node7", "flag", &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_null(fdtb_blob_prop(blob, "/node7", "nothing", &len));
    ck_assert_ptr_null(fdtb_blob_prop(blob, "/nonode", "flag", &len));

    g_autofree char *dts = dtc_decompile(blob);
    ck_assert_ptr_nonnull(strstr(dts, "memory@40000000 {"));
}
END_TEST

/* Hundreds of nodes: the blob outgrows its first buffers many times. */
START_TEST(test_grows)
{
    g_autoptr(FdtBuilder) b = fdtb_new(1 << 20);
    uint32_t big[1000];
    for (unsigned i = 0; i < G_N_ELEMENTS(big); i++)
        big[i] = i;
    fdtb_prop_u32(b, "#address-cells", 1);
    fdtb_prop_u32(b, "#size-cells", 0);
    fdtb_prop_cells(b, "big", big, G_N_ELEMENTS(big));
    for (unsigned i = 0; i < 300; i++) {
        fdtb_begin_nodef(b, "n@%x", i);
        fdtb_prop_u32(b, "reg", i);
        fdtb_begin_node(b, "child");
        fdtb_prop_string(b, "name-of-parent", "n");
        fdtb_end_node(b);
        fdtb_end_node(b);
    }
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) blob = fdtb_finish(b, &err);
    ck_assert_msg(blob, "%s", err ? err->message : "?");
    ck_assert_uint_gt(g_bytes_get_size(blob), 10000);
    size_t len;
    const void *v = fdtb_blob_prop(blob, "/n@12b", "reg", &len);
    ck_assert_uint_eq(len, 4);
    ck_assert_uint_eq(be32_at(v, 0), 299);
    v = fdtb_blob_prop(blob, "/", "big", &len);
    ck_assert_uint_eq(len, sizeof big);
    ck_assert_uint_eq(be32_at(v, 999), 999);
    g_autofree char *dts = dtc_decompile(blob);
    ck_assert_ptr_nonnull(strstr(dts, "n@12b {"));
}
END_TEST

/* The dtc check can fail: a unit address without reg is a warning. */
START_TEST(test_dtc_catches_warnings)
{
    g_autoptr(FdtBuilder) b = fdtb_new(8192);
    fdtb_prop_u32(b, "#address-cells", 2);
    fdtb_prop_u32(b, "#size-cells", 2);
    fdtb_begin_node(b, "memory@40000000");
    fdtb_prop_string(b, "device_type", "memory");
    fdtb_end_node(b);
    g_autoptr(GBytes) blob = fdtb_finish(b, NULL);
    ck_assert_ptr_nonnull(blob);
    g_autofree char *dts = NULL, *warnings = NULL;
    dtc_run(blob, &dts, &warnings);
    ck_assert_msg(strstr(warnings, "unit_address_vs_reg"), "dtc said: \"%s\"", warnings);
}
END_TEST

static void expect_error(FdtBuilder *b, const char *substr1, const char *substr2)
{
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(fdtb_finish(b, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err->message, substr1) && (!substr2 || strstr(err->message, substr2)),
                  "error \"%s\" lacks \"%s\"/\"%s\"", err->message, substr1, substr2 ? substr2 : "");
}

START_TEST(test_property_too_big)
{
    g_autoptr(FdtBuilder) b = fdtb_new(8192);
    g_autofree uint8_t *big = g_malloc0(16384);
    fdtb_begin_node(b, "dev@0");
    ck_assert(!fdtb_prop(b, "blob", big, 16384));
    /* Sticky: the builder refuses everything after the first error. */
    ck_assert(!fdtb_prop_u32(b, "ok", 1));
    ck_assert(!fdtb_end_node(b));
    ck_assert_uint_eq(fdtb_phandle(b), 0);
    expect_error(b, "/dev@0", "blob");
}
END_TEST

/* A value that fits the limit alone but not next to what is there. */
START_TEST(test_tree_outgrows_limit)
{
    g_autoptr(FdtBuilder) b = fdtb_new(8192);
    g_autofree uint8_t *half = g_malloc0(5000);
    ck_assert(fdtb_prop(b, "a", half, 5000));
    ck_assert(!fdtb_prop(b, "b", half, 5000));
    expect_error(b, "property b", "size limit");
}
END_TEST

START_TEST(test_huge_cell_count)
{
    g_autoptr(FdtBuilder) b = fdtb_new(8192);
    uint32_t one = 1;
    /* The count alone is refused before anything is read or allocated. */
    ck_assert(!fdtb_prop_cells(b, "cells", &one, SIZE_MAX / 2));
    expect_error(b, "cells", NULL);
    g_autoptr(FdtBuilder) b2 = fdtb_new(8192);
    uint64_t v = 1;
    ck_assert(!fdtb_prop_u64s(b2, "wide", &v, SIZE_MAX / 4));
    expect_error(b2, "wide", NULL);
}
END_TEST

START_TEST(test_duplicate_node)
{
    g_autoptr(FdtBuilder) b = fdtb_new(8192);
    fdtb_begin_node(b, "cpus");
    fdtb_begin_node(b, "cpu@0");
    fdtb_end_node(b);
    ck_assert(!fdtb_begin_node(b, "cpu@0"));
    expect_error(b, "/cpus", "cpu@0");
}
END_TEST

/* Order and uniqueness rules the sequential layout needs. */
START_TEST(test_property_after_child)
{
    g_autoptr(FdtBuilder) b = fdtb_new(8192);
    fdtb_begin_node(b, "bus");
    fdtb_begin_node(b, "dev@1");
    fdtb_end_node(b);
    ck_assert(!fdtb_prop_u32(b, "#size-cells", 0));
    expect_error(b, "/bus", "#size-cells after a child");
}
END_TEST

START_TEST(test_duplicate_property)
{
    g_autoptr(FdtBuilder) b = fdtb_new(8192);
    fdtb_begin_node(b, "dev");
    fdtb_prop_u32(b, "reg", 1);
    ck_assert(!fdtb_prop_u32(b, "reg", 2));
    expect_error(b, "/dev", "property reg exists");
}
END_TEST

START_TEST(test_finish_once)
{
    g_autoptr(FdtBuilder) b = fdtb_new(8192);
    g_autoptr(GBytes) blob = fdtb_finish(b, NULL);
    ck_assert_ptr_nonnull(blob);
    ck_assert(!fdtb_prop_u32(b, "late", 1));
    expect_error(b, "finished", NULL);
}
END_TEST

START_TEST(test_bad_names)
{
    const char *names[] = { "", "a/b" };
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autoptr(FdtBuilder) b = fdtb_new(8192);
        ck_assert(!fdtb_begin_node(b, names[i]));
        expect_error(b, "name", NULL);
    }
    g_autoptr(FdtBuilder) b = fdtb_new(8192);
    ck_assert(!fdtb_begin_node(b, NULL));
    expect_error(b, "name", NULL);
    g_autoptr(FdtBuilder) b2 = fdtb_new(8192);
    ck_assert(!fdtb_prop_u32(b2, "", 1));
    expect_error(b2, "property", NULL);
}
END_TEST

START_TEST(test_unbalanced)
{
    g_autoptr(FdtBuilder) b = fdtb_new(8192);
    ck_assert(!fdtb_end_node(b));
    expect_error(b, "without a begin", NULL);
    g_autoptr(FdtBuilder) b2 = fdtb_new(8192);
    fdtb_begin_node(b2, "open");
    fdtb_begin_node(b2, "inner");
    fdtb_end_node(b2);
    expect_error(b2, "/open", "not closed");
}
END_TEST

START_TEST(test_reader_rejects_garbage)
{
    static const uint8_t junk[64] = { 0xd0, 0x0d, 0xfe, 0xed, 0xff, 0xff, 0xff, 0xff };
    g_autoptr(GBytes) blob = g_bytes_new_static(junk, sizeof junk);
    size_t len = 99;
    ck_assert_ptr_null(fdtb_blob_prop(blob, "/", "x", &len));
    ck_assert_uint_eq(len, 0);
    g_autoptr(GBytes) tiny = g_bytes_new_static(junk, 4);
    ck_assert_ptr_null(fdtb_blob_prop(tiny, "/", "x", &len));
}
END_TEST

static Suite *fdt_builder_suite(void)
{
    Suite *s = suite_create("fdt_builder");
    TCase *tc = tcase_create("build");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_small_tree);
    tcase_add_test(tc, test_grows);
    tcase_add_test(tc, test_dtc_catches_warnings);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_property_too_big);
    tcase_add_test(tc, test_tree_outgrows_limit);
    tcase_add_test(tc, test_huge_cell_count);
    tcase_add_test(tc, test_duplicate_node);
    tcase_add_test(tc, test_property_after_child);
    tcase_add_test(tc, test_duplicate_property);
    tcase_add_test(tc, test_finish_once);
    tcase_add_test(tc, test_bad_names);
    tcase_add_test(tc, test_unbalanced);
    tcase_add_test(tc, test_reader_rejects_garbage);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(fdt_builder_suite)
