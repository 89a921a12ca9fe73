/* Building ACPI tables (ACPI 6.x): the common 36-byte System Description
 * Table header, little-endian field appends, checksums and the RSDP. Arches
 * compose their tables (MADT, FADT, DSDT, ...) from these pieces. */
#pragma once
#include <glib.h>
#include <stdint.h>

#define ACPI_HEADER_SIZE 36
#define ACPI_RSDP_SIZE 36
#define ACPI_OEM_ID "NIMBUS"
#define ACPI_OEM_TABLE_ID "NIMBUSVM"

/* A table with its header filled except length and checksum. */
GByteArray *acpi_table_new(const char signature[4], uint8_t revision);
/* Set the header's length and checksum; call after the last append. */
void acpi_table_finish(GByteArray *t);

void acpi_append_u8(GByteArray *t, uint8_t v);
void acpi_append_u16(GByteArray *t, uint16_t v);
void acpi_append_u32(GByteArray *t, uint32_t v);
void acpi_append_u64(GByteArray *t, uint64_t v);
void acpi_append_zeros(GByteArray *t, size_t n);
/* Overwrite a field already appended (offsets from the table start). */
void acpi_patch_u32(GByteArray *t, size_t off, uint32_t v);
void acpi_patch_u64(GByteArray *t, size_t off, uint64_t v);

/* Two's complement of the byte sum: the value that makes the sum zero. */
uint8_t acpi_checksum(const uint8_t *p, size_t len);

/* RSDP revision 2 pointing to the XSDT at xsdt_addr. */
GByteArray *acpi_rsdp_new(uint64_t xsdt_addr);
