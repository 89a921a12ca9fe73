/* virtio-console (virtio 1.2 section 5.3): one console port, without
 * VIRTIO_CONSOLE_F_MULTIPORT, so two queues, receiveq0 (host -> guest) and
 * transmitq0 (guest -> host), joined to a character backend (chardev.h):
 *
 *     device_create(vm, &virtio_console_ops, "console0",
 *                   &(ConsoleConfig){ .mode = CONSOLE_MODE_PTY }, errp)
 *
 * cfg->mode must not be CONSOLE_MODE_OFF (then no device is created at all).
 * Needs the PCI host bridge "pci0". In the guest it is /dev/hvc0.
 *
 * Features: VIRTIO_CONSOLE_F_EMERG_WRITE always (the driver may write single
 * characters to the emerg_wr config field, even before DRIVER_OK), and
 * VIRTIO_CONSOLE_F_SIZE when the backend is nimbus's own terminal (its
 * window size at realize time). */
#pragma once
#include "hypervisor/device.h"

#include <stdint.h>

#define VIRTIO_CONSOLE_QUEUE_SIZE 256
#define VIRTIO_CONSOLE_RX_QUEUE 0
#define VIRTIO_CONSOLE_TX_QUEUE 1

/* Feature bits (virtio 1.2 5.3.3). */
#define VIRTIO_CONSOLE_F_SIZE 0
#define VIRTIO_CONSOLE_F_MULTIPORT 1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* Device configuration layout (little-endian). */
#define VIRTIO_CONSOLE_CFG_COLS 0         /* le16 */
#define VIRTIO_CONSOLE_CFG_ROWS 2         /* le16 */
#define VIRTIO_CONSOLE_CFG_MAX_NR_PORTS 4 /* le32, MULTIPORT only */
#define VIRTIO_CONSOLE_CFG_EMERG_WR 8     /* le32, write-only */
#define VIRTIO_CONSOLE_CFG_SIZE 12

extern const DeviceOps virtio_console_ops;

/* The pty's slave path when the backend is a pty (for the API's vm.info),
 * NULL otherwise. Valid while the device lives. */
const char *console_pty_path(Device *d);

/* Byte counters (relaxed; for metrics and tests). */
typedef struct ConsoleCounters {
    uint64_t tx_bytes;     /* guest -> backend, emergency writes included */
    uint64_t rx_bytes;     /* backend -> guest */
    uint64_t rx_dropped;   /* input the guest had no buffer for (after a reset) */
} ConsoleCounters;
void console_counters(Device *d, ConsoleCounters *out);

/* State (console_state.c): the virtio core only; see there. */
extern const StateDesc virtio_console_state;
