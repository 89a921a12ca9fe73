/* A snapshot of a running guest on the host's KVM, restored into a second
 * VM: the counting guest (guests/spin.S) is paused, written to a snapshot
 * directory (migration/snapshot.c with the x86 machine state), destroyed,
 * and a fresh VM built the same way is started paused, loaded from the
 * snapshot and resumed: the count continues from where it stopped, with no
 * step repeated or lost. */
#include "arch/arch.h"
#include "migration/snapshot.h"
#include "native/tiny_vm.h"

#include <check.h>

extern const uint8_t guest_count[], guest_count_end[];

static TinyVm *counting_vm(void)
{
    return tiny_vm_new(&(TinyVmOptions){ .image = guest_count, .image_end = guest_count_end,
                                        .mode = TINY_MODE_REAL });
}

START_TEST(snapshot_restore_counting_guest)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = g_dir_make_tmp("nimbus-native-snap-XXXXXX", NULL);
    g_autofree char *dir = g_build_filename(tmp, "snap", NULL);
    const MachineOps *machine = arch_machine_ops();

    /* Run, pause, snapshot, destroy. */
    TinyVm *src = counting_vm();
    tiny_vm_start(src);
    ck_assert_msg(tiny_vm_wait_progress(src, 5000, 5000), "the guest made %" G_GUINT64_FORMAT " steps",
                  tiny_vm_progress_writes(src));
    ck_assert_msg(vm_pause(tiny_vm_vm(src), &err), "%s", err ? err->message : "");
    uint32_t at = tiny_vm_progress_last(src);
    ck_assert_uint_eq(at, tiny_vm_progress_writes(src));
    ck_assert_msg(snapshot_save(tiny_vm_vm(src), machine, "{}", dir, &err), "%s", err ? err->message : "");
    tiny_vm_free(src);

    /* Restore into a VM built the same way, never run. */
    TinyVm *dst = counting_vm();
    Vm *vm = tiny_vm_vm(dst);
    /* Junk in RAM: the snapshot must replace all of it. */
    uint8_t *ram = memory_hva(vm_memory(vm), GUEST_DATA_ADDR, 0x1000);
    memset(ram, 0xcc, 0x1000);
    g_autoptr(Snapshot) s = snapshot_open(dir, &err);
    ck_assert_msg(s, "%s", err ? err->message : "");
    ck_assert_msg(vm_start_paused(vm, &err), "%s", err ? err->message : "");
    ck_assert_msg(snapshot_load(s, vm, machine, true, &err), "%s", err ? err->message : "");
    ck_assert_uint_eq(ram[0], 0);
    ck_assert_uint_eq(tiny_vm_progress_writes(dst), 0);
    ck_assert_msg(vm_resume(vm, &err), "%s", err ? err->message : "");
    ck_assert_msg(tiny_vm_wait_progress(dst, 5000, 5000), "the restored guest made %" G_GUINT64_FORMAT " steps",
                  tiny_vm_progress_writes(dst));
    ck_assert_msg(vm_pause(vm, &err), "%s", err ? err->message : "");
    /* It counted on from `at`: at+1, at+2, ... (no repeat, no gap). */
    uint64_t n = tiny_vm_progress_writes(dst);
    ck_assert_msg(tiny_vm_progress_last(dst) == at + n, "paused at %u; after %" G_GUINT64_FORMAT
                  " steps the restored guest is at %u", at, n, tiny_vm_progress_last(dst));
    tiny_vm_free(dst);

    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *snapshot_suite(void)
{
    Suite *s = suite_create("native_snapshot");
    TCase *tc = tcase_create("snapshot");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, snapshot_restore_counting_guest);
    suite_add_tcase(s, tc);
    return s;
}

TINY_VM_CHECK_MAIN(snapshot_suite)
