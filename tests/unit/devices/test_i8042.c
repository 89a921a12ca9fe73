/* Tests of devices/misc/i8042.c: power-on status, the command byte, the
 * controller self-tests and AUX probing Linux does, the output buffer never
 * leaving a poll loop stuck, and both ways of pulsing the reset line
 * reaching the VM's stop callback as VM_STOP_RESET. */
#include "devices/misc/i8042.h"
#include "devtest.h"
#include "support/check_main.h"

#define DATA 0x60
#define CMD 0x64

#define STS_OBF 0x01
#define STS_AUXDATA 0x20

static DevTest *t;

static void setup(void)
{
    t = devtest_new();
    g_autoptr(GError) err = NULL;
    I8042Config cfg = { .data_port = DATA, .command_port = CMD };
    ck_assert_msg(device_create(t->vm, &i8042_ops, "i8042", &cfg, &err), "%s",
                  err ? err->message : "?");
}

static void teardown(void)
{
    devtest_free(t);
}

/* A controller command with one reply byte, as i8042_command() does it. */
static uint8_t command_reply(uint8_t cmd)
{
    devtest_outb(t, CMD, cmd);
    ck_assert_uint_eq(devtest_inb(t, CMD) & STS_OBF, STS_OBF);
    uint8_t v = devtest_inb(t, DATA);
    ck_assert_uint_eq(devtest_inb(t, CMD) & STS_OBF, 0);
    return v;
}

START_TEST(test_power_on_status)
{
    ck_assert_uint_eq(devtest_inb(t, CMD), 0x1c); /* SYS | CMD | not inhibited */
    ck_assert_uint_eq(devtest_inb(t, DATA), 0);   /* empty */
    ck_assert_uint_eq(devtest_inb(t, CMD) & 0x03, 0);
}
END_TEST

START_TEST(test_command_byte)
{
    uint8_t ctr = command_reply(0x20);
    ck_assert_uint_eq(ctr & 0x04, 0x04); /* system flag */
    devtest_outb(t, CMD, 0x60);
    devtest_outb(t, DATA, 0x47);
    ck_assert_uint_eq(devtest_inb(t, CMD) & 0x08, 0); /* last write was data */
    ck_assert_uint_eq(command_reply(0x20), 0x47);
    devtest_outb(t, CMD, 0xa7); /* disable AUX */
    ck_assert_uint_eq(command_reply(0x20) & 0x20, 0x20);
    devtest_outb(t, CMD, 0xa8);
    ck_assert_uint_eq(command_reply(0x20) & 0x20, 0);
    devtest_outb(t, CMD, 0xad); /* disable keyboard */
    ck_assert_uint_eq(command_reply(0x20) & 0x10, 0x10);
    devtest_outb(t, CMD, 0xae);
    ck_assert_uint_eq(command_reply(0x20) & 0x10, 0);
}
END_TEST

START_TEST(test_linux_probe)
{
    /* i8042_flush(): bounded even when nothing is there. */
    unsigned reads = 0;
    while ((devtest_inb(t, CMD) & STS_OBF) && reads < 32) {
        devtest_inb(t, DATA);
        reads++;
    }
    ck_assert_uint_eq(reads, 0);
    ck_assert_uint_eq(command_reply(0xaa), 0x55); /* controller self-test */
    ck_assert_uint_eq(command_reply(0xab), 0x00); /* keyboard interface test */
    /* AUX loop: answered, but not as AUX data, so Linux goes on to... */
    devtest_outb(t, CMD, 0xd3);
    devtest_outb(t, DATA, 0x5a);
    uint8_t sts = devtest_inb(t, CMD);
    ck_assert_uint_eq(sts & (STS_OBF | STS_AUXDATA), STS_OBF);
    /* ...the AUX test, whose reply supersedes the unread one: no mouse. */
    ck_assert_uint_eq(command_reply(0xa9), 0x01);
    ck_assert_uint_eq(devtest_inb(t, CMD) & STS_OBF, 0);
    /* Output port: reset line high (not in reset), A20 on. */
    ck_assert_uint_eq(command_reply(0xd0) & 0x03, 0x03);
    /* Bytes for the (absent) keyboard are dropped, with no reply to wait for. */
    devtest_outb(t, DATA, 0xf2);
    ck_assert_uint_eq(devtest_inb(t, CMD) & STS_OBF, 0);
    /* 0xd2: the next byte shows up as keyboard data. */
    devtest_outb(t, CMD, 0xd2);
    devtest_outb(t, DATA, 0x99);
    ck_assert_uint_eq(devtest_inb(t, DATA), 0x99);
    devtest_run_pending(t);
    ck_assert_uint_eq(t->stops, 0);
}
END_TEST

START_TEST(test_reset_command)
{
    devtest_outb(t, CMD, 0xfe);
    /* The stop is delivered on the control loop, not on the vCPU. */
    ck_assert_uint_eq(t->stops, 0);
    devtest_run_pending(t);
    ck_assert_uint_eq(t->stops, 1);
    ck_assert_int_eq(t->stop_reason, VM_STOP_RESET);
    ck_assert_str_eq(t->stop_detail, "i8042 reset");
}
END_TEST

START_TEST(test_reset_via_output_port)
{
    devtest_outb(t, CMD, 0xd1);
    devtest_outb(t, DATA, 0x03); /* reset line kept high: nothing happens */
    devtest_outb(t, CMD, 0xff);  /* pulse nothing */
    devtest_run_pending(t);
    ck_assert_uint_eq(t->stops, 0);
    ck_assert_uint_eq(command_reply(0xd0), 0x03);
    devtest_outb(t, CMD, 0xd1);
    devtest_outb(t, DATA, 0x02); /* reset line low */
    devtest_run_pending(t);
    ck_assert_uint_eq(t->stops, 1);
    ck_assert_int_eq(t->stop_reason, VM_STOP_RESET);
}
END_TEST

START_TEST(test_device_reset)
{
    devtest_outb(t, CMD, 0x60);
    devtest_outb(t, DATA, 0x00);
    devtest_outb(t, CMD, 0x20); /* leave a reply unread */
    vm_reset_devices(t->vm);
    ck_assert_uint_eq(devtest_inb(t, CMD), 0x1c);
    ck_assert_uint_eq(command_reply(0x20) & 0x04, 0x04);
}
END_TEST

START_TEST(test_word_access_invalid)
{
    ck_assert_uint_eq(devtest_in(t, CMD, 2), 0xffff);
    devtest_out(t, CMD, 0xfefe, 2);
    devtest_run_pending(t);
    ck_assert_uint_eq(t->stops, 0);
}
END_TEST

static Suite *i8042_suite(void)
{
    Suite *s = suite_create("i8042");
    TCase *tc = tcase_create("i8042");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_power_on_status);
    tcase_add_test(tc, test_command_byte);
    tcase_add_test(tc, test_linux_probe);
    tcase_add_test(tc, test_reset_command);
    tcase_add_test(tc, test_reset_via_output_port);
    tcase_add_test(tc, test_device_reset);
    tcase_add_test(tc, test_word_access_invalid);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(i8042_suite)
