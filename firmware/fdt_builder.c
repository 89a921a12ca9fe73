/* The device-tree builder (fdt_builder.h) on libfdt's sequential-write API,
 * which lays nodes and properties out in the order they are written (the
 * read-write API puts each new node and property first, so a tree would come
 * out backwards, and the kernel numbers CPUs in tree order).
 *
 * That API trusts its caller, so the rules a valid blob needs are checked
 * here: names unique within a node, a node's properties before its children,
 * every node closed. When libfdt reports that the buffer is full we move the
 * blob into one twice the size (fdt_resize) and retry, up to the limit.
 * fdt_finish() leaves the blob compact, with the strings right after the
 * structure. */
#include "firmware/fdt_builder.h"

#include "hypervisor/error.h"

#include <libfdt.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>

#define FDTB_MIN_SIZE 4096u

/* What is known about one open node. */
typedef struct FdtbNode {
    GHashTable *names; /* of its properties and children */
    bool has_child;
} FdtbNode;

struct FdtBuilder {
    uint8_t *buf;
    size_t size;     /* of buf */
    size_t max_size; /* limit of buf */
    GString *path;   /* of the current node: "/" or "/a/b" */
    GArray *open;    /* FdtbNode, root first */
    bool finished;
    uint32_t next_phandle;
    GError *error; /* the first failure; sticky */
};

/* Record the first error, prefixed with the current node's path. */
static bool G_GNUC_PRINTF(2, 3) fail(FdtBuilder *b, const char *fmt, ...)
{
    if (b->error)
        return false;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *detail = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(&b->error, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "fdt: node %s: %s", b->path->str, detail);
    return false;
}

static void node_clear(void *p)
{
    g_hash_table_destroy(((FdtbNode *)p)->names);
}

static void node_push(FdtBuilder *b)
{
    FdtbNode n = { .names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL) };
    g_array_append_val(b->open, n);
}

static FdtbNode *node_top(FdtBuilder *b)
{
    return &g_array_index(b->open, FdtbNode, b->open->len - 1);
}

FdtBuilder *fdtb_new(size_t max_size)
{
    FdtBuilder *b = g_new0(FdtBuilder, 1);
    b->max_size = MIN(MAX(max_size, FDTB_MIN_SIZE), (size_t)INT_MAX);
    b->size = FDTB_MIN_SIZE;
    b->buf = g_malloc0(b->size);
    b->path = g_string_new("/");
    b->open = g_array_new(FALSE, FALSE, sizeof(FdtbNode));
    g_array_set_clear_func(b->open, node_clear);
    b->next_phandle = 1;
    int ret = fdt_create(b->buf, (int)b->size);
    if (ret == 0)
        ret = fdt_finish_reservemap(b->buf);
    if (ret == 0)
        ret = fdt_begin_node(b->buf, "");
    if (ret < 0)
        fail(b, "empty tree: %s", fdt_strerror(ret));
    node_push(b);
    return b;
}

void fdtb_free(FdtBuilder *b)
{
    if (!b)
        return;
    g_free(b->buf);
    g_string_free(b->path, TRUE);
    g_array_unref(b->open);
    g_clear_error(&b->error);
    g_free(b);
}

/* Double the buffer (within the limit) after libfdt ran out of space. */
static bool grow(FdtBuilder *b)
{
    if (b->size >= b->max_size)
        return false;
    size_t size = MIN(b->size * 2, b->max_size);
    uint8_t *buf = g_malloc0(size);
    if (fdt_resize(b->buf, buf, (int)size) < 0) {
        g_free(buf);
        return false;
    }
    g_free(b->buf);
    b->buf = buf;
    b->size = size;
    return true;
}

/* Whether more may be written; records why not. */
static bool writable(FdtBuilder *b)
{
    if (b->error)
        return false;
    if (b->finished)
        return fail(b, "tree already finished");
    return true;
}

/* Claim name in the current node (children and properties share a
 * namespace in a DTS, and dtc rejects duplicates of either). */
static bool claim_name(FdtBuilder *b, const char *kind, const char *name)
{
    FdtbNode *n = node_top(b);
    if (!g_hash_table_add(n->names, g_strdup(name)))
        return fail(b, "%s %s exists", kind, name);
    return true;
}

bool fdtb_begin_node(FdtBuilder *b, const char *name)
{
    if (!writable(b))
        return false;
    if (!name || !*name || strchr(name, '/') || strlen(name) > 255)
        return fail(b, "invalid child node name \"%s\"", name ? name : "(null)");
    if (!claim_name(b, "child", name))
        return false;
    int ret;
    while ((ret = fdt_begin_node(b->buf, name)) == -FDT_ERR_NOSPACE && grow(b))
        ;
    if (ret == -FDT_ERR_NOSPACE)
        return fail(b, "child %s does not fit in the size limit", name);
    if (ret < 0)
        return fail(b, "child %s: %s", name, fdt_strerror(ret));
    node_top(b)->has_child = true;
    node_push(b);
    if (b->open->len > 2)
        g_string_append_c(b->path, '/');
    g_string_append(b->path, name);
    return true;
}

bool fdtb_begin_nodef(FdtBuilder *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *name = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return fdtb_begin_node(b, name);
}

bool fdtb_end_node(FdtBuilder *b)
{
    if (!writable(b))
        return false;
    if (b->open->len < 2)
        return fail(b, "end of node without a begin");
    int ret;
    while ((ret = fdt_end_node(b->buf)) == -FDT_ERR_NOSPACE && grow(b))
        ;
    if (ret < 0)
        return fail(b, "end: %s", fdt_strerror(ret));
    const char *slash = strrchr(b->path->str, '/');
    g_string_truncate(b->path, MAX((gsize)(slash - b->path->str), 1));
    g_array_set_size(b->open, b->open->len - 1);
    return true;
}

bool fdtb_prop(FdtBuilder *b, const char *name, const void *val, size_t len)
{
    if (!writable(b))
        return false;
    if (!name || !*name)
        return fail(b, "invalid property name \"%s\"", name ? name : "(null)");
    if (len > b->max_size)
        return fail(b, "property %s: %zu bytes, larger than the size limit", name, len);
    if (node_top(b)->has_child)
        return fail(b, "property %s after a child node", name);
    if (!claim_name(b, "property", name))
        return false;
    int ret;
    while ((ret = fdt_property(b->buf, name, val, (int)len)) == -FDT_ERR_NOSPACE && grow(b))
        ;
    if (ret == -FDT_ERR_NOSPACE)
        return fail(b, "property %s: %zu bytes do not fit in the size limit", name, len);
    if (ret < 0)
        return fail(b, "property %s: %s", name, fdt_strerror(ret));
    return true;
}

bool fdtb_prop_empty(FdtBuilder *b, const char *name)
{
    return fdtb_prop(b, name, NULL, 0);
}

bool fdtb_prop_u32(FdtBuilder *b, const char *name, uint32_t v)
{
    return fdtb_prop_cells(b, name, &v, 1);
}

bool fdtb_prop_u64(FdtBuilder *b, const char *name, uint64_t v)
{
    return fdtb_prop_u64s(b, name, &v, 1);
}

bool fdtb_prop_string(FdtBuilder *b, const char *name, const char *s)
{
    return fdtb_prop(b, name, s, strlen(s) + 1);
}

bool fdtb_prop_strings(FdtBuilder *b, const char *name, ...)
{
    g_autoptr(GByteArray) val = g_byte_array_new();
    va_list ap;
    va_start(ap, name);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        g_byte_array_append(val, (const uint8_t *)s, (guint)strlen(s) + 1);
    va_end(ap);
    return fdtb_prop(b, name, val->data, val->len);
}

/* n values of width 4 or 8 bytes, host order, stored big-endian. */
static bool prop_be(FdtBuilder *b, const char *name, const void *vals, size_t n, size_t width)
{
    if (n > b->max_size / width)
        return fail(b, "property %s: %zu values, larger than the size limit", name, n);
    g_autofree uint8_t *be = g_malloc(MAX(n * width, 1));
    for (size_t i = 0; i < n; i++) {
        uint64_t v = width == 4 ? ((const uint32_t *)vals)[i] : ((const uint64_t *)vals)[i];
        for (size_t k = 0; k < width; k++)
            be[i * width + k] = (uint8_t)(v >> (8 * (width - 1 - k)));
    }
    return fdtb_prop(b, name, be, n * width);
}

bool fdtb_prop_cells(FdtBuilder *b, const char *name, const uint32_t *cells, size_t n)
{
    return prop_be(b, name, cells, n, 4);
}

bool fdtb_prop_u64s(FdtBuilder *b, const char *name, const uint64_t *vals, size_t n)
{
    return prop_be(b, name, vals, n, 8);
}

uint32_t fdtb_alloc_phandle(FdtBuilder *b)
{
    return b->next_phandle++;
}

uint32_t fdtb_phandle(FdtBuilder *b)
{
    uint32_t ph = b->next_phandle;
    if (!fdtb_prop_u32(b, "phandle", ph))
        return 0;
    b->next_phandle++;
    return ph;
}

GBytes *fdtb_finish(FdtBuilder *b, GError **errp)
{
    if (writable(b) && b->open->len != 1)
        fail(b, "node not closed");
    int ret = 0;
    if (!b->error) {
        while ((ret = fdt_end_node(b->buf)) == -FDT_ERR_NOSPACE && grow(b))
            ;
        if (ret == 0) {
            while ((ret = fdt_finish(b->buf)) == -FDT_ERR_NOSPACE && grow(b))
                ;
        }
        if (ret < 0)
            fail(b, "finish: %s", fdt_strerror(ret));
        b->finished = true;
    }
    if (b->error) {
        g_propagate_error(errp, g_error_copy(b->error));
        return NULL;
    }
    return g_bytes_new(b->buf, fdt_totalsize(b->buf));
}

const void *fdtb_blob_prop(GBytes *blob, const char *path, const char *name, size_t *len)
{
    gsize size;
    const void *fdt = g_bytes_get_data(blob, &size);
    *len = 0;
    if (size < sizeof(struct fdt_header) || fdt_check_header(fdt) != 0 ||
        fdt_totalsize(fdt) > size)
        return NULL;
    int node = fdt_path_offset(fdt, path);
    if (node < 0)
        return NULL;
    int plen;
    const void *val = fdt_getprop(fdt, node, name, &plen);
    if (!val)
        return NULL;
    *len = (size_t)plen;
    return val;
}
