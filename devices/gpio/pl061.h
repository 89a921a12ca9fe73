/* ARM PrimeCell GPIO controller (PL061), the aarch64 machine's power button:
 * the device tree wires one of its input lines to a gpio-keys KEY_POWER
 * (Linux: gpio-pl061 and gpio_keys). */
#pragma once
#include "hypervisor/device.h"

#include <stdbool.h>
#include <stdint.h>

#define PL061_MMIO_SIZE 0x1000u
#define PL061_LINES 8u

typedef struct Pl061Config {
    uint64_t base;  /* MMIO address of the 4 KiB register page */
    uint32_t gsi;   /* interrupt line, level-triggered, active high */
} Pl061Config;

extern const DeviceOps pl061_ops;

/* Drive input line `line` (< PL061_LINES) from outside the guest. A line
 * the guest made an output ignores it until it is an input again.
 * Thread-safe. */
void pl061_set_input(Device *gpio, unsigned line, bool level);

/* Press a key wired to input `line`: raise it, and lower it again once the
 * guest has read the pressed level from GPIODATA and at least
 * PL061_KEY_HOLD_MS have passed (at most PL061_KEY_MAX_HOLD_MS), so that a
 * driver that debounces and then samples the line sees both edges.
 * Control loop thread. */
#define PL061_KEY_HOLD_MS 100u
#define PL061_KEY_MAX_HOLD_MS 5000u
void pl061_press_key(Device *gpio, unsigned line);

/* The controller's state (pl061_state.c). RIS holds the latched edge bits;
 * the level bits are recomputed from the pins after load. */
typedef struct Pl061State {
    uint8_t data;   /* GPIODATA as written: the levels of output lines */
    uint8_t dir;    /* GPIODIR: 1 = output */
    uint8_t is;     /* GPIOIS: 1 = level-sensitive */
    uint8_t ibe;    /* GPIOIBE: 1 = both edges */
    uint8_t iev;    /* GPIOIEV: 1 = rising edge / high level */
    uint8_t ie;     /* GPIOIE: interrupt mask, 1 = enabled */
    uint8_t ris;    /* latched edge interrupts */
    uint8_t afsel;  /* GPIOAFSEL (no alternate functions behind it) */
    uint8_t input;  /* the levels the VMM drives on the lines */
    uint8_t held;   /* pressed keys not yet released (pl061_press_key) */
    uint8_t seen;   /* held keys whose pressed level the guest has read */
} Pl061State;

extern const StateDesc pl061_state;
