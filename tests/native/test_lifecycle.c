/* Pause, resume and shutdown of running guests on the host's KVM: parked
 * vCPUs make no progress, resumed ones continue where they stopped, and a
 * shutdown gets vCPUs out of the guest promptly whether they exit often,
 * never, or sleep in HLT. */
#include "native/tiny_vm.h"

#include <check.h>

extern const uint8_t guest_count[], guest_count_end[];
extern const uint8_t guest_spin[], guest_spin_end[];
extern const uint8_t guest_halt[], guest_halt_end[];

/* Generous bounds for a loaded 2-core CI machine; a vCPU that is not kicked
 * would never leave the guest, so any bound separates the two cases. */
#define PROMPT_MS 2000

static int64_t now_ms(void)
{
    return g_get_monotonic_time() / 1000;
}

static void assert_shutdown_prompt(TinyVm *t)
{
    Vm *vm = tiny_vm_vm(t);
    pid_t tid = vcpu_tid(vm_vcpu(vm, 0));
    g_autoptr(GError) err = NULL;
    int64_t start = now_ms();
    ck_assert_msg(vm_shutdown(vm, &err), "%s", err ? err->message : "");
    int64_t took = now_ms() - start;
    ck_assert_msg(took < PROMPT_MS, "vm_shutdown took %" G_GINT64_FORMAT " ms", took);
    ck_assert_int_eq(vm_state(vm), VM_STATE_SHUTDOWN);
    ck_assert_msg(tiny_vm_wait_thread_gone(tid, PROMPT_MS),
                  "the vCPU thread still exists after shutdown");
}

START_TEST(pause_resume_counting_guest)
{
    TinyVm *t = tiny_vm_new(&(TinyVmOptions){ .image = guest_count, .image_end = guest_count_end,
                                             .mode = TINY_MODE_REAL });
    Vm *vm = tiny_vm_vm(t);
    g_autoptr(GError) err = NULL;
    tiny_vm_start(t);
    ck_assert_msg(tiny_vm_wait_progress(t, 100, 5000), "the guest made %" G_GUINT64_FORMAT " steps",
                  tiny_vm_progress_writes(t));

    int64_t start = now_ms();
    ck_assert_msg(vm_pause(vm, &err), "%s", err ? err->message : "");
    ck_assert_int_lt(now_ms() - start, PROMPT_MS);
    ck_assert_int_eq(vm_state(vm), VM_STATE_PAUSED);
    /* Not legal twice. */
    ck_assert(!vm_pause(vm, &err));
    g_clear_error(&err);

    uint64_t paused_at = tiny_vm_progress_writes(t);
    g_usleep(100 * 1000);
    ck_assert_uint_eq(tiny_vm_progress_writes(t), paused_at);
    /* Every step arrived once, in order: the guest counts 1, 2, 3, ... */
    ck_assert_uint_eq(tiny_vm_progress_last(t), paused_at);

    ck_assert_msg(vm_resume(vm, &err), "%s", err ? err->message : "");
    ck_assert_int_eq(vm_state(vm), VM_STATE_RUNNING);
    ck_assert(tiny_vm_wait_progress(t, paused_at + 100, 5000));

    /* Twice more, to catch a vCPU that only parks the first time. */
    for (int round = 0; round < 2; round++) {
        ck_assert(vm_pause(vm, &err));
        uint64_t n = tiny_vm_progress_writes(t);
        g_usleep(20 * 1000);
        ck_assert_uint_eq(tiny_vm_progress_writes(t), n);
        ck_assert_uint_eq(tiny_vm_progress_last(t), n);
        ck_assert(vm_resume(vm, &err));
        ck_assert(tiny_vm_wait_progress(t, n + 10, 5000));
    }

    assert_shutdown_prompt(t);
    uint64_t final = tiny_vm_progress_writes(t);
    ck_assert_uint_eq(tiny_vm_progress_last(t), final);
    g_usleep(20 * 1000);
    ck_assert_uint_eq(tiny_vm_progress_writes(t), final);
    tiny_vm_free(t);
}
END_TEST

/* A guest that never exits: only the kick gets it out of KVM_RUN. */
START_TEST(pause_and_shutdown_spinning_guest)
{
    TinyVm *t = tiny_vm_new(&(TinyVmOptions){ .image = guest_spin, .image_end = guest_spin_end,
                                             .mode = TINY_MODE_REAL });
    Vm *vm = tiny_vm_vm(t);
    g_autoptr(GError) err = NULL;
    tiny_vm_start(t);
    ck_assert(tiny_vm_wait_reports(t, 1, 5000));
    g_usleep(20 * 1000); /* well into the loop */

    int64_t start = now_ms();
    ck_assert_msg(vm_pause(vm, &err), "%s", err ? err->message : "");
    ck_assert_int_lt(now_ms() - start, PROMPT_MS);
    ck_assert(vm_resume(vm, &err));
    g_usleep(20 * 1000);
    assert_shutdown_prompt(t);
    const uint32_t want[] = { 0x5917 };
    tiny_vm_assert_reports(t, want, 1);
    tiny_vm_free(t);
}
END_TEST

/* A guest halted with interrupts off sleeps in the kernel. */
START_TEST(pause_and_shutdown_halted_guest)
{
    TinyVm *t = tiny_vm_new(&(TinyVmOptions){ .image = guest_halt, .image_end = guest_halt_end,
                                             .mode = TINY_MODE_REAL });
    Vm *vm = tiny_vm_vm(t);
    g_autoptr(GError) err = NULL;
    tiny_vm_start(t);
    ck_assert(tiny_vm_wait_reports(t, 1, 5000));
    g_usleep(20 * 1000);

    int64_t start = now_ms();
    ck_assert_msg(vm_pause(vm, &err), "%s", err ? err->message : "");
    ck_assert_int_lt(now_ms() - start, PROMPT_MS);
    ck_assert(vm_resume(vm, &err));
    assert_shutdown_prompt(t);
    const uint32_t want[] = { 0x4a17 };
    tiny_vm_assert_reports(t, want, 1);
    tiny_vm_free(t);
}
END_TEST

/* Shutdown straight from the paused state. */
START_TEST(shutdown_while_paused)
{
    TinyVm *t = tiny_vm_new(&(TinyVmOptions){ .image = guest_count, .image_end = guest_count_end,
                                             .mode = TINY_MODE_REAL });
    Vm *vm = tiny_vm_vm(t);
    g_autoptr(GError) err = NULL;
    tiny_vm_start(t);
    ck_assert(tiny_vm_wait_progress(t, 10, 5000));
    ck_assert(vm_pause(vm, &err));
    assert_shutdown_prompt(t);
    ck_assert(!vm_resume(vm, &err));
    tiny_vm_free(t);
}
END_TEST

static Suite *lifecycle_suite(void)
{
    Suite *s = suite_create("native_lifecycle");
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, pause_resume_counting_guest);
    tcase_add_test(tc, pause_and_shutdown_spinning_guest);
    tcase_add_test(tc, pause_and_shutdown_halted_guest);
    tcase_add_test(tc, shutdown_while_paused);
    suite_add_tcase(s, tc);
    return s;
}

TINY_VM_CHECK_MAIN(lifecycle_suite)
