/* Pieces of direct kernel boot every arch shares: opening the payload's
 * files, reading them straight into guest RAM, and placing the initramfs as
 * high as it fits. Errors name the file and say why. */
#pragma once
#include "hypervisor/memory.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Open a regular file read-only; `what` ("kernel", "initramfs") starts the
 * error message. Returns the fd (close it) or -1. */
int payload_open(const char *path, const char *what, uint64_t *size, GError **errp);

/* Read file bytes [off, off+len) into guest RAM at gpa. */
bool payload_load(GuestMemory *mem, int fd, const char *path, uint64_t off, uint64_t len, Gpa gpa,
                  GError **errp);

/* Where an initrd of `size` bytes goes: the highest page-aligned address
 * with [addr, addr+size) below `limit` (exclusive) and above `floor`.
 * False if it does not fit. */
bool payload_place_initrd(uint64_t size, uint64_t floor, uint64_t limit, uint64_t *addr);

/* Open, place (payload_place_initrd) and load the initramfs at path. */
bool payload_load_initrd(GuestMemory *mem, const char *path, uint64_t floor, uint64_t limit,
                         uint64_t *addr, uint64_t *size, GError **errp);
