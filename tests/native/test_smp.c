/* Two vCPUs on the host's KVM: both run, each on its own named thread, each
 * sees its own APIC ID and its own registers, and the VM shuts down cleanly. */
#include "native/tiny_vm.h"

#include <check.h>

extern const uint8_t guest_smp[], guest_smp_end[];

START_TEST(two_vcpus_report_their_ids)
{
    TinyVm *t = tiny_vm_new(&(TinyVmOptions){ .image = guest_smp, .image_end = guest_smp_end,
                                             .mode = TINY_MODE_REAL, .vcpus = 2 });
    Vm *vm = tiny_vm_vm(t);
    tiny_vm_run_to_exit(t, 5000);
    ck_assert_uint_eq(tiny_vm_exit_count(t), 2);

    pid_t tid[2];
    for (unsigned i = 0; i < 2; i++) {
        tid[i] = vcpu_tid(vm_vcpu(vm, i));
        ck_assert_int_gt(tid[i], 0);
        /* The vCPUs are halted in the guest, their threads still alive. */
        g_autofree char *name = tiny_vm_thread_name(tid[i]);
        g_autofree char *want = g_strdup_printf("vcpu%u", i);
        ck_assert_msg(name, "thread %d of vCPU %u does not exist", (int)tid[i], i);
        ck_assert_str_eq(name, want);
    }
    ck_assert_int_ne(tid[0], tid[1]);

    /* Each vCPU wrote its APIC ID, then 0x100 + index, from its own thread;
     * the two streams may interleave. */
    ck_assert_uint_eq(tiny_vm_report_count(t), 4);
    unsigned next[2] = { 0, 0 };
    for (unsigned i = 0; i < 4; i++) {
        TinyReport r = tiny_vm_report(t, i);
        unsigned cpu = r.tid == tid[0] ? 0 : r.tid == tid[1] ? 1 : 2;
        ck_assert_msg(cpu < 2, "report %u came from thread %d, not a vCPU", i, (int)r.tid);
        uint32_t want = next[cpu] == 0 ? cpu : 0x100 + cpu;
        ck_assert_msg(r.value == want, "vCPU %u report %u: 0x%x, expected 0x%x", cpu, next[cpu],
                      r.value, want);
        ck_assert_uint_eq(r.size, 4);
        next[cpu]++;
    }
    ck_assert_uint_eq(next[0], 2);
    ck_assert_uint_eq(next[1], 2);
    ck_assert_uint_eq(tiny_vm_exit_status(t, 0), 0);
    ck_assert_uint_eq(tiny_vm_exit_status(t, 1), 0);

    /* Clean shutdown: both threads joined, the state machine at its end. */
    g_autoptr(GError) err = NULL;
    ck_assert_msg(vm_shutdown(vm, &err), "%s", err ? err->message : "");
    ck_assert_int_eq(vm_state(vm), VM_STATE_SHUTDOWN);
    for (unsigned i = 0; i < 2; i++)
        ck_assert_msg(tiny_vm_wait_thread_gone(tid[i], 2000),
                      "vCPU %u's thread still exists after shutdown", i);
    ck_assert(!vm_start(vm, &err));
    tiny_vm_free(t);
}
END_TEST

static Suite *smp_suite(void)
{
    Suite *s = suite_create("native_smp");
    TCase *tc = tcase_create("smp");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, two_vcpus_report_their_ids);
    suite_add_tcase(s, tc);
    return s;
}

TINY_VM_CHECK_MAIN(smp_suite)
