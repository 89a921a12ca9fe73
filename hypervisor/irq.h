/* Interrupts: the GSI routing table (interrupt-controller pins plus MSI
 * routes allocated at runtime), line-level injection and irqfds.
 *
 * Without an accelerator VM (unit tests), the router records line levels and
 * MSI messages instead, so devices can be tested for the interrupts they raise. */
#pragma once
#include "hypervisor/accel.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct IrqRouter IrqRouter;

/* base: the fixed irqchip routes of the platform (x86: PIC+IOAPIC pins for
 * GSI 0-23). MSI routes are allocated from first_msi_gsi up to max_gsi. */
IrqRouter *irq_router_new(AccelVm *avm, const AccelRoute *base, size_t n_base,
                          uint32_t first_msi_gsi, uint32_t max_gsi);
void irq_router_free(IrqRouter *r);

/* Drive a level-triggered line (edge: set then clear). Thread-safe. */
void irq_line_set(IrqRouter *r, uint32_t gsi, bool level);
void irq_line_pulse(IrqRouter *r, uint32_t gsi);

/* Deliver one MSI message now (no route needed). */
void irq_msi_send(IrqRouter *r, uint64_t addr, uint32_t data, uint32_t devid, bool has_devid);

/* Allocate a GSI routed to an MSI message (MSI-X vectors, VFIO interrupts).
 * The route takes effect at the next irq_router_commit(). */
bool irq_msi_route_add(IrqRouter *r, uint64_t addr, uint32_t data, uint32_t devid,
                       bool has_devid, uint32_t *gsi, GError **errp);
bool irq_msi_route_update(IrqRouter *r, uint32_t gsi, uint64_t addr, uint32_t data,
                          uint32_t devid, bool has_devid, GError **errp);
void irq_route_remove(IrqRouter *r, uint32_t gsi);
/* Push the routing table to the accelerator if it changed. */
bool irq_router_commit(IrqRouter *r, GError **errp);

/* An eventfd bound to a GSI: a write to it injects the interrupt in the
 * kernel without involving a VMM thread. */
typedef struct IrqFd IrqFd;
IrqFd *irqfd_new(IrqRouter *r, uint32_t gsi, GError **errp);
void irqfd_free(IrqFd *f);
int irqfd_fd(IrqFd *f);
/* Raise the interrupt (write 1 to the eventfd). Async-signal-safe. */
void irqfd_trigger(IrqFd *f);

/* Test inspection (only meaningful without an accelerator VM). */
bool irq_router_test_level(IrqRouter *r, uint32_t gsi);
unsigned irq_router_test_msi_count(IrqRouter *r);
