#include "hypervisor/kvlist.h"

#include "hypervisor/error.h"
#include "hypervisor/memory.h"

#include <errno.h>
#include <string.h>

typedef struct KvPair {
    char *key, *value;
} KvPair;

struct KvList {
    GArray *pairs; /* KvPair */
};

static void pair_clear(gpointer p)
{
    KvPair *kv = p;
    g_free(kv->key);
    g_free(kv->value);
}

void kvlist_free(KvList *kv)
{
    if (!kv)
        return;
    g_array_free(kv->pairs, TRUE);
    g_free(kv);
}

/* Split on top-level commas; false on unbalanced brackets or quotes. */
static bool split_items(const char *text, GPtrArray *items)
{
    int depth = 0;
    bool quoted = false;
    const char *start = text;
    for (const char *p = text;; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (!quoted && *p == '[')
            depth++;
        else if (!quoted && *p == ']' && --depth < 0)
            return false;
        if (*p == '\0' || (*p == ',' && depth == 0 && !quoted)) {
            g_ptr_array_add(items, g_strndup(start, (gsize)(p - start)));
            if (*p == '\0')
                break;
            start = p + 1;
        }
    }
    return depth == 0 && !quoted;
}

static bool known_key(const char *key, const char *const *known)
{
    for (; known && *known; known++)
        if (strcmp(*known, key) == 0)
            return true;
    return false;
}

KvList *kvlist_parse(const char *text, const char *const *known, GError **errp)
{
    g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
    if (!text || !*text) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "empty option value");
        return NULL;
    }
    if (!split_items(text, items)) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "unbalanced brackets or quotes in '%s'",
                    text);
        return NULL;
    }
    g_autoptr(KvList) kv = g_new0(KvList, 1);
    kv->pairs = g_array_new(FALSE, TRUE, sizeof(KvPair));
    g_array_set_clear_func(kv->pairs, pair_clear);
    for (guint i = 0; i < items->len; i++) {
        const char *item = items->pdata[i];
        const char *eq = strchr(item, '=');
        if (!eq || eq == item || eq[1] == '\0') {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                        "malformed item '%s' in '%s' (expected key=value)", item, text);
            return NULL;
        }
        g_autofree char *key = g_strndup(item, (gsize)(eq - item));
        if (!known_key(key, known)) {
            g_autofree char *list = known ? g_strjoinv(", ", (char **)known) : g_strdup("");
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "unknown key '%s' (known: %s)", key,
                        list);
            return NULL;
        }
        if (kvlist_has(kv, key)) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "key '%s' given twice", key);
            return NULL;
        }
        KvPair p = { g_steal_pointer(&key), g_strdup(eq + 1) };
        g_array_append_val(kv->pairs, p);
    }
    return g_steal_pointer(&kv);
}

const char *kvlist_get(const KvList *kv, const char *key)
{
    for (guint i = 0; i < kv->pairs->len; i++) {
        KvPair *p = &g_array_index(kv->pairs, KvPair, i);
        if (strcmp(p->key, key) == 0)
            return p->value;
    }
    return NULL;
}

bool kvlist_has(const KvList *kv, const char *key)
{
    return kvlist_get(kv, key) != NULL;
}

bool kvlist_get_u64(const KvList *kv, const char *key, uint64_t *out, GError **errp)
{
    const char *v = kvlist_get(kv, key);
    if (!v)
        return true;
    char *end = NULL;
    errno = 0;
    guint64 n = g_ascii_strtoull(v, &end, 0);
    if (!*v || !g_ascii_isdigit(*v) || *end || errno) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "%s=%s: not a non-negative integer", key,
                    v);
        return false;
    }
    *out = n;
    return true;
}

bool kvlist_get_u32(const KvList *kv, const char *key, uint32_t *out, GError **errp)
{
    uint64_t n = *out;
    if (!kvlist_get_u64(kv, key, &n, errp))
        return false;
    if (n > UINT32_MAX) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "%s=%s: value too large", key,
                    kvlist_get(kv, key));
        return false;
    }
    *out = (uint32_t)n;
    return true;
}

bool kvlist_get_bool(const KvList *kv, const char *key, bool *out, GError **errp)
{
    const char *v = kvlist_get(kv, key);
    if (!v)
        return true;
    if (!strcmp(v, "on") || !strcmp(v, "true")) {
        *out = true;
        return true;
    }
    if (!strcmp(v, "off") || !strcmp(v, "false")) {
        *out = false;
        return true;
    }
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "%s=%s: expected on or off", key, v);
    return false;
}

bool kvlist_get_size(const KvList *kv, const char *key, uint64_t *out, GError **errp)
{
    const char *v = kvlist_get(kv, key);
    if (!v)
        return true;
    if (!memory_parse_size(v, out, errp)) {
        g_prefix_error(errp, "%s: ", key);
        return false;
    }
    return true;
}

bool kvlist_get_str(const KvList *kv, const char *key, char **out, GError **errp)
{
    const char *v = kvlist_get(kv, key);
    if (!v)
        return true;
    if (!*v) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "%s: empty value", key);
        return false;
    }
    g_free(*out);
    *out = g_strdup(v);
    return true;
}
