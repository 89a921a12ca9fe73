/* A small AML (ACPI Machine Language) encoder for the DSDT: just the terms
 * a VMM's namespace needs (Scope, Device, Name, integers, strings, EISA ids,
 * resource templates). Each function appends the encoding of one term to
 * `out`; containers take their already-encoded body. Names are 1-4
 * characters (padded with '_') or a path beginning with '\\'. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

void aml_integer(GByteArray *out, uint64_t v);
void aml_string(GByteArray *out, const char *s);
/* A 7-character PNP id ("PNP0501") compressed to its 32-bit EISA form. */
void aml_eisaid(GByteArray *out, const char *id);
void aml_name_string(GByteArray *out, const char *name);

/* Name(NAME, <value>) where value is an already encoded data object. */
void aml_name(GByteArray *out, const char *name, const GByteArray *value);
void aml_name_integer(GByteArray *out, const char *name, uint64_t v);
void aml_name_eisaid(GByteArray *out, const char *name, const char *id);
void aml_name_string_value(GByteArray *out, const char *name, const char *s);

void aml_scope(GByteArray *out, const char *name, const GByteArray *body);
void aml_device(GByteArray *out, const char *name, const GByteArray *body);
/* Package(){ elements } from already encoded elements. */
void aml_package(GByteArray *out, unsigned n_elements, const GByteArray *elements);
/* Buffer(){ bytes } */
void aml_buffer(GByteArray *out, const uint8_t *bytes, size_t len);

/* Method(NAME, n_args, NotSerialized) { body } */
void aml_method(GByteArray *out, const char *name, unsigned n_args, const GByteArray *body);
/* If (predicate) { body }, predicate already encoded. */
void aml_if(GByteArray *out, const GByteArray *predicate, const GByteArray *body);
/* LEqual(a, b), operands already encoded. */
void aml_lequal(GByteArray *out, const GByteArray *a, const GByteArray *b);
/* ArgN (0..6) as an operand. */
void aml_arg(GByteArray *out, unsigned n);
/* Notify(object-path, value) */
void aml_notify(GByteArray *out, const char *object, uint64_t value);

/* Resource descriptors, appended to a resource template body; close the
 * template with aml_resource_template(), which adds the end tag. */
void aml_res_io(GByteArray *res, uint16_t base, uint8_t len);
void aml_res_irq(GByteArray *res, uint8_t irq); /* IRQNoFlags: ISA edge, active high */
/* Interrupt(ResourceConsumer, Edge or Level, ActiveHigh, Exclusive) { gsi } */
void aml_res_ext_irq(GByteArray *res, uint32_t gsi, bool edge);
/* Address space descriptors a bridge produces (MinFixed, MaxFixed, PosDecode):
 * bus numbers, an I/O range, 32-bit and 64-bit non-cacheable memory. */
void aml_res_bus_range(GByteArray *res, uint16_t first, uint16_t last);
void aml_res_word_io(GByteArray *res, uint16_t first, uint16_t last);
void aml_res_dword_memory(GByteArray *res, uint32_t first, uint32_t last);
void aml_res_qword_memory(GByteArray *res, uint64_t first, uint64_t last);
void aml_resource_template(GByteArray *out, const GByteArray *res);

/* The PkgLength encoding of a package whose contents are `len` bytes long
 * (the length field counts itself). Exposed for tests. */
size_t aml_pkg_length(uint8_t buf[4], size_t len);
