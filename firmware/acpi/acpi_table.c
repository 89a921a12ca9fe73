#include "firmware/acpi/acpi_table.h"

#include "hypervisor/le.h"

#include <string.h>

#define HDR_LENGTH 4
#define HDR_CHECKSUM 9
#define ACPI_CREATOR_ID "NMBS"
#define ACPI_CREATOR_REVISION 1

uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += p[i];
    return (uint8_t)-sum;
}

void acpi_append_u8(GByteArray *t, uint8_t v)
{
    g_byte_array_append(t, &v, 1);
}

void acpi_append_u16(GByteArray *t, uint16_t v)
{
    uint8_t b[2];
    le_store16(b, v);
    g_byte_array_append(t, b, sizeof b);
}

void acpi_append_u32(GByteArray *t, uint32_t v)
{
    uint8_t b[4];
    le_store32(b, v);
    g_byte_array_append(t, b, sizeof b);
}

void acpi_append_u64(GByteArray *t, uint64_t v)
{
    uint8_t b[8];
    le_store64(b, v);
    g_byte_array_append(t, b, sizeof b);
}

void acpi_append_zeros(GByteArray *t, size_t n)
{
    size_t old = t->len;
    g_byte_array_set_size(t, (guint)(old + n));
    memset(t->data + old, 0, n);
}

void acpi_patch_u32(GByteArray *t, size_t off, uint32_t v)
{
    g_assert(off + 4 <= t->len);
    le_store32(t->data + off, v);
}

void acpi_patch_u64(GByteArray *t, size_t off, uint64_t v)
{
    g_assert(off + 8 <= t->len);
    le_store64(t->data + off, v);
}

GByteArray *acpi_table_new(const char signature[4], uint8_t revision)
{
    GByteArray *t = g_byte_array_sized_new(256);
    g_byte_array_append(t, (const guint8 *)signature, 4);
    acpi_append_u32(t, 0); /* length, set by acpi_table_finish */
    acpi_append_u8(t, revision);
    acpi_append_u8(t, 0); /* checksum */
    g_byte_array_append(t, (const guint8 *)ACPI_OEM_ID, 6);
    g_byte_array_append(t, (const guint8 *)ACPI_OEM_TABLE_ID, 8);
    acpi_append_u32(t, 1); /* OEM revision */
    g_byte_array_append(t, (const guint8 *)ACPI_CREATOR_ID, 4);
    acpi_append_u32(t, ACPI_CREATOR_REVISION);
    return t;
}

void acpi_table_finish(GByteArray *t)
{
    acpi_patch_u32(t, HDR_LENGTH, t->len);
    t->data[HDR_CHECKSUM] = 0;
    t->data[HDR_CHECKSUM] = acpi_checksum(t->data, t->len);
}

GByteArray *acpi_rsdp_new(uint64_t xsdt_addr)
{
    GByteArray *r = g_byte_array_sized_new(ACPI_RSDP_SIZE);
    g_byte_array_append(r, (const guint8 *)"RSD PTR ", 8);
    acpi_append_u8(r, 0); /* checksum of the first 20 bytes */
    g_byte_array_append(r, (const guint8 *)ACPI_OEM_ID, 6);
    acpi_append_u8(r, 2);  /* revision: ACPI 2.0+ (XSDT) */
    acpi_append_u32(r, 0); /* RSDT address: none, the XSDT is used */
    acpi_append_u32(r, ACPI_RSDP_SIZE);
    acpi_append_u64(r, xsdt_addr);
    acpi_append_u8(r, 0); /* extended checksum */
    acpi_append_zeros(r, 3);
    r->data[8] = acpi_checksum(r->data, 20);
    r->data[32] = acpi_checksum(r->data, ACPI_RSDP_SIZE);
    return r;
}
