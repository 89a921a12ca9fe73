/* Tests of hypervisor/vm_config.c: option-string parsers (cpus, memory,
 * console, reboot policy), defaults and copies, and vm_config_validate(). */
#include "hypervisor/error.h"
#include "hypervisor/vm_config.h"
#include "support/check_main.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1ull << 20)

static void assert_error_mentions(const GError *err, const char *needle)
{
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err->message, needle), "error '%s' does not mention '%s'", err->message, needle);
}

/* ---- cpus ------------------------------------------------------------------ */

START_TEST(test_cpus_good)
{
    CpusConfig c = { 0 };
    ck_assert(vm_config_parse_cpus("boot=2", &c, NULL));
    ck_assert_uint_eq(c.boot_vcpus, 2);
    ck_assert_uint_eq(c.max_vcpus, 2);
    ck_assert(vm_config_parse_cpus("boot=2,max=8", &c, NULL));
    ck_assert_uint_eq(c.boot_vcpus, 2);
    ck_assert_uint_eq(c.max_vcpus, 8);
    ck_assert(vm_config_parse_cpus("max=4", &c, NULL));
    ck_assert_uint_eq(c.boot_vcpus, 1);
    ck_assert_uint_eq(c.max_vcpus, 4);
    ck_assert(vm_config_parse_cpus("max=3,boot=3", &c, NULL));
    ck_assert_uint_eq(c.boot_vcpus, 3);
    ck_assert_uint_eq(c.max_vcpus, 3);
}
END_TEST

static const struct {
    const char *text, *needle;
} bad_cpus[] = {
    { "boot=0", "boot=0" },
    { "boot=4,max=2", "max=2" },
    { "boot=4,max=2", "boot=4" },
    { "boot=two", "boot=two" },
    { "boot=-1", "boot=-1" },
    { "boot=", "boot" },
    { "boot=1.5", "boot=1.5" },
    { "max=x", "max=x" },
    { "boot=4294967296", "boot=4294967296" },
    { "boot=2,,max", NULL },
    { "boot=2,boot=3", "boot" },
    { "cores=2", "cores" },
    { "2", "2" },
    { "", NULL },
};

START_TEST(test_cpus_bad)
{
    CpusConfig c = { .boot_vcpus = 7, .max_vcpus = 9 };
    g_autoptr(GError) err = NULL;
    ck_assert_msg(!vm_config_parse_cpus(bad_cpus[_i].text, &c, &err), "'%s' accepted", bad_cpus[_i].text);
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    if (bad_cpus[_i].needle)
        assert_error_mentions(err, bad_cpus[_i].needle);
    ck_assert_uint_eq(c.boot_vcpus, 7);
    ck_assert_uint_eq(c.max_vcpus, 9);
}
END_TEST

/* ---- memory ---------------------------------------------------------------- */

START_TEST(test_memory_good)
{
    MemoryConfig m = { 0 };
    ck_assert(vm_config_parse_memory("size=1G", &m, NULL));
    ck_assert_uint_eq(m.size, 1ull << 30);
    ck_assert(!m.shared);
    ck_assert(!m.hugepages);
    ck_assert_uint_eq(m.hugepage_size, 0);

    ck_assert(vm_config_parse_memory("size=256M,shared=on", &m, NULL));
    ck_assert_uint_eq(m.size, 256 * MiB);
    ck_assert(m.shared);

    ck_assert(vm_config_parse_memory("shared=off,hugepages=on,size=2G,hugepage_size=1G", &m, NULL));
    ck_assert_uint_eq(m.size, 2ull << 30);
    ck_assert(!m.shared);
    ck_assert(m.hugepages);
    ck_assert_uint_eq(m.hugepage_size, 1ull << 30);

    /* Keys not given take their defaults, not the previous values. */
    ck_assert(vm_config_parse_memory("hugepages=on", &m, NULL));
    ck_assert_uint_eq(m.size, 512 * MiB);
    ck_assert(m.hugepages);
    ck_assert_uint_eq(m.hugepage_size, 0);
    ck_assert(!m.shared);
}
END_TEST

static const struct {
    const char *text, *needle;
} bad_memory[] = {
    { "size=12Q", "12Q" },
    { "size=0", "'0'" },
    { "size=", "size" },
    { "size", "size" },
    { "size=1G,size=2G", "size" },
    { "foo=1", "foo" },
    { "shared=maybe", "shared=maybe" },
    { "hugepages=1", "hugepages=1" },
    { "hugepage_size=2M", "hugepages=on" },
    { "hugepages=on,hugepage_size=3M", "power of two" },
    { "hugepages=on,hugepage_size=0", "hugepage_size" },
    { "size=1G,,shared=on", NULL },
    { "1G", "1G" },
};

START_TEST(test_memory_bad)
{
    MemoryConfig m = { .size = 1234, .shared = true };
    g_autoptr(GError) err = NULL;
    ck_assert_msg(!vm_config_parse_memory(bad_memory[_i].text, &m, &err), "'%s' accepted",
                  bad_memory[_i].text);
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    if (bad_memory[_i].needle)
        assert_error_mentions(err, bad_memory[_i].needle);
    ck_assert_uint_eq(m.size, 1234);
    ck_assert(m.shared);
}
END_TEST

/* ---- console ---------------------------------------------------------------- */

static const struct {
    const char *text;
    ConsoleMode mode;
} word_consoles[] = {
    { "off", CONSOLE_MODE_OFF },
    { "null", CONSOLE_MODE_NULL },
    { "tty", CONSOLE_MODE_TTY },
    { "pty", CONSOLE_MODE_PTY },
};

START_TEST(test_console_words)
{
    ConsoleConfig c = { .mode = CONSOLE_MODE_FILE, .path = g_strdup("/old") };
    ck_assert(vm_config_parse_console(word_consoles[_i].text, &c, NULL));
    ck_assert_int_eq(c.mode, word_consoles[_i].mode);
    ck_assert_ptr_null(c.path); /* the old path is freed (ASan: no leak) */
}
END_TEST

START_TEST(test_console_paths)
{
    ConsoleConfig c = { .mode = CONSOLE_MODE_TTY };
    ck_assert(vm_config_parse_console("file=/tmp/serial.log", &c, NULL));
    ck_assert_int_eq(c.mode, CONSOLE_MODE_FILE);
    ck_assert_str_eq(c.path, "/tmp/serial.log");
    ck_assert(vm_config_parse_console("socket=/run/x.sock", &c, NULL));
    ck_assert_int_eq(c.mode, CONSOLE_MODE_SOCKET);
    ck_assert_str_eq(c.path, "/run/x.sock");
    ck_assert(vm_config_parse_console("tty", &c, NULL));
    ck_assert_ptr_null(c.path);
    g_free(c.path);
}
END_TEST

static const struct {
    const char *text, *needle;
} bad_consoles[] = {
    { "bogus", "bogus" },
    { "TTY", "TTY" },
    { "", NULL },
    { "file=", "file" },
    { "socket=", "socket" },
    { "file=/a,socket=/b", "exactly one" },
    { "foo=bar", "foo" },
    { "tty,file=/a", NULL },
    { "file=/a,file=/b", "file" },
    { "file", "file" },
};

START_TEST(test_console_bad)
{
    ConsoleConfig c = { .mode = CONSOLE_MODE_PTY, .path = NULL };
    g_autoptr(GError) err = NULL;
    ck_assert_msg(!vm_config_parse_console(bad_consoles[_i].text, &c, &err), "'%s' accepted",
                  bad_consoles[_i].text);
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    if (bad_consoles[_i].needle)
        assert_error_mentions(err, bad_consoles[_i].needle);
    ck_assert_int_eq(c.mode, CONSOLE_MODE_PTY);
    ck_assert_ptr_null(c.path);
}
END_TEST

START_TEST(test_console_bad_keeps_path)
{
    ConsoleConfig c = { .mode = CONSOLE_MODE_FILE, .path = g_strdup("/keep") };
    ck_assert(!vm_config_parse_console("file=", &c, NULL));
    ck_assert(!vm_config_parse_console("nope", &c, NULL));
    ck_assert(!vm_config_parse_console(NULL, &c, NULL));
    ck_assert_int_eq(c.mode, CONSOLE_MODE_FILE);
    ck_assert_str_eq(c.path, "/keep");
    g_free(c.path);
}
END_TEST

START_TEST(test_console_mode_names)
{
    ConsoleMode modes[] = { CONSOLE_MODE_OFF, CONSOLE_MODE_NULL, CONSOLE_MODE_TTY,
                            CONSOLE_MODE_FILE, CONSOLE_MODE_SOCKET, CONSOLE_MODE_PTY };
    for (unsigned i = 0; i < G_N_ELEMENTS(modes); i++) {
        const char *n = vm_config_console_mode_name(modes[i]);
        ck_assert_ptr_nonnull(n);
        ck_assert_str_ne(n, "?");
        for (unsigned j = 0; j < i; j++)
            ck_assert_str_ne(n, vm_config_console_mode_name(modes[j]));
    }
    ck_assert_str_eq(vm_config_console_mode_name((ConsoleMode)99), "?");
}
END_TEST

/* ---- reboot policy ---------------------------------------------------------- */

START_TEST(test_reboot_policy)
{
    RebootPolicy p = REBOOT_POLICY_RESTART;
    ck_assert(vm_config_parse_reboot_policy("exit", &p, NULL));
    ck_assert_int_eq(p, REBOOT_POLICY_EXIT);
    ck_assert(vm_config_parse_reboot_policy("restart", &p, NULL));
    ck_assert_int_eq(p, REBOOT_POLICY_RESTART);

    const char *bad[] = { "reboot", "", "EXIT", "restart ", "exit,restart" };
    for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        ck_assert_msg(!vm_config_parse_reboot_policy(bad[i], &p, &err), "'%s' accepted", bad[i]);
        ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
        g_autofree char *quoted = g_strdup_printf("'%s'", bad[i]);
        assert_error_mentions(err, quoted);
        ck_assert_int_eq(p, REBOOT_POLICY_RESTART);
    }
    ck_assert(!vm_config_parse_reboot_policy(NULL, &p, NULL));
    ck_assert_int_eq(p, REBOOT_POLICY_RESTART);
}
END_TEST

/* ---- defaults and copies ---------------------------------------------------- */

START_TEST(test_defaults)
{
    g_autoptr(VmConfig) c = vm_config_new_default();
    ck_assert_uint_eq(c->cpus.boot_vcpus, 1);
    ck_assert_uint_eq(c->cpus.max_vcpus, 1);
    ck_assert_uint_eq(c->memory.size, 512 * MiB);
    ck_assert(!c->memory.shared);
    ck_assert(!c->memory.hugepages);
    ck_assert_int_eq(c->serial.mode, CONSOLE_MODE_TTY);
    ck_assert_ptr_null(c->serial.path);
    ck_assert_int_eq(c->reboot_policy, REBOOT_POLICY_EXIT);
    ck_assert_ptr_null(c->payload.kernel);
    ck_assert_ptr_null(c->payload.initramfs);
    ck_assert_ptr_null(c->payload.cmdline);
}
END_TEST

START_TEST(test_copy_is_deep)
{
    g_autoptr(VmConfig) c = vm_config_new_default();
    c->payload.kernel = g_strdup("/k");
    c->payload.initramfs = g_strdup("/i");
    c->payload.cmdline = g_strdup("console=ttyS0");
    c->serial.mode = CONSOLE_MODE_FILE;
    c->serial.path = g_strdup("/s");
    c->cpus.boot_vcpus = 3;
    c->cpus.max_vcpus = 4;
    g_autoptr(VmConfig) d = vm_config_copy(c);
    ck_assert_ptr_ne(d->payload.kernel, c->payload.kernel);
    ck_assert_str_eq(d->payload.kernel, "/k");
    ck_assert_str_eq(d->payload.initramfs, "/i");
    ck_assert_str_eq(d->payload.cmdline, "console=ttyS0");
    ck_assert_str_eq(d->serial.path, "/s");
    ck_assert_ptr_ne(d->serial.path, c->serial.path);
    ck_assert_int_eq(d->serial.mode, CONSOLE_MODE_FILE);
    ck_assert_uint_eq(d->cpus.boot_vcpus, 3);
    ck_assert_uint_eq(d->cpus.max_vcpus, 4);
    g_clear_pointer(&c, vm_config_free);
    ck_assert_str_eq(d->payload.kernel, "/k"); /* survives the original */
    vm_config_free(NULL);
}
END_TEST

/* ---- validate --------------------------------------------------------------- */

static char *tmpdir;
static char *kernel_path;
static VmConfig *cfg;

static void validate_setup(void)
{
    tmpdir = g_dir_make_tmp("nimbus-vmcfg-XXXXXX", NULL);
    ck_assert_ptr_nonnull(tmpdir);
    kernel_path = g_build_filename(tmpdir, "vmlinux", NULL);
    ck_assert(g_file_set_contents(kernel_path, "not really a kernel", -1, NULL));
    cfg = vm_config_new_default();
    cfg->payload.kernel = g_strdup(kernel_path);
}

static void validate_teardown(void)
{
    vm_config_free(cfg);
    g_autoptr(GDir) d = g_dir_open(tmpdir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(tmpdir, name, NULL);
        chmod(p, 0700);
        if (g_rmdir(p) < 0)
            g_unlink(p);
    }
    g_rmdir(tmpdir);
    g_free(kernel_path);
    g_free(tmpdir);
}

static void validate_fails(uint32_t limit, const char *needle)
{
    g_autoptr(GError) err = NULL;
    ck_assert_msg(!vm_config_validate(cfg, limit, &err), "accepted (expected an error about '%s')",
                  needle);
    assert_error_mentions(err, needle);
}

START_TEST(test_validate_ok)
{
    g_autoptr(GError) err = NULL;
    ck_assert_msg(vm_config_validate(cfg, 1, &err), "%s", err ? err->message : "");
    cfg->cpus.boot_vcpus = 4;
    cfg->cpus.max_vcpus = 8;
    cfg->memory.size = 64 * MiB;
    cfg->payload.initramfs = g_strdup(kernel_path);
    cfg->serial.mode = CONSOLE_MODE_SOCKET;
    cfg->serial.path = g_strdup("/nonexistent/is/fine/for/a/socket");
    ck_assert_msg(vm_config_validate(cfg, 8, &err), "%s", err ? err->message : "");
}
END_TEST

START_TEST(test_validate_no_kernel)
{
    g_clear_pointer(&cfg->payload.kernel, g_free);
    validate_fails(8, "--kernel");
}
END_TEST

START_TEST(test_validate_missing_kernel)
{
    g_free(cfg->payload.kernel);
    cfg->payload.kernel = g_build_filename(tmpdir, "no-such-file", NULL);
    g_autoptr(GError) err = NULL;
    ck_assert(!vm_config_validate(cfg, 8, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND));
    assert_error_mentions(err, cfg->payload.kernel);
}
END_TEST

START_TEST(test_validate_kernel_is_directory)
{
    g_free(cfg->payload.kernel);
    cfg->payload.kernel = g_strdup(tmpdir);
    validate_fails(8, tmpdir);
    g_autoptr(GError) err = NULL;
    ck_assert(!vm_config_validate(cfg, 8, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    assert_error_mentions(err, "regular file");
}
END_TEST

START_TEST(test_validate_kernel_is_device)
{
    g_free(cfg->payload.kernel);
    cfg->payload.kernel = g_strdup("/dev/null");
    validate_fails(8, "/dev/null");
}
END_TEST

START_TEST(test_validate_kernel_unreadable)
{
    if (geteuid() == 0)
        return; /* root reads everything: nothing to check */
    ck_assert_int_eq(chmod(kernel_path, 0), 0);
    validate_fails(8, kernel_path);
}
END_TEST

START_TEST(test_validate_missing_initramfs)
{
    cfg->payload.initramfs = g_build_filename(tmpdir, "initrd.gz", NULL);
    validate_fails(8, "initramfs");
    validate_fails(8, cfg->payload.initramfs);
}
END_TEST

START_TEST(test_validate_vcpus)
{
    cfg->cpus.boot_vcpus = 0;
    cfg->cpus.max_vcpus = 0;
    validate_fails(8, "boot=0");
    cfg->cpus.boot_vcpus = 4;
    cfg->cpus.max_vcpus = 2;
    validate_fails(8, "max=2");
    cfg->cpus.boot_vcpus = 4;
    cfg->cpus.max_vcpus = 16;
    validate_fails(8, "16");
    cfg->cpus.max_vcpus = 8;
    ck_assert(vm_config_validate(cfg, 8, NULL));
    cfg->cpus.boot_vcpus = 100000;
    cfg->cpus.max_vcpus = 100000;
    validate_fails(288, "100000");
    ck_assert(vm_config_validate(cfg, UINT32_MAX, NULL)); /* the caller's limit decides */
}
END_TEST

START_TEST(test_validate_memory)
{
    cfg->memory.size = 1024;
    validate_fails(8, "too small");
    cfg->memory.size = 64 * MiB - 4096;
    validate_fails(8, "too small");
    cfg->memory.size = 64 * MiB;
    ck_assert(vm_config_validate(cfg, 8, NULL));
    cfg->memory.size = 64 * MiB + 1;
    validate_fails(8, "page size");
    cfg->memory.size = 64 * MiB + 4096;
    ck_assert(vm_config_validate(cfg, 8, NULL));
    /* With huge pages the size is a multiple of the huge page. */
    cfg->memory.hugepages = true;
    validate_fails(8, "page size");
    cfg->memory.size = 66 * MiB;
    ck_assert(vm_config_validate(cfg, 8, NULL));
    cfg->memory.hugepage_size = 1ull << 30;
    validate_fails(8, "page size");
    cfg->memory.size = 1ull << 30;
    ck_assert(vm_config_validate(cfg, 8, NULL));
}
END_TEST

START_TEST(test_validate_serial_path)
{
    cfg->serial.mode = CONSOLE_MODE_FILE;
    validate_fails(8, "serial");
    cfg->serial.mode = CONSOLE_MODE_SOCKET;
    validate_fails(8, "serial");
    cfg->serial.path = g_strdup("/tmp/x");
    ck_assert(vm_config_validate(cfg, 8, NULL));
}
END_TEST

static Suite *vm_config_suite(void)
{
    Suite *s = suite_create("vm_config");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_cpus_good);
    tcase_add_loop_test(tc, test_cpus_bad, 0, G_N_ELEMENTS(bad_cpus));
    tcase_add_test(tc, test_memory_good);
    tcase_add_loop_test(tc, test_memory_bad, 0, G_N_ELEMENTS(bad_memory));
    tcase_add_loop_test(tc, test_console_words, 0, G_N_ELEMENTS(word_consoles));
    tcase_add_test(tc, test_console_paths);
    tcase_add_loop_test(tc, test_console_bad, 0, G_N_ELEMENTS(bad_consoles));
    tcase_add_test(tc, test_console_bad_keeps_path);
    tcase_add_test(tc, test_console_mode_names);
    tcase_add_test(tc, test_reboot_policy);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_copy_is_deep);
    suite_add_tcase(s, tc);

    tc = tcase_create("validate");
    tcase_add_checked_fixture(tc, validate_setup, validate_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_validate_ok);
    tcase_add_test(tc, test_validate_no_kernel);
    tcase_add_test(tc, test_validate_missing_kernel);
    tcase_add_test(tc, test_validate_kernel_is_directory);
    tcase_add_test(tc, test_validate_kernel_is_device);
    tcase_add_test(tc, test_validate_kernel_unreadable);
    tcase_add_test(tc, test_validate_missing_initramfs);
    tcase_add_test(tc, test_validate_vcpus);
    tcase_add_test(tc, test_validate_memory);
    tcase_add_test(tc, test_validate_serial_path);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(vm_config_suite)
