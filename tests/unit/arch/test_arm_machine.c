/* Tests of the aarch64 machine's configuration checks (arch/aarch64/
 * machine.c, aarch64 builds only): a good configuration passes, and each
 * limit (vCPUs, RAM granularity and size, the kernel's format, the shared
 * console and balloon checks) is refused with an error that names it. */
#include "arch/aarch64/image.h"
#include "arch/aarch64/layout.h"
#include "arch/arch.h"
#include "hypervisor/le.h"
#include "support/check_main.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define MiB (1ull << 20)

static char *image_path, *text_path;

static void write_files(void)
{
    uint8_t head[4096] = { 0 };
    le_store64(head + 16, 8 * MiB); /* image_size */
    le_store32(head + ARM_IMAGE_MAGIC_OFFSET, ARM_IMAGE_MAGIC);
    int fd = g_file_open_tmp("arm-image-XXXXXX", &image_path, NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, head, sizeof head), (ssize_t)sizeof head);
    close(fd);
    fd = g_file_open_tmp("arm-text-XXXXXX", &text_path, NULL);
    ck_assert_int_ge(fd, 0);
    memset(head, 'x', sizeof head);
    ck_assert_int_eq(write(fd, head, sizeof head), (ssize_t)sizeof head);
    close(fd);
}

static void remove_files(void)
{
    g_unlink(image_path);
    g_unlink(text_path);
    g_clear_pointer(&image_path, g_free);
    g_clear_pointer(&text_path, g_free);
}

static VmConfig *good_config(void)
{
    VmConfig *c = vm_config_new_default();
    g_free(c->payload.kernel);
    c->payload.kernel = g_strdup(image_path);
    c->cpus.boot_vcpus = c->cpus.max_vcpus = 2;
    c->memory.size = 512 * MiB;
    return c;
}

static void expect_refused(VmConfig *c, const char *fragment)
{
    GError *err = NULL;
    ck_assert(!arch_machine_ops()->check_config(c, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err->message, fragment), "'%s' lacks '%s'", err->message, fragment);
    g_error_free(err);
}

START_TEST(test_good)
{
    g_autoptr(VmConfig) c = good_config();
    GError *err = NULL;
    ck_assert_msg(arch_machine_ops()->check_config(c, &err), "%s", err ? err->message : "");
    c->cpus.boot_vcpus = c->cpus.max_vcpus = ARM_MAX_VCPUS;
    c->memory.size = 256ull << 30;
    ck_assert(arch_machine_ops()->check_config(c, NULL));
    ck_assert_uint_eq(arch_machine_ops()->max_vcpus(NULL), ARM_MAX_VCPUS);
    ck_assert(!arch_machine_ops()->power_button || !arch_machine_ops()->power_button(NULL));
}
END_TEST

START_TEST(test_vcpus)
{
    g_autoptr(VmConfig) c = good_config();
    c->cpus.max_vcpus = ARM_MAX_VCPUS + 1;
    expect_refused(c, "at most 123");
}
END_TEST

START_TEST(test_memory)
{
    g_autoptr(VmConfig) c = good_config();
    c->memory.size = 513 * MiB;
    expect_refused(c, "multiple of 2 MiB");
    c->memory.size = 1ull << 40;
    expect_refused(c, "address space");
    c->memory.size = UINT64_MAX & ~(ARM_KERNEL_ALIGN - 1);
    expect_refused(c, "address space");
}
END_TEST

START_TEST(test_kernel)
{
    g_autoptr(VmConfig) c = good_config();
    g_free(c->payload.kernel);
    c->payload.kernel = g_strdup(text_path);
    expect_refused(c, "not an arm64 Image");
    g_free(c->payload.kernel);
    c->payload.kernel = g_strdup("/nonexistent/Image");
    expect_refused(c, "cannot open");
}
END_TEST

START_TEST(test_common_checks)
{
    g_autoptr(VmConfig) c = good_config();
    c->serial.mode = CONSOLE_MODE_TTY;
    c->console.mode = CONSOLE_MODE_TTY;
    expect_refused(c, "cannot share the terminal");
    c->console.mode = CONSOLE_MODE_OFF;
    c->balloon = g_new0(BalloonConfig, 1);
    c->balloon->size = 1024 * MiB;
    expect_refused(c, "--balloon");
}
END_TEST

static Suite *arm_machine_suite(void)
{
    Suite *s = suite_create("arm_machine");
    TCase *tc = tcase_create("check_config");
    tcase_add_unchecked_fixture(tc, write_files, remove_files);
    tcase_add_test(tc, test_good);
    tcase_add_test(tc, test_vcpus);
    tcase_add_test(tc, test_memory);
    tcase_add_test(tc, test_kernel);
    tcase_add_test(tc, test_common_checks);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(arm_machine_suite)
