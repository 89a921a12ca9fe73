/* vCPU and machine state on the host's KVM (arch/x86_64/vcpu_state.c,
 * vm_state.c): a counting guest runs, is paused, its vCPU and VM state are
 * saved into a state stream and its RAM copied; the VM is freed, a fresh one
 * is built, given the RAM and the state, and resumed. The count must go on
 * from exactly where it stopped: no restart, no repeated step (an OUT whose
 * completion was lost would run twice), no skipped one. */
#include "arch/x86_64/vcpu_state.h"
#include "arch/x86_64/vm_state.h"
#include "migration/stream.h"
#include "native/tiny_vm.h"

#include <check.h>

extern const uint8_t guest_count[], guest_count_end[];     /* spin.S, real mode */
extern const uint8_t guest_count64[], guest_count64_end[]; /* vcpu_state.S, long mode */

static TinyVmOptions guest_opts(int variant)
{
    if (variant == 0)
        return (TinyVmOptions){ .image = guest_count, .image_end = guest_count_end,
                                .mode = TINY_MODE_REAL };
    return (TinyVmOptions){ .image = guest_count64, .image_end = guest_count64_end,
                            .mode = TINY_MODE_LONG };
}

/* The long-mode guest reads this port every step. The TRAP_AT-th read asks
 * its own vCPU to park: the vCPU parks right after this IN exit, before the
 * next KVM_RUN would have completed the IN. The save must still see the
 * value in EAX and RIP past the IN (vcpu.c completes the access first). */
#define GUEST_PORT_TRAP 0xe0
#define TRAP_AT 1500

typedef struct Trap {
    Vm *vm;
    unsigned reads;
    bool armed;
    gint fired;
} Trap;

static uint64_t trap_read(void *opaque, uint64_t offset, unsigned size)
{
    Trap *t = opaque;
    if (t->armed && ++t->reads == TRAP_AT) {
        vcpu_request_pause(vm_vcpu(t->vm, 0));
        g_atomic_int_set(&t->fired, 1);
    }
    return GUEST_PORT_READ_VALUE;
}

static void trap_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
}

static const RegionOps trap_ops = {
    .read = trap_read, .write = trap_write, .valid_min = 4, .valid_max = 4,
};

static TinyVm *guest_new(const TinyVmOptions *opts, Trap *trap, bool armed)
{
    TinyVm *t = tiny_vm_new(opts);
    *trap = (Trap){ .vm = tiny_vm_vm(t), .armed = armed };
    g_autoptr(GError) err = NULL;
    ck_assert_msg(addrspace_map(vm_pio(tiny_vm_vm(t)), "test-trap", GUEST_PORT_TRAP, 4, &trap_ops,
                                trap, &err), "%s", err ? err->message : "");
    return t;
}

static void pause_vm(TinyVm *t)
{
    g_autoptr(GError) err = NULL;
    ck_assert_msg(vm_pause(tiny_vm_vm(t), &err), "%s", err ? err->message : "");
}

START_TEST(count_continues_after_restore)
{
    TinyVmOptions opts = guest_opts(_i);
    g_autoptr(GError) err = NULL;

    /* Run the source and stop it mid-count, more than once so that the
     * pause lands right after a PROGRESS exit at least sometimes (almost
     * every pause does: the guest does little else). */
    Trap trap;
    bool long_mode = opts.mode == TINY_MODE_LONG;
    TinyVm *src = guest_new(&opts, &trap, long_mode);
    tiny_vm_start(src);
    if (long_mode) {
        for (int i = 0; i < 5000 && !g_atomic_int_get(&trap.fired); i++)
            g_usleep(1000);
        ck_assert_msg(g_atomic_int_get(&trap.fired), "the guest made %u reads", trap.reads);
        vcpu_wait_parked(vm_vcpu(tiny_vm_vm(src), 0));
        /* Parked right after the IN exit: the state must show the IN done
         * (RIP past its two bytes "in $0xe0, %eax", the value in EAX). */
        AccelVcpu *a = vcpu_accel(vm_vcpu(tiny_vm_vm(src), 0));
        struct kvm_regs regs;
        ck_assert_int_eq(a->ops->vcpu_get_regs(a, ACCEL_REG_REGS, &regs, sizeof(regs)), 0);
        uint8_t insn[2] = { 0 };
        ck_assert(memory_read(vm_memory(tiny_vm_vm(src)), regs.rip - 2, insn, 2));
        ck_assert_msg(insn[0] == 0xe5 && insn[1] == GUEST_PORT_TRAP,
                      "RIP %#llx is not right after the IN (bytes before it: %02x %02x)",
                      (unsigned long long)regs.rip, insn[0], insn[1]);
        ck_assert_uint_eq(regs.rax & 0xffffffffu, GUEST_PORT_READ_VALUE);
    }
    ck_assert_msg(tiny_vm_wait_progress(src, long_mode ? TRAP_AT : 2000, 5000),
                  "the guest made %" G_GUINT64_FORMAT " steps, %u report(s)",
                  tiny_vm_progress_writes(src), tiny_vm_report_count(src));
    pause_vm(src);
    uint32_t last = tiny_vm_progress_last(src);
    uint64_t writes = tiny_vm_progress_writes(src);
    ck_assert_uint_eq(last, writes); /* 1, 2, 3, ... each once */
    ck_assert_uint_eq(tiny_vm_report_count(src), 0);

    g_autoptr(GByteArray) stream = g_byte_array_new();
    state_stream_begin(stream);
    ck_assert_msg(x86_machine_state_save(tiny_vm_vm(src), stream, &err), "%s",
                  err ? err->message : "");
    state_stream_finish(stream);
    g_autofree uint8_t *ram = g_malloc(GUEST_RAM_SIZE);
    ck_assert(memory_read(vm_memory(tiny_vm_vm(src)), 0, ram, GUEST_RAM_SIZE));
    /* Paused means paused: nothing moved while we saved. */
    ck_assert_uint_eq(tiny_vm_progress_writes(src), writes);
    tiny_vm_free(src);

    /* A fresh VM (new KVM VM and vCPU): memory, then state, then run. */
    TinyVm *dst = guest_new(&opts, &trap, false);
    Vm *vm = tiny_vm_vm(dst);
    ck_assert(memory_write(vm_memory(vm), 0, ram, GUEST_RAM_SIZE));
    ck_assert_msg(x86_machine_state_load(vm, stream->data, stream->len, &err), "%s",
                  err ? err->message : "");
    tiny_vm_start(dst);
    ck_assert(tiny_vm_wait_progress(dst, 1000, 5000));
    pause_vm(dst);
    uint64_t more = tiny_vm_progress_writes(dst);
    uint32_t now = tiny_vm_progress_last(dst);
    ck_assert_msg(now == last + more,
                  "the source stopped at %u; the restored guest wrote %" G_GUINT64_FORMAT
                  " steps ending at %u (expected %" G_GUINT64_FORMAT ")",
                  last, more, now, (uint64_t)last + more);
    ck_assert_uint_eq(tiny_vm_report_count(dst), 0);

    /* And once more from the restored VM, in the same process: a stream
     * saved from a restored VM restores as well. */
    g_autoptr(GByteArray) again = g_byte_array_new();
    state_stream_begin(again);
    ck_assert_msg(x86_machine_state_save(vm, again, &err), "%s", err ? err->message : "");
    state_stream_finish(again);
    ck_assert(memory_read(vm_memory(vm), 0, ram, GUEST_RAM_SIZE));
    tiny_vm_free(dst);
    TinyVm *third = guest_new(&opts, &trap, false);
    ck_assert(memory_write(vm_memory(tiny_vm_vm(third)), 0, ram, GUEST_RAM_SIZE));
    ck_assert_msg(x86_machine_state_load(tiny_vm_vm(third), again->data, again->len, &err), "%s",
                  err ? err->message : "");
    tiny_vm_start(third);
    ck_assert(tiny_vm_wait_progress(third, 100, 5000));
    pause_vm(third);
    ck_assert_uint_eq(tiny_vm_progress_last(third), now + tiny_vm_progress_writes(third));
    tiny_vm_free(third);
}
END_TEST

/* The saved stream names its parts; a load refuses a stream for another
 * machine shape and leaves the process intact. */
START_TEST(stream_shape_checked)
{
    TinyVmOptions opts = guest_opts(0);
    g_autoptr(GError) err = NULL;
    Trap trap;
    TinyVm *t = guest_new(&opts, &trap, false);
    tiny_vm_start(t);
    ck_assert(tiny_vm_wait_progress(t, 10, 5000));
    pause_vm(t);
    Vm *vm = tiny_vm_vm(t);

    /* Only the x86-vm section: the vCPU's is missing. */
    g_autoptr(GByteArray) s = g_byte_array_new();
    state_stream_begin(s);
    X86VmState *ms = g_new0(X86VmState, 1);
    ck_assert_msg(x86_vm_state_save(vm_accel_vm(vm), ms, &err), "%s", err ? err->message : "");
    ck_assert(!ms->has_pit); /* the tiny machine has none */
    state_stream_add(s, "x86-vm", &x86_vm_state_desc, ms);
    g_free(ms);
    state_stream_finish(s);
    ck_assert(!x86_machine_state_load(vm, s->data, s->len, &err));
    ck_assert(err && err->code == STATE_ERROR_MISSING);
    g_clear_error(&err);

    /* A section for a vCPU the machine does not have. */
    g_autoptr(GByteArray) full = g_byte_array_new();
    state_stream_begin(full);
    ck_assert_msg(x86_machine_state_save(vm, full, &err), "%s", err ? err->message : "");
    X86VcpuState *vs = g_new0(X86VcpuState, 1);
    state_stream_add(full, "vcpu1", &x86_vcpu_state_desc, vs);
    g_free(vs);
    state_stream_finish(full);
    ck_assert(!x86_machine_state_load(vm, full->data, full->len, &err));
    ck_assert(err && err->code == STATE_ERROR_UNKNOWN);
    g_clear_error(&err);
    tiny_vm_free(t);
}
END_TEST

static Suite *vcpu_state_suite(void)
{
    Suite *s = suite_create("native_vcpu_state");
    TCase *tc = tcase_create("save_restore");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, count_continues_after_restore, 0, 2);
    tcase_add_test(tc, stream_shape_checked);
    suite_add_tcase(s, tc);
    return s;
}

TINY_VM_CHECK_MAIN(vcpu_state_suite)
