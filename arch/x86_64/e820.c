#include "arch/x86_64/e820.h"

#include "arch/x86_64/layout.h"

#include <string.h>

bool e820_add(E820Map *map, uint64_t addr, uint64_t size, uint32_t type)
{
    if (map->count == E820_MAX_ENTRIES || size == 0 || addr + size < addr)
        return false;
    if (map->count) {
        const E820Entry *last = &map->entries[map->count - 1];
        if (addr < last->addr + last->size)
            return false;
    }
    map->entries[map->count++] = (E820Entry){ .addr = addr, .size = size, .type = type };
    return true;
}

uint64_t e820_ram_below_4g(uint64_t ram_size)
{
    return ram_size < X86_MMIO_HOLE_START ? ram_size : X86_MMIO_HOLE_START;
}

uint64_t e820_ram_above_4g(uint64_t ram_size)
{
    return ram_size - e820_ram_below_4g(ram_size);
}

void e820_build(E820Map *map, uint64_t ram_size)
{
    memset(map, 0, sizeof *map);
    uint64_t below = e820_ram_below_4g(ram_size);
    uint64_t above = e820_ram_above_4g(ram_size);

    /* 0xA0000-0xFFFFF (VGA window, option ROMs, BIOS) is backed by RAM but
     * not listed: guests treat an unlisted range as a hole, as on hardware. */
    e820_add(map, 0, X86_LOW_RAM_END, E820_RAM);
    e820_add(map, X86_EBDA_ADDR, 0xa0000 - X86_EBDA_ADDR, E820_RESERVED);
    if (below > X86_HIGH_RAM_START)
        e820_add(map, X86_HIGH_RAM_START, below - X86_HIGH_RAM_START, E820_RAM);
    if (above)
        e820_add(map, X86_RAM_ABOVE_4G_START, above, E820_RAM);
}
