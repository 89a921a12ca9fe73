/* Little-endian loads and stores at unaligned addresses: the layout of guest
 * tables (boot params, MP table, ACPI) and wire formats is little-endian
 * whatever the host's byte order. */
#pragma once
#include <stdint.h>

static inline void le_store16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void le_store32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le_store64(uint8_t *p, uint64_t v)
{
    le_store32(p, (uint32_t)v);
    le_store32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t le_load16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le_load32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le_load64(const uint8_t *p)
{
    return le_load32(p) | (uint64_t)le_load32(p + 4) << 32;
}
