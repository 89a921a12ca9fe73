/* 2-vCPU guest (real mode): every vCPU runs the same code and reports who it
 * is, twice: its APIC ID from CPUID leaf 1 (EBX[31:24]) and 0x100 + the
 * index the harness put in RDI; then it signals EXIT and halts. */
#include "native/guests/guest_abi.h"

GUEST_IMAGE_BEGIN(guest_smp)
    .code16
    mov $1, %eax
    cpuid
    shr $24, %ebx
    mov %ebx, %eax
    out %eax, $GUEST_PORT_REPORT
    lea 0x100(%edi), %eax
    out %eax, $GUEST_PORT_REPORT
    mov $0, %al
    out %al, $GUEST_PORT_EXIT
1:  cli
    hlt
    jmp 1b
    .code64
GUEST_IMAGE_END(guest_smp)

    .section .note.GNU-stack, "", @progbits
