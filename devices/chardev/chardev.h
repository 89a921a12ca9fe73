/* Character backends for consoles (the UART now, virtio-console later):
 * where guest output goes and where guest input comes from.
 *
 *   off    - no device is created at all (decided by the machine, not here)
 *   null   - output discarded, no input
 *   tty    - nimbus's stdin/stdout; stdin is put in raw mode while the VM
 *            runs when it is a terminal, and restored at exit
 *   file   - output appended to a file, no input
 *   socket - a listening UNIX socket; one client at a time gets output and
 *            gives input; output while nobody is connected is dropped
 *   pty    - a new pseudo-terminal; its path is logged and kept for the API
 *
 * Output never blocks a vCPU: writes that would block are dropped and counted.
 * Input is read on the event loop given to chardev_new and handed to the
 * receiver in chunks no larger than its can_receive() reports. */
#pragma once
#include "hypervisor/evloop.h"
#include "hypervisor/vm_config.h"

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Chardev Chardev;

/* Room the frontend has for input now (0 stops reading until chardev_accept_input). */
typedef size_t (*ChardevCanReceive)(void *opaque);
typedef void (*ChardevReceive)(void *opaque, const uint8_t *buf, size_t len);

Chardev *chardev_new(const ConsoleConfig *cfg, EventLoop *loop, GError **errp);
void chardev_free(Chardev *c);

/* Thread-safe; never blocks. Returns bytes accepted. */
size_t chardev_write(Chardev *c, const uint8_t *buf, size_t len);

void chardev_set_receiver(Chardev *c, ChardevCanReceive can_receive, ChardevReceive receive,
                          void *opaque);
/* The frontend has room again (e.g. the guest drained its FIFO): resume reading. */
void chardev_accept_input(Chardev *c);

/* The pty's slave path (mode pty), NULL otherwise. */
const char *chardev_pty_path(Chardev *c);
uint64_t chardev_dropped_bytes(Chardev *c);
