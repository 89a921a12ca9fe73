/* The contract between the tiny test guests (the .S files here) and the native
 * test harness (tiny_vm.c): guest-physical layout and the test ports. Only
 * #defines, so the assembler sources include it as well as the C tests. */
#pragma once

/* Guest-physical layout (all inside the RAM block at 0). */
#define GUEST_RAM_SIZE 0x80000     /* 512 KiB of RAM at GPA 0 */
#define GUEST_LOAD_ADDR 0x1000     /* where the guest image is copied and entered */
#define GUEST_PT_ADDR 0x10000      /* long mode: PML4, PDPT, 4 PDs (identity map of 4 GiB) */
#define GUEST_GDT_ADDR 0x18000     /* long mode: GDT (null, code64, data, tss) */
#define GUEST_DATA_ADDR 0x20000    /* scratch data for guests */
#define GUEST_STACK_TOP 0x70000    /* vCPU n's stack ends at GUEST_STACK_TOP - n * 0x1000 */

/* Long-mode segment selectors (GDT built by the harness). */
#define GUEST_SEL_CODE64 0x08
#define GUEST_SEL_DATA 0x10
#define GUEST_SEL_TSS 0x18

/* Test ports (PIO), served by the harness:
 *   REPORT   write 1/2/4 bytes: the value is appended to the report log, with
 *            the host thread id of the vCPU that wrote it
 *   PROGRESS write 4 bytes: last value kept, writes counted (no log: for
 *            guests that write in a loop)
 *   EXIT     write 1 byte: the guest is done (value = status); after the
 *            expected number of exits the VM is stopped with VM_STOP_POWEROFF
 * Reads of any test port return GUEST_PORT_READ_VALUE. */
#define GUEST_PORT_REPORT 0xf0
#define GUEST_PORT_EXIT 0xf4
#define GUEST_PORT_PROGRESS 0xf8
#define GUEST_PORT_READ_VALUE 0x7e57

/* MMIO test windows (outside RAM). Real mode reaches the first megabyte only. */
#define GUEST_MMIO_REAL_BASE 0xd0000
#define GUEST_MMIO_REAL_UNASSIGNED 0xe0000
#define GUEST_MMIO_LONG_BASE 0xc0000000
#define GUEST_MMIO_LONG_UNASSIGNED 0xc0100000
#define GUEST_MMIO_SIZE 0x1000

/* The 16550 UART at COM1. */
#define GUEST_COM1 0x3f8

/* In the .S files: an image is the bytes between NAME and NAME_end in
 * .rodata, copied to GUEST_LOAD_ADDR. The code is assembled into the test
 * program rather than linked for its guest address, so absolute references
 * inside an image go through GUEST_ADDR(image, label); only label
 * differences are used, and a stray absolute reference would fail the
 * (position-independent) link instead of silently pointing at the host. */
#ifdef __ASSEMBLER__
#define GUEST_ADDR(image, label) ((label) - (image) + GUEST_LOAD_ADDR)
#define GUEST_IMAGE_BEGIN(image) \
    .section .rodata.guest, "a"; \
    .balign 16;                  \
    .globl image;                \
    .type image, @object;        \
    image:
#define GUEST_IMAGE_END(image) \
    .globl image##_end;        \
    image##_end:;              \
    .size image, image##_end - image
#endif
