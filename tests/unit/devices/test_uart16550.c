/* Tests of devices/serial/uart16550.c, driven through the PIO dispatcher the
 * way a guest driver would: output to a file backend, input through a socket
 * backend (FIFO, flow control), every register, the interrupt priorities,
 * THR-empty semantics as Linux's 8250 driver relies on them, OUT2 gating,
 * loopback and reset. */
#include "devices/serial/uart16550.h"
#include "devtest.h"
#include "support/check_main.h"

#include <string.h>
#include <unistd.h>

#define COM1 0x3f8
#define GSI 4

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4,
       LSR = 5, MSR = 6, SCR = 7 };

static DevTest *t;
static char *dir;
static char *out_path;
static ConsoleConfig console;

static void setup(void)
{
    t = devtest_new();
    dir = devtest_tmpdir();
    out_path = g_build_filename(dir, "serial.log", NULL);
}

static void teardown(void)
{
    devtest_free(t);
    devtest_rmdir(dir);
    g_free(dir);
    g_free(out_path);
    g_free(console.path);
    console.path = NULL;
}

static Device *uart_create(ConsoleMode mode, const char *path, bool mmio, uint64_t base)
{
    g_autoptr(GError) err = NULL;
    console.mode = mode;
    g_free(console.path);
    console.path = g_strdup(path);
    Uart16550Config cfg = { .base = base, .mmio = mmio, .gsi = GSI, .console = &console };
    Device *d = device_create(t->vm, &uart16550_ops, "serial0", &cfg, &err);
    ck_assert_msg(d, "device_create: %s", err ? err->message : "?");
    return d;
}

static void uart_new_file(void)
{
    uart_create(CONSOLE_MODE_FILE, out_path, false, COM1);
}

static uint8_t rd(unsigned reg)
{
    return devtest_inb(t, COM1 + reg);
}

static void wr(unsigned reg, uint8_t v)
{
    devtest_outb(t, COM1 + reg, v);
}

static char *file_text(void)
{
    char *text = NULL;
    ck_assert(g_file_get_contents(out_path, &text, NULL, NULL));
    return text;
}

START_TEST(test_reset_values)
{
    uart_new_file();
    ck_assert_uint_eq(rd(IER), 0);
    ck_assert_uint_eq(rd(IIR), 0x01);
    ck_assert_uint_eq(rd(LCR), 0);
    ck_assert_uint_eq(rd(MCR), 0);
    ck_assert_uint_eq(rd(LSR), 0x60); /* THRE | TEMT */
    ck_assert_uint_eq(rd(MSR), 0xb0); /* DCD | DSR | CTS, no deltas */
    ck_assert_uint_eq(rd(SCR), 0);
    ck_assert(!devtest_irq(t, GSI));
}
END_TEST

START_TEST(test_thr_reaches_file)
{
    uart_new_file();
    const char *msg = "hello, serial\r\n";
    for (const char *p = msg; *p; p++) {
        ck_assert(rd(LSR) & 0x20);
        wr(THR, (uint8_t)*p);
    }
    g_autofree char *text = file_text();
    ck_assert_str_eq(text, msg);
    ck_assert_uint_eq(rd(LSR), 0x60); /* transmitter idle again */
}
END_TEST

START_TEST(test_scratch_and_ier_mask)
{
    uart_new_file();
    wr(SCR, 0xa5);
    ck_assert_uint_eq(rd(SCR), 0xa5);
    wr(SCR, 0x5a);
    ck_assert_uint_eq(rd(SCR), 0x5a);
    /* Linux's probe: IER keeps the low nibble only. */
    wr(IER, 0xff);
    ck_assert_uint_eq(rd(IER), 0x0f);
    wr(IER, 0);
    ck_assert_uint_eq(rd(IER), 0);
    wr(MCR, 0xff);
    ck_assert_uint_eq(rd(MCR), 0x1f);
}
END_TEST

START_TEST(test_dlab_divisor)
{
    uart_new_file();
    wr(IER, 0x05);
    wr(LCR, 0x83); /* DLAB, 8N1 */
    ck_assert_uint_eq(rd(DLL), 12); /* power-on divisor: 9600 baud */
    ck_assert_uint_eq(rd(DLM), 0);
    wr(DLL, 0x01);
    wr(DLM, 0x02);
    ck_assert_uint_eq(rd(DLL), 0x01);
    ck_assert_uint_eq(rd(DLM), 0x02);
    ck_assert_uint_eq(rd(LCR), 0x83);
    wr(LCR, 0x03);
    /* Back to the data registers: IER kept its value, nothing was sent. */
    ck_assert_uint_eq(rd(IER), 0x05);
    g_autofree char *text = file_text();
    ck_assert_str_eq(text, "");
    wr(LCR, 0x80);
    ck_assert_uint_eq(rd(DLL), 0x01);
    ck_assert_uint_eq(rd(DLM), 0x02);
}
END_TEST

START_TEST(test_thri_raise_and_clear)
{
    uart_new_file();
    wr(MCR, 0x08); /* OUT2: IRQ reaches the interrupt controller */
    ck_assert(!devtest_irq(t, GSI));
    wr(IER, 0x02); /* THR is empty: enabling THRI raises it at once */
    ck_assert(devtest_irq(t, GSI));
    ck_assert_uint_eq(devtest_irq_edges(t, GSI), 1);
    /* Reading IIR while THRI is the source acknowledges it. */
    ck_assert_uint_eq(rd(IIR), 0x02);
    ck_assert(!devtest_irq(t, GSI));
    ck_assert_uint_eq(rd(IIR), 0x01);
    /* Writing THR re-arms it (the byte leaves at once). */
    wr(THR, 'x');
    ck_assert(devtest_irq(t, GSI));
    ck_assert_uint_eq(devtest_irq_edges(t, GSI), 2);
    wr(THR, 'y'); /* still pending: no new edge */
    ck_assert_uint_eq(devtest_irq_edges(t, GSI), 2);
    /* Disabling THRI drops it. */
    wr(IER, 0);
    ck_assert(!devtest_irq(t, GSI));
    ck_assert_uint_eq(rd(IIR), 0x01);
    /* Re-enabling raises it again. */
    wr(IER, 0x02);
    ck_assert(devtest_irq(t, GSI));
    ck_assert_uint_eq(devtest_irq_edges(t, GSI), 3);
}
END_TEST

/* The sequence of serial8250_do_startup()'s UART_BUG_THRE test: a working
 * 16550 must report THRI both times. */
START_TEST(test_thri_linux_startup_probe)
{
    uart_new_file();
    wr(IER, 0x02);
    uint8_t iir1 = rd(IIR);
    wr(IER, 0);
    wr(IER, 0x02);
    uint8_t iir2 = rd(IIR);
    wr(IER, 0);
    ck_assert_uint_eq(iir1 & 0x0f, 0x02);
    ck_assert_uint_eq(iir2 & 0x0f, 0x02);
}
END_TEST

START_TEST(test_out2_gates_irq)
{
    uart_new_file();
    wr(IER, 0x02);
    ck_assert_uint_eq(rd(IIR) & 0x0f, 0x02);
    wr(IER, 0);
    wr(IER, 0x02); /* pending again, but OUT2 is clear */
    ck_assert(!devtest_irq(t, GSI));
    wr(MCR, 0x08);
    ck_assert(devtest_irq(t, GSI));
    wr(MCR, 0x18); /* loopback: the OUT2 pin is forced inactive */
    ck_assert(!devtest_irq(t, GSI));
    wr(MCR, 0x08);
    ck_assert(devtest_irq(t, GSI));
    wr(MCR, 0x00);
    ck_assert(!devtest_irq(t, GSI));
}
END_TEST

START_TEST(test_loopback)
{
    uart_new_file();
    /* Linux's autoconfig check: loopback with RTS|OUT2 reads CTS|DCD. */
    wr(MCR, 0x10 | 0x0a);
    ck_assert_uint_eq(rd(MSR) & 0xf0, 0x90);
    wr(MCR, 0x10 | 0x05); /* DTR|OUT1 -> DSR|RI */
    ck_assert_uint_eq(rd(MSR), 0x60 | 0x0b); /* DSR|RI; deltas CTS, DSR, DCD */
    ck_assert_uint_eq(rd(MSR), 0x60);        /* reading cleared the deltas */
    wr(MCR, 0x10 | 0x01);                    /* RI falls: trailing-edge delta */
    ck_assert_uint_eq(rd(MSR), 0x20 | 0x04);

    /* Transmitted bytes come back on the receive side, not the backend. */
    wr(FCR, 0x01);
    wr(THR, 'a');
    wr(THR, 'b');
    ck_assert_uint_eq(rd(LSR), 0x61);
    ck_assert_uint_eq(rd(RBR), 'a');
    ck_assert_uint_eq(rd(RBR), 'b');
    ck_assert_uint_eq(rd(LSR), 0x60);
    g_autofree char *text = file_text();
    ck_assert_str_eq(text, "");
    /* Leaving loopback restores the idle modem lines (with deltas). */
    wr(MCR, 0);
    ck_assert_uint_eq(rd(MSR) & 0xf0, 0xb0);
}
END_TEST

START_TEST(test_overrun)
{
    uart_new_file();
    wr(MCR, 0x10);
    /* 16450 mode: one holding register; the second byte is lost. */
    wr(THR, '1');
    wr(THR, '2');
    ck_assert_uint_eq(rd(LSR), 0x63); /* DR | OE | THRE | TEMT */
    ck_assert_uint_eq(rd(LSR), 0x61); /* OE clears on read */
    ck_assert_uint_eq(rd(RBR), '1');
    /* FIFO mode: 16 bytes fit, the 17th overruns. */
    wr(FCR, 0x01);
    for (int i = 0; i < 17; i++)
        wr(THR, (uint8_t)('A' + i));
    ck_assert_uint_eq(rd(LSR), 0x63);
    for (int i = 0; i < 16; i++)
        ck_assert_uint_eq(rd(RBR), (uint8_t)('A' + i));
    ck_assert_uint_eq(rd(LSR), 0x60);
}
END_TEST

START_TEST(test_fifo_control)
{
    uart_new_file();
    wr(MCR, 0x10);
    ck_assert_uint_eq(rd(IIR) & 0xc0, 0);
    wr(FCR, 0x01);
    ck_assert_uint_eq(rd(IIR) & 0xc0, 0xc0); /* 16550A: FIFOs enabled */
    wr(THR, 'x');
    wr(THR, 'y');
    wr(FCR, 0x03); /* clear the receive FIFO */
    ck_assert_uint_eq(rd(LSR) & 0x01, 0);
    wr(THR, 'z');
    wr(FCR, 0x00); /* back to 16450 mode: FIFOs are emptied */
    ck_assert_uint_eq(rd(LSR) & 0x01, 0);
    ck_assert_uint_eq(rd(IIR) & 0xc0, 0);
    /* Trigger level 4: below it the data is reported as a timeout. */
    wr(FCR, 0x41);
    wr(IER, 0x01);
    wr(THR, '1');
    wr(THR, '2');
    ck_assert_uint_eq(rd(IIR), 0xcc);
    wr(THR, '3');
    wr(THR, '4');
    ck_assert_uint_eq(rd(IIR), 0xc4);
}
END_TEST

START_TEST(test_iir_priorities)
{
    uart_new_file();
    wr(FCR, 0x01); /* trigger level 1 */
    wr(MCR, 0x10); /* loopback, to make every source happen */
    rd(MSR);       /* entering loopback changed the lines: clear those deltas */
    wr(IER, 0x0f);
    for (int i = 0; i < 17; i++) /* data and an overrun */
        wr(THR, (uint8_t)i);
    wr(MCR, 0x12); /* RTS -> CTS changes: modem status delta */
    /* line status > rx data > THR empty > modem status */
    ck_assert_uint_eq(rd(IIR), 0xc6);
    ck_assert_uint_eq(rd(IIR), 0xc6); /* reading IIR does not clear it */
    rd(LSR);
    ck_assert_uint_eq(rd(IIR), 0xc4);
    for (int i = 0; i < 16; i++)
        rd(RBR);
    ck_assert_uint_eq(rd(IIR), 0xc2);
    ck_assert_uint_eq(rd(IIR), 0xc0); /* THRI was acknowledged by the read */
    ck_assert_uint_eq(rd(MSR), 0x11);
    ck_assert_uint_eq(rd(IIR), 0xc1);
}
END_TEST

static bool data_ready(void *opaque)
{
    return rd(LSR) & 0x01;
}

START_TEST(test_rx_fifo_from_socket)
{
    g_autofree char *sock = g_build_filename(dir, "serial.sock", NULL);
    uart_create(CONSOLE_MODE_SOCKET, sock, false, COM1);
    int fd = devtest_unix_connect(sock);
    wr(FCR, 0x01);
    wr(MCR, 0x08);
    wr(IER, 0x01);
    const char *msg = "0123456789abcdefghijKLMNOP"; /* 26 bytes: more than the FIFO */
    ck_assert_int_eq(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));

    GString *got = g_string_new(NULL);
    while (got->len < strlen(msg)) {
        ck_assert_msg(devtest_run_until(t, data_ready, NULL, 5000), "no data after %zu bytes",
                      got->len);
        ck_assert(devtest_irq(t, GSI));
        ck_assert_uint_eq(rd(IIR), 0xc4); /* trigger level 1: data available */
        unsigned n = 0;
        while (rd(LSR) & 0x01) {
            g_string_append_c(got, (char)rd(RBR));
            n++;
        }
        ck_assert_uint_le(n, 16); /* never more than the FIFO holds */
        ck_assert(!devtest_irq(t, GSI));
    }
    ck_assert_str_eq(got->str, msg);
    g_string_free(got, TRUE);

    /* Output goes to the connected client. */
    wr(THR, 'o');
    wr(THR, 'k');
    char buf[2];
    ck_assert_int_eq(read(fd, buf, 2), 2);
    ck_assert(memcmp(buf, "ok", 2) == 0);
    close(fd);
}
END_TEST

START_TEST(test_rx_16450_mode_and_loopback_blocks_input)
{
    g_autofree char *sock = g_build_filename(dir, "serial.sock", NULL);
    uart_create(CONSOLE_MODE_SOCKET, sock, false, COM1);
    int fd = devtest_unix_connect(sock);
    wr(MCR, 0x10); /* loopback: the serial input is disconnected */
    ck_assert_int_eq(write(fd, "xyz", 3), 3);
    for (int i = 0; i < 50; i++) {
        devtest_run_pending(t);
        g_usleep(1000);
    }
    ck_assert_uint_eq(rd(LSR) & 0x01, 0);
    wr(MCR, 0); /* reconnected: input flows, one byte at a time without FIFO */
    GString *got = g_string_new(NULL);
    while (got->len < 3) {
        ck_assert(devtest_run_until(t, data_ready, NULL, 5000));
        g_string_append_c(got, (char)rd(RBR));
        ck_assert_uint_eq(rd(LSR) & 0x01, 0);
    }
    ck_assert_str_eq(got->str, "xyz");
    g_string_free(got, TRUE);
    close(fd);
}
END_TEST

START_TEST(test_mmio_variant)
{
    uart_create(CONSOLE_MODE_FILE, out_path, true, 0xfe000000);
    ck_assert_uint_eq(devtest_mmio_readb(t, 0xfe000000 + LSR), 0x60);
    devtest_mmio_writeb(t, 0xfe000000 + THR, 'm');
    g_autofree char *text = file_text();
    ck_assert_str_eq(text, "m");
    /* Nothing in port space. */
    ck_assert_uint_eq(devtest_inb(t, COM1 + LSR), 0xff);
}
END_TEST

START_TEST(test_reset)
{
    Device *d = uart_create(CONSOLE_MODE_FILE, out_path, false, COM1);
    wr(FCR, 0xc1);
    wr(LCR, 0x80);
    wr(DLL, 1);
    wr(LCR, 0x03);
    wr(IER, 0x0f);
    wr(MCR, 0x1f);
    wr(SCR, 0x42);
    wr(THR, 'q');
    d->ops->reset(d);
    ck_assert_uint_eq(rd(IER), 0);
    ck_assert_uint_eq(rd(IIR), 0x01);
    ck_assert_uint_eq(rd(LCR), 0);
    ck_assert_uint_eq(rd(MCR), 0);
    ck_assert_uint_eq(rd(LSR), 0x60);
    ck_assert_uint_eq(rd(MSR), 0xb0);
    ck_assert_uint_eq(rd(SCR), 0);
    wr(LCR, 0x80);
    ck_assert_uint_eq(rd(DLL), 12);
}
END_TEST

START_TEST(test_bad_config)
{
    g_autoptr(GError) err = NULL;
    console.mode = CONSOLE_MODE_OFF;
    Uart16550Config cfg = { .base = COM1, .gsi = GSI, .console = &console };
    ck_assert_ptr_null(device_create(t->vm, &uart16550_ops, "serial0", &cfg, &err));
    ck_assert_ptr_nonnull(err);
    g_clear_error(&err);
    /* A backend that cannot open fails realize, with context. */
    console.mode = CONSOLE_MODE_FILE;
    console.path = g_strdup("/nonexistent-dir/serial.log");
    ck_assert_ptr_null(device_create(t->vm, &uart16550_ops, "serial0", &cfg, &err));
    ck_assert(strstr(err->message, "serial0") && strstr(err->message, "/nonexistent-dir"));
    ck_assert_uint_eq(addrspace_count(vm_pio(t->vm)), 0);
    /* Overlapping another region fails and leaves nothing behind. */
    g_clear_error(&err);
    uart_new_file();
    cfg.console = &console;
    ck_assert_ptr_null(device_create(t->vm, &uart16550_ops, "serial1", &cfg, &err));
    ck_assert_uint_eq(addrspace_count(vm_pio(t->vm)), 1);
}
END_TEST

START_TEST(test_invalid_access_size)
{
    uart_new_file();
    /* Only byte accesses are valid: a word read is all-ones, a word write dropped. */
    ck_assert_uint_eq(devtest_in(t, COM1 + SCR - 1, 2), 0xffff);
    devtest_out(t, COM1, 0x4141, 2);
    g_autofree char *text = file_text();
    ck_assert_str_eq(text, "");
}
END_TEST

static Suite *uart16550_suite(void)
{
    Suite *s = suite_create("uart16550");
    TCase *tc = tcase_create("registers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_reset_values);
    tcase_add_test(tc, test_thr_reaches_file);
    tcase_add_test(tc, test_scratch_and_ier_mask);
    tcase_add_test(tc, test_dlab_divisor);
    tcase_add_test(tc, test_loopback);
    tcase_add_test(tc, test_overrun);
    tcase_add_test(tc, test_fifo_control);
    tcase_add_test(tc, test_mmio_variant);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_bad_config);
    tcase_add_test(tc, test_invalid_access_size);
    suite_add_tcase(s, tc);

    tc = tcase_create("interrupts");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_thri_raise_and_clear);
    tcase_add_test(tc, test_thri_linux_startup_probe);
    tcase_add_test(tc, test_out2_gates_irq);
    tcase_add_test(tc, test_iir_priorities);
    suite_add_tcase(s, tc);

    tc = tcase_create("input");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_rx_fifo_from_socket);
    tcase_add_test(tc, test_rx_16450_mode_and_loopback_blocks_input);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(uart16550_suite)
