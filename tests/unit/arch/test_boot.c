/* Tests of arch/x86_64/boot.c: initrd placement, kernel format probing on
 * real files (bzImage, PVH ELF, and everything that is not a kernel), and
 * loading both formats with an initramfs into fake guest RAM. */
#include "arch/x86_64/boot.h"
#include "arch/x86_64/bzimage.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/pvh.h"
#include "firmware/payload.h"
#include "hypervisor/error.h"
#include "support/check_main.h"
#include "unit/arch/bzimage_image.h"
#include "unit/firmware/elf_image.h"

#include <glib/gstdio.h>
#include <string.h>

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define PAGE 4096ull

static char *dir;
static GuestMemory *mem;
static E820Map e820;
static uint64_t ram_size;

static void add_ram(uint64_t size)
{
    static const MemoryBacking ram = { 0 };
    g_autoptr(GError) err = NULL;
    mem = memory_new(NULL);
    ck_assert_msg(memory_add_ram(mem, "ram", 0, size, &ram, &err) != NULL, "%s",
                  err ? err->message : "?");
    e820_build(&e820, size);
    ram_size = size;
}

static void setup(void)
{
    dir = g_dir_make_tmp("nimbus-boot-XXXXXX", NULL);
    ck_assert_ptr_nonnull(dir);
    add_ram(64 * MiB);
}

static void teardown(void)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        if (g_file_test(p, G_FILE_TEST_IS_DIR))
            g_rmdir(p);
        else
            g_unlink(p);
    }
    g_rmdir(dir);
    g_clear_pointer(&dir, g_free);
    g_clear_pointer(&mem, memory_free);
}

static char *write_file(const char *name, const void *data, size_t len)
{
    char *p = g_build_filename(dir, name, NULL);
    g_autoptr(GError) err = NULL;
    ck_assert_msg(g_file_set_contents(p, data, (gssize)len, &err), "%s",
                  err ? err->message : "?");
    return p;
}

static char *write_bzimage(const TestBzParams *p)
{
    g_autoptr(GByteArray) img = test_bz_build(p);
    return write_file("bzImage", img->data, img->len);
}

static uint8_t initrd_byte(size_t i)
{
    return (uint8_t)(i * 13 + 5);
}

static char *write_initrd(size_t size)
{
    g_autofree uint8_t *b = g_malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++)
        b[i] = initrd_byte(i);
    return write_file("initrd.img", b, size);
}

/* The PVH test kernel: text at 16 MiB (file bytes then bss), a second
 * segment at 17 MiB, a PVH note whose entry differs from e_entry. */
#define PVH_TEXT 0x1000000ull
#define PVH_TEXT_FILESZ 0x3000u
#define PVH_TEXT_MEMSZ 0x5400u
#define PVH_DATA 0x1100000ull
#define PVH_ENTRY 0x1000100u

static uint8_t seg_byte(size_t i)
{
    return (uint8_t)(i * 3 + 1);
}

static GByteArray *pvh_elf(bool with_note, uint16_t machine)
{
    g_autofree uint8_t *text = g_malloc(PVH_TEXT_FILESZ);
    for (size_t i = 0; i < PVH_TEXT_FILESZ; i++)
        text[i] = seg_byte(i);
    static const uint8_t data[] = "second segment";
    g_autoptr(GByteArray) note = elf_image_pvh_note(PVH_ENTRY, 4);
    g_autoptr(GByteArray) other = elf_image_note("GNU", 4, 3, "abcdefgh", 8);
    ElfImageSeg segs[] = {
        { PT_LOAD, PVH_TEXT, text, PVH_TEXT_FILESZ, PVH_TEXT_MEMSZ },
        { PT_LOAD, PVH_DATA, data, sizeof data, 0x1000 },
        { PT_NOTE, 0, other->data, other->len, other->len },
        { PT_NOTE, 0, note->data, note->len, note->len },
    };
    return elf_image_build(machine, 0xffffffff81000000ull, segs, with_note ? 4 : 3);
}

static char *write_pvh_elf(bool with_note)
{
    g_autoptr(GByteArray) img = pvh_elf(with_note, EM_X86_64);
    return write_file("vmlinux", img->data, img->len);
}

/* --- payload_place_initrd ------------------------------------------------ */

START_TEST(test_place_basic)
{
    uint64_t a = 1;
    ck_assert(payload_place_initrd(0x1000, 0, 0x100000, &a));
    ck_assert_uint_eq(a, 0xff000);
    /* Unaligned limit and size: rounded down to a page, still below limit. */
    ck_assert(payload_place_initrd(0x1800, 0, 0x100fff, &a));
    ck_assert_uint_eq(a, 0xff000);
    ck_assert(payload_place_initrd(0x1800, 0, 0x100000, &a));
    ck_assert_uint_eq(a, 0xfe000);
    /* Floor is inclusive. */
    ck_assert(payload_place_initrd(0x1800, 0xfe000, 0x100000, &a));
    ck_assert_uint_eq(a, 0xfe000);
    a = 7;
    ck_assert(!payload_place_initrd(0x1800, 0xfe001, 0x100000, &a));
    ck_assert_uint_eq(a, 7); /* untouched on failure */
    /* Exactly fills [0, limit). */
    ck_assert(payload_place_initrd(0x100000, 0, 0x100000, &a));
    ck_assert_uint_eq(a, 0);
    ck_assert(!payload_place_initrd(0x100000, 1, 0x100000, &a));
    /* Too big, empty, or no room at all. */
    ck_assert(!payload_place_initrd(0x100001, 0, 0x100000, &a));
    ck_assert(!payload_place_initrd(UINT64_MAX, 0, 0x100000, &a));
    ck_assert(!payload_place_initrd(0, 0, 0x100000, &a));
    ck_assert(!payload_place_initrd(1, 0, 0, &a));
    ck_assert(!payload_place_initrd(0x1000, 0x200000, 0x100000, &a)); /* floor above limit */
}
END_TEST

START_TEST(test_place_properties)
{
    GRand *r = g_rand_new_with_seed(42);
    for (unsigned i = 0; i < 100000; i++) {
        uint64_t limit = g_rand_int_range(r, 0, 1 << 30) * (g_rand_boolean(r) ? 4ull : 1);
        uint64_t size = g_rand_int_range(r, 0, 1 << 26);
        uint64_t floor = g_rand_int_range(r, 0, 1 << 30);
        uint64_t a = UINT64_MAX;
        if (!payload_place_initrd(size, floor, limit, &a)) {
            /* Refused only if no aligned slot in [floor, limit) exists. */
            ck_assert(size == 0 || size > limit || ((limit - size) & ~(PAGE - 1)) < floor);
            continue;
        }
        ck_assert_uint_eq(a % PAGE, 0);
        ck_assert_uint_ge(a, floor);
        ck_assert_uint_le(a + size, limit);
        ck_assert_uint_gt(a + PAGE + size, limit); /* the highest such slot */
    }
    g_rand_free(r);
}
END_TEST

/* --- boot_probe_kernel ------------------------------------------------ */

static void expect_probe_error(const char *path, int code, const char *fragment)
{
    KernelFormat fmt;
    g_autoptr(GError) err = NULL;
    ck_assert(!boot_probe_kernel(path, &fmt, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert(err->domain == NIMBUS_ERROR);
    ck_assert_msg(err->code == code, "code %d (%s), want %d", err->code, err->message, code);
    ck_assert_msg(strstr(err->message, path) != NULL, "message '%s' lacks the path",
                  err->message);
    ck_assert_msg(strstr(err->message, fragment) != NULL, "message '%s' lacks '%s'",
                  err->message, fragment);
}

START_TEST(test_probe_bzimage)
{
    TestBzParams p = test_bz_defaults();
    g_autofree char *path = write_bzimage(&p);
    KernelFormat fmt = KERNEL_FORMAT_PVH_ELF;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(boot_probe_kernel(path, &fmt, &err), "%s", err ? err->message : "");
    ck_assert_int_eq(fmt, KERNEL_FORMAT_BZIMAGE);
}
END_TEST

START_TEST(test_probe_bad_bzimage)
{
    TestBzParams p = test_bz_defaults();
    p.xloadflags = 0;
    g_autofree char *path = write_bzimage(&p);
    expect_probe_error(path, NIMBUS_ERROR_UNSUPPORTED, "64-bit");
    /* A bzImage head cut short. */
    g_autoptr(GByteArray) img = test_bz_build(&p);
    g_autofree char *cut = write_file("cut", img->data, 0x210);
    expect_probe_error(cut, NIMBUS_ERROR_INVALID, "bzImage");
}
END_TEST

START_TEST(test_probe_pvh_elf)
{
    g_autofree char *path = write_pvh_elf(true);
    KernelFormat fmt = KERNEL_FORMAT_BZIMAGE;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(boot_probe_kernel(path, &fmt, &err), "%s", err ? err->message : "");
    ck_assert_int_eq(fmt, KERNEL_FORMAT_PVH_ELF);
}
END_TEST

START_TEST(test_probe_elf_without_pvh_note)
{
    g_autofree char *path = write_pvh_elf(false);
    expect_probe_error(path, NIMBUS_ERROR_UNSUPPORTED, "PVH");
}
END_TEST

START_TEST(test_probe_elf_other_machine)
{
    g_autoptr(GByteArray) img = pvh_elf(true, EM_AARCH64);
    g_autofree char *path = write_file("Image.elf", img->data, img->len);
    KernelFormat fmt;
    g_autoptr(GError) err = NULL;
    ck_assert(!boot_probe_kernel(path, &fmt, &err));
    ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(test_probe_text_file)
{
    static const char text[] = "#!/bin/sh\necho this is not a kernel, and it is long enough "
                               "to fill a header or two........................\n";
    g_autofree char *path = write_file("script.sh", text, sizeof text - 1);
    expect_probe_error(path, NIMBUS_ERROR_INVALID, "not a kernel");
}
END_TEST

START_TEST(test_probe_empty_file)
{
    g_autofree char *path = write_file("empty", "", 0);
    expect_probe_error(path, NIMBUS_ERROR_INVALID, "not a kernel");
}
END_TEST

START_TEST(test_probe_directory)
{
    g_autofree char *sub = g_build_filename(dir, "subdir", NULL);
    ck_assert_int_eq(g_mkdir(sub, 0700), 0);
    expect_probe_error(sub, NIMBUS_ERROR_INVALID, "not a regular file");
}
END_TEST

START_TEST(test_probe_missing_file)
{
    g_autofree char *path = g_build_filename(dir, "no-such-kernel", NULL);
    expect_probe_error(path, NIMBUS_ERROR_NOT_FOUND, "cannot open");
}
END_TEST

/* --- boot_load_payload: bzImage ---------------------------------------- */

static uint8_t zp[BZ_ZERO_PAGE_SIZE];

static void read_zero_page(void)
{
    ck_assert(memory_read(mem, X86_ZERO_PAGE_ADDR, zp, sizeof zp));
}

static char *guest_string(uint64_t gpa)
{
    char buf[X86_CMDLINE_MAX];
    ck_assert(memory_read(mem, gpa, buf, sizeof buf));
    ck_assert_ptr_nonnull(memchr(buf, 0, sizeof buf));
    return g_strdup(buf);
}

static void check_initrd_at(uint64_t addr, uint64_t size, uint64_t floor, uint64_t limit)
{
    ck_assert_uint_eq(addr % PAGE, 0);
    ck_assert_uint_ge(addr, floor);
    ck_assert_uint_le(addr + size, limit);
    ck_assert_uint_le(addr + size, ram_size);
    const uint8_t *p = memory_hva(mem, addr, size);
    ck_assert_ptr_nonnull(p);
    g_autofree uint8_t *want = g_malloc(size);
    for (size_t i = 0; i < size; i++)
        want[i] = initrd_byte(i);
    ck_assert_msg(memcmp(p, want, size) == 0, "initrd bytes differ at %#llx",
                  (unsigned long long)addr);
}

#define TEST_RSDP 0xe0000ull

static bool load(const char *kernel, const char *initrd, const char *cmdline,
                 X86BootEntry *entry, GError **err)
{
    PayloadConfig pc = { .kernel = (char *)kernel, .initramfs = (char *)initrd,
                         .cmdline = (char *)cmdline };
    return boot_load_payload(mem, &pc, &e820, TEST_RSDP, entry, err);
}

START_TEST(test_load_bzimage_with_initrd)
{
    TestBzParams p = test_bz_defaults();
    g_autofree char *kernel = write_bzimage(&p);
    const size_t initrd_size = 300 * KiB + 123;
    g_autofree char *initrd = write_initrd(initrd_size);
    X86BootEntry entry;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(load(kernel, initrd, "console=ttyS0 quiet", &entry, &err), "%s",
                  err ? err->message : "");

    /* The protected-mode kernel at its preferred address. */
    const uint8_t *k = memory_hva(mem, p.pref_address, p.kernel_bytes);
    ck_assert_ptr_nonnull(k);
    g_autofree uint8_t *want = g_malloc(p.kernel_bytes);
    for (size_t i = 0; i < p.kernel_bytes; i++)
        want[i] = test_bz_kernel_byte(i);
    ck_assert(memcmp(k, want, p.kernel_bytes) == 0);
    ck_assert_int_eq(entry.mode, X86_ENTRY_LINUX64);
    ck_assert_uint_eq(entry.rip, p.pref_address + 0x200);
    ck_assert_uint_eq(entry.boot_info, X86_ZERO_PAGE_ADDR);

    read_zero_page();
    ck_assert_mem_eq(zp + TBZ_HEADER, "HdrS", 4);
    ck_assert_uint_eq(zp[TBZ_TYPE_OF_LOADER], 0xff);
    ck_assert(zp[TBZ_LOADFLAGS] & 0x80);
    uint64_t cmd = test_rd32(zp + TBZ_CMD_LINE_PTR) |
                   (uint64_t)test_rd32(zp + TBZ_EXT_CMD_LINE_PTR) << 32;
    ck_assert_uint_eq(cmd, X86_CMDLINE_ADDR);
    g_autofree char *cmdline = guest_string(cmd);
    ck_assert_str_eq(cmdline, "console=ttyS0 quiet");

    uint64_t rd = test_rd32(zp + TBZ_RAMDISK_IMAGE) |
                  (uint64_t)test_rd32(zp + TBZ_EXT_RAMDISK_IMAGE) << 32;
    uint64_t rd_size = test_rd32(zp + TBZ_RAMDISK_SIZE) |
                       (uint64_t)test_rd32(zp + TBZ_EXT_RAMDISK_SIZE) << 32;
    ck_assert_uint_eq(rd_size, initrd_size);
    /* Above the kernel's whole footprint (init_size), below the RAM end. */
    check_initrd_at(rd, rd_size, p.pref_address + p.init_size, 64 * MiB);
    ck_assert_uint_gt(rd + PAGE + rd_size, 64 * MiB); /* as high as it goes */

    /* The zero page carries the machine's memory map. */
    ck_assert_uint_eq(zp[TBZ_E820_ENTRIES], e820.count);
    ck_assert_uint_eq(test_rd64(zp + TBZ_E820_TABLE + 2 * 20 + 8), 63 * MiB);
    ck_assert_uint_eq(test_rd64(zp + TBZ_ACPI_RSDP_ADDR), TEST_RSDP);
}
END_TEST

START_TEST(test_load_bzimage_initrd_addr_max)
{
    TestBzParams p = test_bz_defaults();
    p.initrd_addr_max = 0x2ffffff; /* last byte usable: just below 48 MiB */
    g_autofree char *kernel = write_bzimage(&p);
    g_autofree char *initrd = write_initrd(2 * MiB + 1);
    X86BootEntry entry;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(load(kernel, initrd, NULL, &entry, &err), "%s", err ? err->message : "");
    read_zero_page();
    uint64_t rd = test_rd32(zp + TBZ_RAMDISK_IMAGE);
    check_initrd_at(rd, 2 * MiB + 1, p.pref_address + p.init_size, 48 * MiB);
    /* No command line: an empty string, still pointed to. */
    ck_assert_uint_eq(test_rd32(zp + TBZ_CMD_LINE_PTR), X86_CMDLINE_ADDR);
    g_autofree char *cmdline = guest_string(X86_CMDLINE_ADDR);
    ck_assert_str_eq(cmdline, "");
}
END_TEST

START_TEST(test_load_bzimage_without_initrd)
{
    TestBzParams p = test_bz_defaults();
    p.pref_address = 0; /* pre-2.10 style: load at 1 MiB */
    g_autofree char *kernel = write_bzimage(&p);
    X86BootEntry entry;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(load(kernel, NULL, "x", &entry, &err), "%s", err ? err->message : "");
    ck_assert_uint_eq(entry.rip, X86_HIGH_RAM_START + 0x200);
    const uint8_t *k = memory_hva(mem, X86_HIGH_RAM_START, 16);
    ck_assert_uint_eq(k[0], test_bz_kernel_byte(0));
    ck_assert_uint_eq(k[15], test_bz_kernel_byte(15));
    read_zero_page();
    ck_assert_uint_eq(test_rd32(zp + TBZ_RAMDISK_IMAGE), 0);
    ck_assert_uint_eq(test_rd32(zp + TBZ_RAMDISK_SIZE), 0);
}
END_TEST

START_TEST(test_load_bzimage_cmdline_size)
{
    TestBzParams p = test_bz_defaults();
    p.cmdline_size = 40;
    g_autofree char *kernel = write_bzimage(&p);
    X86BootEntry entry;
    char line[64];
    memset(line, 'a', sizeof line);
    line[40] = 0; /* exactly cmdline_size: accepted */
    g_autoptr(GError) err = NULL;
    ck_assert_msg(load(kernel, NULL, line, &entry, &err), "%s", err ? err->message : "");
    g_autofree char *got = guest_string(X86_CMDLINE_ADDR);
    ck_assert_str_eq(got, line);
    line[40] = 'a';
    line[41] = 0; /* one more: refused */
    g_autoptr(GError) err2 = NULL;
    ck_assert(!load(kernel, NULL, line, &entry, &err2));
    ck_assert_ptr_nonnull(err2);
    ck_assert_int_eq(err2->code, NIMBUS_ERROR_INVALID);
    ck_assert(strstr(err2->message, "cmdline") != NULL);
}
END_TEST

START_TEST(test_load_bzimage_cmdline_limit_of_layout)
{
    /* A kernel accepting more than the layout's command-line area. */
    TestBzParams p = test_bz_defaults();
    p.cmdline_size = 0x7fffffff;
    g_autofree char *kernel = write_bzimage(&p);
    g_autofree char *line = g_malloc(X86_CMDLINE_MAX + 1);
    memset(line, 'b', X86_CMDLINE_MAX);
    line[X86_CMDLINE_MAX] = 0;
    X86BootEntry entry;
    g_autoptr(GError) err = NULL;
    ck_assert(!load(kernel, NULL, line, &entry, &err));
    line[X86_CMDLINE_MAX - 1] = 0;
    ck_assert(load(kernel, NULL, line, &entry, NULL));
}
END_TEST

START_TEST(test_load_bzimage_does_not_fit)
{
    g_clear_pointer(&mem, memory_free);
    add_ram(17 * MiB); /* 16 MiB + 2 MiB init_size does not fit */
    TestBzParams p = test_bz_defaults();
    g_autofree char *kernel = write_bzimage(&p);
    X86BootEntry entry;
    g_autoptr(GError) err = NULL;
    ck_assert(!load(kernel, NULL, NULL, &entry, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert(strstr(err->message, "memory") != NULL);
}
END_TEST

START_TEST(test_load_bzimage_initrd_errors)
{
    TestBzParams p = test_bz_defaults();
    g_autofree char *kernel = write_bzimage(&p);
    X86BootEntry entry;
    /* Bigger than the RAM between the kernel and the end. */
    g_autofree char *big = write_initrd(64 * MiB - 16 * MiB - 2 * MiB + 1);
    g_autoptr(GError) err = NULL;
    ck_assert(!load(kernel, big, NULL, &entry, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert(strstr(err->message, "fit") != NULL);
    /* Missing and empty. */
    g_autofree char *missing = g_build_filename(dir, "nope.img", NULL);
    g_autoptr(GError) err2 = NULL;
    ck_assert(!load(kernel, missing, NULL, &entry, &err2));
    ck_assert_int_eq(err2->code, NIMBUS_ERROR_NOT_FOUND);
    g_autofree char *empty = write_file("empty.img", "", 0);
    g_autoptr(GError) err3 = NULL;
    ck_assert(!load(kernel, empty, NULL, &entry, &err3));
    ck_assert(strstr(err3->message, "empty") != NULL);
}
END_TEST

START_TEST(test_load_not_a_kernel)
{
    g_autofree char *path = write_file("junk", "junk", 4);
    X86BootEntry entry;
    g_autoptr(GError) err = NULL;
    ck_assert(!load(path, NULL, NULL, &entry, &err));
    ck_assert(strstr(err->message, "not a kernel") != NULL);
}
END_TEST

/* --- boot_load_payload: PVH ELF ---------------------------------------- */

START_TEST(test_load_pvh_with_initrd)
{
    g_autofree char *kernel = write_pvh_elf(true);
    const size_t initrd_size = 123 * KiB + 7;
    g_autofree char *initrd = write_initrd(initrd_size);
    /* Stale bytes where the bss goes must be cleared. */
    uint8_t *bss = memory_hva(mem, PVH_TEXT + PVH_TEXT_FILESZ, PVH_TEXT_MEMSZ - PVH_TEXT_FILESZ);
    memset(bss, 0xaa, PVH_TEXT_MEMSZ - PVH_TEXT_FILESZ);
    X86BootEntry entry;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(load(kernel, initrd, "root=/dev/vda", &entry, &err), "%s",
                  err ? err->message : "");

    ck_assert_int_eq(entry.mode, X86_ENTRY_PVH32);
    ck_assert_uint_eq(entry.rip, PVH_ENTRY);
    ck_assert_uint_eq(entry.boot_info, X86_PVH_INFO_ADDR);

    const uint8_t *text = memory_hva(mem, PVH_TEXT, PVH_TEXT_MEMSZ);
    uint8_t want[PVH_TEXT_MEMSZ] = { 0 };
    for (size_t i = 0; i < PVH_TEXT_FILESZ; i++)
        want[i] = seg_byte(i);
    ck_assert_msg(memcmp(text, want, PVH_TEXT_MEMSZ) == 0, "text or bss differs");
    char data[16];
    ck_assert(memory_read(mem, PVH_DATA, data, sizeof data));
    ck_assert_str_eq(data, "second segment");

    uint8_t si[PVH_START_INFO_SIZE];
    ck_assert(memory_read(mem, X86_PVH_INFO_ADDR, si, sizeof si));
    ck_assert_uint_eq(test_rd32(si), PVH_START_MAGIC);
    ck_assert_uint_eq(test_rd32(si + 4), 1);
    ck_assert_uint_eq(test_rd32(si + 12), 1);
    ck_assert_uint_eq(test_rd64(si + 16), X86_PVH_MODLIST_ADDR);
    ck_assert_uint_eq(test_rd64(si + 24), X86_CMDLINE_ADDR);
    g_autofree char *cmdline = guest_string(test_rd64(si + 24));
    ck_assert_str_eq(cmdline, "root=/dev/vda");
    ck_assert_uint_eq(test_rd64(si + 32), TEST_RSDP);
    ck_assert_uint_eq(test_rd64(si + 40), X86_PVH_MEMMAP_ADDR);
    ck_assert_uint_eq(test_rd32(si + 48), e820.count);

    uint8_t ml[PVH_MODLIST_ENTRY_SIZE];
    ck_assert(memory_read(mem, X86_PVH_MODLIST_ADDR, ml, sizeof ml));
    uint64_t rd = test_rd64(ml), rd_size = test_rd64(ml + 8);
    ck_assert_uint_eq(rd_size, initrd_size);
    check_initrd_at(rd, rd_size, PVH_DATA + 0x1000, 64 * MiB);

    uint8_t mm[PVH_MEMMAP_ENTRY_SIZE * E820_MAX_ENTRIES];
    ck_assert(memory_read(mem, X86_PVH_MEMMAP_ADDR, mm, e820.count * PVH_MEMMAP_ENTRY_SIZE));
    for (size_t i = 0; i < e820.count; i++) {
        ck_assert_uint_eq(test_rd64(mm + i * 24), e820.entries[i].addr);
        ck_assert_uint_eq(test_rd64(mm + i * 24 + 8), e820.entries[i].size);
        ck_assert_uint_eq(test_rd32(mm + i * 24 + 16), e820.entries[i].type);
    }
}
END_TEST

START_TEST(test_load_pvh_without_initrd)
{
    g_autofree char *kernel = write_pvh_elf(true);
    X86BootEntry entry;
    g_autoptr(GError) err = NULL;
    ck_assert_msg(load(kernel, NULL, NULL, &entry, &err), "%s", err ? err->message : "");
    uint8_t si[PVH_START_INFO_SIZE];
    ck_assert(memory_read(mem, X86_PVH_INFO_ADDR, si, sizeof si));
    ck_assert_uint_eq(test_rd32(si + 12), 0);
    ck_assert_uint_eq(test_rd64(si + 16), 0);
}
END_TEST

START_TEST(test_load_pvh_does_not_fit)
{
    g_clear_pointer(&mem, memory_free);
    add_ram(16 * MiB + 0x4000); /* the text's bss runs past the end */
    g_autofree char *kernel = write_pvh_elf(true);
    X86BootEntry entry;
    g_autoptr(GError) err = NULL;
    ck_assert(!load(kernel, NULL, NULL, &entry, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert(strstr(err->message, "RAM") != NULL);
}
END_TEST

static Suite *boot_suite(void)
{
    Suite *s = suite_create("boot");
    TCase *tc = tcase_create("place_initrd");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_place_basic);
    tcase_add_test(tc, test_place_properties);
    suite_add_tcase(s, tc);

    tc = tcase_create("probe");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_probe_bzimage);
    tcase_add_test(tc, test_probe_bad_bzimage);
    tcase_add_test(tc, test_probe_pvh_elf);
    tcase_add_test(tc, test_probe_elf_without_pvh_note);
    tcase_add_test(tc, test_probe_elf_other_machine);
    tcase_add_test(tc, test_probe_text_file);
    tcase_add_test(tc, test_probe_empty_file);
    tcase_add_test(tc, test_probe_directory);
    tcase_add_test(tc, test_probe_missing_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("load");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_load_bzimage_with_initrd);
    tcase_add_test(tc, test_load_bzimage_initrd_addr_max);
    tcase_add_test(tc, test_load_bzimage_without_initrd);
    tcase_add_test(tc, test_load_bzimage_cmdline_size);
    tcase_add_test(tc, test_load_bzimage_cmdline_limit_of_layout);
    tcase_add_test(tc, test_load_bzimage_does_not_fit);
    tcase_add_test(tc, test_load_bzimage_initrd_errors);
    tcase_add_test(tc, test_load_not_a_kernel);
    tcase_add_test(tc, test_load_pvh_with_initrd);
    tcase_add_test(tc, test_load_pvh_without_initrd);
    tcase_add_test(tc, test_load_pvh_does_not_fit);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(boot_suite)
