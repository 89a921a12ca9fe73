/* The state stream container (format in stream.h): sections keyed by id,
 * framed, size-capped and CRC-protected as a whole. */
#include "migration/stream.h"

#include "migration/wire.h"

#include <string.h>

#define STREAM_MAGIC "NIMBUSST"
#define STREAM_HEADER_LEN 16u
#define STREAM_TRAILER_LEN 12u
#define KIND_END 0u
#define KIND_SECTION 1u

#if defined(__x86_64__)
#define STATE_ARCH_HOST STATE_ARCH_X86_64
#elif defined(__aarch64__)
#define STATE_ARCH_HOST STATE_ARCH_AARCH64
#else
#error "unsupported architecture"
#endif

void state_stream_begin(GByteArray *out)
{
    g_assert(out->len == 0);
    g_byte_array_append(out, (const uint8_t *)STREAM_MAGIC, 8);
    wire_put_u16(out, STATE_STREAM_VERSION);
    wire_put_u16(out, STATE_ARCH_HOST);
    wire_put_u32(out, 0);
}

void state_stream_add(GByteArray *out, const char *id, const StateDesc *desc, const void *obj)
{
    size_t n = strlen(id);
    g_assert(out->len >= STREAM_HEADER_LEN && memcmp(out->data, STREAM_MAGIC, 8) == 0);
    g_assert(wire_name_ok((const uint8_t *)id, n, STATE_NAME_MAX));
    wire_put_u8(out, KIND_SECTION);
    wire_put_u8(out, (uint8_t)n);
    g_byte_array_append(out, (const uint8_t *)id, (guint)n);
    size_t at = wire_reserve_len(out);
    state_save(desc, obj, out);
    wire_patch_len(out, at);
}

void state_stream_finish(GByteArray *out)
{
    g_assert(out->len >= STREAM_HEADER_LEN && memcmp(out->data, STREAM_MAGIC, 8) == 0);
    /* Count the entries by walking what we wrote (trusted). */
    WireReader r = wire_reader(out->data + STREAM_HEADER_LEN, out->len - STREAM_HEADER_LEN);
    uint32_t count = 0;
    while (wire_left(&r)) {
        uint8_t kind, n;
        const uint8_t *p;
        uint32_t len;
        g_assert(wire_u8(&r, &kind) && kind == KIND_SECTION && wire_u8(&r, &n) && wire_take(&r, n, &p) &&
                 wire_u32(&r, &len) && wire_take(&r, len, &p));
        count++;
    }
    wire_put_u8(out, KIND_END);
    wire_put_u8(out, 0);
    wire_put_u16(out, 0);
    wire_put_u32(out, count);
    wire_put_u32(out, state_crc32(0, out->data, out->len));
    g_assert(out->len <= STATE_STREAM_MAX);
}

static bool corrupt(GError **errp, const char *what)
{
    g_set_error(errp, STATE_ERROR, STATE_ERROR_CORRUPT, "state stream: %s", what);
    return false;
}

typedef struct Entry {
    char id[STATE_NAME_MAX + 1];
    const uint8_t *section;
    uint32_t len;
} Entry;

/* Check header, framing, limits and CRC; collect the entries. */
static bool stream_parse(const uint8_t *buf, size_t len, GArray *entries, GError **errp)
{
    if (len > STATE_STREAM_MAX) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_TOO_LARGE, "state stream: %zu bytes exceed the limit of %u",
                    len, STATE_STREAM_MAX);
        return false;
    }
    if (!buf || len < STREAM_HEADER_LEN + STREAM_TRAILER_LEN)
        return corrupt(errp, "truncated");
    if (memcmp(buf, STREAM_MAGIC, 8) != 0)
        return corrupt(errp, "bad magic (not a nimbus state stream)");
    if (le_load32(buf + len - 4) != state_crc32(0, buf, len - 4))
        return corrupt(errp, "CRC mismatch");
    uint16_t version = le_load16(buf + 8), arch = le_load16(buf + 10);
    if (version != STATE_STREAM_VERSION) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_VERSION, "state stream: format version %u, expected %u",
                    version, STATE_STREAM_VERSION);
        return false;
    }
    if (arch != STATE_ARCH_HOST) {
        g_set_error(errp, STATE_ERROR, STATE_ERROR_MISMATCH, "state stream: written for architecture %u, this is %u",
                    arch, STATE_ARCH_HOST);
        return false;
    }
    if (le_load32(buf + 12) != 0)
        return corrupt(errp, "reserved header bits set");

    g_autoptr(GHashTable) ids = g_hash_table_new(g_str_hash, g_str_equal);
    WireReader r = wire_reader(buf + STREAM_HEADER_LEN, len - 4 - STREAM_HEADER_LEN);
    for (;;) {
        uint8_t kind;
        if (!wire_u8(&r, &kind))
            return corrupt(errp, "truncated (no trailer)");
        if (kind == KIND_END)
            break;
        if (kind != KIND_SECTION)
            return corrupt(errp, "unknown entry kind");
        uint8_t n;
        const uint8_t *id;
        Entry e;
        memset(&e, 0, sizeof e);
        if (!wire_u8(&r, &n) || !wire_take(&r, n, &id) || !wire_u32(&r, &e.len))
            return corrupt(errp, "truncated entry header");
        if (!wire_name_ok(id, n, STATE_NAME_MAX))
            return corrupt(errp, "invalid section id");
        if (e.len > STATE_SECTION_MAX) {
            g_set_error(errp, STATE_ERROR, STATE_ERROR_TOO_LARGE, "state stream: section '%.*s' of %u bytes exceeds "
                        "the limit of %u", (int)n, (const char *)id, e.len, STATE_SECTION_MAX);
            return false;
        }
        if (!wire_take(&r, e.len, &e.section))
            return corrupt(errp, "truncated section");
        memcpy(e.id, id, n);
        g_array_append_val(entries, e);
    }
    /* Ids must be unique: build the set once the array no longer moves. */
    for (guint i = 0; i < entries->len; i++) {
        Entry *e = &g_array_index(entries, Entry, i);
        if (!g_hash_table_add(ids, e->id)) {
            g_set_error(errp, STATE_ERROR, STATE_ERROR_CORRUPT, "state stream: section id '%s' appears twice", e->id);
            return false;
        }
    }
    const uint8_t *t;
    if (!wire_take(&r, 7, &t) || t[0] || t[1] || t[2] || le_load32(t + 3) != entries->len || wire_left(&r))
        return corrupt(errp, "malformed trailer");
    return true;
}

bool state_stream_load(const uint8_t *buf, size_t len, StateStreamLookup lookup, void *opaque, GError **errp)
{
    g_autoptr(GArray) entries = g_array_new(FALSE, TRUE, sizeof(Entry));
    if (!stream_parse(buf, len, entries, errp))
        return false;
    for (guint i = 0; i < entries->len; i++) {
        const Entry *e = &g_array_index(entries, Entry, i);
        const StateDesc *desc = NULL;
        void *obj = NULL;
        if (!lookup(opaque, e->id, &desc, &obj) || !desc || !obj) {
            g_set_error(errp, STATE_ERROR, STATE_ERROR_UNKNOWN, "state stream: no device '%s' for its section", e->id);
            return false;
        }
        if (!state_load(desc, obj, e->section, e->len, errp)) {
            g_prefix_error(errp, "device '%s': ", e->id);
            return false;
        }
    }
    return true;
}
