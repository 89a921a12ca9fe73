/* Port I/O exits on the host's KVM: each access size in both directions,
 * string I/O (several elements per exit) and unassigned ports. */
#include "native/tiny_vm.h"

#include <check.h>

extern const uint8_t guest_pio[], guest_pio_end[];

START_TEST(port_io_sizes_strings_and_unassigned)
{
    TinyVm *t = tiny_vm_new(&(TinyVmOptions){ .image = guest_pio, .image_end = guest_pio_end,
                                             .mode = TINY_MODE_REAL });
    tiny_vm_run_to_exit(t, 5000);
    const struct {
        uint32_t value;
        unsigned size;
    } want[] = {
        { 0x11, 1 },
        { 0x2233, 2 },
        { 0x44556677, 4 },
        { GUEST_PORT_READ_VALUE, 4 },        /* IN eax */
        { GUEST_PORT_READ_VALUE & 0xff, 4 }, /* IN al: the low byte */
        { 0xffff, 4 },                       /* IN ax from an unassigned port */
        { 'N', 1 }, { 'i', 1 }, { 'm', 1 }, { 'b', 1 }, /* rep outsb */
        { (GUEST_PORT_READ_VALUE << 16) | GUEST_PORT_READ_VALUE, 4 }, /* rep insw x2 */
    };
    ck_assert_uint_eq(tiny_vm_report_count(t), G_N_ELEMENTS(want));
    for (unsigned i = 0; i < G_N_ELEMENTS(want); i++) {
        TinyReport r = tiny_vm_report(t, i);
        ck_assert_msg(r.value == want[i].value && r.size == want[i].size,
                      "report %u: 0x%x (%u bytes), expected 0x%x (%u bytes)", i, r.value, r.size,
                      want[i].value, want[i].size);
    }
    ck_assert_uint_eq(tiny_vm_exit_count(t), 1);
    ck_assert_uint_eq(tiny_vm_exit_status(t, 0), 0);
    tiny_vm_free(t);
}
END_TEST

static Suite *pio_suite(void)
{
    Suite *s = suite_create("native_pio");
    TCase *tc = tcase_create("pio");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, port_io_sizes_strings_and_unassigned);
    suite_add_tcase(s, tc);
    return s;
}

TINY_VM_CHECK_MAIN(pio_suite)
