/* A harness for native tests: builds a small VM on the host's /dev/kvm with
 * the real core (accelerator, Vm, guest memory, address spaces, in-kernel
 * irqchip and IRQ router, vCPU threads), loads one of the tiny guest images
 * from guests/, starts the vCPUs in real mode or long mode and runs the
 * control loop until the guest stops.
 *
 * The guest talks back through three test ports (guests/guest_abi.h):
 * REPORT (values logged with the writing thread), PROGRESS (last value and a
 * write count) and EXIT (the guest is done; the VM is stopped with
 * VM_STOP_POWEROFF once every expected exit has arrived).
 *
 * Failures inside the harness are Check assertions, so the functions are only
 * for use inside Check tests. */
#pragma once
#include "hypervisor/vm.h"
#include "native/guests/guest_abi.h"
#include "support/check_main.h"

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum {
    TINY_MODE_REAL, /* CS base 0, selector 0, 16-bit code */
    TINY_MODE_LONG, /* 64-bit code, paging with a 4 GiB identity map */
} TinyMode;

typedef struct TinyVmOptions {
    const uint8_t *image, *image_end; /* copied to GUEST_LOAD_ADDR */
    TinyMode mode;
    unsigned vcpus;         /* 0 means 1 */
    unsigned exits_needed;  /* EXIT writes that stop the VM; 0 means one per vCPU */
    bool shared_memory;     /* RAM as with --memory shared=on (local migration) */
} TinyVmOptions;

/* One REPORT write. */
typedef struct TinyReport {
    uint32_t value;
    unsigned size;
    pid_t tid; /* thread that performed the write */
} TinyReport;

typedef struct TinyVm TinyVm;

/* Whether /dev/kvm can be opened and has what Nimbus needs; on false
 * *reason (g_free it) says why. */
bool tiny_vm_kvm_usable(char **reason);

/* Build the VM, load the image and set up the vCPUs; not started yet. Add
 * test devices with tiny_vm_vm() before tiny_vm_run(). */
TinyVm *tiny_vm_new(const TinyVmOptions *opts);
/* Stop and free everything (the Vm, the control loop, the accelerator). */
void tiny_vm_free(TinyVm *t);
Vm *tiny_vm_vm(TinyVm *t);
EventLoop *tiny_vm_loop(TinyVm *t);

/* Start the VM if it has not run yet, then run the control loop on the
 * calling thread until the VM requests a stop or timeout_ms pass. True if it
 * stopped (then reason and detail are available). */
bool tiny_vm_run(TinyVm *t, unsigned timeout_ms);
/* tiny_vm_run() and assert the guest ended through the EXIT port. */
void tiny_vm_run_to_exit(TinyVm *t, unsigned timeout_ms);
VmStopReason tiny_vm_stop_reason(TinyVm *t);
const char *tiny_vm_stop_detail(TinyVm *t);

/* Start the VM without running the control loop (the test thread drives
 * pause/resume/shutdown itself). */
void tiny_vm_start(TinyVm *t);

/* REPORT log (thread-safe snapshot accessors). */
unsigned tiny_vm_report_count(TinyVm *t);
TinyReport tiny_vm_report(TinyVm *t, unsigned index);
/* Wait on the calling thread until at least n reports exist; false on timeout. */
bool tiny_vm_wait_reports(TinyVm *t, unsigned n, unsigned timeout_ms);
/* Assert the REPORT log is exactly values[0..n) (any writer). */
void tiny_vm_assert_reports(TinyVm *t, const uint32_t *values, size_t n);

/* PROGRESS port: number of writes and the last value written. */
uint64_t tiny_vm_progress_writes(TinyVm *t);
uint32_t tiny_vm_progress_last(TinyVm *t);
/* Wait until the PROGRESS write count reaches at least n; false on timeout. */
bool tiny_vm_wait_progress(TinyVm *t, uint64_t n, unsigned timeout_ms);

/* EXIT port: number of exits and the status byte of exit i. */
unsigned tiny_vm_exit_count(TinyVm *t);
uint8_t tiny_vm_exit_status(TinyVm *t, unsigned index);

/* Contents of /proc/self/task/<tid>/comm without the newline, or NULL when
 * the thread does not exist. */
char *tiny_vm_thread_name(pid_t tid);
/* Wait until thread tid of this process no longer exists; false on timeout.
 * A joined thread can stay visible in /proc for a moment: the join returns
 * when the kernel clears the thread's tid, slightly before it is reaped. */
bool tiny_vm_wait_thread_gone(pid_t tid, unsigned timeout_ms);

/* main() for a native test program: skip (exit 77 with "SKIP: <reason>")
 * before running Check when /dev/kvm is absent or unusable. */
#define TINY_VM_CHECK_MAIN(suite_fn)                              \
    int main(void)                                                \
    {                                                             \
        char *reason = NULL;                                      \
        if (!tiny_vm_kvm_usable(&reason)) {                       \
            printf("SKIP: %s\n", reason);                         \
            g_free(reason);                                       \
            return CHECK_SKIP_CODE;                               \
        }                                                         \
        SRunner *sr = srunner_create(suite_fn());                 \
        srunner_run_all(sr, CK_NORMAL);                           \
        int failed = srunner_ntests_failed(sr);                   \
        srunner_free(sr);                                         \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;              \
    }
