/*
 * tiny-pvh.S — the smallest PVH guest the boot benchmark can time.
 *
 * A VMM that boots an ELF through the PVH entry starts it in 32-bit protected
 * mode with paging off at the address in the "Xen" ELF note of type 18
 * (XEN_ELFNOTE_PHYS32_ENTRY).  The guest writes one byte, 'N', to COM1's
 * data register (port 0x3f8): the moment that byte reaches the VMM's stdout
 * is the "first guest instruction ran" time the benchmark measures.  Then it
 * loads an IDT with limit 0 and executes ud2: the #UD cannot be delivered,
 * neither can the #GP nor the #DF after it, so the CPU triple-faults and the
 * VMM sees a reset (nimbus exits 0; QEMU exits with -no-reboot).
 *
 * ud2 rather than int3: on a PVM /dev/kvm (our development hosts) a guest
 * with paging off runs in KVM's instruction emulator, which reports an
 * "emulation failure" on int3 there (QEMU then hangs instead of exiting),
 * while it raises #UD for ud2 as the CPU does.
 *
 * Built at bench time (bench/boot/run.sh):
 *   gcc -c tiny-pvh.S -o tiny-pvh.o
 *   ld -static -nostdlib -no-pie --build-id=none -T tiny-pvh.ld tiny-pvh.o -o tiny.elf
 * which gives an x86_64 ET_EXEC loaded at 1 MiB with a PT_NOTE segment.
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define COM1 0x3f8

    .code32
    .text
    .globl pvh_entry
pvh_entry:
    movw $COM1, %dx
    movb $'N', %al
    outb %al, %dx
    lidt zero_idtr
    ud2
    /* Not reached: a VMM that does not reset on a triple fault parks here. */
1:  hlt
    jmp 1b

    .balign 8
zero_idtr:
    .word 0             /* limit 0: no vector can be delivered */
    .long 0             /* base */

/*
 * The PVH entry note.  Its section must be SHF_ALLOC ("a") and SHT_NOTE so
 * that ld puts it in a PT_NOTE segment.  Name "Xen\0", desc the 32-bit
 * physical entry address; 4-byte alignment as every ELF note on Linux.
 *
 * QEMU 7.2 reads the desc of a 64-bit ELF's PVH note as 8 bytes (Linux
 * widens it to .quad), so an empty note (no name, no desc, type 0) follows:
 * its zero n_namesz makes those 4 extra bytes 0 rather than whatever lies
 * past the end of QEMU's copy of the note segment.
 */
    .section .note.Xen, "a", @note
    .balign 4
    .long 2f - 1f       /* n_namesz */
    .long 4f - 3f       /* n_descsz */
    .long XEN_ELFNOTE_PHYS32_ENTRY
1:  .asciz "Xen"
2:  .balign 4
3:  .long pvh_entry
4:  .balign 4
    .long 0, 0, 0       /* empty note: n_namesz, n_descsz, n_type */
