/* The guest's physical memory map (BIOS e820 style), built once from the RAM
 * layout and handed to the kernel through boot_params (bzImage) or the PVH
 * start info. Pure data: no guest memory is touched here. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { E820_RAM = 1, E820_RESERVED = 2 };

#define E820_MAX_ENTRIES 32

typedef struct E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} E820Entry;

typedef struct E820Map {
    E820Entry entries[E820_MAX_ENTRIES];
    size_t count;
} E820Map;

/* Add a range; ranges must be added in ascending, non-overlapping order.
 * False if the table is full, the range is empty or out of order. */
bool e820_add(E820Map *map, uint64_t addr, uint64_t size, uint32_t type);

/* The map for ram_size bytes of RAM on the x86_64 machine (layout.h): low
 * RAM below the EBDA, the EBDA reserved, RAM from 1 MiB up to the 32-bit hole
 * and the rest above 4 GiB. ram_size must be at least 2 MiB. */
void e820_build(E820Map *map, uint64_t ram_size);

/* How much of ram_size lies below / above the 32-bit MMIO hole. */
uint64_t e820_ram_below_4g(uint64_t ram_size);
uint64_t e820_ram_above_4g(uint64_t ram_size);
