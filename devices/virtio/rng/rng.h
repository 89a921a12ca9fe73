/* virtio-rng (virtio 1.2 section 5.4): one request queue; each request is a
 * device-writable buffer the device fills with bytes from a host source
 * (RngConfig.src, default /dev/urandom).
 *
 *     device_create(vm, &virtio_rng_ops, "rng0", &(RngConfig){ .src = path }, errp)
 *
 * cfg may be NULL (the default source). Needs the PCI host bridge "pci0". */
#pragma once
#include "hypervisor/device.h"

#define VIRTIO_RNG_DEFAULT_SOURCE "/dev/urandom"
#define VIRTIO_RNG_QUEUE_SIZE 256
/* Most bytes given for one request: bounds the work of one buffer. */
#define VIRTIO_RNG_MAX_REQUEST (64u * 1024u)

extern const DeviceOps virtio_rng_ops;

/* State (rng_state.c): the virtio core only; see there. */
extern const StateDesc virtio_rng_state;
