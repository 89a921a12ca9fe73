/* state_dump_json(): a human-readable view of an object through its
 * description (cloud-hypervisor's readable state.json, for debugging only;
 * the wire format is the binary one in state.h). Integers are JSON numbers
 * (u64 above INT64_MAX as decimal strings), byte arrays and custom fields
 * lowercase hex strings, structs objects, arrays of structs JSON arrays of
 * their live elements; subsections whose needed() holds appear under
 * "@sections" keyed by their description name. */
#include "migration/state.h"

#include <json-glib/json-glib.h>
#include <string.h>

static void add_hex(JsonBuilder *b, const uint8_t *p, size_t n)
{
    g_autoptr(GString) s = g_string_sized_new(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        g_string_append_printf(s, "%02x", p[i]);
    json_builder_add_string_value(b, s->str);
}

static void add_scalar(JsonBuilder *b, unsigned type, const uint8_t *p)
{
    switch (type) {
    case STATE_TYPE_BOOL: {
        uint8_t v;
        memcpy(&v, p, 1);
        json_builder_add_boolean_value(b, v != 0);
        break;
    }
    case STATE_TYPE_U8: json_builder_add_int_value(b, *p); break;
    case STATE_TYPE_U16: { uint16_t v; memcpy(&v, p, 2); json_builder_add_int_value(b, v); break; }
    case STATE_TYPE_U32: { uint32_t v; memcpy(&v, p, 4); json_builder_add_int_value(b, v); break; }
    case STATE_TYPE_I32: { int32_t v; memcpy(&v, p, 4); json_builder_add_int_value(b, v); break; }
    case STATE_TYPE_I64: { int64_t v; memcpy(&v, p, 8); json_builder_add_int_value(b, v); break; }
    case STATE_TYPE_U64: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v <= INT64_MAX) {
            json_builder_add_int_value(b, (gint64)v);
        } else {
            g_autofree char *s = g_strdup_printf("%" G_GUINT64_FORMAT, v);
            json_builder_add_string_value(b, s);
        }
        break;
    }
    default:
        g_assert_not_reached();
    }
}

static void add_record(JsonBuilder *b, const StateDesc *d, const uint8_t *obj);

static void add_field(JsonBuilder *b, const StateField *f, const uint8_t *obj)
{
    const uint8_t *p = obj + f->offset;
    switch (f->type) {
    case STATE_TYPE_BYTES:
        add_hex(b, p, f->size);
        break;
    case STATE_TYPE_STRUCT:
        add_record(b, f->desc, p);
        break;
    case STATE_TYPE_ARRAY: {
        const uint8_t *c = obj + f->count_offset;
        uint64_t count;
        if (f->count_size == 1) {
            count = *c;
        } else if (f->count_size == 2) {
            uint16_t v;
            memcpy(&v, c, 2);
            count = v;
        } else {
            uint32_t v;
            memcpy(&v, c, 4);
            count = v;
        }
        count = MIN(count, f->size / f->elem_size);
        json_builder_begin_array(b);
        for (uint64_t i = 0; i < count; i++)
            add_record(b, f->desc, p + i * f->elem_size);
        json_builder_end_array(b);
        break;
    }
    case STATE_TYPE_CUSTOM: {
        g_autoptr(GByteArray) tmp = g_byte_array_new();
        f->custom->save(obj, f, tmp);
        add_hex(b, tmp->data, tmp->len);
        break;
    }
    default:
        if (f->size == f->elem_size) {
            add_scalar(b, f->type, p);
        } else {
            json_builder_begin_array(b);
            for (size_t off = 0; off < f->size; off += f->elem_size)
                add_scalar(b, f->type, p + off);
            json_builder_end_array(b);
        }
        break;
    }
}

static void add_record(JsonBuilder *b, const StateDesc *d, const uint8_t *obj)
{
    json_builder_begin_object(b);
    for (const StateField *f = d->fields; f->name; f++) {
        json_builder_set_member_name(b, f->name);
        add_field(b, f, obj);
    }
    bool any = false;
    for (const StateSection *s = d->sections; s && s->desc; s++) {
        if (s->needed && !s->needed(obj))
            continue;
        if (!any) {
            json_builder_set_member_name(b, "@sections");
            json_builder_begin_object(b);
            any = true;
        }
        json_builder_set_member_name(b, s->desc->name);
        add_record(b, s->desc, obj);
    }
    if (any)
        json_builder_end_object(b);
    json_builder_end_object(b);
}

char *state_dump_json(const StateDesc *desc, const void *obj)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, desc->name);
    json_builder_set_member_name(b, "version");
    json_builder_add_int_value(b, desc->version);
    json_builder_set_member_name(b, "state");
    add_record(b, desc, obj);
    json_builder_end_object(b);

    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}
