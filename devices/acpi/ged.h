/* The ACPI hardware-reduced platform controls: the sleep control/status
 * registers (S5 = power off), the reset register, and a Generic Event Device
 * interrupt through which the VMM presses the guest's power button.
 *
 * Register block (1-byte registers, PIO on x86, MMIO elsewhere):
 *   +0 sleep control: SLP_EN (bit 5) with SLP_TYP (bits 2-4) == GED_SLP_TYP_S5
 *      powers the VM off
 *   +1 sleep status:  reads 0 (no wake events)
 *   +2 reset:         writing GED_RESET_VALUE resets the VM
 *   +3 event status:  pending GED events (bit 0: power button), cleared by
 *      the read; the DSDT's _EVT reads it
 * The DSDT (arch) must describe the same values. */
#pragma once
#include "hypervisor/device.h"

#include <stdbool.h>
#include <stdint.h>

#define GED_REGS_SIZE 4
#define GED_REG_SLEEP_CONTROL 0
#define GED_REG_SLEEP_STATUS 1
#define GED_REG_RESET 2
#define GED_REG_EVENT 3
#define GED_SLP_TYP_S5 5
#define GED_RESET_VALUE 0x1
#define GED_EVENT_POWER_BUTTON 0x1

typedef struct GedConfig {
    uint64_t base;
    bool mmio;
    uint32_t gsi; /* edge-triggered, active high */
} GedConfig;

extern const DeviceOps ged_ops;

/* Press the power button: latch the event and pulse the GED interrupt.
 * Thread-safe. */
void ged_press_power_button(Device *ged);

/* The GED's state (ged_state.c): the pending event bits not yet read. */
typedef struct GedState {
    uint8_t events;
} GedState;

extern const StateDesc ged_state;
