/* Guests for the lifecycle tests (real mode): they never exit on their own. */
#include "native/guests/guest_abi.h"

/* Counts 1, 2, 3, ... to the PROGRESS port forever: one exit per step, so
 * whether the vCPU runs, and whether it resumes where it stopped, shows in
 * the count and the last value. */
GUEST_IMAGE_BEGIN(guest_count)
    .code16
    xor %eax, %eax
1:  inc %eax
    out %eax, $GUEST_PORT_PROGRESS
    jmp 1b
    .code64
GUEST_IMAGE_END(guest_count)

/* Reports once, then spins without a single exit: only a kick gets the
 * vCPU out of KVM_RUN. */
GUEST_IMAGE_BEGIN(guest_spin)
    .code16
    mov $0x5917, %eax
    out %eax, $GUEST_PORT_REPORT
    xor %ecx, %ecx
1:  inc %ecx
    jmp 1b
    .code64
GUEST_IMAGE_END(guest_spin)

/* Reports once, then halts with interrupts off: the vCPU sleeps in the
 * kernel's in-kernel LAPIC, which only a kick wakes. */
GUEST_IMAGE_BEGIN(guest_halt)
    .code16
    mov $0x4a17, %eax
    out %eax, $GUEST_PORT_REPORT
1:  cli
    hlt
    jmp 1b
    .code64
GUEST_IMAGE_END(guest_halt)

    .section .note.GNU-stack, "", @progbits
