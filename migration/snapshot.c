/* Snapshot directory: manifest, config, state streams and sparse memory
 * files (format in snapshot.h). */
#include "migration/snapshot.h"

#include "hypervisor/error.h"
#include "hypervisor/version.h"
#include "migration/device_state.h"
#include "migration/ram_scan.h"
#include "migration/state.h"
#include "migration/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#if defined(__x86_64__)
#define SNAPSHOT_ARCH "x86_64"
#elif defined(__aarch64__)
#define SNAPSHOT_ARCH "aarch64"
#else
#error "unsupported architecture"
#endif

#define PAGE 4096u
#define SNAPSHOT_GPA_LIMIT (1ull << 52) /* the widest guest-physical address space */
#define IO_CHUNK (4u << 20) /* most bytes per pread/pwrite */

static bool fail_errno(GError **errp, int err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static bool fail_errno(GError **errp, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *m = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, NIMBUS_ERROR, err == ENOENT ? NIMBUS_ERROR_NOT_FOUND : NIMBUS_ERROR_IO, "%s: %s", m,
                g_strerror(err));
    return false;
}

static bool invalid(GError **errp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static bool invalid(GError **errp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *m = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "snapshot: %s", m);
    return false;
}

char *snapshot_url_to_dir(const char *url, GError **errp)
{
    static const char scheme[] = "file://";
    if (!url || !g_str_has_prefix(url, scheme)) {
        invalid(errp, "unsupported URL '%s' (only file:///PATH)", url ? url : "");
        return NULL;
    }
    const char *path = url + strlen(scheme);
    if (path[0] != '/') {
        invalid(errp, "URL '%s' must be file:///ABSOLUTE/PATH (no host)", url);
        return NULL;
    }
    if (strpbrk(path, "?#")) {
        invalid(errp, "URL '%s' must not have a query or fragment", url);
        return NULL;
    }
    g_autofree char *unescaped = g_uri_unescape_string(path, "/");
    if (!unescaped || !unescaped[1]) {
        invalid(errp, "URL '%s' does not name a directory", url);
        return NULL;
    }
    /* Strip trailing slashes: the directory is renamed into place. */
    size_t n = strlen(unescaped);
    while (n > 1 && unescaped[n - 1] == '/')
        unescaped[--n] = '\0';
    return g_steal_pointer(&unescaped);
}

/* ---- manifest ------------------------------------------------------------ */

static void region_clear(gpointer p)
{
    SnapshotRegion *r = p;
    g_free(r->file);
    g_free(r->sha256);
}

SnapshotManifest *snapshot_manifest_new(void)
{
    SnapshotManifest *m = g_new0(SnapshotManifest, 1);
    m->format_version = SNAPSHOT_FORMAT_VERSION;
    m->arch = g_strdup(SNAPSHOT_ARCH);
    m->nimbus_version = g_strdup(NIMBUS_VERSION);
    m->regions = g_array_new(FALSE, TRUE, sizeof(SnapshotRegion));
    g_array_set_clear_func(m->regions, region_clear);
    return m;
}

void snapshot_manifest_free(SnapshotManifest *m)
{
    if (!m)
        return;
    g_free(m->arch);
    g_free(m->nimbus_version);
    g_array_unref(m->regions);
    g_free(m);
}

char *snapshot_manifest_to_json(const SnapshotManifest *m)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "format_version");
    json_builder_add_int_value(b, m->format_version);
    json_builder_set_member_name(b, "arch");
    json_builder_add_string_value(b, m->arch);
    json_builder_set_member_name(b, "nimbus_version");
    json_builder_add_string_value(b, m->nimbus_version);
    json_builder_set_member_name(b, "state");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "file");
    json_builder_add_string_value(b, SNAPSHOT_STATE);
    json_builder_set_member_name(b, "machine_size");
    json_builder_add_int_value(b, (gint64)m->machine_size);
    json_builder_set_member_name(b, "devices_size");
    json_builder_add_int_value(b, (gint64)m->devices_size);
    json_builder_set_member_name(b, "crc32");
    json_builder_add_int_value(b, m->state_crc);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "regions");
    json_builder_begin_array(b);
    for (guint i = 0; i < m->regions->len; i++) {
        const SnapshotRegion *r = &g_array_index(m->regions, SnapshotRegion, i);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "gpa");
        json_builder_add_int_value(b, (gint64)r->gpa);
        json_builder_set_member_name(b, "size");
        json_builder_add_int_value(b, (gint64)r->size);
        json_builder_set_member_name(b, "file");
        json_builder_add_string_value(b, r->file);
        if (r->sha256) {
            json_builder_set_member_name(b, "sha256");
            json_builder_add_string_value(b, r->sha256);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_pretty(gen, TRUE);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

/* Members of o must all be in `known` (NULL-terminated). */
static bool only_known(JsonObject *o, const char *where, const char *const *known, GError **errp)
{
    g_autoptr(GList) names = json_object_get_members(o);
    for (GList *l = names; l; l = l->next) {
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= strcmp(*k, l->data) == 0;
        if (!ok)
            return invalid(errp, "manifest: unknown field '%s%s'", where, (const char *)l->data);
    }
    return true;
}

static bool get_uint(JsonObject *o, const char *where, const char *name, uint64_t max, uint64_t *out,
                     GError **errp)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n)
        return invalid(errp, "manifest: '%s%s' is missing", where, name);
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return invalid(errp, "manifest: '%s%s' must be an integer", where, name);
    gint64 v = json_node_get_int(n);
    if (v < 0 || (uint64_t)v > max)
        return invalid(errp, "manifest: '%s%s' = %" G_GINT64_FORMAT " is out of range", where, name, v);
    *out = (uint64_t)v;
    return true;
}

static bool get_str(JsonObject *o, const char *where, const char *name, bool required, const char **out,
                    GError **errp)
{
    JsonNode *n = json_object_get_member(o, name);
    *out = NULL;
    if (!n)
        return required ? invalid(errp, "manifest: '%s%s' is missing", where, name) : true;
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return invalid(errp, "manifest: '%s%s' must be a string", where, name);
    *out = json_node_get_string(n);
    if (strlen(*out) > 255)
        return invalid(errp, "manifest: '%s%s' is too long", where, name);
    return true;
}

static JsonObject *get_obj(JsonObject *o, const char *name, GError **errp)
{
    JsonNode *n = json_object_get_member(o, name);
    if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
        invalid(errp, "manifest: '%s' must be an object", name);
        return NULL;
    }
    return json_node_get_object(n);
}

/* A plain file name: [A-Za-z0-9._-], not starting with '.', <= 64 chars. */
static bool file_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!g_ascii_isalnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

static bool sha_ok(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!g_ascii_isxdigit(*p) || g_ascii_isupper(*p))
            return false;
    return true;
}

static int region_cmp(gconstpointer a, gconstpointer b)
{
    const SnapshotRegion *x = a, *y = b;
    return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

SnapshotManifest *snapshot_manifest_parse(const char *data, size_t len, GError **errp)
{
    if (len > SNAPSHOT_MANIFEST_MAX) {
        invalid(errp, "manifest: %zu bytes is too large", len);
        return NULL;
    }
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GError) jerr = NULL;
    if (!json_parser_load_from_data(p, data, (gssize)len, &jerr)) {
        invalid(errp, "manifest: not valid JSON: %s", jerr->message);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(p);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        invalid(errp, "manifest: not a JSON object");
        return NULL;
    }
    JsonObject *o = json_node_get_object(root);
    static const char *const top[] = { "format_version", "arch", "nimbus_version", "state", "regions", NULL };
    static const char *const st[] = { "file", "machine_size", "devices_size", "crc32", NULL };
    static const char *const reg[] = { "gpa", "size", "file", "sha256", NULL };
    g_autoptr(SnapshotManifest) m = snapshot_manifest_new();
    uint64_t v;
    const char *s;
    if (!only_known(o, "", top, errp) || !get_uint(o, "", "format_version", UINT32_MAX, &v, errp))
        return NULL;
    if (v != SNAPSHOT_FORMAT_VERSION) {
        invalid(errp, "format version %" G_GUINT64_FORMAT " is not supported (this nimbus reads %u)", v,
                SNAPSHOT_FORMAT_VERSION);
        return NULL;
    }
    if (!get_str(o, "", "arch", true, &s, errp))
        return NULL;
    if (strcmp(s, SNAPSHOT_ARCH) != 0) {
        invalid(errp, "taken on architecture '%s', this is %s", s, SNAPSHOT_ARCH);
        return NULL;
    }
    if (!get_str(o, "", "nimbus_version", true, &s, errp))
        return NULL;
    g_free(m->nimbus_version);
    m->nimbus_version = g_strdup(s);

    JsonObject *so = get_obj(o, "state", errp);
    if (!so || !only_known(so, "state.", st, errp) || !get_str(so, "state.", "file", true, &s, errp))
        return NULL;
    if (strcmp(s, SNAPSHOT_STATE) != 0) {
        invalid(errp, "manifest: 'state.file' must be '%s'", SNAPSHOT_STATE);
        return NULL;
    }
    if (!get_uint(so, "state.", "machine_size", STATE_STREAM_MAX, &m->machine_size, errp) ||
        !get_uint(so, "state.", "devices_size", STATE_STREAM_MAX, &m->devices_size, errp) ||
        !get_uint(so, "state.", "crc32", UINT32_MAX, &v, errp))
        return NULL;
    m->state_crc = (uint32_t)v;

    JsonNode *rn = json_object_get_member(o, "regions");
    if (!rn || !JSON_NODE_HOLDS_ARRAY(rn)) {
        invalid(errp, "manifest: 'regions' must be an array");
        return NULL;
    }
    JsonArray *ra = json_node_get_array(rn);
    guint n = json_array_get_length(ra);
    if (n == 0 || n > SNAPSHOT_REGIONS_MAX) {
        invalid(errp, "manifest: %u memory regions (1..%u allowed)", n, SNAPSHOT_REGIONS_MAX);
        return NULL;
    }
    for (guint i = 0; i < n; i++) {
        g_autofree char *where = g_strdup_printf("regions[%u].", i);
        JsonNode *en = json_array_get_element(ra, i);
        if (!JSON_NODE_HOLDS_OBJECT(en)) {
            invalid(errp, "manifest: 'regions[%u]' must be an object", i);
            return NULL;
        }
        JsonObject *e = json_node_get_object(en);
        SnapshotRegion r = { 0 };
        const char *file, *sha;
        if (!only_known(e, where, reg, errp) || !get_uint(e, where, "gpa", INT64_MAX, &r.gpa, errp) ||
            !get_uint(e, where, "size", INT64_MAX, &r.size, errp) || !get_str(e, where, "file", true, &file, errp) ||
            !get_str(e, where, "sha256", false, &sha, errp))
            return NULL;
        if (r.size == 0 || r.size % PAGE || r.gpa % PAGE || r.gpa > SNAPSHOT_GPA_LIMIT ||
            r.size > SNAPSHOT_GPA_LIMIT - r.gpa) {
            invalid(errp, "manifest: region %u (gpa %#" G_GINT64_MODIFIER "x size %#" G_GINT64_MODIFIER
                    "x) is empty, unaligned or beyond 52-bit guest-physical addresses", i, r.gpa, r.size);
            return NULL;
        }
        if (!file_name_ok(file) || strcmp(file, SNAPSHOT_MANIFEST) == 0 || strcmp(file, SNAPSHOT_CONFIG) == 0 ||
            strcmp(file, SNAPSHOT_STATE) == 0) {
            invalid(errp, "manifest: 'regions[%u].file' is not a valid memory file name", i);
            return NULL;
        }
        if (sha && !sha_ok(sha)) {
            invalid(errp, "manifest: 'regions[%u].sha256' is not 64 lowercase hex digits", i);
            return NULL;
        }
        r.file = g_strdup(file);
        r.sha256 = g_strdup(sha);
        g_array_append_val(m->regions, r);
    }
    g_array_sort(m->regions, region_cmp);
    for (guint i = 0; i < m->regions->len; i++) {
        const SnapshotRegion *r = &g_array_index(m->regions, SnapshotRegion, i);
        if (i > 0) {
            const SnapshotRegion *q = &g_array_index(m->regions, SnapshotRegion, i - 1);
            if (q->gpa + q->size > r->gpa) {
                invalid(errp, "manifest: memory regions at %#" G_GINT64_MODIFIER "x and %#" G_GINT64_MODIFIER
                        "x overlap", q->gpa, r->gpa);
                return NULL;
            }
        }
        for (guint j = 0; j < i; j++)
            if (strcmp(g_array_index(m->regions, SnapshotRegion, j).file, r->file) == 0) {
                invalid(errp, "manifest: file '%s' is used by two regions", r->file);
                return NULL;
            }
    }
    return g_steal_pointer(&m);
}

/* ---- memory files --------------------------------------------------------- */

char *snapshot_memory_file_name(uint64_t gpa)
{
    return g_strdup_printf("memory-0x%" G_GINT64_MODIFIER "x.bin", gpa);
}

static bool pwrite_all(int fd, const uint8_t *buf, size_t len, off_t off)
{
    while (len) {
        ssize_t n = pwrite(fd, buf, MIN(len, IO_CHUNK), off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return false;
        }
        buf += n;
        len -= (size_t)n;
        off += n;
    }
    return true;
}

static bool pread_all(int fd, uint8_t *buf, size_t len, off_t off)
{
    while (len) {
        ssize_t n = pread(fd, buf, MIN(len, IO_CHUNK), off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO; /* the file shrank under us */
            return false;
        }
        buf += n;
        len -= (size_t)n;
        off += n;
    }
    return true;
}

/* The pages of a RAM region that may hold data (ram_scan.h): the others
 * read as zero and must not be read, which would allocate them. */
typedef struct Populated {
    uint64_t *bitmap; /* NULL: unknown, every page may hold data */
    uint64_t pages;
} Populated;

static void populated_scan(Populated *pop, const MemRegion *mr)
{
    pop->pages = mr->size / PAGE;
    pop->bitmap = g_new(uint64_t, (pop->pages + 63) / 64);
    if (!ram_scan_populated(mr, pop->bitmap)) {
        g_debug("snapshot: '%s': populated pages unknown, reading all of it", mr->name);
        g_clear_pointer(&pop->bitmap, g_free);
    }
}

static bool may_hold_data(const Populated *pop, uint64_t off)
{
    uint64_t pg = off / PAGE;
    return !pop->bitmap || pg >= pop->pages || (pop->bitmap[pg / 64] >> (pg % 64)) & 1;
}

static char *sha256_hex(const uint8_t *p, uint64_t len, const Populated *pop)
{
    static const uint8_t zero[PAGE];
    g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);
    for (uint64_t off = 0; off < len; off += PAGE) {
        gssize n = (gssize)MIN((uint64_t)PAGE, len - off);
        g_checksum_update(c, may_hold_data(pop, off) ? p + off : zero, n);
    }
    return g_strdup(g_checksum_get_string(c));
}

/* Write size bytes at hva to path, leaving all-zero pages as holes; pages
 * pop rules out are not read. */
static bool write_sparse(const char *path, const uint8_t *hva, uint64_t size, const Populated *pop, GError **errp)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail_errno(errp, errno, "cannot create %s", path);
    uint64_t run = 0, run_len = 0; /* pending non-zero pages */
    bool ok = true;
    for (uint64_t off = 0; off < size && ok; off += PAGE) {
        uint64_t n = MIN((uint64_t)PAGE, size - off);
        bool zero = !may_hold_data(pop, off) || (n == PAGE && memory_page_is_zero(hva + off));
        if (!zero) {
            if (!run_len)
                run = off;
            run_len += n;
        }
        if (run_len && (zero || run_len >= IO_CHUNK || off + n >= size)) {
            ok = pwrite_all(fd, hva + run, run_len, (off_t)run);
            run_len = 0;
        }
    }
    if (ok && ftruncate(fd, (off_t)size) < 0)
        ok = false;
    if (ok && fsync(fd) < 0)
        ok = false;
    int e = errno;
    close(fd);
    return ok ? true : fail_errno(errp, e, "cannot write %s", path);
}

bool snapshot_memory_save(GuestMemory *mem, const char *dir, bool with_sha, SnapshotManifest *m, GError **errp)
{
    g_autoptr(GPtrArray) regions = memory_regions(mem);
    for (guint i = 0; i < regions->len; i++) {
        const MemRegion *mr = regions->pdata[i];
        if (!mr->ram)
            continue; /* ROM and device mappings are rebuilt from the config */
        SnapshotRegion r = { .gpa = mr->gpa, .size = mr->size, .file = snapshot_memory_file_name(mr->gpa) };
        g_autofree char *path = g_build_filename(dir, r.file, NULL);
        Populated pop;
        populated_scan(&pop, mr);
        bool ok = write_sparse(path, mr->hva, mr->size, &pop, errp);
        if (ok && with_sha)
            r.sha256 = sha256_hex(mr->hva, mr->size, &pop);
        g_free(pop.bitmap);
        if (!ok) {
            region_clear(&r);
            return false;
        }
        g_array_append_val(m->regions, r);
    }
    if (m->regions->len == 0)
        return invalid(errp, "the VM has no RAM to save");
    return true;
}

static const MemRegion *find_ram(GPtrArray *regions, uint64_t gpa)
{
    for (guint i = 0; i < regions->len; i++) {
        const MemRegion *mr = regions->pdata[i];
        if (mr->ram && mr->gpa == gpa)
            return mr;
    }
    return NULL;
}

static bool load_file(const MemRegion *mr, const char *path, const SnapshotRegion *r, GError **errp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fail_errno(errp, errno, "snapshot: cannot open %s", path);
    struct stat st;
    bool ok = false;
    if (fstat(fd, &st) < 0) {
        fail_errno(errp, errno, "snapshot: cannot stat %s", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != r->size) {
        invalid(errp, "%s is %s of %" G_GINT64_FORMAT " bytes, the manifest says %" G_GUINT64_FORMAT, path,
                S_ISREG(st.st_mode) ? "a file" : "not a regular file", (gint64)st.st_size, r->size);
        goto out;
    }
    memory_zero_region(mr);
    /* Read the data segments only; holes stay zero. */
    off_t pos = 0;
    while ((uint64_t)pos < r->size) {
        off_t data = lseek(fd, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break; /* only a hole remains */
        if (data < 0) {
            data = pos; /* no SEEK_DATA here: read everything */
        }
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0)
            hole = (off_t)r->size;
        hole = MIN(hole, (off_t)r->size);
        if (!pread_all(fd, mr->hva + data, (size_t)(hole - data), data)) {
            fail_errno(errp, errno, "snapshot: cannot read %s", path);
            goto out;
        }
        pos = hole;
    }
    if (r->sha256) {
        Populated pop;
        populated_scan(&pop, mr);
        g_autofree char *sum = sha256_hex(mr->hva, mr->size, &pop);
        g_free(pop.bitmap);
        if (strcmp(sum, r->sha256) != 0) {
            invalid(errp, "%s does not match its SHA-256 in the manifest", path);
            goto out;
        }
    }
    ok = true;
out:
    close(fd);
    return ok;
}

static void prefault_region(const MemRegion *mr)
{
    if (madvise(mr->hva, mr->size, MADV_POPULATE_WRITE) == 0)
        return;
    for (uint64_t off = 0; off < mr->size; off += PAGE) {
        volatile uint8_t *p = mr->hva + off;
        *p = *p;
    }
}

bool snapshot_memory_load(GuestMemory *mem, const char *dir, const SnapshotManifest *m, bool prefault,
                          GError **errp)
{
    g_autoptr(GPtrArray) regions = memory_regions(mem);
    guint ram = 0;
    for (guint i = 0; i < regions->len; i++)
        ram += ((const MemRegion *)regions->pdata[i])->ram;
    if (ram != m->regions->len)
        return invalid(errp, "the snapshot has %u memory region(s), the VM built from its config has %u",
                       m->regions->len, ram);
    for (guint i = 0; i < m->regions->len; i++) {
        const SnapshotRegion *r = &g_array_index(m->regions, SnapshotRegion, i);
        const MemRegion *mr = find_ram(regions, r->gpa);
        if (!mr || mr->size != r->size)
            return invalid(errp, "memory region at %#" G_GINT64_MODIFIER "x of %" G_GUINT64_FORMAT
                           " bytes does not match the VM built from its config", r->gpa, r->size);
        g_autofree char *path = g_build_filename(dir, r->file, NULL);
        if (!load_file(mr, path, r, errp))
            return false;
        if (prefault)
            prefault_region(mr);
    }
    return true;
}

/* ---- whole snapshot ------------------------------------------------------- */

static bool write_file(const char *dir, const char *name, const void *data, size_t len, GError **errp)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail_errno(errp, errno, "cannot create %s", path);
    bool ok = pwrite_all(fd, data, len, 0) && fsync(fd) == 0;
    int e = errno;
    close(fd);
    return ok ? true : fail_errno(errp, e, "cannot write %s", path);
}

/* Remove a temporary snapshot directory we created (plain files only). */
static void remove_tmp_dir(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        unlink(p);
    }
    rmdir(dir);
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

bool snapshot_save(Vm *vm, const MachineOps *machine, const char *config_json, const char *dir, GError **errp)
{
    if (vm_state(vm) != VM_STATE_PAUSED) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_STATE, "the VM is %s: pause it before taking a snapshot",
                    vm_state_name(vm_state(vm)));
        return false;
    }
    if (!machine->save_state) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "this machine cannot save its state");
        return false;
    }
    struct stat st;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return invalid(errp, "%s exists and is not a directory", dir);
    g_autofree char *parent = g_path_get_dirname(dir);
    g_autofree char *base = g_path_get_basename(dir);
    g_autofree char *tmp = g_strdup_printf("%s/.%s.tmp-XXXXXX", parent, base);
    if (!g_mkdtemp_full(tmp, 0700))
        return fail_errno(errp, errno, "cannot create a directory next to %s", dir);

    g_autoptr(SnapshotManifest) m = snapshot_manifest_new();
    g_autoptr(GByteArray) state = g_byte_array_new();
    g_autoptr(GByteArray) devices = g_byte_array_new();
    g_autofree char *manifest = NULL;
    state_stream_begin(state);
    if (!machine->save_state(vm, state, errp)) {
        g_prefix_error(errp, "cannot save the machine state: ");
        goto fail;
    }
    state_stream_finish(state);
    m->machine_size = state->len;
    device_state_save_all(vm, devices);
    m->devices_size = devices->len;
    g_byte_array_append(state, devices->data, devices->len);
    m->state_crc = state_crc32(0, state->data, state->len);
    if (!write_file(tmp, SNAPSHOT_CONFIG, config_json, strlen(config_json), errp) ||
        !write_file(tmp, SNAPSHOT_STATE, state->data, state->len, errp) ||
        !snapshot_memory_save(vm_memory(vm), tmp, false, m, errp))
        goto fail;
    manifest = snapshot_manifest_to_json(m);
    if (!write_file(tmp, SNAPSHOT_MANIFEST, manifest, strlen(manifest), errp))
        goto fail;
    fsync_dir(tmp);
    /* rename(2) replaces a missing or empty directory, nothing else. */
    if (rename(tmp, dir) < 0) {
        int e = errno;
        if (e == ENOTEMPTY || e == EEXIST)
            invalid(errp, "%s exists and is not empty", dir);
        else
            fail_errno(errp, e, "cannot rename the snapshot to %s", dir);
        goto fail;
    }
    fsync_dir(parent);
    return true;
fail:
    remove_tmp_dir(tmp);
    return false;
}

struct Snapshot {
    char *dir;
    SnapshotManifest *manifest;
    char *config;
    gsize config_len;
    char *state;
    gsize state_len;
};

void snapshot_free(Snapshot *s)
{
    if (!s)
        return;
    g_free(s->dir);
    snapshot_manifest_free(s->manifest);
    g_free(s->config);
    g_free(s->state);
    g_free(s);
}

/* Read a whole file of at most max bytes. */
static bool read_small(const char *dir, const char *name, size_t max, char **data, gsize *len, GError **errp)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    struct stat st;
    if (lstat(path, &st) < 0)
        return fail_errno(errp, errno, "snapshot: cannot read %s", path);
    if (!S_ISREG(st.st_mode))
        return invalid(errp, "%s is not a regular file", path);
    if ((uint64_t)st.st_size > max)
        return invalid(errp, "%s is too large (%" G_GINT64_FORMAT " bytes, at most %zu)", path,
                       (gint64)st.st_size, max);
    g_autoptr(GError) e = NULL;
    if (!g_file_get_contents(path, data, len, &e))
        return invalid(errp, "%s", e->message);
    if (*len > max)
        return invalid(errp, "%s is too large", path);
    return true;
}

Snapshot *snapshot_open(const char *dir, GError **errp)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        fail_errno(errp, errno, "snapshot: cannot open %s", dir);
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        invalid(errp, "%s is not a directory", dir);
        return NULL;
    }
    g_autoptr(Snapshot) s = g_new0(Snapshot, 1);
    s->dir = g_strdup(dir);
    g_autofree char *mdata = NULL;
    gsize mlen = 0;
    if (!read_small(dir, SNAPSHOT_MANIFEST, SNAPSHOT_MANIFEST_MAX, &mdata, &mlen, errp))
        return NULL;
    s->manifest = snapshot_manifest_parse(mdata, mlen, errp);
    if (!s->manifest)
        return NULL;
    if (!read_small(dir, SNAPSHOT_CONFIG, SNAPSHOT_CONFIG_MAX, &s->config, &s->config_len, errp) ||
        !read_small(dir, SNAPSHOT_STATE, 2ull * STATE_STREAM_MAX, &s->state, &s->state_len, errp))
        return NULL;
    const SnapshotManifest *m = s->manifest;
    if (s->state_len != m->machine_size + m->devices_size) {
        invalid(errp, "%s is %zu bytes, the manifest says %" G_GUINT64_FORMAT, SNAPSHOT_STATE, (size_t)s->state_len,
                m->machine_size + m->devices_size);
        return NULL;
    }
    if (state_crc32(0, (const uint8_t *)s->state, s->state_len) != m->state_crc) {
        invalid(errp, "%s does not match its CRC in the manifest (corrupt)", SNAPSHOT_STATE);
        return NULL;
    }
    /* Memory files: present, regular, the right size (content on load). */
    for (guint i = 0; i < m->regions->len; i++) {
        const SnapshotRegion *r = &g_array_index(m->regions, SnapshotRegion, i);
        g_autofree char *path = g_build_filename(dir, r->file, NULL);
        if (lstat(path, &st) < 0) {
            fail_errno(errp, errno, "snapshot: cannot open %s", path);
            return NULL;
        }
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != r->size) {
            invalid(errp, "%s is not a file of %" G_GUINT64_FORMAT " bytes as the manifest says", path, r->size);
            return NULL;
        }
    }
    return g_steal_pointer(&s);
}

const char *snapshot_config_json(Snapshot *s, size_t *len)
{
    *len = s->config_len;
    return s->config;
}

const SnapshotManifest *snapshot_manifest(Snapshot *s)
{
    return s->manifest;
}

bool snapshot_load(Snapshot *s, Vm *vm, const MachineOps *machine, bool prefault, GError **errp)
{
    if (!machine->load_state) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "this machine cannot load a saved state");
        return false;
    }
    const uint8_t *state = (const uint8_t *)s->state;
    if (!snapshot_memory_load(vm_memory(vm), s->dir, s->manifest, prefault, errp))
        return false;
    if (!machine->load_state(vm, state, s->manifest->machine_size, errp)) {
        g_prefix_error(errp, "snapshot: machine state: ");
        goto invalid;
    }
    if (!device_state_load_all(vm, state + s->manifest->machine_size, s->manifest->devices_size, errp)) {
        g_prefix_error(errp, "snapshot: device state: ");
        goto invalid;
    }
    return true;
invalid:
    /* The state scheme's errors are bad input: report them as such. */
    if (errp && *errp && (*errp)->domain == STATE_ERROR) {
        GError *e = *errp;
        *errp = g_error_new_literal(NIMBUS_ERROR, NIMBUS_ERROR_INVALID, e->message);
        g_error_free(e);
    }
    return false;
}
