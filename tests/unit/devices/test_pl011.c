/* Tests of devices/serial/pl011.c, driven through the MMIO dispatcher the way
 * Linux's amba-pl011 driver and earlycon do: the PrimeCell IDs the AMBA bus
 * probes, output to a file backend, input through a socket backend into the
 * 32-entry FIFO, FR flags, the RX/RT/TX/OE interrupts through IMSC, MIS and
 * ICR on the IRQ line, access sizes, every offset with every size, reset,
 * and a state round trip between two devices. */
#include "devices/serial/pl011.h"
#include "devtest.h"
#include "support/check_main.h"

#include <string.h>
#include <unistd.h>

#define BASE 0x09000000ull
#define BASE2 0x09100000ull
#define GSI 33

enum { DR = 0x00, RSR = 0x04, FR = 0x18, IBRD = 0x24, FBRD = 0x28, LCR_H = 0x2c, CR = 0x30,
       IFLS = 0x34, IMSC = 0x38, RIS = 0x3c, MIS = 0x40, ICR = 0x44, DMACR = 0x48 };

#define FR_MODEM 0x007 /* CTS | DSR | DCD */
#define FR_RXFE 0x010
#define FR_RXFF 0x040
#define FR_TXFE 0x080
#define INT_RX 0x010
#define INT_TX 0x020
#define INT_RT 0x040
#define INT_OE 0x400
#define LCR_H_FEN 0x10
#define CR_LBE 0x0080
#define CR_ON 0x0301 /* UARTEN | TXE | RXE */

static DevTest *t;
static char *dir;
static char *out_path;
static ConsoleConfig console, console2;

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
    g_clear_pointer(&console.path, g_free);
    g_clear_pointer(&console2.path, g_free);
}

static Device *pl011_create_at(ConsoleConfig *con, ConsoleMode mode, const char *path, uint64_t base,
                               const char *id)
{
    g_autoptr(GError) err = NULL;
    con->mode = mode;
    g_free(con->path);
    con->path = g_strdup(path);
    Pl011Config cfg = { .base = base, .gsi = GSI, .console = con };
    Device *d = device_create(t->vm, &pl011_ops, id, &cfg, &err);
    ck_assert_msg(d, "device_create: %s", err ? err->message : "?");
    return d;
}

static Device *pl011_new_file(void)
{
    return pl011_create_at(&console, CONSOLE_MODE_FILE, out_path, BASE, "serial0");
}

static uint32_t rd_sized(uint64_t off, unsigned size)
{
    uint8_t buf[8] = { 0 };
    addrspace_dispatch(vm_mmio(t->vm), NULL, BASE + off, buf, size, false);
    uint32_t v = 0;
    for (unsigned i = 0; i < MIN(size, 4u); i++)
        v |= (uint32_t)buf[i] << (8 * i);
    return v;
}

static void wr_sized(uint64_t off, uint32_t v, unsigned size)
{
    uint8_t buf[8] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    addrspace_dispatch(vm_mmio(t->vm), NULL, BASE + off, buf, size, true);
}

/* Linux's default accessors are 16 bits wide. */
static uint32_t rd(uint64_t off)
{
    return rd_sized(off, 2);
}

static void wr(uint64_t off, uint32_t v)
{
    wr_sized(off, v, 2);
}

static char *file_text(void)
{
    char *text = NULL;
    ck_assert(g_file_get_contents(out_path, &text, NULL, NULL));
    return text;
}

/* Loopback with the FIFO on: TX bytes land in our own RX FIFO. */
static void loopback_fifo(void)
{
    wr(LCR_H, LCR_H_FEN | 0x60);
    wr(CR, CR_ON | CR_LBE);
}

START_TEST(test_ids)
{
    pl011_new_file();
    uint32_t periph = 0, cell = 0;
    for (unsigned i = 0; i < 4; i++) {
        periph |= rd_sized(0xfe0 + 4 * i, 4) << (8 * i);
        cell |= rd_sized(0xff0 + 4 * i, 4) << (8 * i);
    }
    /* amba-pl011 matches 0x00041011 under mask 0x000fffff; revision 3
     * (bits 23:20) is the 32-deep FIFO one. */
    ck_assert_uint_eq(periph & 0x000fffff, 0x00041011);
    ck_assert_uint_eq(periph >> 20 & 0xf, 3);
    ck_assert_uint_eq(cell, 0xb105f00d);
}
END_TEST

START_TEST(test_reset_values)
{
    pl011_new_file();
    ck_assert_uint_eq(rd(FR), FR_TXFE | FR_RXFE | FR_MODEM);
    ck_assert_uint_eq(rd(CR), 0x300);
    ck_assert_uint_eq(rd(IFLS), 0x12);
    ck_assert_uint_eq(rd(IMSC), 0);
    ck_assert_uint_eq(rd(RIS), 0);
    ck_assert_uint_eq(rd(MIS), 0);
    ck_assert_uint_eq(rd(LCR_H), 0);
    ck_assert_uint_eq(rd(RSR), 0);
    ck_assert(!devtest_irq(t, GSI));
}
END_TEST

START_TEST(test_plain_registers)
{
    pl011_new_file();
    wr(IBRD, 0xabcd);
    wr(FBRD, 0xff);
    wr(LCR_H, 0x70);
    wr(CR, 0xffff);
    wr(IFLS, 0xff);
    wr(IMSC, 0xffff);
    wr(DMACR, 0xff);
    ck_assert_uint_eq(rd(IBRD), 0xabcd);
    ck_assert_uint_eq(rd(FBRD), 0x3f);
    ck_assert_uint_eq(rd(LCR_H), 0x70);
    ck_assert_uint_eq(rd(CR), 0xff87); /* bits 6:3 reserved */
    ck_assert_uint_eq(rd(IFLS), 0x3f);
    ck_assert_uint_eq(rd(IMSC), 0x7ff);
    ck_assert_uint_eq(rd(DMACR), 0x7);
}
END_TEST

START_TEST(test_tx_to_file_and_tx_interrupt)
{
    pl011_new_file();
    wr(CR, CR_ON);
    const char *msg = "hello, pl011\r\n";
    for (const char *p = msg; *p; p++) {
        ck_assert(rd(FR) & FR_TXFE);
        wr(DR, (uint8_t)*p);
    }
    g_autofree char *text = file_text();
    ck_assert_str_eq(text, msg);
    /* Each byte passed the TX trigger level: TXRIS, masked until IMSC. */
    ck_assert_uint_eq(rd(RIS) & INT_TX, INT_TX);
    ck_assert(!devtest_irq(t, GSI));
    wr(IMSC, INT_TX);
    ck_assert(devtest_irq(t, GSI));
    ck_assert_uint_eq(rd(MIS), INT_TX);
    wr(ICR, INT_TX);
    ck_assert(!devtest_irq(t, GSI));
    ck_assert_uint_eq(rd(RIS), 0);
    wr(DR, 'x');
    ck_assert(devtest_irq(t, GSI));
    ck_assert_uint_eq(devtest_irq_edges(t, GSI), 2);
    wr(IMSC, 0); /* masking drops the line, RIS stays */
    ck_assert(!devtest_irq(t, GSI));
    ck_assert_uint_eq(rd(RIS), INT_TX);
}
END_TEST

/* earlycon writes bytes, firmware words: both send, from byte 0 only. */
START_TEST(test_access_sizes)
{
    pl011_new_file();
    wr_sized(DR, 'a', 1);
    wr_sized(DR, 'b', 4);
    wr_sized(DR + 1, 'c', 1); /* the upper byte alone: ignored */
    g_autofree char *text = file_text();
    ck_assert_str_eq(text, "ab");
    /* A read of an upper byte sees that byte of the register. */
    wr(IBRD, 0x1234);
    ck_assert_uint_eq(rd_sized(IBRD + 1, 1), 0x12);
    ck_assert_uint_eq(rd_sized(IBRD, 4), 0x1234);
    /* 8-byte accesses are invalid: all-ones, dropped. */
    ck_assert_uint_eq(rd_sized(IBRD, 8), 0xffffffff);
    wr_sized(DR, 'z', 8);
    g_autofree char *text2 = file_text();
    ck_assert_str_eq(text2, "ab");
}
END_TEST

START_TEST(test_rx_fifo_levels_and_interrupts)
{
    pl011_new_file();
    loopback_fifo();
    wr(IMSC, INT_RX | INT_RT);
    wr(ICR, 0x7ff);
    /* IFLS reset: RX trigger at half of 32. Below it: the receive timeout. */
    for (int i = 0; i < 15; i++)
        wr(DR, (uint8_t)('A' + i));
    ck_assert_uint_eq(rd(RIS) & (INT_RX | INT_RT), INT_RT);
    ck_assert(devtest_irq(t, GSI));
    wr(DR, 'P');
    ck_assert_uint_eq(rd(RIS) & (INT_RX | INT_RT), INT_RX);
    ck_assert_uint_eq(rd(MIS), INT_RX);
    for (int i = 16; i < 32; i++)
        wr(DR, (uint8_t)('A' + i));
    ck_assert_uint_eq(rd(FR) & (FR_RXFF | FR_RXFE), FR_RXFF);
    /* The 33rd byte overruns: flagged, the FIFO keeps its contents. */
    wr(DR, '!');
    ck_assert_uint_eq(rd(RIS) & INT_OE, INT_OE);
    ck_assert_uint_eq(rd(RSR), 0x08);
    wr(RSR, 0); /* ECR */
    ck_assert_uint_eq(rd(RSR), 0);
    for (int i = 0; i < 32; i++) {
        ck_assert(!(rd(FR) & FR_RXFE));
        ck_assert_uint_eq(rd(DR), (uint32_t)('A' + i));
    }
    ck_assert_uint_eq(rd(FR) & (FR_RXFF | FR_RXFE), FR_RXFE);
    ck_assert_uint_eq(rd(RIS) & (INT_RX | INT_RT), 0);
    ck_assert(!devtest_irq(t, GSI));
    ck_assert_uint_eq(rd(DR), 0); /* empty FIFO reads 0 */
}
END_TEST

START_TEST(test_ifls_and_icr)
{
    pl011_new_file();
    loopback_fifo();
    wr(IMSC, INT_RX | INT_RT);
    wr(IFLS, 0x00); /* RX trigger at 1/8: 4 bytes */
    for (int i = 0; i < 4; i++)
        wr(DR, 'x');
    ck_assert_uint_eq(rd(RIS) & (INT_RX | INT_RT), INT_RX);
    wr(ICR, INT_RX); /* cleared until the FIFO changes */
    ck_assert_uint_eq(rd(RIS) & (INT_RX | INT_RT), 0);
    ck_assert(!devtest_irq(t, GSI));
    wr(DR, 'y');
    ck_assert_uint_eq(rd(RIS) & INT_RX, INT_RX);
    ck_assert(devtest_irq(t, GSI));
    wr(IFLS, 0x20); /* 7/8: 28 bytes; 5 held is now below it */
    ck_assert_uint_eq(rd(RIS) & (INT_RX | INT_RT), INT_RT);
}
END_TEST

START_TEST(test_holding_register_mode)
{
    pl011_new_file();
    wr(CR, CR_ON | CR_LBE); /* no FEN: one character */
    wr(IMSC, INT_RX);
    wr(DR, '1');
    ck_assert_uint_eq(rd(FR) & (FR_RXFF | FR_RXFE), FR_RXFF);
    ck_assert(devtest_irq(t, GSI));
    wr(DR, '2');
    ck_assert_uint_eq(rd(RIS) & INT_OE, INT_OE);
    ck_assert_uint_eq(rd(DR), '1');
    ck_assert(!devtest_irq(t, GSI));
    /* Turning the FIFO on starts empty. */
    wr(DR, '3');
    wr(LCR_H, LCR_H_FEN);
    ck_assert(rd(FR) & FR_RXFE);
    g_autofree char *text = file_text();
    ck_assert_str_eq(text, "");
}
END_TEST

static bool data_ready(void *opaque)
{
    return !(rd(FR) & FR_RXFE);
}

START_TEST(test_rx_from_socket)
{
    g_autofree char *sock = g_build_filename(dir, "serial.sock", NULL);
    pl011_create_at(&console, CONSOLE_MODE_SOCKET, sock, BASE, "serial0");
    int fd = devtest_unix_connect(sock);
    wr(LCR_H, LCR_H_FEN | 0x60);
    wr(CR, CR_ON);
    wr(IMSC, INT_RX | INT_RT);
    /* 80 bytes: more than two FIFOs' worth, so the backend must stall. */
    GString *msg = g_string_new(NULL);
    for (int i = 0; i < 80; i++)
        g_string_append_c(msg, (char)('0' + i % 75));
    ck_assert_int_eq(write(fd, msg->str, msg->len), (ssize_t)msg->len);

    GString *got = g_string_new(NULL);
    while (got->len < msg->len) {
        ck_assert_msg(devtest_run_until(t, data_ready, NULL, 5000), "no data after %zu bytes", got->len);
        ck_assert(devtest_irq(t, GSI));
        unsigned n = 0;
        while (!(rd(FR) & FR_RXFE)) {
            g_string_append_c(got, (char)rd(DR));
            n++;
        }
        ck_assert_uint_le(n, 32);
        ck_assert(!devtest_irq(t, GSI));
    }
    ck_assert_str_eq(got->str, msg->str);
    g_string_free(got, TRUE);
    g_string_free(msg, TRUE);

    wr(DR, 'o');
    wr(DR, 'k');
    char buf[2];
    ck_assert_int_eq(read(fd, buf, 2), 2);
    ck_assert(memcmp(buf, "ok", 2) == 0);
    close(fd);
}
END_TEST

START_TEST(test_loopback_modem_lines)
{
    pl011_new_file();
    wr(CR, CR_ON | CR_LBE);
    ck_assert_uint_eq(rd(FR) & 0x107, 0);
    wr(CR, CR_ON | CR_LBE | 0x0800); /* RTS -> CTS */
    ck_assert_uint_eq(rd(FR) & 0x107, 0x001);
    wr(CR, CR_ON | CR_LBE | 0x0400 | 0x1000 | 0x2000); /* DTR, OUT1, OUT2 -> DSR, DCD, RI */
    ck_assert_uint_eq(rd(FR) & 0x107, 0x106);
    wr(CR, CR_ON);
    ck_assert_uint_eq(rd(FR) & 0x107, FR_MODEM);
}
END_TEST

/* Every offset of the page with every size, read and written with junk:
 * defined behaviour, and the UART still works afterwards. */
START_TEST(test_hostile_offsets)
{
    pl011_new_file();
    GRand *rand = g_rand_new_with_seed(11);
    for (uint64_t off = 0; off < PL011_MMIO_SIZE + 16; off++) {
        for (unsigned size = 1; size <= 8; size *= 2) {
            uint8_t buf[8];
            addrspace_dispatch(vm_mmio(t->vm), NULL, BASE + off, buf, size, false);
            for (unsigned i = 0; i < 8; i++)
                buf[i] = (uint8_t)g_rand_int(rand);
            if (off == DR)
                continue; /* junk bytes into the log file prove nothing */
            addrspace_dispatch(vm_mmio(t->vm), NULL, BASE + off, buf, size, true);
        }
    }
    g_rand_free(rand);
    wr(CR, CR_ON);
    wr(LCR_H, 0);
    wr(DR, 'k');
    g_autofree char *text = file_text();
    ck_assert(g_str_has_suffix(text, "k"));
}
END_TEST

START_TEST(test_reset)
{
    Device *d = pl011_new_file();
    loopback_fifo();
    wr(IMSC, INT_RX);
    wr(IBRD, 13);
    wr(IFLS, 0);
    for (int i = 0; i < 8; i++)
        wr(DR, 'r');
    ck_assert(devtest_irq(t, GSI));
    d->ops->reset(d);
    ck_assert_uint_eq(rd(FR), FR_TXFE | FR_RXFE | FR_MODEM);
    ck_assert_uint_eq(rd(CR), 0x300);
    ck_assert_uint_eq(rd(IFLS), 0x12);
    ck_assert_uint_eq(rd(IBRD), 0);
    ck_assert_uint_eq(rd(IMSC), 0);
    ck_assert_uint_eq(rd(RIS), 0);
}
END_TEST

START_TEST(test_bad_config)
{
    g_autoptr(GError) err = NULL;
    console.mode = CONSOLE_MODE_OFF;
    Pl011Config cfg = { .base = BASE, .gsi = GSI, .console = &console };
    ck_assert_ptr_null(device_create(t->vm, &pl011_ops, "serial0", &cfg, &err));
    ck_assert_ptr_nonnull(err);
    ck_assert_uint_eq(addrspace_count(vm_mmio(t->vm)), 0);
    /* Overlapping another region fails and leaves nothing behind. */
    g_clear_error(&err);
    pl011_new_file();
    console2.mode = CONSOLE_MODE_NULL;
    cfg.console = &console2;
    cfg.base = BASE + 0x800;
    ck_assert_ptr_null(device_create(t->vm, &pl011_ops, "serial1", &cfg, &err));
    ck_assert_uint_eq(addrspace_count(vm_mmio(t->vm)), 1);
}
END_TEST

/* Save a UART with bytes in its FIFO and interrupts set, load it into a
 * second one, and get the same section back and the same behaviour. */
START_TEST(test_state_roundtrip)
{
    Device *a = pl011_new_file();
    loopback_fifo();
    wr(IBRD, 0x27);
    wr(FBRD, 0x11);
    wr(IFLS, 0x08);
    wr(IMSC, INT_RX | INT_TX);
    for (int i = 0; i < 5; i++)
        wr(DR, (uint8_t)('a' + i));
    rd(DR); /* the FIFO no longer starts at slot 0 */
    wr(ICR, INT_TX);
    Device *b = pl011_create_at(&console2, CONSOLE_MODE_NULL, NULL, BASE2, "serial1");
    devtest_state_copy(a, b);

    /* The copy reads the same bytes and raises its line as the original. */
    uint8_t v = 0;
    for (int i = 1; i < 5; i++) {
        addrspace_dispatch(vm_mmio(t->vm), NULL, BASE2 + DR, &v, 1, false);
        ck_assert_uint_eq(v, (uint8_t)('a' + i));
        ck_assert_uint_eq(rd(DR), (uint32_t)('a' + i));
    }
}
END_TEST

static Suite *pl011_suite(void)
{
    Suite *s = suite_create("pl011");
    TCase *tc = tcase_create("registers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ids);
    tcase_add_test(tc, test_reset_values);
    tcase_add_test(tc, test_plain_registers);
    tcase_add_test(tc, test_access_sizes);
    tcase_add_test(tc, test_loopback_modem_lines);
    tcase_add_test(tc, test_hostile_offsets);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_bad_config);
    tcase_add_test(tc, test_state_roundtrip);
    suite_add_tcase(s, tc);

    tc = tcase_create("data");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_tx_to_file_and_tx_interrupt);
    tcase_add_test(tc, test_rx_fifo_levels_and_interrupts);
    tcase_add_test(tc, test_ifls_and_icr);
    tcase_add_test(tc, test_holding_register_mode);
    tcase_add_test(tc, test_rx_from_socket);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(pl011_suite)
