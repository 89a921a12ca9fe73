/* Guest for the vCPU state save/restore test (long mode, paging on). Counts
 * 1, 2, 3, ... to the PROGRESS port, keeping the count twice: in RBX (the
 * saved registers) and in a qword in RAM (the copied guest memory), and
 * goes through its stack every step (RSP, and RAM again); then it reads a
 * port of the test (which parks the vCPU right after one of these reads,
 * before KVM has put the value into EAX), which must give
 * GUEST_PORT_READ_VALUE. If anything disagrees
 * it reports 0xbad and halts. A restore that lost the registers or the RAM,
 * ran the OUT again or skipped one, or lost the value of an IN that was
 * still to be completed when the vCPU parked, shows in the count or the
 * report log. (No SSE: under PVM, the development hosts' KVM, these tiny
 * guests cannot enable it.) */
#include "native/guests/guest_abi.h"

#define GUEST_PORT_TRAP 0xe0 /* test_vcpu_state.c serves it */

GUEST_IMAGE_BEGIN(guest_count64)
    .code64
    xor %ebx, %ebx
    movq $0, GUEST_DATA_ADDR
1:  inc %rbx
    incq GUEST_DATA_ADDR
    push %rbx
    pop %rax
    cmp GUEST_DATA_ADDR, %rax
    jne 2f
    out %eax, $GUEST_PORT_PROGRESS
    xor %eax, %eax
    in $GUEST_PORT_TRAP, %eax
    cmp $GUEST_PORT_READ_VALUE, %eax
    jne 2f
    jmp 1b
2:  mov $0xbad, %eax
    out %eax, $GUEST_PORT_REPORT
3:  cli
    hlt
    jmp 3b
GUEST_IMAGE_END(guest_count64)

    .section .note.GNU-stack, "", @progbits
