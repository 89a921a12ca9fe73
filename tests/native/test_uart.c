/* The 16550 UART on the host's KVM: a guest prints through it like a polling
 * driver and the console file holds exactly its text; a guest reads the
 * register file back and reports what it saw. */
#include "native/tiny_vm.h"

#include "devices/serial/uart16550.h"

#include <check.h>
#include <glib/gstdio.h>
#include <string.h>

extern const uint8_t guest_uart_hello[], guest_uart_hello_end[];
extern const uint8_t guest_uart_regs[], guest_uart_regs_end[];

static void add_uart(TinyVm *t, const ConsoleConfig *console)
{
    g_autoptr(GError) err = NULL;
    Uart16550Config cfg = { .base = GUEST_COM1, .gsi = 4, .console = console };
    Device *d = device_create(tiny_vm_vm(t), &uart16550_ops, "serial0", &cfg, &err);
    ck_assert_msg(d, "%s", err ? err->message : "");
}

START_TEST(guest_prints_to_console_file)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("nimbus-uart-XXXXXX", &err);
    ck_assert_msg(dir, "%s", err ? err->message : "");
    g_autofree char *path = g_build_filename(dir, "console.log", NULL);

    TinyVm *t = tiny_vm_new(&(TinyVmOptions){ .image = guest_uart_hello,
                                             .image_end = guest_uart_hello_end,
                                             .mode = TINY_MODE_REAL });
    add_uart(t, &(ConsoleConfig){ .mode = CONSOLE_MODE_FILE, .path = path });
    tiny_vm_run_to_exit(t, 5000);
    tiny_vm_free(t); /* closes the console */

    g_autofree char *text = NULL;
    gsize len = 0;
    ck_assert_msg(g_file_get_contents(path, &text, &len, &err), "%s", err ? err->message : "");
    ck_assert_uint_eq(len, strlen("Hello from a tiny guest on Nimbus\n"));
    ck_assert_str_eq(text, "Hello from a tiny guest on Nimbus\n");
    g_unlink(path);
    g_rmdir(dir);
}
END_TEST

START_TEST(guest_reads_registers)
{
    TinyVm *t = tiny_vm_new(&(TinyVmOptions){ .image = guest_uart_regs,
                                             .image_end = guest_uart_regs_end,
                                             .mode = TINY_MODE_REAL });
    add_uart(t, &(ConsoleConfig){ .mode = CONSOLE_MODE_NULL });
    tiny_vm_run_to_exit(t, 5000);
    const uint32_t want[] = {
        0xa5, 0x5a,             /* scratch */
        0x60,                   /* LSR: THRE | TEMT */
        0x01,                   /* IIR: none pending */
        0x0c, 0x00, 0x83, 0x03, /* DLL, DLM, LCR with and without DLAB */
        0x00,                   /* IER */
        0xc1,                   /* IIR with FIFOs */
        0x02, 0xc2, 0xc1,       /* IER, IIR: THRE pending, then cleared by the read */
    };
    tiny_vm_assert_reports(t, want, G_N_ELEMENTS(want));
    tiny_vm_free(t);
}
END_TEST

static Suite *uart_suite(void)
{
    Suite *s = suite_create("native_uart");
    TCase *tc = tcase_create("uart");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, guest_prints_to_console_file);
    tcase_add_test(tc, guest_reads_registers);
    suite_add_tcase(s, tc);
    return s;
}

TINY_VM_CHECK_MAIN(uart_suite)
