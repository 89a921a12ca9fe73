/* Tests of firmware/elf_loader.c: inspecting and loading synthetic ELF64
 * images, the PVH entry note in its 4- and 8-byte forms, and hostile images
 * (bad identification, header tables, segments and notes) that must give an
 * error and never touch memory out of bounds. */
#include "firmware/elf_loader.h"
#include "hypervisor/error.h"
#include "support/check_main.h"
#include "unit/firmware/elf_image.h"

#include <string.h>
#include <unistd.h>

#define MiB (1ull << 20)
#define TEXT_GPA 0x100000ull
#define TEXT_FILESZ 0x1800u
#define TEXT_MEMSZ 0x4000u
#define DATA_GPA 0x200000ull
#define ENTRY 0xffffffff81000000ull

static GuestMemory *mem;

static void setup(void)
{
    static const MemoryBacking ram = { 0 };
    mem = memory_new(NULL);
    ck_assert_ptr_nonnull(memory_add_ram(mem, "ram", 0, 4 * MiB, &ram, NULL));
}

static void teardown(void)
{
    g_clear_pointer(&mem, memory_free);
}

static uint8_t text_byte(size_t i)
{
    return (uint8_t)(i * 5 + 3);
}

/* text (file bytes + bss), data, then optional notes segments. */
static GByteArray *image(const GByteArray *note1, const GByteArray *note2)
{
    static uint8_t text[TEXT_FILESZ];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = text_byte(i);
    static const uint8_t data[] = "data!";
    ElfImageSeg segs[4] = {
        { PT_LOAD, TEXT_GPA, text, sizeof text, TEXT_MEMSZ },
        { PT_LOAD, DATA_GPA, data, sizeof data, sizeof data },
    };
    size_t n = 2;
    if (note1)
        segs[n++] = (ElfImageSeg){ PT_NOTE, 0, note1->data, note1->len, note1->len };
    if (note2)
        segs[n++] = (ElfImageSeg){ PT_NOTE, 0, note2->data, note2->len, note2->len };
    return elf_image_build(EM_X86_64, ENTRY, segs, n);
}

static GByteArray *pvh_image(uint64_t entry, uint32_t descsz)
{
    g_autoptr(GByteArray) note = elf_image_pvh_note(entry, descsz);
    return image(note, NULL);
}

static bool inspect_bytes(const GByteArray *img, uint16_t machine, ElfInfo *info,
                          GError **err)
{
    int fd = elf_image_memfd(img->data, img->len);
    bool ok = elf_inspect(fd, "vmlinux", machine, info, err);
    close(fd);
    return ok;
}

static bool load_bytes(const GByteArray *img, ElfInfo *info, GError **err)
{
    int fd = elf_image_memfd(img->data, img->len);
    bool ok = elf_load(fd, "vmlinux", EM_X86_64, mem, info, err);
    close(fd);
    return ok;
}

/* Both inspect and load refuse the image with an INVALID error naming it,
 * and load leaves guest memory untouched when the headers are bad. */
static void expect_bad(const GByteArray *img, const char *fragment)
{
    ElfInfo info;
    g_autoptr(GError) err = NULL;
    ck_assert(!inspect_bytes(img, EM_X86_64, &info, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert(err->domain == NIMBUS_ERROR);
    ck_assert_msg(err->code == NIMBUS_ERROR_INVALID, "code %d: %s", err->code, err->message);
    ck_assert_msg(strstr(err->message, "vmlinux") != NULL, "%s", err->message);
    if (fragment)
        ck_assert_msg(strstr(err->message, fragment) != NULL, "message '%s' lacks '%s'",
                      err->message, fragment);
    g_autoptr(GError) err2 = NULL;
    ck_assert(!load_bytes(img, &info, &err2));
    ck_assert_ptr_nonnull(err2);
}

START_TEST(test_magic)
{
    ck_assert(elf_has_magic("\177ELF", 4));
    ck_assert(elf_has_magic("\177ELF\2\1\1", 7));
    ck_assert(!elf_has_magic("\177EL", 3));
    ck_assert(!elf_has_magic("\177ELG", 4));
    ck_assert(!elf_has_magic("", 0));
}
END_TEST

START_TEST(test_inspect_valid)
{
    g_autoptr(GByteArray) img = image(NULL, NULL);
    ElfInfo info;
    memset(&info, 0xee, sizeof info);
    g_autoptr(GError) err = NULL;
    ck_assert_msg(inspect_bytes(img, EM_X86_64, &info, &err), "%s", err ? err->message : "");
    ck_assert_uint_eq(info.entry, ENTRY);
    ck_assert_uint_eq(info.load_low, TEXT_GPA);
    ck_assert_uint_eq(info.load_high, DATA_GPA + 6);
    ck_assert(!info.has_pvh_entry);
    ck_assert_uint_eq(info.pvh_entry, 0);
}
END_TEST

START_TEST(test_load_valid)
{
    g_autoptr(GByteArray) img = pvh_image(0x1000c0, 4);
    uint8_t *bss = memory_hva(mem, TEXT_GPA + TEXT_FILESZ, TEXT_MEMSZ - TEXT_FILESZ);
    memset(bss, 0xaa, TEXT_MEMSZ - TEXT_FILESZ + 16); /* and 16 bytes past the segment */
    ElfInfo info;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(load_bytes(img, &info, &err), "%s", err ? err->message : "");
    const uint8_t *t = memory_hva(mem, TEXT_GPA, TEXT_MEMSZ + 16);
    for (size_t i = 0; i < TEXT_FILESZ; i++)
        ck_assert_msg(t[i] == text_byte(i), "text byte %zu", i);
    for (size_t i = TEXT_FILESZ; i < TEXT_MEMSZ; i++)
        ck_assert_msg(t[i] == 0, "bss byte %zu", i);
    for (size_t i = TEXT_MEMSZ; i < TEXT_MEMSZ + 16; i++)
        ck_assert_msg(t[i] == 0xaa, "byte %zu past memsz was written", i);
    char data[6];
    ck_assert(memory_read(mem, DATA_GPA, data, sizeof data));
    ck_assert_str_eq(data, "data!");
    ck_assert(info.has_pvh_entry);
    ck_assert_uint_eq(info.pvh_entry, 0x1000c0);
    ck_assert_uint_eq(info.entry, ENTRY);
}
END_TEST

START_TEST(test_pvh_note_8_bytes)
{
    g_autoptr(GByteArray) img = pvh_image(0xfffff000ull, 8);
    ElfInfo info;
    ck_assert(inspect_bytes(img, EM_X86_64, &info, NULL));
    ck_assert(info.has_pvh_entry);
    ck_assert_uint_eq(info.pvh_entry, 0xfffff000u);
}
END_TEST

START_TEST(test_pvh_note_8_bytes_above_4g)
{
    g_autoptr(GByteArray) img = pvh_image(0x100000000ull, 8);
    expect_bad(img, "4 GiB");
}
END_TEST

START_TEST(test_pvh_note_bad_size)
{
    g_autoptr(GByteArray) img = pvh_image(0x100000, 2);
    expect_bad(img, "size");
}
END_TEST

START_TEST(test_notes_ignored_unless_xen_18)
{
    /* Type 18 under another name, and "Xen" notes of other types. */
    uint8_t desc[4] = { 0x78, 0x56, 0x34, 0x12 };
    g_autoptr(GByteArray) a = elf_image_note("Xem", 4, 18, desc, 4);
    g_autoptr(GByteArray) b = elf_image_note("Xen", 4, 17, desc, 4);
    g_autoptr(GByteArray) both = g_byte_array_new();
    g_byte_array_append(both, a->data, a->len);
    g_byte_array_append(both, b->data, b->len);
    g_autoptr(GByteArray) gnu = elf_image_note("GNU", 4, 3, "build-id-bytes", 14);
    g_autoptr(GByteArray) img = image(both, gnu);
    ElfInfo info;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(inspect_bytes(img, EM_X86_64, &info, &err), "%s", err ? err->message : "");
    ck_assert(!info.has_pvh_entry);

    /* The PVH note found after other notes in the same segment. */
    g_autoptr(GByteArray) pvh = elf_image_pvh_note(0x1234000, 4);
    g_byte_array_append(both, pvh->data, pvh->len);
    g_autoptr(GByteArray) img2 = image(gnu, both);
    ck_assert(inspect_bytes(img2, EM_X86_64, &info, NULL));
    ck_assert(info.has_pvh_entry);
    ck_assert_uint_eq(info.pvh_entry, 0x1234000);
}
END_TEST

START_TEST(test_note_trailing_bytes_and_empty)
{
    /* Fewer than a note header's bytes left over, and an empty note
     * segment: nothing to scan, not an error. */
    g_autoptr(GByteArray) pvh = elf_image_pvh_note(0x2000000, 4);
    g_byte_array_append(pvh, (const guint8 *)"\0\0\0\0\0\0\0\0", 8);
    g_autoptr(GByteArray) empty = g_byte_array_new();
    g_autoptr(GByteArray) img = image(pvh, empty);
    ElfInfo info;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(inspect_bytes(img, EM_X86_64, &info, &err), "%s", err ? err->message : "");
    ck_assert_uint_eq(info.pvh_entry, 0x2000000);
}
END_TEST

START_TEST(test_note_name_runs_past_segment)
{
    g_autoptr(GByteArray) n = elf_image_note("Xen", 0x1000, 18, "\0\0\0\1", 4);
    g_autoptr(GByteArray) img = image(n, NULL);
    expect_bad(img, "note");
    g_autoptr(GByteArray) n2 = elf_image_note("Xen", 0xfffffffe, 18, "\0\0\0\1", 4);
    g_autoptr(GByteArray) img2 = image(n2, NULL);
    expect_bad(img2, "note");
}
END_TEST

START_TEST(test_note_desc_runs_past_segment)
{
    g_autoptr(GByteArray) n = elf_image_note("Xen", 4, 18, "\0\0\0\1", 4);
    Elf64_Nhdr nh;
    memcpy(&nh, n->data, sizeof nh);
    nh.n_descsz = 5; /* padded to 8: 4 bytes more than present */
    memcpy(n->data, &nh, sizeof nh);
    g_autoptr(GByteArray) img = image(n, NULL);
    expect_bad(img, "note");
    nh.n_descsz = 0xffffffff;
    memcpy(n->data, &nh, sizeof nh);
    g_autoptr(GByteArray) img2 = image(n, NULL);
    expect_bad(img2, "note");
}
END_TEST

START_TEST(test_note_segment_outside_file)
{
    g_autoptr(GByteArray) n = elf_image_pvh_note(0x100000, 4);
    g_autoptr(GByteArray) img = image(n, NULL);
    Elf64_Phdr ph = elf_image_phdr(img, 2);
    ph.p_offset = img->len - 4; /* runs past the end */
    elf_image_set_phdr(img, 2, &ph);
    expect_bad(img, "truncated");
    ph.p_offset = UINT64_MAX - 2; /* offset + size wraps */
    elf_image_set_phdr(img, 2, &ph);
    expect_bad(img, NULL);
    ph.p_offset = 0;
    ph.p_filesz = 64 * MiB; /* absurdly large notes */
    elf_image_set_phdr(img, 2, &ph);
    expect_bad(img, NULL);
}
END_TEST

START_TEST(test_bad_ident)
{
    g_autoptr(GByteArray) img = image(NULL, NULL);
    Elf64_Ehdr good = elf_image_ehdr(img), eh;

    eh = good;
    eh.e_ident[EI_CLASS] = ELFCLASS32;
    elf_image_set_ehdr(img, &eh);
    expect_bad(img, "64-bit");

    eh = good;
    eh.e_ident[EI_DATA] = ELFDATA2MSB;
    elf_image_set_ehdr(img, &eh);
    expect_bad(img, "little-endian");

    eh = good;
    eh.e_ident[EI_MAG3] = 'G';
    elf_image_set_ehdr(img, &eh);
    expect_bad(img, NULL);
}
END_TEST

START_TEST(test_bad_type_and_machine)
{
    g_autoptr(GByteArray) img = image(NULL, NULL);
    Elf64_Ehdr good = elf_image_ehdr(img), eh;

    eh = good;
    eh.e_machine = EM_AARCH64;
    elf_image_set_ehdr(img, &eh);
    expect_bad(img, "machine");
    /* ... which is what an arm64 loader wants. */
    ElfInfo info;
    ck_assert(inspect_bytes(img, EM_AARCH64, &info, NULL));

    static const uint16_t types[] = { ET_NONE, ET_REL, ET_DYN, ET_CORE, 0xffff };
    for (unsigned i = 0; i < G_N_ELEMENTS(types); i++) {
        eh = good;
        eh.e_type = types[i];
        elf_image_set_ehdr(img, &eh);
        expect_bad(img, "executable");
    }
}
END_TEST

START_TEST(test_bad_phdr_table)
{
    g_autoptr(GByteArray) img = image(NULL, NULL);
    Elf64_Ehdr good = elf_image_ehdr(img), eh;

    eh = good;
    eh.e_phnum = 0;
    elf_image_set_ehdr(img, &eh);
    expect_bad(img, "program header");

    eh = good;
    eh.e_phnum = 65;
    elf_image_set_ehdr(img, &eh);
    expect_bad(img, "program header");

    eh = good;
    eh.e_phnum = 0xffff;
    elf_image_set_ehdr(img, &eh);
    expect_bad(img, "program header");

    eh = good;
    eh.e_phentsize = sizeof(Elf32_Phdr);
    elf_image_set_ehdr(img, &eh);
    expect_bad(img, "program header");

    eh = good;
    eh.e_phentsize = sizeof(Elf64_Phdr) + 8;
    elf_image_set_ehdr(img, &eh);
    expect_bad(img, "program header");

    eh = good;
    eh.e_phoff = img->len - 8; /* table runs past the end */
    elf_image_set_ehdr(img, &eh);
    expect_bad(img, "truncated");

    eh = good;
    eh.e_phoff = UINT64_MAX - 16;
    elf_image_set_ehdr(img, &eh);
    expect_bad(img, "truncated");

    /* 64 entries is the limit, and fine when they are all there. */
    eh = good;
    eh.e_phnum = 64;
    eh.e_phoff = img->len;
    elf_image_set_ehdr(img, &eh);
    Elf64_Phdr ph = elf_image_phdr(img, 0);
    for (unsigned i = 0; i < 64; i++)
        g_byte_array_append(img, (const guint8 *)&ph, sizeof ph);
    ElfInfo info;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(inspect_bytes(img, EM_X86_64, &info, &err), "%s", err ? err->message : "");
}
END_TEST

START_TEST(test_truncated_header)
{
    g_autoptr(GByteArray) img = image(NULL, NULL);
    g_byte_array_set_size(img, sizeof(Elf64_Ehdr) - 1);
    expect_bad(img, "truncated");
    g_byte_array_set_size(img, 0);
    expect_bad(img, "truncated");
}
END_TEST

START_TEST(test_no_load_segment)
{
    g_autoptr(GByteArray) img = image(NULL, NULL);
    Elf64_Phdr ph = elf_image_phdr(img, 0);
    ph.p_type = PT_GNU_STACK;
    elf_image_set_phdr(img, 0, &ph);
    elf_image_set_phdr(img, 1, &ph);
    expect_bad(img, "loadable");
}
END_TEST

START_TEST(test_bad_load_segment)
{
    g_autoptr(GByteArray) img = image(NULL, NULL);
    const Elf64_Phdr good = elf_image_phdr(img, 1);
    Elf64_Phdr ph;

    ph = good;
    ph.p_offset = img->len - 2; /* file bytes past the end */
    elf_image_set_phdr(img, 1, &ph);
    expect_bad(img, "segment 1");

    ph = good;
    ph.p_offset = UINT64_MAX - 1; /* offset + filesz wraps */
    elf_image_set_phdr(img, 1, &ph);
    expect_bad(img, "segment 1");

    ph = good;
    ph.p_filesz = img->len * 2;
    ph.p_memsz = ph.p_filesz;
    elf_image_set_phdr(img, 1, &ph);
    expect_bad(img, "segment 1");

    ph = good;
    ph.p_memsz = ph.p_filesz - 1; /* filesz > memsz */
    elf_image_set_phdr(img, 1, &ph);
    expect_bad(img, "segment 1");

    ph = good;
    ph.p_paddr = UINT64_MAX - 2; /* paddr + memsz wraps */
    elf_image_set_phdr(img, 1, &ph);
    expect_bad(img, "segment 1");

    ph = good;
    ph.p_paddr = 0x1000;
    ph.p_memsz = UINT64_MAX; /* wraps too */
    elf_image_set_phdr(img, 1, &ph);
    expect_bad(img, "segment 1");
}
END_TEST

START_TEST(test_segment_outside_ram)
{
    static const uint64_t where[][2] = {
        { 4 * MiB, 0x1000 },            /* just past the end */
        { 4 * MiB - 0x10, 0x1000 },     /* straddles the end */
        { 1ull << 40, 0x10 },           /* far away */
        { 0xfffffffffffff000ull, 0x10 } /* near the top of the address space */
    };
    for (unsigned i = 0; i < G_N_ELEMENTS(where); i++) {
        g_autoptr(GByteArray) img = image(NULL, NULL);
        Elf64_Phdr ph = elf_image_phdr(img, 1);
        ph.p_paddr = where[i][0];
        ph.p_filesz = 6;
        ph.p_memsz = where[i][1];
        elf_image_set_phdr(img, 1, &ph);
        /* Inspecting is fine: only loading needs the RAM. */
        ElfInfo info;
        ck_assert(inspect_bytes(img, EM_X86_64, &info, NULL));
        ck_assert_uint_eq(info.load_high, where[i][0] + where[i][1]);
        g_autoptr(GError) err = NULL;
        ck_assert(!load_bytes(img, &info, &err));
        ck_assert_ptr_nonnull(err);
        ck_assert_msg(strstr(err->message, "RAM") != NULL, "%s", err->message);
    }
}
END_TEST

START_TEST(test_zero_sized_segment)
{
    /* memsz 0 anywhere (even outside RAM) loads nothing and is fine. */
    g_autoptr(GByteArray) img = image(NULL, NULL);
    Elf64_Phdr ph = elf_image_phdr(img, 1);
    ph.p_paddr = 1ull << 45;
    ph.p_filesz = ph.p_memsz = 0;
    elf_image_set_phdr(img, 1, &ph);
    ElfInfo info;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(load_bytes(img, &info, &err), "%s", err ? err->message : "");
}
END_TEST

START_TEST(test_mutations_never_crash)
{
    /* Random corruption of the headers and notes of a valid PVH image: every
     * outcome is fine except a crash or a write outside the segments. */
    g_autoptr(GByteArray) note = elf_image_pvh_note(0x100100, 4);
    g_autoptr(GByteArray) base = image(note, NULL);
    GRand *r = g_rand_new_with_seed(0xe1f);
    size_t hot = sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr);
    Elf64_Phdr nph = elf_image_phdr(base, 2);
    for (unsigned iter = 0; iter < 3000; iter++) {
        g_autoptr(GByteArray) img = g_byte_array_new();
        g_byte_array_append(img, base->data, base->len);
        unsigned flips = g_rand_int_range(r, 1, 6);
        for (unsigned f = 0; f < flips; f++) {
            size_t at = g_rand_boolean(r)
                            ? (size_t)g_rand_int_range(r, 0, (gint32)hot)
                            : nph.p_offset + (size_t)g_rand_int_range(r, 0, (gint32)nph.p_filesz);
            img->data[at] = (uint8_t)g_rand_int(r);
        }
        if (g_rand_int_range(r, 0, 8) == 0)
            g_byte_array_set_size(img, g_rand_int_range(r, 0, (gint32)img->len));
        ElfInfo info;
        g_autoptr(GError) err = NULL;
        if (!load_bytes(img, &info, &err))
            ck_assert_ptr_nonnull(err);
        else
            ck_assert_uint_le(info.load_low, info.load_high);
    }
    g_rand_free(r);
}
END_TEST

static Suite *elf_loader_suite(void)
{
    Suite *s = suite_create("elf_loader");
    TCase *tc = tcase_create("valid");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_magic);
    tcase_add_test(tc, test_inspect_valid);
    tcase_add_test(tc, test_load_valid);
    tcase_add_test(tc, test_pvh_note_8_bytes);
    tcase_add_test(tc, test_notes_ignored_unless_xen_18);
    tcase_add_test(tc, test_note_trailing_bytes_and_empty);
    tcase_add_test(tc, test_zero_sized_segment);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_pvh_note_8_bytes_above_4g);
    tcase_add_test(tc, test_pvh_note_bad_size);
    tcase_add_test(tc, test_note_name_runs_past_segment);
    tcase_add_test(tc, test_note_desc_runs_past_segment);
    tcase_add_test(tc, test_note_segment_outside_file);
    tcase_add_test(tc, test_bad_ident);
    tcase_add_test(tc, test_bad_type_and_machine);
    tcase_add_test(tc, test_bad_phdr_table);
    tcase_add_test(tc, test_truncated_header);
    tcase_add_test(tc, test_no_load_segment);
    tcase_add_test(tc, test_bad_load_segment);
    tcase_add_test(tc, test_segment_outside_ram);
    tcase_add_test(tc, test_mutations_never_crash);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(elf_loader_suite)
