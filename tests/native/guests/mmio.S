/* MMIO guests: accesses of every size to the test device, read values
 * reported back on the REPORT port (64-bit values as two halves, low first),
 * and reads of an unassigned address, which must return all-ones. */
#include "native/guests/guest_abi.h"

/* Real mode: the device at GUEST_MMIO_REAL_BASE through ES, sizes 1, 2, 4. */
GUEST_IMAGE_BEGIN(guest_mmio_real)
    .code16
    mov $(GUEST_MMIO_REAL_BASE >> 4), %ax
    mov %ax, %es
    movb $0x11, %es:0x0
    movw $0x2233, %es:0x2
    movl $0x44556677, %es:0x4
    movzbl %es:0x10, %eax
    out %eax, $GUEST_PORT_REPORT
    movzwl %es:0x12, %eax
    out %eax, $GUEST_PORT_REPORT
    movl %es:0x14, %eax
    out %eax, $GUEST_PORT_REPORT
    /* unassigned: a write is dropped, reads are all-ones */
    mov $(GUEST_MMIO_REAL_UNASSIGNED >> 4), %ax
    mov %ax, %fs
    movl $0x12345678, %fs:0x0
    movzbl %fs:0x0, %eax
    out %eax, $GUEST_PORT_REPORT
    movzwl %fs:0x2, %eax
    out %eax, $GUEST_PORT_REPORT
    movl %fs:0x4, %eax
    out %eax, $GUEST_PORT_REPORT
    mov $0, %al
    out %al, $GUEST_PORT_EXIT
1:  cli
    hlt
    jmp 1b
    .code64
GUEST_IMAGE_END(guest_mmio_real)

/* Long mode: the device at GUEST_MMIO_LONG_BASE, sizes 1, 2, 4, 8. */
GUEST_IMAGE_BEGIN(guest_mmio_long)
    .code64
    mov $GUEST_MMIO_LONG_BASE, %ebx /* zero-extended into rbx */
    movb $0x11, 0x0(%rbx)
    movw $0x2233, 0x2(%rbx)
    movl $0x44556677, 0x4(%rbx)
    movabs $0x8899aabbccddeeff, %rax
    mov %rax, 0x8(%rbx)
    movzbl 0x10(%rbx), %eax
    out %eax, $GUEST_PORT_REPORT
    movzwl 0x12(%rbx), %eax
    out %eax, $GUEST_PORT_REPORT
    movl 0x14(%rbx), %eax
    out %eax, $GUEST_PORT_REPORT
    mov 0x18(%rbx), %rax
    out %eax, $GUEST_PORT_REPORT
    shr $32, %rax
    out %eax, $GUEST_PORT_REPORT
    /* unassigned */
    mov $GUEST_MMIO_LONG_UNASSIGNED, %ebx
    movq $0x12345678, 0x0(%rbx)
    mov 0x8(%rbx), %rax
    out %eax, $GUEST_PORT_REPORT
    shr $32, %rax
    out %eax, $GUEST_PORT_REPORT
    mov $0, %al
    out %al, $GUEST_PORT_EXIT
1:  cli
    hlt
    jmp 1b
GUEST_IMAGE_END(guest_mmio_long)

    .section .note.GNU-stack, "", @progbits
