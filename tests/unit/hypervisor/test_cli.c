/* Tests of hypervisor/cli.c: cli_parse() on argv arrays and the help text. */
#include "hypervisor/cli.h"
#include "hypervisor/error.h"
#include "support/check_main.h"

#include <string.h>

#define ARGV(...) ((const char *[]){ "nimbus", __VA_ARGS__, NULL })

static int count(const char **argv)
{
    int n = 0;
    while (argv[n])
        n++;
    return n;
}

static CliOptions *parse(const char **argv, GError **errp)
{
    int argc = count(argv);
    /* cli_parse must not modify argv: keep a copy of the pointers. */
    g_autofree const char **before = g_memdup2(argv, sizeof(char *) * (gsize)(argc + 1));
    CliOptions *o = cli_parse(argc, (char **)argv, errp);
    for (int i = 0; i <= argc; i++)
        ck_assert_ptr_eq(argv[i], before[i]);
    return o;
}

static CliOptions *parse_ok(const char **argv)
{
    g_autoptr(GError) err = NULL;
    CliOptions *o = parse(argv, &err);
    ck_assert_msg(o != NULL, "%s", err ? err->message : "?");
    ck_assert_ptr_null(err);
    return o;
}

/* Parsing fails with an error that mentions `needle` (and, when prefix, starts with it). */
static void parse_fails(const char **argv, const char *needle, bool prefix)
{
    g_autoptr(GError) err = NULL;
    CliOptions *o = parse(argv, &err);
    ck_assert_msg(o == NULL, "accepted (expected an error about %s)", needle);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(strchr(err->message, '\n')); /* one line */
    if (prefix)
        ck_assert_msg(g_str_has_prefix(err->message, needle), "error '%s' does not start with '%s'",
                      err->message, needle);
    else
        ck_assert_msg(strstr(err->message, needle), "error '%s' does not mention '%s'", err->message,
                      needle);
}

START_TEST(test_no_arguments)
{
    const char *argv[] = { "nimbus", NULL };
    g_autoptr(CliOptions) o = parse_ok(argv);
    ck_assert_ptr_null(o->vm);
    ck_assert_int_eq(o->verbosity, 0);
    ck_assert_ptr_null(o->log_file);
    ck_assert(!o->show_help);
    ck_assert(!o->show_version);
}
END_TEST

START_TEST(test_all_options)
{
    g_autoptr(CliOptions) o =
        parse_ok(ARGV("--kernel", "/boot/vmlinuz", "--initramfs", "/boot/initrd.img", "--cmdline",
                      "console=ttyS0 root=/dev/vda quiet", "--cpus", "boot=2,max=4", "--memory",
                      "size=1G,shared=on,hugepages=on,hugepage_size=2M", "--serial", "file=/tmp/serial.log",
                      "--reboot-policy", "restart", "-v", "--log-file", "/tmp/nimbus.log"));
    ck_assert_ptr_nonnull(o->vm);
    const VmConfig *c = o->vm;
    ck_assert_str_eq(c->payload.kernel, "/boot/vmlinuz");
    ck_assert_str_eq(c->payload.initramfs, "/boot/initrd.img");
    ck_assert_str_eq(c->payload.cmdline, "console=ttyS0 root=/dev/vda quiet");
    ck_assert_uint_eq(c->cpus.boot_vcpus, 2);
    ck_assert_uint_eq(c->cpus.max_vcpus, 4);
    ck_assert_uint_eq(c->memory.size, 1ull << 30);
    ck_assert(c->memory.shared);
    ck_assert(c->memory.hugepages);
    ck_assert_uint_eq(c->memory.hugepage_size, 2ull << 20);
    ck_assert_int_eq(c->serial.mode, CONSOLE_MODE_FILE);
    ck_assert_str_eq(c->serial.path, "/tmp/serial.log");
    ck_assert_int_eq(c->reboot_policy, REBOOT_POLICY_RESTART);
    ck_assert_int_eq(o->verbosity, 1);
    ck_assert_str_eq(o->log_file, "/tmp/nimbus.log");
    ck_assert(!o->show_help);
    ck_assert(!o->show_version);
}
END_TEST

START_TEST(test_equals_syntax)
{
    g_autoptr(CliOptions) o = parse_ok(ARGV("--kernel=/k", "--cpus=boot=3", "--serial=null"));
    ck_assert_str_eq(o->vm->payload.kernel, "/k");
    ck_assert_uint_eq(o->vm->cpus.boot_vcpus, 3);
    ck_assert_int_eq(o->vm->serial.mode, CONSOLE_MODE_NULL);
}
END_TEST

START_TEST(test_defaults_when_vm_described)
{
    g_autoptr(CliOptions) o = parse_ok(ARGV("--kernel", "/k"));
    ck_assert_ptr_nonnull(o->vm);
    ck_assert_uint_eq(o->vm->cpus.boot_vcpus, 1);
    ck_assert_uint_eq(o->vm->memory.size, 512ull << 20);
    ck_assert_int_eq(o->vm->serial.mode, CONSOLE_MODE_TTY);
    ck_assert_int_eq(o->vm->reboot_policy, REBOOT_POLICY_EXIT);
    ck_assert_ptr_null(o->vm->payload.initramfs);
    ck_assert_ptr_null(o->vm->payload.cmdline);
}
END_TEST

START_TEST(test_vm_without_kernel)
{
    /* Any VM option describes a VM; the missing kernel is validate()'s job. */
    g_autoptr(CliOptions) o = parse_ok(ARGV("--cpus", "boot=2"));
    ck_assert_ptr_nonnull(o->vm);
    ck_assert_ptr_null(o->vm->payload.kernel);
    ck_assert_uint_eq(o->vm->cpus.boot_vcpus, 2);
}
END_TEST

START_TEST(test_process_options_only)
{
    g_autoptr(CliOptions) o = parse_ok(ARGV("-v", "--log-file", "/tmp/l"));
    ck_assert_ptr_null(o->vm);
    ck_assert_int_eq(o->verbosity, 1);
    ck_assert_str_eq(o->log_file, "/tmp/l");
}
END_TEST

START_TEST(test_repeated_verbose)
{
    {
        g_autoptr(CliOptions) o = parse_ok(ARGV("-v", "-v", "-v"));
        ck_assert_int_eq(o->verbosity, 3);
    }
    {
        g_autoptr(CliOptions) o = parse_ok(ARGV("-vv"));
        ck_assert_int_eq(o->verbosity, 2);
    }
    {
        g_autoptr(CliOptions) o = parse_ok(ARGV("--verbose", "-vv", "--kernel", "/k", "--verbose"));
        ck_assert_int_eq(o->verbosity, 4);
        ck_assert_ptr_nonnull(o->vm);
    }
}
END_TEST

START_TEST(test_help_version)
{
    {
        g_autoptr(CliOptions) o = parse_ok(ARGV("--help"));
        ck_assert(o->show_help);
        ck_assert(!o->show_version);
    }
    {
        g_autoptr(CliOptions) o = parse_ok(ARGV("-h"));
        ck_assert(o->show_help);
    }
    {
        g_autoptr(CliOptions) o = parse_ok(ARGV("--version"));
        ck_assert(o->show_version);
        ck_assert(!o->show_help);
        ck_assert_ptr_null(o->vm);
    }
    {
        g_autoptr(CliOptions) o = parse_ok(ARGV("-V"));
        ck_assert(o->show_version);
    }
}
END_TEST

START_TEST(test_last_value_wins)
{
    g_autoptr(CliOptions) o = parse_ok(ARGV("--kernel", "/a", "--kernel", "/b", "--cpus", "boot=1",
                                            "--cpus", "boot=2"));
    ck_assert_str_eq(o->vm->payload.kernel, "/b");
    ck_assert_uint_eq(o->vm->cpus.boot_vcpus, 2);
}
END_TEST

START_TEST(test_unknown_option)
{
    parse_fails(ARGV("--frobnicate"), "--frobnicate", false);
    parse_fails(ARGV("--kernel", "/k", "--frobnicate=1"), "--frobnicate", false);
    parse_fails(ARGV("-x"), "-x", false);
}
END_TEST

START_TEST(test_positional)
{
    parse_fails(ARGV("vmlinux"), "'vmlinux'", false);
    parse_fails(ARGV("--kernel", "/k", "extra"), "'extra'", false);
    parse_fails(ARGV("--kernel", "/k", "--", "after"), "'after'", false);
}
END_TEST

START_TEST(test_missing_value)
{
    const char *opts[] = { "--kernel", "--initramfs", "--cmdline", "--cpus", "--memory",
                           "--serial", "--reboot-policy", "--log-file" };
    for (unsigned i = 0; i < G_N_ELEMENTS(opts); i++)
        parse_fails(ARGV(opts[i]), opts[i], false);
}
END_TEST

static const struct {
    const char *opt, *value, *mention;
} bad_values[] = {
    { "--cpus", "boot=0", "boot=0" },
    { "--cpus", "boot=4,max=2", "max=2" },
    { "--cpus", "boot=4294967296", "4294967296" },
    { "--cpus", "boot=2,,max", "boot=2,,max" },
    { "--cpus", "sockets=2", "sockets" },
    { "--memory", "size=12Q", "12Q" },
    { "--memory", "size=0", "'0'" },
    { "--memory", "size", "size" },
    { "--memory", "foo=1", "foo" },
    { "--memory", "shared=maybe", "shared" },
    { "--serial", "bogus", "bogus" },
    { "--serial", "file=", "file" },
    { "--reboot-policy", "reboot", "reboot" },
    { "--api-socket", "path=/a,fd=3", "exactly one" },
    { "--api-socket", "fd=x", "fd" },
    { "--api-socket", "fd=4294967296", "fd" },
    { "--api-socket", "sock=/a", "sock" },
};

START_TEST(test_bad_values)
{
    /* Every value error starts with the option's name, then names the value. */
    const char *argv[] = { "nimbus", "--kernel", "/k", bad_values[_i].opt, bad_values[_i].value, NULL };
    g_autofree char *prefix = g_strdup_printf("%s: ", bad_values[_i].opt);
    parse_fails(argv, prefix, true);
    parse_fails(argv, bad_values[_i].mention, false);
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(parse(argv, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
}
END_TEST

START_TEST(test_api_socket)
{
    const char *by_path[] = { "nimbus", "--api-socket", "path=/run/n.sock", NULL };
    g_autoptr(CliOptions) o = parse_ok(by_path);
    ck_assert_str_eq(o->api_socket_path, "/run/n.sock");
    ck_assert_int_eq(o->api_socket_fd, -1);
    ck_assert_ptr_null(o->vm); /* an API socket alone describes no VM */
    const char *bare[] = { "nimbus", "--api-socket", "/run/b.sock", "--kernel", "/k", NULL };
    g_autoptr(CliOptions) b = parse_ok(bare);
    ck_assert_str_eq(b->api_socket_path, "/run/b.sock");
    ck_assert_ptr_nonnull(b->vm);
    const char *by_fd[] = { "nimbus", "--api-socket", "fd=14", NULL };
    g_autoptr(CliOptions) f = parse_ok(by_fd);
    ck_assert_ptr_null(f->api_socket_path);
    ck_assert_int_eq(f->api_socket_fd, 14);
    const char *none[] = { "nimbus", "--kernel", "/k", NULL };
    g_autoptr(CliOptions) n = parse_ok(none);
    ck_assert_ptr_null(n->api_socket_path);
    ck_assert_int_eq(n->api_socket_fd, -1);
}
END_TEST

START_TEST(test_restore)
{
    const char *plain[] = { "nimbus", "--restore", "source_url=file:///snap", NULL };
    g_autoptr(CliOptions) o = parse_ok(plain);
    ck_assert_str_eq(o->restore_url, "file:///snap");
    ck_assert(!o->restore_prefault && !o->restore_resume);
    ck_assert_ptr_null(o->vm);
    const char *all[] = { "nimbus", "--api-socket", "/run/n.sock", "--restore",
                          "source_url=file:///s,prefault=on,resume=on", NULL };
    g_autoptr(CliOptions) a = parse_ok(all);
    ck_assert_str_eq(a->restore_url, "file:///s");
    ck_assert(a->restore_prefault && a->restore_resume);
    static const char *const bad[][5] = {
        { "nimbus", "--restore", "prefault=on", NULL },                          /* no source_url */
        { "nimbus", "--restore", "source_url=file:///s,bogus=1", NULL },          /* unknown key */
        { "nimbus", "--restore", "source_url=file:///s,resume=maybe", NULL },     /* not a bool */
        { "nimbus", "--restore", "source_url=file:///s", "--kernel=/k", NULL },  /* the snapshot is the VM */
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        ck_assert_msg(!parse((const char **)bad[i], &err), "case %zu accepted", i);
        ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
        ck_assert_msg(strstr(err->message, "--restore"), "%s", err->message);
    }
}
END_TEST

START_TEST(test_help_text)
{
    g_autofree char *help = cli_help_text();
    ck_assert_ptr_nonnull(help);
    const char *opts[] = { "--kernel", "--initramfs", "--cmdline", "--cpus", "--memory", "--serial",
                           "--reboot-policy", "--verbose", "--log-file", "--version", "--help" };
    for (unsigned i = 0; i < G_N_ELEMENTS(opts); i++)
        ck_assert_msg(strstr(help, opts[i]), "--help does not mention %s", opts[i]);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_no_arguments);
    tcase_add_test(tc, test_api_socket);
    tcase_add_test(tc, test_restore);
    tcase_add_test(tc, test_all_options);
    tcase_add_test(tc, test_equals_syntax);
    tcase_add_test(tc, test_defaults_when_vm_described);
    tcase_add_test(tc, test_vm_without_kernel);
    tcase_add_test(tc, test_process_options_only);
    tcase_add_test(tc, test_repeated_verbose);
    tcase_add_test(tc, test_help_version);
    tcase_add_test(tc, test_last_value_wins);
    tcase_add_test(tc, test_unknown_option);
    tcase_add_test(tc, test_positional);
    tcase_add_test(tc, test_missing_value);
    tcase_add_loop_test(tc, test_bad_values, 0, G_N_ELEMENTS(bad_values));
    tcase_add_test(tc, test_help_text);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(cli_suite)
