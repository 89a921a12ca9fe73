/* Internal to migration/: bounds-checked little-endian reader over an
 * untrusted buffer, and appenders for GByteArray. Every getter fails (returns
 * false, leaves the output alone) instead of reading past the end. */
#pragma once
#include "hypervisor/le.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef struct WireReader {
    const uint8_t *buf;
    size_t len;
    size_t pos;
} WireReader;

static inline WireReader wire_reader(const uint8_t *buf, size_t len)
{
    return (WireReader){ .buf = buf, .len = len, .pos = 0 };
}

static inline size_t wire_left(const WireReader *r)
{
    return r->len - r->pos;
}

/* Take n bytes: *p points at them. */
static inline bool wire_take(WireReader *r, size_t n, const uint8_t **p)
{
    if (n > wire_left(r))
        return false;
    *p = r->buf + r->pos;
    r->pos += n;
    return true;
}

/* A sub-reader over the next n bytes. */
static inline bool wire_sub(WireReader *r, size_t n, WireReader *sub)
{
    const uint8_t *p;
    if (!wire_take(r, n, &p))
        return false;
    *sub = wire_reader(p, n);
    return true;
}

static inline bool wire_u8(WireReader *r, uint8_t *v)
{
    const uint8_t *p;
    if (!wire_take(r, 1, &p))
        return false;
    *v = p[0];
    return true;
}

static inline bool wire_u16(WireReader *r, uint16_t *v)
{
    const uint8_t *p;
    if (!wire_take(r, 2, &p))
        return false;
    *v = le_load16(p);
    return true;
}

static inline bool wire_u32(WireReader *r, uint32_t *v)
{
    const uint8_t *p;
    if (!wire_take(r, 4, &p))
        return false;
    *v = le_load32(p);
    return true;
}

static inline void wire_put_u8(GByteArray *out, uint8_t v)
{
    g_byte_array_append(out, &v, 1);
}

static inline void wire_put_u16(GByteArray *out, uint16_t v)
{
    uint8_t b[2];
    le_store16(b, v);
    g_byte_array_append(out, b, sizeof b);
}

static inline void wire_put_u32(GByteArray *out, uint32_t v)
{
    uint8_t b[4];
    le_store32(b, v);
    g_byte_array_append(out, b, sizeof b);
}

static inline void wire_put_u64(GByteArray *out, uint64_t v)
{
    uint8_t b[8];
    le_store64(b, v);
    g_byte_array_append(out, b, sizeof b);
}

/* Append a u32 length placeholder; returns its offset for wire_patch_len(). */
static inline size_t wire_reserve_len(GByteArray *out)
{
    size_t at = out->len;
    wire_put_u32(out, 0);
    return at;
}

/* Patch the placeholder at `at` with the number of bytes written after it. */
static inline void wire_patch_len(GByteArray *out, size_t at)
{
    size_t n = out->len - at - 4;
    g_assert(n <= UINT32_MAX);
    le_store32(out->data + at, (uint32_t)n);
}

/* Names and ids on the wire: 1..STATE_NAME_MAX printable ASCII, no spaces. */
static inline bool wire_name_ok(const uint8_t *p, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == '"' || p[i] == '\\')
            return false;
    return true;
}
