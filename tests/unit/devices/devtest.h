/* A machine for device unit tests: the fake accelerator, a control loop, a
 * Vm with an IRQ router, and helpers that play the guest (port and MMIO
 * accesses) and the control thread (running the loop's ready sources). */
#pragma once
#include "hypervisor/vm.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct DevTest {
    Accel *accel;
    EventLoop *loop;
    Vm *vm;
    /* What the VM's stop callback saw. */
    unsigned stops;
    VmStopReason stop_reason;
    char *stop_detail;
} DevTest;

DevTest *devtest_new(void);
void devtest_free(DevTest *t);

/* Guest port I/O (little-endian, 1..4 bytes), through the real dispatcher. */
uint32_t devtest_in(DevTest *t, uint16_t port, unsigned size);
void devtest_out(DevTest *t, uint16_t port, uint32_t value, unsigned size);
uint8_t devtest_inb(DevTest *t, uint16_t port);
void devtest_outb(DevTest *t, uint16_t port, uint8_t value);
uint8_t devtest_mmio_readb(DevTest *t, uint64_t addr);
void devtest_mmio_writeb(DevTest *t, uint64_t addr, uint8_t value);

/* The level the device drives on gsi, as the accelerator saw it. */
bool devtest_irq(DevTest *t, uint32_t gsi);
unsigned devtest_irq_edges(DevTest *t, uint32_t gsi);

/* Dispatch every source of the control loop that is ready now. */
void devtest_run_pending(DevTest *t);
/* Run the loop until done(opaque) holds or timeout_ms pass; returns done(). */
bool devtest_run_until(DevTest *t, bool (*done)(void *opaque), void *opaque, unsigned timeout_ms);

/* A connected client of the UNIX socket at path (a socket console backend). */
int devtest_unix_connect(const char *path);

/* Save a's state, load it into b (same type), run b's post_load_all and
 * require b to save the very same bytes. */
void devtest_state_copy(Device *a, Device *b);

/* A fresh temporary directory (removed with its files by devtest_rmdir). */
char *devtest_tmpdir(void);
void devtest_rmdir(const char *dir);
