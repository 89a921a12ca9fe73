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

/* Like guest_count, but every step also writes the step number into the
 * first word of 64 pages (GUEST_DATA_ADDR on), checking first that each
 * still holds the previous step: after a migration that lost a page the
 * guest finds the old value, reports 0xbad and halts instead of counting. */
GUEST_IMAGE_BEGIN(guest_count_mem)
    .code16
    xor %eax, %eax                  /* the step every page holds */
1:  leal 1(%eax), %ecx
    mov $(GUEST_DATA_ADDR >> 4), %bx
2:  mov %bx, %es
    cmpl %eax, %es:0
    jne 9f
    movl %ecx, %es:0
    add $0x100, %bx                 /* the next 4 KiB page */
    cmp $((GUEST_DATA_ADDR >> 4) + 64 * 0x100), %bx
    jne 2b
    mov %ecx, %eax
    out %eax, $GUEST_PORT_PROGRESS
    jmp 1b
9:  mov $0xbad, %eax
    out %eax, $GUEST_PORT_REPORT
8:  cli
    hlt
    jmp 8b
    .code64
GUEST_IMAGE_END(guest_count_mem)

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
