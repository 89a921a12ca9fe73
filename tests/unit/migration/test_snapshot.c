/* Tests of migration/snapshot.c: file:// URLs, the manifest (round trip and
 * hostile manifests), sparse memory files round-tripped through a
 * GuestMemory, and whole snapshots of a Vm on the fake accelerator with a
 * fake machine state (atomic writes, corrupt and truncated snapshots). */
#include "hypervisor/error.h"
#include "migration/snapshot.h"
#include "migration/stream.h"
#include "support/check_main.h"
#include "support/fake_accel.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MiB (1024ull * 1024)
#define PAGE 4096u

static char *tmpdir;

static void setup(void)
{
    tmpdir = g_dir_make_tmp("nimbus-snap-XXXXXX", NULL);
    ck_assert_ptr_nonnull(tmpdir);
}

static void rm_rf(const char *path)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
}

static void teardown(void)
{
    rm_rf(tmpdir);
    g_clear_pointer(&tmpdir, g_free);
}

static void expect_error(GError *err, const char *needle)
{
    ck_assert_msg(err != NULL, "no error, expected '%s'", needle);
    ck_assert_msg(strstr(err->message, needle), "error '%s' lacks '%s'", err->message, needle);
}

/* ---- URLs ------------------------------------------------------------------ */

START_TEST(url_to_dir)
{
    static const struct {
        const char *url, *dir;
    } good[] = {
        { "file:///tmp/snap", "/tmp/snap" },
        { "file:///tmp/snap/", "/tmp/snap" },
        { "file:///tmp/a%20b", "/tmp/a b" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *d = snapshot_url_to_dir(good[i].url, &err);
        ck_assert_msg(d, "%s: %s", good[i].url, err ? err->message : "?");
        ck_assert_str_eq(d, good[i].dir);
    }
    static const char *const bad[] = { "http://x/y", "file://host/tmp", "/tmp/snap", "file:///", "file:///x?y",
                                       "file:///a%2fb%00", "", "tcp:1.2.3.4:5" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *d = snapshot_url_to_dir(bad[i], &err);
        ck_assert_msg(!d, "'%s' accepted as %s", bad[i], d);
        ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    }
}
END_TEST

/* ---- manifest ------------------------------------------------------------- */

static SnapshotManifest *sample_manifest(void)
{
    SnapshotManifest *m = snapshot_manifest_new();
    m->machine_size = 100;
    m->devices_size = 28;
    m->state_crc = 0xdeadbeef;
    SnapshotRegion r1 = { .gpa = 0, .size = 2 * MiB, .file = g_strdup("memory-0x0.bin") };
    SnapshotRegion r2 = { .gpa = 4096 * MiB, .size = 1 * MiB, .file = g_strdup("memory-0x100000000.bin"),
                          .sha256 = g_strdup("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef") };
    g_array_append_val(m->regions, r1);
    g_array_append_val(m->regions, r2);
    return m;
}

START_TEST(manifest_round_trip)
{
    g_autoptr(SnapshotManifest) m = sample_manifest();
    g_autofree char *json = snapshot_manifest_to_json(m);
    g_autoptr(GError) err = NULL;
    g_autoptr(SnapshotManifest) p = snapshot_manifest_parse(json, strlen(json), &err);
    ck_assert_msg(p, "%s", err ? err->message : "?");
    ck_assert_uint_eq(p->format_version, SNAPSHOT_FORMAT_VERSION);
    ck_assert_str_eq(p->arch, m->arch);
    ck_assert_str_eq(p->nimbus_version, m->nimbus_version);
    ck_assert_uint_eq(p->machine_size, 100);
    ck_assert_uint_eq(p->devices_size, 28);
    ck_assert_uint_eq(p->state_crc, 0xdeadbeef);
    ck_assert_uint_eq(p->regions->len, 2);
    for (guint i = 0; i < 2; i++) {
        SnapshotRegion *a = &g_array_index(m->regions, SnapshotRegion, i);
        SnapshotRegion *b = &g_array_index(p->regions, SnapshotRegion, i);
        ck_assert_uint_eq(a->gpa, b->gpa);
        ck_assert_uint_eq(a->size, b->size);
        ck_assert_str_eq(a->file, b->file);
        ck_assert_pstr_eq(a->sha256, b->sha256);
    }
}
END_TEST

/* Snapshots name the architecture they were taken on; a manifest from the
 * other one must be refused. */
#if defined(__x86_64__)
#define HOST_ARCH "x86_64"
#define OTHER_ARCH "aarch64"
#else
#define HOST_ARCH "aarch64"
#define OTHER_ARCH "x86_64"
#endif

/* A manifest with `region` as its only region and `extra` top-level text. */
static char *manifest_with(const char *top, const char *state, const char *regions)
{
    return g_strdup_printf("{\"format_version\":1,\"arch\":\"" HOST_ARCH "\",\"nimbus_version\":\"0.1.0\","
                           "\"state\":%s,\"regions\":%s%s}",
                           state ? state : "{\"file\":\"state.bin\",\"machine_size\":1,\"devices_size\":2,\"crc32\":3}",
                           regions ? regions : "[{\"gpa\":0,\"size\":4096,\"file\":\"memory-0x0.bin\"}]",
                           top ? top : "");
}

START_TEST(manifest_hostile)
{
    g_autofree char *ok = manifest_with(NULL, NULL, NULL);
    g_autoptr(GError) e0 = NULL;
    g_autoptr(SnapshotManifest) m0 = snapshot_manifest_parse(ok, strlen(ok), &e0);
    ck_assert_msg(m0, "%s", e0 ? e0->message : "?");

    g_autofree char *many = NULL;
    {
        GString *s = g_string_new("[");
        for (unsigned i = 0; i <= SNAPSHOT_REGIONS_MAX; i++)
            g_string_append_printf(s, "%s{\"gpa\":%u,\"size\":4096,\"file\":\"m%u\"}", i ? "," : "", i * 4096, i);
        g_string_append(s, "]");
        many = g_string_free(s, FALSE);
    }
    const struct {
        char *json;
        const char *needle;
    } cases[] = {
        { g_strdup("not json"), "not valid JSON" },
        { g_strdup("[1,2]"), "not a JSON object" },
        { g_strdup(""), "not" },
        { manifest_with(",\"extra\":1", NULL, NULL), "unknown field 'extra'" },
        { g_strdup("{\"format_version\":2,\"arch\":\"x86_64\"}"), "format version 2" },
        { g_strdup("{\"format_version\":\"1\"}"), "'format_version' must be an integer" },
        { g_strdup("{\"format_version\":-1}"), "out of range" },
        { g_strdup("{\"format_version\":1,\"arch\":\"" OTHER_ARCH "\",\"nimbus_version\":\"x\"}"), "architecture" },
        { g_strdup("{\"format_version\":1,\"arch\":7}"), "'arch' must be a string" },
        { g_strdup("{\"format_version\":1,\"arch\":\"" HOST_ARCH "\",\"nimbus_version\":\"x\"}"), "'state'" },
        { manifest_with(NULL, "[]", NULL), "'state' must be an object" },
        { manifest_with(NULL, "{\"file\":\"../x\",\"machine_size\":1,\"devices_size\":2,\"crc32\":3}", NULL),
          "state.file" },
        { manifest_with(NULL, "{\"file\":\"state.bin\",\"machine_size\":1,\"devices_size\":2}", NULL),
          "'state.crc32' is missing" },
        { manifest_with(NULL, "{\"file\":\"state.bin\",\"machine_size\":99999999999,\"devices_size\":2,\"crc32\":3}",
                        NULL),
          "state.machine_size" },
        { manifest_with(NULL, "{\"file\":\"state.bin\",\"machine_size\":1,\"devices_size\":2,\"crc32\":3,\"x\":0}",
                        NULL),
          "unknown field 'state.x'" },
        { manifest_with(NULL, NULL, "{}"), "'regions' must be an array" },
        { manifest_with(NULL, NULL, "[]"), "0 memory regions" },
        { manifest_with(NULL, NULL, "[7]"), "'regions[0]' must be an object" },
        { manifest_with(NULL, NULL, "[{\"gpa\":0,\"size\":0,\"file\":\"m\"}]"), "empty, unaligned" },
        { manifest_with(NULL, NULL, "[{\"gpa\":1,\"size\":4096,\"file\":\"m\"}]"), "empty, unaligned" },
        { manifest_with(NULL, NULL, "[{\"gpa\":0,\"size\":4095,\"file\":\"m\"}]"), "empty, unaligned" },
        { manifest_with(NULL, NULL, "[{\"gpa\":9223372036854771712,\"size\":9223372036854771712,\"file\":\"m\"}]"),
          "52-bit" },
        { manifest_with(NULL, NULL, "[{\"gpa\":4503599627366400,\"size\":8192,\"file\":\"m\"}]"), "52-bit" },
        { manifest_with(NULL, NULL, "[{\"gpa\":-4096,\"size\":4096,\"file\":\"m\"}]"), "out of range" },
        { manifest_with(NULL, NULL, "[{\"gpa\":0,\"size\":4096,\"file\":\"../../etc/passwd\"}]"), "file name" },
        { manifest_with(NULL, NULL, "[{\"gpa\":0,\"size\":4096,\"file\":\"a/b\"}]"), "file name" },
        { manifest_with(NULL, NULL, "[{\"gpa\":0,\"size\":4096,\"file\":\".hidden\"}]"), "file name" },
        { manifest_with(NULL, NULL, "[{\"gpa\":0,\"size\":4096,\"file\":\"state.bin\"}]"), "file name" },
        { manifest_with(NULL, NULL, "[{\"gpa\":0,\"size\":4096,\"file\":\"\"}]"), "file name" },
        { manifest_with(NULL, NULL, "[{\"gpa\":0,\"size\":4096}]"), "'regions[0].file' is missing" },
        { manifest_with(NULL, NULL, "[{\"gpa\":0,\"size\":4096,\"file\":\"m\",\"sha256\":\"abc\"}]"), "sha256" },
        { manifest_with(NULL, NULL, "[{\"gpa\":0,\"size\":4096,\"file\":\"m\",\"other\":1}]"),
          "unknown field 'regions[0].other'" },
        { manifest_with(NULL, NULL,
                        "[{\"gpa\":0,\"size\":8192,\"file\":\"a\"},{\"gpa\":4096,\"size\":4096,\"file\":\"b\"}]"),
          "overlap" },
        { manifest_with(NULL, NULL,
                        "[{\"gpa\":0,\"size\":4096,\"file\":\"a\"},{\"gpa\":8192,\"size\":4096,\"file\":\"a\"}]"),
          "used by two regions" },
        { manifest_with(NULL, NULL, many), "memory regions" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(SnapshotManifest) m = snapshot_manifest_parse(cases[i].json, strlen(cases[i].json), &err);
        ck_assert_msg(!m, "case %zu accepted: %s", i, cases[i].json);
        ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
        ck_assert_msg(strstr(err->message, cases[i].needle), "case %zu: '%s' lacks '%s'", i, err->message,
                      cases[i].needle);
        g_free(cases[i].json);
    }
    /* Too large, whatever it holds. */
    g_autofree char *big = g_malloc0(SNAPSHOT_MANIFEST_MAX + 1);
    memset(big, ' ', SNAPSHOT_MANIFEST_MAX);
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(snapshot_manifest_parse(big, SNAPSHOT_MANIFEST_MAX + 1, &err));
    expect_error(err, "too large");
}
END_TEST

START_TEST(manifest_mutations_never_crash)
{
    g_autoptr(SnapshotManifest) m = sample_manifest();
    g_autofree char *json = snapshot_manifest_to_json(m);
    size_t len = strlen(json);
    g_autoptr(GRand) rand = g_rand_new_with_seed(7);
    g_autofree char *buf = g_malloc(len + 1);
    for (unsigned i = 0; i < 3000; i++) {
        memcpy(buf, json, len + 1);
        size_t n = len;
        if (i % 3 == 0)
            n = g_rand_int_range(rand, 0, (gint32)len);
        else
            for (int k = 0; k < 1 + (int)(i % 4); k++)
                buf[g_rand_int_range(rand, 0, (gint32)len)] ^= (char)(1u << g_rand_int_range(rand, 0, 7));
        g_autoptr(GError) err = NULL;
        g_autoptr(SnapshotManifest) p = snapshot_manifest_parse(buf, n, &err);
        ck_assert(p || err);
    }
}
END_TEST

/* ---- memory files ----------------------------------------------------------- */

/* Data in every 4th page of the first half, the rest zero. */
static void fill_pattern(uint8_t *p, uint64_t size, unsigned seed)
{
    for (uint64_t off = 0; off < size / 2; off += 4 * PAGE)
        for (unsigned i = 0; i < PAGE; i += 64)
            p[off + i] = (uint8_t)(seed + off / PAGE + i);
    p[size - 1] = (uint8_t)seed; /* a last non-zero byte */
}

static GuestMemory *make_memory(void)
{
    GuestMemory *mem = memory_new(NULL);
    const MemoryBacking b = { 0 };
    ck_assert_ptr_nonnull(memory_add_ram(mem, "low", 0, 4 * MiB, &b, NULL));
    ck_assert_ptr_nonnull(memory_add_ram(mem, "high", 4096 * MiB, 2 * MiB, &b, NULL));
    return mem;
}

static void expect_same(GuestMemory *a, GuestMemory *b)
{
    g_autoptr(GPtrArray) ra = memory_regions(a);
    g_autoptr(GPtrArray) rb = memory_regions(b);
    ck_assert_uint_eq(ra->len, rb->len);
    for (guint i = 0; i < ra->len; i++) {
        const MemRegion *x = ra->pdata[i], *y = rb->pdata[i];
        ck_assert_uint_eq(x->gpa, y->gpa);
        ck_assert_msg(memcmp(x->hva, y->hva, x->size) == 0, "region %#lx differs", (unsigned long)x->gpa);
    }
}

static void memory_round_trip(bool with_sha, bool prefault)
{
    g_autoptr(GuestMemory) src = make_memory();
    g_autoptr(GPtrArray) rs = memory_regions(src);
    for (guint i = 0; i < rs->len; i++)
        fill_pattern(((MemRegion *)rs->pdata[i])->hva, ((MemRegion *)rs->pdata[i])->size, i + 1);
    g_autoptr(SnapshotManifest) m = snapshot_manifest_new();
    g_autoptr(GError) err = NULL;
    ck_assert_msg(snapshot_memory_save(src, tmpdir, with_sha, m, &err), "%s", err ? err->message : "");
    ck_assert_uint_eq(m->regions->len, 2);
    for (guint i = 0; i < m->regions->len; i++) {
        const SnapshotRegion *r = &g_array_index(m->regions, SnapshotRegion, i);
        g_autofree char *name = snapshot_memory_file_name(r->gpa);
        ck_assert_str_eq(r->file, name);
        ck_assert(!with_sha == !r->sha256);
        g_autofree char *path = g_build_filename(tmpdir, r->file, NULL);
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_uint_eq((uint64_t)st.st_size, r->size);
        /* Sparse: about a quarter of the first half holds data. */
        ck_assert_msg((uint64_t)st.st_blocks * 512 <= r->size / 4, "%s: %lu bytes allocated of %lu", path,
                      (unsigned long)st.st_blocks * 512, (unsigned long)r->size);
    }
    /* Into memory full of junk: holes must come back as zeros. */
    g_autoptr(GuestMemory) dst = make_memory();
    g_autoptr(GPtrArray) rd = memory_regions(dst);
    for (guint i = 0; i < rd->len; i++)
        memset(((MemRegion *)rd->pdata[i])->hva, 0xa5, ((MemRegion *)rd->pdata[i])->size);
    ck_assert_msg(snapshot_memory_load(dst, tmpdir, m, prefault, &err), "%s", err ? err->message : "");
    expect_same(src, dst);
}

START_TEST(memory_sparse_round_trip)
{
    memory_round_trip(false, false);
}
END_TEST

START_TEST(memory_round_trip_sha_prefault)
{
    memory_round_trip(true, true);
}
END_TEST

static unsigned resident_pages(const MemRegion *r)
{
    g_autofree unsigned char *vec = g_malloc(r->size / PAGE);
    ck_assert_int_eq(mincore(r->hva, r->size, vec), 0);
    unsigned n = 0;
    for (uint64_t i = 0; i < r->size / PAGE; i++)
        n += vec[i] & 1;
    return n;
}

/* A mostly empty guest (16 pages written of 64 MiB): saving it (with the
 * SHA-256, and loading it back with the check) reads only the pages that
 * can hold data, so no RAM page the guest never wrote gets allocated —
 * reading a memfd's holes would (shared=on), as it would grow the process
 * by the guest's size. Private (anonymous) and shared RAM. */
START_TEST(memory_save_skips_holes)
{
    bool shared = _i == 1;
    const uint64_t size = 64 * MiB;
    g_autoptr(GuestMemory) src = memory_new(NULL);
    const MemoryBacking b = { .shared = shared };
    MemRegion *r = memory_add_ram(src, "ram", 0, size, &b, NULL);
    ck_assert_ptr_nonnull(r);
    for (unsigned i = 0; i < 16; i++)
        memset(r->hva + i * (size / 16) + 8192, 0x40 + (int)i, PAGE);
    unsigned before = resident_pages(r); /* with THP, more than 16 */
    g_autoptr(SnapshotManifest) m = snapshot_manifest_new();
    g_autoptr(GError) err = NULL;
    ck_assert_msg(snapshot_memory_save(src, tmpdir, true, m, &err), "%s", err ? err->message : "");
    unsigned after = resident_pages(r);

    g_autoptr(GuestMemory) dst = memory_new(NULL);
    MemRegion *d = memory_add_ram(dst, "ram", 0, size, &b, NULL);
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(snapshot_memory_load(dst, tmpdir, m, false, &err), "%s", err ? err->message : "");
    unsigned loaded = resident_pages(d);
    g_message("%s: %u of %" G_GUINT64_FORMAT " pages resident before the save, %u after; %u after the load",
              shared ? "shared" : "private", before, size / PAGE, after, loaded);
    ck_assert_uint_le(after, before);
    ck_assert_uint_le(loaded, MAX(before, 16u));
    expect_same(src, dst);
}
END_TEST

START_TEST(memory_load_mismatch)
{
    g_autoptr(GuestMemory) src = make_memory();
    g_autoptr(SnapshotManifest) m = snapshot_manifest_new();
    ck_assert(snapshot_memory_save(src, tmpdir, true, m, NULL));

    /* Another layout. */
    g_autoptr(GuestMemory) other = memory_new(NULL);
    const MemoryBacking b = { 0 };
    ck_assert_ptr_nonnull(memory_add_ram(other, "low", 0, 8 * MiB, &b, NULL));
    g_autoptr(GError) e1 = NULL;
    ck_assert(!snapshot_memory_load(other, tmpdir, m, false, &e1));
    expect_error(e1, "memory region");

    /* A changed byte: the SHA-256 catches it. */
    g_autoptr(GuestMemory) dst = make_memory();
    SnapshotRegion *r0 = &g_array_index(m->regions, SnapshotRegion, 0);
    g_autofree char *path = g_build_filename(tmpdir, r0->file, NULL);
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "x", 1, 12345), 1);
    g_autoptr(GError) e2 = NULL;
    ck_assert(!snapshot_memory_load(dst, tmpdir, m, false, &e2));
    expect_error(e2, "SHA-256");

    /* A truncated file. */
    ck_assert_int_eq(ftruncate(fd, PAGE), 0);
    close(fd);
    g_autoptr(GError) e3 = NULL;
    ck_assert(!snapshot_memory_load(dst, tmpdir, m, false, &e3));
    expect_error(e3, "the manifest says");

    /* A missing file. */
    ck_assert_int_eq(unlink(path), 0);
    g_autoptr(GError) e4 = NULL;
    ck_assert(!snapshot_memory_load(dst, tmpdir, m, false, &e4));
    ck_assert(g_error_matches(e4, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND));
}
END_TEST

/* ---- whole snapshots on a fake machine ---------------------------------------- */

typedef struct FakeMachineState {
    uint64_t counter;
    uint32_t magic;
} FakeMachineState;

static const StateField fake_fields[] = {
    STATE_U64(FakeMachineState, counter, 1),
    STATE_U32(FakeMachineState, magic, 2),
    STATE_END,
};
static const StateDesc fake_desc = {
    .name = "fake-machine", .version = 1, .min_version = 1, .size = sizeof(FakeMachineState), .fields = fake_fields,
};

static FakeMachineState machine_state;
static bool fail_save;

static bool fake_save(Vm *vm, GByteArray *stream, GError **errp)
{
    if (fail_save) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED, "injected failure");
        return false;
    }
    state_stream_add(stream, "fake-machine", &fake_desc, &machine_state);
    return true;
}

static bool fake_lookup(void *opaque, const char *id, const StateDesc **desc, void **obj)
{
    if (strcmp(id, "fake-machine") != 0)
        return false;
    *desc = &fake_desc;
    *obj = &machine_state;
    return true;
}

static bool fake_load(Vm *vm, const uint8_t *buf, size_t len, GError **errp)
{
    return state_stream_load(buf, len, fake_lookup, NULL, errp);
}

static const MachineOps fake_machine = { .save_state = fake_save, .load_state = fake_load };

typedef struct FakeVm {
    Accel *accel;
    EventLoop *loop;
    Vm *vm;
} FakeVm;

static void no_stop(Vm *vm, VmStopReason reason, const char *detail, void *opaque)
{
}

static FakeVm fake_vm_new(bool paused)
{
    FakeVm f = { .accel = fake_accel_new(), .loop = evloop_new("control") };
    g_autoptr(VmConfig) cfg = vm_config_new_default();
    f.vm = vm_new(f.accel, f.loop, cfg, no_stop, NULL, NULL);
    ck_assert_ptr_nonnull(f.vm);
    const MemoryBacking b = { 0 };
    ck_assert_ptr_nonnull(memory_add_ram(vm_memory(f.vm), "ram", 0, 4 * MiB, &b, NULL));
    ck_assert(paused ? vm_start_paused(f.vm, NULL) : vm_start(f.vm, NULL));
    return f;
}

static void fake_vm_free(FakeVm *f)
{
    vm_free(f->vm);
    evloop_free(f->loop);
    accel_close(f->accel);
}

static uint8_t *ram(FakeVm *f)
{
    return memory_hva(vm_memory(f->vm), 0, 4 * MiB);
}

/* Entries of tmpdir (to see that nothing was left behind). */
static unsigned dir_entries(void)
{
    g_autoptr(GDir) d = g_dir_open(tmpdir, 0, NULL);
    unsigned n = 0;
    while (g_dir_read_name(d))
        n++;
    return n;
}

START_TEST(snapshot_round_trip)
{
    FakeVm src = fake_vm_new(true);
    fill_pattern(ram(&src), 4 * MiB, 9);
    machine_state = (FakeMachineState){ .counter = 123456, .magic = 0xfeed };
    g_autofree char *dir = g_build_filename(tmpdir, "snap", NULL);
    g_autoptr(GError) err = NULL;
    ck_assert_msg(snapshot_save(src.vm, &fake_machine, "{\"cfg\":1}", dir, &err), "%s", err ? err->message : "");
    ck_assert_uint_eq(dir_entries(), 1);
    static const char *const files[] = { "manifest.json", "config.json", "state.bin", "memory-0x0.bin" };
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *p = g_build_filename(dir, files[i], NULL);
        ck_assert_msg(g_file_test(p, G_FILE_TEST_IS_REGULAR), "%s missing", files[i]);
    }

    /* A second snapshot to the same (non-empty) place fails, leaving nothing. */
    g_autoptr(GError) e2 = NULL;
    ck_assert(!snapshot_save(src.vm, &fake_machine, "{}", dir, &e2));
    expect_error(e2, "not empty");
    ck_assert_uint_eq(dir_entries(), 1);
    fake_vm_free(&src);

    /* Restore into a fresh VM. */
    machine_state = (FakeMachineState){ 0 };
    g_autoptr(Snapshot) s = snapshot_open(dir, &err);
    ck_assert_msg(s, "%s", err ? err->message : "");
    size_t len;
    const char *cfg = snapshot_config_json(s, &len);
    ck_assert_int_eq(len, 9);
    ck_assert(memcmp(cfg, "{\"cfg\":1}", 9) == 0);
    FakeVm dst = fake_vm_new(true);
    memset(ram(&dst), 0x5a, 4 * MiB);
    ck_assert_msg(snapshot_load(s, dst.vm, &fake_machine, true, &err), "%s", err ? err->message : "");
    ck_assert_uint_eq(machine_state.counter, 123456);
    ck_assert_uint_eq(machine_state.magic, 0xfeed);
    g_autofree uint8_t *want = g_malloc0(4 * MiB);
    fill_pattern(want, 4 * MiB, 9);
    ck_assert(memcmp(ram(&dst), want, 4 * MiB) == 0);
    fake_vm_free(&dst);
}
END_TEST

START_TEST(snapshot_into_empty_dir)
{
    /* cloud-hypervisor's habit: the destination directory exists, empty. */
    FakeVm src = fake_vm_new(true);
    g_autofree char *dir = g_build_filename(tmpdir, "empty", NULL);
    ck_assert_int_eq(g_mkdir(dir, 0700), 0);
    g_autoptr(GError) err = NULL;
    ck_assert_msg(snapshot_save(src.vm, &fake_machine, "{}", dir, &err), "%s", err ? err->message : "");
    g_autofree char *p = g_build_filename(dir, "manifest.json", NULL);
    ck_assert(g_file_test(p, G_FILE_TEST_IS_REGULAR));
    fake_vm_free(&src);
}
END_TEST

START_TEST(snapshot_refused_leaves_nothing)
{
    g_autofree char *dir = g_build_filename(tmpdir, "snap", NULL);
    /* A running VM. */
    FakeVm run = fake_vm_new(false);
    g_autoptr(GError) e1 = NULL;
    ck_assert(!snapshot_save(run.vm, &fake_machine, "{}", dir, &e1));
    ck_assert(g_error_matches(e1, NIMBUS_ERROR, NIMBUS_ERROR_STATE));
    fake_vm_free(&run);
    /* The machine's state cannot be saved. */
    FakeVm src = fake_vm_new(true);
    fail_save = true;
    g_autoptr(GError) e2 = NULL;
    ck_assert(!snapshot_save(src.vm, &fake_machine, "{}", dir, &e2));
    fail_save = false;
    expect_error(e2, "injected failure");
    /* A machine without state support. */
    const MachineOps none = { 0 };
    g_autoptr(GError) e3 = NULL;
    ck_assert(!snapshot_save(src.vm, &none, "{}", dir, &e3));
    ck_assert(g_error_matches(e3, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED));
    /* A parent directory that does not exist. */
    g_autofree char *deep = g_build_filename(tmpdir, "no", "such", NULL);
    g_autoptr(GError) e4 = NULL;
    ck_assert(!snapshot_save(src.vm, &fake_machine, "{}", deep, &e4));
    ck_assert_uint_eq(dir_entries(), 0);
    fake_vm_free(&src);
}
END_TEST

static char *take_snapshot(void)
{
    FakeVm src = fake_vm_new(true);
    fill_pattern(ram(&src), 4 * MiB, 3);
    char *dir = g_build_filename(tmpdir, "snap", NULL);
    ck_assert(snapshot_save(src.vm, &fake_machine, "{}", dir, NULL));
    fake_vm_free(&src);
    return dir;
}

static void expect_open_fails(const char *dir, const char *needle)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Snapshot) s = snapshot_open(dir, &err);
    ck_assert_ptr_null(s);
    expect_error(err, needle);
}

static void flip_byte(const char *dir, const char *name, off_t off)
{
    g_autofree char *p = g_build_filename(dir, name, NULL);
    int fd = open(p, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, off), 1);
    b ^= 0x10;
    ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

START_TEST(snapshot_corrupt)
{
    g_autofree char *dir = take_snapshot();
    flip_byte(dir, "state.bin", 20);
    expect_open_fails(dir, "CRC");
    flip_byte(dir, "state.bin", 20);

    g_autofree char *mem = g_build_filename(dir, "memory-0x0.bin", NULL);
    ck_assert_int_eq(truncate(mem, 2 * MiB), 0);
    expect_open_fails(dir, "memory-0x0.bin");
    ck_assert_int_eq(truncate(mem, 4 * MiB), 0);

    g_autofree char *st = g_build_filename(dir, "state.bin", NULL);
    g_autofree char *st2 = g_build_filename(dir, "state.old", NULL);
    ck_assert_int_eq(rename(st, st2), 0);
    expect_open_fails(dir, "state.bin");
    ck_assert_int_eq(symlink("/etc/passwd", st), 0);
    expect_open_fails(dir, "not a regular file");
    ck_assert_int_eq(unlink(st), 0);
    ck_assert_int_eq(rename(st2, st), 0);

    g_autofree char *man = g_build_filename(dir, "manifest.json", NULL);
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents(man, &text, NULL, NULL));
    ck_assert(g_file_set_contents(man, "{\"format_version\":99}", -1, NULL));
    expect_open_fails(dir, "format version 99");
    ck_assert_int_eq(unlink(man), 0);
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(snapshot_open(dir, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND));
    ck_assert(g_file_set_contents(man, text, -1, NULL));

    /* Intact again: it opens, but a machine whose state is refused fails. */
    g_autoptr(Snapshot) s = snapshot_open(dir, NULL);
    ck_assert_ptr_nonnull(s);
    FakeVm dst = fake_vm_new(true);
    const MachineOps none = { 0 };
    g_autoptr(GError) e2 = NULL;
    ck_assert(!snapshot_load(s, dst.vm, &none, false, &e2));
    ck_assert(g_error_matches(e2, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED));
    fake_vm_free(&dst);
    expect_open_fails("/nonexistent/snapshot", "cannot open");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase_create("snapshot");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, url_to_dir);
    tcase_add_test(tc, manifest_round_trip);
    tcase_add_test(tc, manifest_hostile);
    tcase_add_test(tc, manifest_mutations_never_crash);
    tcase_add_test(tc, memory_sparse_round_trip);
    tcase_add_test(tc, memory_round_trip_sha_prefault);
    tcase_add_loop_test(tc, memory_save_skips_holes, 0, 2);
    tcase_add_test(tc, memory_load_mismatch);
    tcase_add_test(tc, snapshot_round_trip);
    tcase_add_test(tc, snapshot_into_empty_dir);
    tcase_add_test(tc, snapshot_refused_leaves_nothing);
    tcase_add_test(tc, snapshot_corrupt);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(suite)
