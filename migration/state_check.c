/* state_desc_check(): the consistency rules every description must follow.
 * The engine relies on them (offsets inside the object, element sizes that
 * match the type, bounded array counts), so tests run the check on every
 * registered description and a bad table fails CI rather than a load. */
#include "migration/state.h"

#include "migration/wire.h"

#include <string.h>

static bool bad(GError **errp, const StateDesc *d, const StateField *f, const char *msg)
{
    g_set_error(errp, STATE_ERROR, STATE_ERROR_INVALID, "description '%s'%s%s%s: %s",
                d && d->name ? d->name : "(unnamed)", f ? " field '" : "", f && f->name ? f->name : "",
                f ? "'" : "", msg);
    return false;
}

static size_t scalar_size(unsigned type)
{
    switch (type) {
    case STATE_TYPE_U8: case STATE_TYPE_BOOL: return 1;
    case STATE_TYPE_U16: return 2;
    case STATE_TYPE_U32: case STATE_TYPE_I32: return 4;
    case STATE_TYPE_U64: case STATE_TYPE_I64: return 8;
    default: return 0;
    }
}

static bool check_desc(const StateDesc *d, unsigned depth, GError **errp);

static bool check_field(const StateDesc *d, const StateField *f, unsigned depth, GError **errp)
{
    if (f->tag == 0)
        return bad(errp, d, f, "tag 0 is reserved for subsections");
    if (f->flags & ~STATE_F_OPTIONAL)
        return bad(errp, d, f, "unknown flags");
    if (f->size == 0 || f->offset > d->size || f->size > d->size - f->offset)
        return bad(errp, d, f, "outside the described struct");
    if (f->has_max && f->type != STATE_TYPE_U8 && f->type != STATE_TYPE_U16 && f->type != STATE_TYPE_U32 &&
        f->type != STATE_TYPE_U64)
        return bad(errp, d, f, "a bound only applies to unsigned integers");

    size_t ss = scalar_size(f->type);
    if (ss) {
        if (f->elem_size != ss || f->size % ss)
            return bad(errp, d, f, "size does not match the type");
        return true;
    }
    switch (f->type) {
    case STATE_TYPE_BYTES:
        return true;
    case STATE_TYPE_STRUCT:
        if (!f->desc || f->desc->size != f->size)
            return bad(errp, d, f, "nested description missing or of another size");
        return check_desc(f->desc, depth + 1, errp);
    case STATE_TYPE_ARRAY: {
        if (!f->desc || f->elem_size == 0 || f->desc->size != f->elem_size || f->size % f->elem_size)
            return bad(errp, d, f, "element description missing or of another size");
        if (f->count_size != 1 && f->count_size != 2 && f->count_size != 4)
            return bad(errp, d, f, "count member must be u8, u16 or u32");
        if (f->count_offset > d->size || f->count_size > d->size - f->count_offset)
            return bad(errp, d, f, "count member outside the described struct");
        if (f->count_offset < f->offset + f->size && f->offset < f->count_offset + f->count_size)
            return bad(errp, d, f, "count member overlaps the array");
        uint64_t cap = f->size / f->elem_size;
        if (cap > (UINT64_C(1) << (8 * f->count_size)) - 1)
            return bad(errp, d, f, "capacity does not fit the count member");
        return check_desc(f->desc, depth + 1, errp);
    }
    case STATE_TYPE_CUSTOM:
        if (!f->custom || !f->custom->save || !f->custom->load)
            return bad(errp, d, f, "custom field without save and load");
        return true;
    default:
        return bad(errp, d, f, "unknown type");
    }
}

static bool check_desc(const StateDesc *d, unsigned depth, GError **errp)
{
    if (!d || !d->name || !wire_name_ok((const uint8_t *)d->name, strlen(d->name), STATE_NAME_MAX))
        return bad(errp, d, NULL, "missing or invalid name");
    if (depth > STATE_DEPTH_MAX)
        return bad(errp, d, NULL, "nested too deeply");
    if (d->size == 0 || d->version == 0 || d->min_version > d->version)
        return bad(errp, d, NULL, "needs a size and 1 <= min_version <= version");
    if (!d->fields)
        return bad(errp, d, NULL, "no field table (use an empty one ending in STATE_END)");
    for (const StateField *f = d->fields; f->name; f++) {
        for (const StateField *g = d->fields; g != f; g++) {
            if (g->tag == f->tag)
                return bad(errp, d, f, "tag used twice");
            if (strcmp(g->name, f->name) == 0)
                return bad(errp, d, f, "name used twice");
        }
        if (!check_field(d, f, depth, errp))
            return false;
    }
    for (const StateSection *s = d->sections; s && s->desc; s++) {
        if (s->flags & ~STATE_F_OPTIONAL)
            return bad(errp, d, NULL, "subsection with unknown flags");
        if (s->desc->size != d->size)
            return bad(errp, d, NULL, "subsection describes a struct of another size");
        for (const StateSection *t = d->sections; t != s; t++)
            if (t->desc->name && s->desc->name && strcmp(t->desc->name, s->desc->name) == 0)
                return bad(errp, d, NULL, "two subsections with the same name");
        if (!check_desc(s->desc, depth + 1, errp))
            return false;
    }
    return true;
}

bool state_desc_check(const StateDesc *desc, GError **errp)
{
    return check_desc(desc, 0, errp);
}
