/* Port I/O guest (real mode): OUT and IN of each size, string I/O in both
 * directions, and an unassigned port. Everything it sees goes back to the
 * REPORT port, so the test can check both directions. */
#include "native/guests/guest_abi.h"

#define UNASSIGNED_PORT 0x510

GUEST_IMAGE_BEGIN(guest_pio)
    .code16
    /* OUT of 1, 2 and 4 bytes */
    mov $0x11, %al
    out %al, $GUEST_PORT_REPORT
    mov $0x2233, %ax
    out %ax, $GUEST_PORT_REPORT
    mov $0x44556677, %eax
    out %eax, $GUEST_PORT_REPORT
    /* IN of 4 and 1 bytes from a test port */
    in $GUEST_PORT_REPORT, %eax
    out %eax, $GUEST_PORT_REPORT
    xor %eax, %eax
    in $GUEST_PORT_REPORT, %al
    out %eax, $GUEST_PORT_REPORT
    /* unassigned: IN is all-ones, OUT is dropped */
    mov $UNASSIGNED_PORT, %dx
    xor %eax, %eax
    in %dx, %ax
    out %eax, $GUEST_PORT_REPORT
    out %eax, %dx
    /* string OUT: 4 bytes, one report each */
    cld
    mov $GUEST_ADDR(guest_pio, text), %si
    mov $4, %cx
    mov $GUEST_PORT_REPORT, %dx
    rep outsb
    /* string IN: two words into memory, then report the dword they form */
    mov $(GUEST_DATA_ADDR >> 4), %ax
    mov %ax, %es
    xor %di, %di
    movl $0, %es:(%di)
    mov $2, %cx
    rep insw
    mov %es:0, %eax
    out %eax, $GUEST_PORT_REPORT
    mov $0, %al
    out %al, $GUEST_PORT_EXIT
1:  cli
    hlt
    jmp 1b
text:
    .ascii "Nimb"
    .code64
GUEST_IMAGE_END(guest_pio)

    .section .note.GNU-stack, "", @progbits
