/* The state engine: save and load of declarative descriptions in the tagged
 * wire format documented in state.h. Loading treats every byte as hostile:
 * each length is checked against what remains before use, each value against
 * the description, and errors name the description and the field path. */
#include "migration/state.h"

#include "migration/wire.h"

#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <zlib.h>

G_DEFINE_QUARK(nimbus-state-error-quark, state_error)

/* ---- CRC-32 (IEEE 802.3, reflected) ------------------------------------- */

uint32_t state_crc32(uint32_t crc, const uint8_t *buf, size_t len)
{
    /* zlib's CRC-32 is the same IEEE polynomial with the same pre/post
     * inversion (so chaining works alike), computed several bytes at a time:
     * migration checksums every page it sends. */
    while (len) {
        uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;
        crc = (uint32_t)crc32(crc, buf, n);
        buf += n;
        len -= n;
    }
    return crc;
}

/* ---- error paths --------------------------------------------------------- */

/* The field path for error messages: "queues[1].size". */
typedef struct Path {
    const struct Path *up;
    const char *name;
    long index; /* array index of this node, or -1 */
} Path;

static void path_append(GString *s, const Path *p)
{
    if (!p)
        return;
    path_append(s, p->up);
    if (p->name) {
        if (s->len)
            g_string_append_c(s, '.');
        g_string_append(s, p->name);
    }
    if (p->index >= 0)
        g_string_append_printf(s, "[%ld]", p->index);
}

typedef struct LoadCtx {
    const char *top; /* the top-level description's name */
} LoadCtx;

static bool G_GNUC_PRINTF(5, 6)
    fail(GError **errp, const LoadCtx *cx, const Path *p, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autoptr(GString) path = g_string_new(NULL);
    path_append(path, p);
    if (path->len)
        g_set_error(errp, STATE_ERROR, code, "state '%s' field '%s': %s", cx->top, path->str, msg);
    else
        g_set_error(errp, STATE_ERROR, code, "state '%s': %s", cx->top, msg);
    return false;
}

static bool is_scalar(unsigned type)
{
    switch (type) {
    case STATE_TYPE_U8: case STATE_TYPE_U16: case STATE_TYPE_U32: case STATE_TYPE_U64:
    case STATE_TYPE_BOOL: case STATE_TYPE_I32: case STATE_TYPE_I64:
        return true;
    default:
        return false;
    }
}

static uint64_t get_uint(const uint8_t *p, size_t size)
{
    switch (size) {
    case 1: return *p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static void put_uint(uint8_t *p, size_t size, uint64_t v)
{
    switch (size) {
    case 1: *p = (uint8_t)v; break;
    case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
    default: memcpy(p, &v, 8); break;
    }
}

/* ---- save ---------------------------------------------------------------- */

static void save_record(const StateDesc *d, const uint8_t *obj, GByteArray *out);

static void save_scalars(const StateField *f, const uint8_t *p, GByteArray *out)
{
    for (size_t i = 0; i < f->size / f->elem_size; i++, p += f->elem_size) {
        uint64_t v = get_uint(p, f->elem_size);
        switch (f->elem_size) {
        case 1: wire_put_u8(out, f->type == STATE_TYPE_BOOL ? v != 0 : (uint8_t)v); break;
        case 2: wire_put_u16(out, (uint16_t)v); break;
        case 4: wire_put_u32(out, (uint32_t)v); break;
        default: wire_put_u64(out, v); break;
        }
    }
}

static void save_field(const StateField *f, const uint8_t *obj, GByteArray *out)
{
    const uint8_t *p = obj + f->offset;
    if (is_scalar(f->type)) {
        save_scalars(f, p, out);
        return;
    }
    switch (f->type) {
    case STATE_TYPE_BYTES:
        g_byte_array_append(out, p, (guint)f->size);
        break;
    case STATE_TYPE_STRUCT:
        save_record(f->desc, p, out);
        break;
    case STATE_TYPE_ARRAY: {
        uint64_t count = get_uint(obj + f->count_offset, f->count_size);
        g_assert(count <= f->size / f->elem_size);
        wire_put_u32(out, (uint32_t)count);
        for (uint64_t i = 0; i < count; i++) {
            size_t at = wire_reserve_len(out);
            save_record(f->desc, p + i * f->elem_size, out);
            wire_patch_len(out, at);
        }
        break;
    }
    case STATE_TYPE_CUSTOM:
        f->custom->save(obj, f, out);
        break;
    default:
        g_assert_not_reached();
    }
}

static void save_section_header(const StateDesc *d, GByteArray *out)
{
    size_t n = strlen(d->name);
    g_assert(n >= 1 && n <= STATE_NAME_MAX);
    wire_put_u16(out, d->version);
    wire_put_u8(out, (uint8_t)n);
    wire_put_u8(out, 0);
    g_byte_array_append(out, (const uint8_t *)d->name, (guint)n);
}

static void save_record(const StateDesc *d, const uint8_t *obj, GByteArray *out)
{
    for (const StateField *f = d->fields; f->name; f++) {
        wire_put_u16(out, f->tag);
        wire_put_u8(out, f->type);
        wire_put_u8(out, f->flags);
        size_t at = wire_reserve_len(out);
        save_field(f, obj, out);
        wire_patch_len(out, at);
    }
    for (const StateSection *s = d->sections; s && s->desc; s++) {
        if (s->needed && !s->needed(obj))
            continue;
        wire_put_u16(out, 0);
        wire_put_u8(out, STATE_TYPE_SECTION);
        wire_put_u8(out, s->flags);
        size_t at = wire_reserve_len(out);
        save_section_header(s->desc, out);
        save_record(s->desc, obj, out);
        wire_patch_len(out, at);
    }
}

void state_save(const StateDesc *desc, const void *obj, GByteArray *out)
{
    size_t start = out->len;
    save_section_header(desc, out);
    size_t at = wire_reserve_len(out);
    save_record(desc, obj, out);
    wire_patch_len(out, at);
    wire_put_u32(out, state_crc32(0, out->data + start, out->len - start));
    g_assert(out->len - start <= STATE_SECTION_MAX);
}

/* ---- load ---------------------------------------------------------------- */

static bool load_record(const LoadCtx *cx, const StateDesc *d, uint8_t *obj, WireReader r, unsigned version,
                        const Path *path, unsigned depth, GError **errp);

static bool run_post_load(const LoadCtx *cx, const StateDesc *d, uint8_t *obj, unsigned version,
                          const Path *path, GError **errp)
{
    if (!d->post_load)
        return true;
    GError *err = NULL;
    if (d->post_load(obj, version, &err))
        return true;
    fail(errp, cx, path, STATE_ERROR_INVALID, "rejected by %s post_load: %s", d->name,
         err ? err->message : "(no reason given)");
    g_clear_error(&err);
    return false;
}

static bool load_scalars(const LoadCtx *cx, const StateField *f, uint8_t *p, WireReader *r, const Path *path,
                         GError **errp)
{
    for (size_t i = 0; i < f->size / f->elem_size; i++) {
        const uint8_t *b;
        if (!wire_take(r, f->elem_size, &b))
            return fail(errp, cx, path, STATE_ERROR_CORRUPT, "truncated");
        uint64_t v = f->elem_size == 1 ? b[0]
                     : f->elem_size == 2 ? le_load16(b)
                     : f->elem_size == 4 ? le_load32(b)
                                         : le_load64(b);
        if (f->type == STATE_TYPE_BOOL && v > 1)
            return fail(errp, cx, path, STATE_ERROR_INVALID, "boolean value %u is not 0 or 1", (unsigned)v);
        if (f->has_max && v > f->max)
            return fail(errp, cx, path, STATE_ERROR_INVALID, "value %" G_GUINT64_FORMAT
                        " exceeds the maximum %" G_GUINT64_FORMAT, v, f->max);
        put_uint(p + i * f->elem_size, f->elem_size, v);
    }
    return true;
}

static bool load_array(const LoadCtx *cx, const StateField *f, uint8_t *obj, WireReader r, unsigned version,
                       const Path *path, unsigned depth, GError **errp)
{
    uint32_t count;
    size_t capacity = f->size / f->elem_size;
    if (!wire_u32(&r, &count))
        return fail(errp, cx, path, STATE_ERROR_CORRUPT, "truncated array count");
    if (count > capacity)
        return fail(errp, cx, path, STATE_ERROR_INVALID, "array count %u exceeds the capacity %zu", count,
                    capacity);
    for (uint32_t i = 0; i < count; i++) {
        Path elem = { .up = path, .name = NULL, .index = i };
        uint32_t len;
        WireReader er;
        if (!wire_u32(&r, &len) || !wire_sub(&r, len, &er))
            return fail(errp, cx, &elem, STATE_ERROR_CORRUPT, "truncated array element");
        uint8_t *ep = obj + f->offset + (size_t)i * f->elem_size;
        if (!load_record(cx, f->desc, ep, er, version, &elem, depth + 1, errp) ||
            !run_post_load(cx, f->desc, ep, version, &elem, errp))
            return false;
    }
    if (wire_left(&r))
        return fail(errp, cx, path, STATE_ERROR_CORRUPT, "%zu stray bytes after the array", wire_left(&r));
    put_uint(obj + f->count_offset, f->count_size, count);
    return true;
}

static bool load_field(const LoadCtx *cx, const StateField *f, uint8_t *obj, WireReader r, unsigned version,
                       const Path *path, unsigned depth, GError **errp)
{
    uint8_t *p = obj + f->offset;
    if (is_scalar(f->type) || f->type == STATE_TYPE_BYTES) {
        if (r.len != f->size)
            return fail(errp, cx, path, STATE_ERROR_CORRUPT, "length %zu, expected %zu", r.len, f->size);
        if (f->type == STATE_TYPE_BYTES) {
            memcpy(p, r.buf, f->size);
            return true;
        }
        return load_scalars(cx, f, p, &r, path, errp);
    }
    switch (f->type) {
    case STATE_TYPE_STRUCT:
        return load_record(cx, f->desc, p, r, version, path, depth + 1, errp) &&
               run_post_load(cx, f->desc, p, version, path, errp);
    case STATE_TYPE_ARRAY:
        return load_array(cx, f, obj, r, version, path, depth, errp);
    case STATE_TYPE_CUSTOM: {
        GError *err = NULL;
        if (f->custom->load(obj, f, r.buf, r.len, &err))
            return true;
        fail(errp, cx, path, STATE_ERROR_INVALID, "%s", err ? err->message : "rejected");
        g_clear_error(&err);
        return false;
    }
    default:
        g_assert_not_reached();
    }
}

/* Parse a section header {u16 version, u8 name_len, u8 0, name}. */
static bool read_section_header(WireReader *r, uint16_t *version, const uint8_t **name, uint8_t *name_len)
{
    uint8_t reserved;
    return wire_u16(r, version) && wire_u8(r, name_len) && wire_u8(r, &reserved) && reserved == 0 &&
           wire_take(r, *name_len, name) && wire_name_ok(*name, *name_len, STATE_NAME_MAX);
}

static bool name_is(const char *want, const uint8_t *name, size_t n)
{
    return strlen(want) == n && memcmp(want, name, n) == 0;
}

static bool load_subsection(const LoadCtx *cx, const StateDesc *d, uint8_t *obj, WireReader r, uint8_t flags,
                            bool *seen, const Path *path, unsigned depth, GError **errp)
{
    uint16_t version;
    const uint8_t *name;
    uint8_t n;
    if (!read_section_header(&r, &version, &name, &n))
        return fail(errp, cx, path, STATE_ERROR_CORRUPT, "malformed subsection header");
    size_t i = 0;
    const StateSection *s = d->sections;
    for (; s && s->desc; s++, i++)
        if (name_is(s->desc->name, name, n))
            break;
    if (!s || !s->desc) {
        if (flags & STATE_F_OPTIONAL)
            return true;
        return fail(errp, cx, path, STATE_ERROR_UNKNOWN, "unknown required subsection '%.*s'", (int)n,
                    (const char *)name);
    }
    Path sp = { .up = path, .name = s->desc->name, .index = -1 };
    if (seen[i])
        return fail(errp, cx, &sp, STATE_ERROR_CORRUPT, "subsection appears twice");
    seen[i] = true;
    if (version < s->desc->min_version)
        return fail(errp, cx, &sp, STATE_ERROR_VERSION, "subsection version %u is older than the oldest supported %u",
                    version, s->desc->min_version);
    return load_record(cx, s->desc, obj, r, version, &sp, depth + 1, errp) &&
           run_post_load(cx, s->desc, obj, version, &sp, errp);
}

static bool load_record(const LoadCtx *cx, const StateDesc *d, uint8_t *obj, WireReader r, unsigned version,
                        const Path *path, unsigned depth, GError **errp)
{
    if (depth > STATE_DEPTH_MAX)
        return fail(errp, cx, path, STATE_ERROR_CORRUPT, "nested too deeply");
    size_t nfields = 0, nsections = 0;
    while (d->fields[nfields].name)
        nfields++;
    while (d->sections && d->sections[nsections].desc)
        nsections++;
    g_autofree bool *seen = g_new0(bool, nfields + nsections + 1);

    while (wire_left(&r)) {
        uint16_t tag;
        uint8_t type, flags;
        uint32_t len;
        WireReader payload;
        if (!wire_u16(&r, &tag) || !wire_u8(&r, &type) || !wire_u8(&r, &flags) || !wire_u32(&r, &len))
            return fail(errp, cx, path, STATE_ERROR_CORRUPT, "truncated entry header in '%s'", d->name);
        if (!wire_sub(&r, len, &payload))
            return fail(errp, cx, path, STATE_ERROR_CORRUPT, "entry (tag %u) of %u bytes overruns '%s'", tag, len,
                        d->name);
        if (tag == 0) {
            if (type != STATE_TYPE_SECTION)
                return fail(errp, cx, path, STATE_ERROR_CORRUPT, "tag 0 with type %u in '%s'", type, d->name);
            if (!load_subsection(cx, d, obj, payload, flags, seen + nfields, path, depth, errp))
                return false;
            continue;
        }
        size_t i = 0;
        while (i < nfields && d->fields[i].tag != tag)
            i++;
        if (i == nfields) {
            if (flags & STATE_F_OPTIONAL)
                continue;
            return fail(errp, cx, path, STATE_ERROR_UNKNOWN, "unknown required field (tag %u, type %u) in '%s'",
                        tag, type, d->name);
        }
        const StateField *f = &d->fields[i];
        Path fp = { .up = path, .name = f->name, .index = -1 };
        if (seen[i])
            return fail(errp, cx, &fp, STATE_ERROR_CORRUPT, "appears twice");
        seen[i] = true;
        if (type != f->type)
            return fail(errp, cx, &fp, STATE_ERROR_MISMATCH, "type %u in the stream, expected %u", type, f->type);
        if (!load_field(cx, f, obj, payload, version, &fp, depth, errp))
            return false;
    }
    for (size_t i = 0; i < nfields; i++) {
        const StateField *f = &d->fields[i];
        if (!seen[i] && !(f->flags & STATE_F_OPTIONAL)) {
            Path fp = { .up = path, .name = f->name, .index = -1 };
            return fail(errp, cx, &fp, STATE_ERROR_MISSING, "required field (tag %u) missing from the stream",
                        f->tag);
        }
    }
    return true;
}

bool state_load(const StateDesc *desc, void *obj, const uint8_t *buf, size_t len, GError **errp)
{
    const LoadCtx cx = { .top = desc->name };
    if (len > STATE_SECTION_MAX)
        return fail(errp, &cx, NULL, STATE_ERROR_TOO_LARGE, "section of %zu bytes exceeds the limit of %u", len,
                    STATE_SECTION_MAX);
    if (!buf || len < 4 + 1 + 4 + 4)
        return fail(errp, &cx, NULL, STATE_ERROR_CORRUPT, "truncated section (%zu bytes)", len);
    uint32_t crc = le_load32(buf + len - 4);
    if (crc != state_crc32(0, buf, len - 4))
        return fail(errp, &cx, NULL, STATE_ERROR_CORRUPT, "CRC mismatch");

    WireReader r = wire_reader(buf, len - 4);
    uint16_t version;
    const uint8_t *name;
    uint8_t n;
    uint32_t body_len;
    WireReader body;
    if (!read_section_header(&r, &version, &name, &n) || !wire_u32(&r, &body_len) ||
        !wire_sub(&r, body_len, &body) || wire_left(&r))
        return fail(errp, &cx, NULL, STATE_ERROR_CORRUPT, "malformed section header");
    if (!name_is(desc->name, name, n))
        return fail(errp, &cx, NULL, STATE_ERROR_MISMATCH, "the stream holds state '%.*s'", (int)n,
                    (const char *)name);
    if (version < desc->min_version)
        return fail(errp, &cx, NULL, STATE_ERROR_VERSION, "version %u is older than the oldest supported %u",
                    version, desc->min_version);
    return load_record(&cx, desc, obj, body, version, NULL, 0, errp) &&
           run_post_load(&cx, desc, obj, version, NULL, errp);
}

bool state_invalid(GError **errp, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "%s: %s", who, msg);
    return false;
}
