/* A checked builder for flattened device trees (DTB), over libfdt. The only
 * module that calls fdt_*: arch code describes its machine through this.
 *
 * The tree is written top-down in the order of a DTS file: fdtb_begin_node()
 * opens a child of the current node, properties go to the current node and
 * must come before its children, fdtb_end_node() returns to the parent. The
 * blob keeps that order and grows as needed up to the size limit given to
 * fdtb_new().
 *
 * Errors are sticky: the first failure (a name that is not unique, a
 * property after a child, a value that does not fit, unbalanced nodes) is
 * kept with the node path and property name, every later call does nothing
 * and returns false, and fdtb_finish() reports it. So a describer can make
 * its calls in a row and check once at the end. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct FdtBuilder FdtBuilder;

/* An empty tree (just the root node, which is current). max_size bounds the
 * finished blob; at least 4 KiB. */
FdtBuilder *fdtb_new(size_t max_size);
void fdtb_free(FdtBuilder *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FdtBuilder, fdtb_free)

/* Open the child `name` ("node" or "node@unit") of the current node. */
bool fdtb_begin_node(FdtBuilder *b, const char *name);
/* Close the current node (not the root). */
bool fdtb_end_node(FdtBuilder *b);
/* printf-style variant for unit addresses: fdtb_begin_nodef(b, "cpu@%x", id). */
bool fdtb_begin_nodef(FdtBuilder *b, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Properties of the current node. Values are stored big-endian. */
bool fdtb_prop(FdtBuilder *b, const char *name, const void *val, size_t len);
bool fdtb_prop_empty(FdtBuilder *b, const char *name);
bool fdtb_prop_u32(FdtBuilder *b, const char *name, uint32_t v);
bool fdtb_prop_u64(FdtBuilder *b, const char *name, uint64_t v);
bool fdtb_prop_string(FdtBuilder *b, const char *name, const char *s);
/* A string list: the strings up to NULL, each NUL-terminated. */
bool fdtb_prop_strings(FdtBuilder *b, const char *name, ...) G_GNUC_NULL_TERMINATED;
/* n 32-bit cells, given in host order. */
bool fdtb_prop_cells(FdtBuilder *b, const char *name, const uint32_t *cells, size_t n);
/* n 64-bit values as two cells each (reg and ranges with 2-cell addresses). */
bool fdtb_prop_u64s(FdtBuilder *b, const char *name, const uint64_t *vals, size_t n);

/* Give the current node a new phandle and return it (0 after an error). */
uint32_t fdtb_phandle(FdtBuilder *b);
/* Reserve a phandle for a node written later, so that properties written
 * before it can refer to it; that node sets it with
 * fdtb_prop_u32(b, "phandle", ph). */
uint32_t fdtb_alloc_phandle(FdtBuilder *b);

/* Every node but the root closed: the compact blob. Call once; the builder
 * takes no more writes after it and is freed with fdtb_free() either way. */
GBytes *fdtb_finish(FdtBuilder *b, GError **errp);

/* Read back a property of a finished blob (tests, tools): its value or NULL
 * (len set) if the node or property does not exist or the blob is bad. */
const void *fdtb_blob_prop(GBytes *blob, const char *path, const char *name, size_t *len);
