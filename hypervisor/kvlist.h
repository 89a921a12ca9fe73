/* Parser for cloud-hypervisor style option values: "key=value,key=value".
 * Commas inside [...] or "..." do not split (e.g. affinity=[0@[0,2]]).
 * Rejects malformed items, empty keys or values, duplicate keys and keys not in the
 * caller's list, naming the offending item. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct KvList KvList;

/* known: NULL-terminated list of accepted keys. */
KvList *kvlist_parse(const char *text, const char *const *known, GError **errp);
void kvlist_free(KvList *kv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KvList, kvlist_free)

/* NULL if absent. */
const char *kvlist_get(const KvList *kv, const char *key);
bool kvlist_has(const KvList *kv, const char *key);
/* Each getter leaves *out untouched when the key is absent and returns true;
 * returns false with an error naming the key on a malformed value. */
bool kvlist_get_u32(const KvList *kv, const char *key, uint32_t *out, GError **errp);
bool kvlist_get_u64(const KvList *kv, const char *key, uint64_t *out, GError **errp);
bool kvlist_get_bool(const KvList *kv, const char *key, bool *out, GError **errp);
bool kvlist_get_size(const KvList *kv, const char *key, uint64_t *out, GError **errp);
/* g_strdup of the value into *out (freeing the previous value). */
bool kvlist_get_str(const KvList *kv, const char *key, char **out, GError **errp);
