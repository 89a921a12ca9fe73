/* The state scheme: one declarative description per device (and vCPU) drives
 * snapshot, live migration, the JSON debug dump and the round-trip tests
 * (DESIGN §2.3 (d)). A description is a const table of fields built with the
 * STATE_* macros below; the engine (state.c) saves, loads, skips and dumps it.
 * There is no hand-written save/load pair per device.
 *
 * ---------------------------------------------------------------------------
 * WIRE FORMAT (version 1). All integers little-endian, no padding, no
 * alignment. Every load is hostile input: every length is checked against the
 * bytes that remain and against the limits below before it is used.
 *
 * Section: what state_save() writes for one object (and what state_load()
 * reads). Self-contained, with its own CRC.
 *
 *   u16  version        version of the writer's StateDesc
 *   u8   name_len       1..STATE_NAME_MAX
 *   u8   reserved       0 (a reader rejects anything else)
 *   u8   name[name_len] the StateDesc name, [A-Za-z0-9_./-]; must equal the
 *                       reader's desc name
 *   u32  body_len       length of body; header + body + crc <= STATE_SECTION_MAX
 *   u8   body[body_len] a record (below)
 *   u32  crc32          CRC-32 (IEEE 802.3, reflected 0xEDB88320, init and
 *                       final xor 0xFFFFFFFF, as zlib's crc32()) of all bytes of
 *                       the section before it. Checked before anything is parsed.
 *
 * Record: a sequence of entries until the end of its enclosing length.
 * Entries come in description order but readers accept any order.
 *
 *   u16  tag            stable small integer 1..65535, never reused; 0 = section
 *   u8   type           StateType (below)
 *   u8   flags          bit 0 STATE_F_OPTIONAL: a reader that does not know
 *                       this tag (or section) skips it; without it the reader
 *                       fails. Other bits are reserved and ignored.
 *   u32  len            payload length (<= what remains of the enclosing record)
 *   u8   payload[len]
 *
 * Payload by type (a known tag must arrive with the type the reader expects):
 *   U8 U16 U32 U64 I32 I64   count x element, len == field size exactly
 *                            (count is 1, or N for a fixed scalar array)
 *   BOOL                     count x u8 that is 0 or 1
 *   BYTES                    the fixed byte array, len == field size exactly
 *   STRUCT                   a record of the nested description
 *   ARRAY                    u32 count (<= the field's capacity), then count x
 *                            { u32 elem_len, record of the element description };
 *                            the reader stores count into the field's count member
 *   CUSTOM                   opaque bytes of the field's StateCustomOps
 *   SECTION (tag 0)          u16 version, u8 name_len, u8 reserved (0),
 *                            name[name_len], then a record of the subsection's
 *                            description (QEMU-style subsection, sent when its
 *                            needed() says so)
 *
 * Reader rules:
 *   - version < desc->min_version: rejected (STATE_ERROR_VERSION). A newer
 *     version is accepted: compatibility is carried by the tags (a new field
 *     is added under a new tag, OPTIONAL when old readers may ignore it).
 *   - unknown tag or section: skipped when flagged OPTIONAL, else rejected.
 *   - a known tag twice, a wrong type or length, a BOOL not 0/1, a value above
 *     the field's bound (STATE_*_MAX), an array count above capacity: rejected.
 *   - a known field missing from the stream: kept at the object's current
 *     (reset) value when the field is OPTIONAL, rejected when it is required.
 *     Missing subsections keep their reset values.
 *   - nested descriptions' post_load run after their record, the top-level
 *     post_load last; they validate cross-field invariants and may refuse.
 *   - on failure the object is memory-safe but partly loaded: reset or
 *     discard it (a destination never runs a half-loaded VM).
 *
 * Stream (stream.h): a container of sections keyed by device id, with a
 * magic and architecture marker and a whole-stream CRC; see stream.h.
 * ---------------------------------------------------------------------------
 */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_ERROR state_error_quark()
GQuark state_error_quark(void);

typedef enum {
    STATE_ERROR_CORRUPT,   /* truncated, bad CRC, malformed framing */
    STATE_ERROR_TOO_LARGE, /* a length above the section or stream limit */
    STATE_ERROR_VERSION,   /* stream version below the description's min_version */
    STATE_ERROR_MISMATCH,  /* wrong description name, field type or architecture */
    STATE_ERROR_UNKNOWN,   /* unknown required field, section or device id */
    STATE_ERROR_MISSING,   /* a required field absent from the stream */
    STATE_ERROR_INVALID,   /* value out of bounds, or refused by post_load */
} StateErrorCode;

/* Limits (Firecracker caps a whole snapshot at 10 MB; we cap each section). */
#define STATE_NAME_MAX 63u
#define STATE_SECTION_MAX (10u * 1024 * 1024)
#define STATE_DEPTH_MAX 8u

typedef enum {
    STATE_TYPE_U8 = 1,
    STATE_TYPE_U16 = 2,
    STATE_TYPE_U32 = 3,
    STATE_TYPE_U64 = 4,
    STATE_TYPE_BOOL = 5,
    STATE_TYPE_I32 = 6,
    STATE_TYPE_I64 = 7,
    STATE_TYPE_BYTES = 8,   /* fixed-size byte array */
    STATE_TYPE_STRUCT = 9,  /* embedded struct with its own StateDesc */
    STATE_TYPE_ARRAY = 10,  /* embedded array of structs + a count member */
    STATE_TYPE_CUSTOM = 11, /* StateCustomOps */
    STATE_TYPE_SECTION = 15 /* wire only: a subsection entry (tag 0) */
} StateType;

/* StateField.flags */
#define STATE_F_OPTIONAL 0x01u /* readers that don't know it skip it; may be absent */

typedef struct StateDesc StateDesc;
typedef struct StateField StateField;

/* A field the engine cannot describe (rare; DESIGN: "one function that
 * branches on direction" where possible). obj is the containing struct. save
 * appends any bytes; load gets exactly those bytes back (hostile: validate). */
typedef struct StateCustomOps {
    void (*save)(const void *obj, const StateField *f, GByteArray *out);
    bool (*load)(void *obj, const StateField *f, const uint8_t *buf, size_t len, GError **errp);
} StateCustomOps;

struct StateField {
    const char *name;
    uint16_t tag;   /* 1..65535, unique within the description, never reused */
    uint8_t type;   /* StateType */
    uint8_t flags;  /* STATE_F_* */
    size_t offset;  /* of the member in the struct */
    size_t size;    /* of the member (whole array for arrays) */
    size_t elem_size;       /* scalar or struct element size (arrays) */
    bool has_max;
    uint64_t max;           /* inclusive bound of unsigned integers (STATE_*_MAX) */
    const StateDesc *desc;  /* STRUCT / ARRAY element */
    size_t count_offset;    /* ARRAY: the unsigned count member */
    size_t count_size;
    const StateCustomOps *custom;
};

/* An optional subsection: fields of the same object sent only when needed()
 * (NULL = always). Its desc has its own name and version. */
typedef struct StateSection {
    const StateDesc *desc;
    bool (*needed)(const void *obj);
    uint8_t flags; /* STATE_F_OPTIONAL: readers that don't know it may skip it */
} StateSection;

struct StateDesc {
    const char *name;     /* stable wire name, e.g. "uart16550" */
    uint16_t version;     /* written into streams */
    uint16_t min_version; /* oldest stream version this reader accepts */
    size_t size;          /* sizeof the described struct */
    const StateField *fields;     /* terminated by STATE_END */
    const StateSection *sections; /* optional; terminated by { NULL } */
    /* Validate after load (bounds, cross-field invariants) and recompute
     * derived state. Only touches this object. version = the stream's. */
    bool (*post_load)(void *obj, unsigned version, GError **errp);
};

/* ---- field macros ------------------------------------------------------ */

/* Compile-time checks inside constant expressions: a struct with a static
 * assertion in it (C11 allows _Static_assert in a member list). */
#define STATE_CHECK_(cond, msg) (0 * sizeof(struct { _Static_assert(cond, msg); int dummy_; }))
#define STATE_MEMBER_(T, f) (((T *)0)->f)
#define STATE_IS_ARRAY_(x) (!__builtin_types_compatible_p(typeof(x), typeof(&(x)[0])))

#define STATE_IS_U8_(x) _Generic((x), unsigned char: 1, default: 0)
#define STATE_IS_U16_(x) _Generic((x), unsigned short: 1, default: 0)
#define STATE_IS_U32_(x) _Generic((x), unsigned int: 1, default: 0) /* also enums without negative values */
#define STATE_IS_U64_(x) _Generic((x), unsigned long: sizeof(x) == 8, unsigned long long: 1, default: 0)
#define STATE_IS_I32_(x) _Generic((x), int: 1, default: 0)
#define STATE_IS_I64_(x) _Generic((x), long: sizeof(x) == 8, long long: 1, default: 0)
#define STATE_IS_BOOL_(x) _Generic((x), _Bool: 1, default: 0)
#define STATE_IS_UINT_(x) (STATE_IS_U8_(x) || STATE_IS_U16_(x) || STATE_IS_U32_(x))

#define STATE_SCALAR_(T, f, tag_, ty, check, ...)                                                          \
    {                                                                                                      \
        .name = #f, .tag = (tag_), .type = (ty),                                                           \
        .offset = offsetof(T, f) + STATE_CHECK_(check(STATE_MEMBER_(T, f)), #T "." #f ": wrong type for " #ty), \
        .size = sizeof(STATE_MEMBER_(T, f)), .elem_size = sizeof(STATE_MEMBER_(T, f)), __VA_ARGS__        \
    }
#define STATE_SCALAR_ARRAY_(T, f, tag_, ty, check, ...)                                                    \
    {                                                                                                      \
        .name = #f, .tag = (tag_), .type = (ty),                                                           \
        .offset = offsetof(T, f) + STATE_CHECK_(STATE_IS_ARRAY_(STATE_MEMBER_(T, f)), #T "." #f ": not an array") \
                  + STATE_CHECK_(check(STATE_MEMBER_(T, f)[0]), #T "." #f ": wrong element type for " #ty), \
        .size = sizeof(STATE_MEMBER_(T, f)), .elem_size = sizeof(STATE_MEMBER_(T, f)[0]), __VA_ARGS__     \
    }

/* Trailing arguments are extra designated initializers, e.g.
 * STATE_U32(Foo, n, 3, STATE_OPTIONAL) or STATE_U32(Foo, n, 3, .max = 8, .has_max = true). */
#define STATE_OPTIONAL .flags = STATE_F_OPTIONAL

#define STATE_U8(T, f, tag_, ...) STATE_SCALAR_(T, f, tag_, STATE_TYPE_U8, STATE_IS_U8_, __VA_ARGS__)
#define STATE_U16(T, f, tag_, ...) STATE_SCALAR_(T, f, tag_, STATE_TYPE_U16, STATE_IS_U16_, __VA_ARGS__)
#define STATE_U32(T, f, tag_, ...) STATE_SCALAR_(T, f, tag_, STATE_TYPE_U32, STATE_IS_U32_, __VA_ARGS__)
#define STATE_U64(T, f, tag_, ...) STATE_SCALAR_(T, f, tag_, STATE_TYPE_U64, STATE_IS_U64_, __VA_ARGS__)
#define STATE_I32(T, f, tag_, ...) STATE_SCALAR_(T, f, tag_, STATE_TYPE_I32, STATE_IS_I32_, __VA_ARGS__)
#define STATE_I64(T, f, tag_, ...) STATE_SCALAR_(T, f, tag_, STATE_TYPE_I64, STATE_IS_I64_, __VA_ARGS__)
#define STATE_BOOL(T, f, tag_, ...) STATE_SCALAR_(T, f, tag_, STATE_TYPE_BOOL, STATE_IS_BOOL_, __VA_ARGS__)

/* Integers used as sizes or indices must be bounded (inclusive max). */
#define STATE_U8_MAX(T, f, tag_, m, ...) STATE_U8(T, f, tag_, .has_max = true, .max = (m), __VA_ARGS__)
#define STATE_U16_MAX(T, f, tag_, m, ...) STATE_U16(T, f, tag_, .has_max = true, .max = (m), __VA_ARGS__)
#define STATE_U32_MAX(T, f, tag_, m, ...) STATE_U32(T, f, tag_, .has_max = true, .max = (m), __VA_ARGS__)
#define STATE_U64_MAX(T, f, tag_, m, ...) STATE_U64(T, f, tag_, .has_max = true, .max = (m), __VA_ARGS__)

/* Fixed arrays of scalars (every element encoded little-endian). */
#define STATE_U16_ARRAY(T, f, tag_, ...) STATE_SCALAR_ARRAY_(T, f, tag_, STATE_TYPE_U16, STATE_IS_U16_, __VA_ARGS__)
#define STATE_U32_ARRAY(T, f, tag_, ...) STATE_SCALAR_ARRAY_(T, f, tag_, STATE_TYPE_U32, STATE_IS_U32_, __VA_ARGS__)
#define STATE_U64_ARRAY(T, f, tag_, ...) STATE_SCALAR_ARRAY_(T, f, tag_, STATE_TYPE_U64, STATE_IS_U64_, __VA_ARGS__)

/* A fixed byte array (uint8_t x[N] or char x[N]). */
#define STATE_BYTES(T, f, tag_, ...)                                                                        \
    {                                                                                                      \
        .name = #f, .tag = (tag_), .type = STATE_TYPE_BYTES,                                                \
        .offset = offsetof(T, f) + STATE_CHECK_(STATE_IS_ARRAY_(STATE_MEMBER_(T, f)), #T "." #f ": not an array") \
                  + STATE_CHECK_(sizeof(STATE_MEMBER_(T, f)[0]) == 1, #T "." #f ": not a byte array"),   \
        .size = sizeof(STATE_MEMBER_(T, f)), .elem_size = 1, __VA_ARGS__                                  \
    }
#define STATE_U8_ARRAY STATE_BYTES

/* An embedded struct described by *d (d->size must equal the member's size;
 * state_desc_check() verifies it). */
#define STATE_STRUCT(T, f, tag_, d, ...)                                                                    \
    {                                                                                                      \
        .name = #f, .tag = (tag_), .type = STATE_TYPE_STRUCT, .offset = offsetof(T, f),                     \
        .size = sizeof(STATE_MEMBER_(T, f)), .elem_size = sizeof(STATE_MEMBER_(T, f)), .desc = (d),        \
        __VA_ARGS__                                                                                        \
    }

/* An embedded array of structs f[N] whose first `count` elements are live;
 * count is an unsigned member of T, bounded by N (checked on load). */
#define STATE_STRUCT_ARRAY(T, f, count, tag_, d, ...)                                                       \
    {                                                                                                      \
        .name = #f, .tag = (tag_), .type = STATE_TYPE_ARRAY,                                                \
        .offset = offsetof(T, f) + STATE_CHECK_(STATE_IS_ARRAY_(STATE_MEMBER_(T, f)), #T "." #f ": not an array") \
                  + STATE_CHECK_(STATE_IS_UINT_(STATE_MEMBER_(T, count)), #T "." #count ": count must be u8/u16/u32"), \
        .size = sizeof(STATE_MEMBER_(T, f)), .elem_size = sizeof(STATE_MEMBER_(T, f)[0]), .desc = (d),     \
        .count_offset = offsetof(T, count), .count_size = sizeof(STATE_MEMBER_(T, count)), __VA_ARGS__    \
    }

/* A field with its own encoder (ops: const StateCustomOps *). */
#define STATE_CUSTOM(T, f, tag_, ops, ...)                                                                  \
    {                                                                                                      \
        .name = #f, .tag = (tag_), .type = STATE_TYPE_CUSTOM, .offset = offsetof(T, f),                     \
        .size = sizeof(STATE_MEMBER_(T, f)), .custom = (ops), __VA_ARGS__                                  \
    }

#define STATE_END { .name = NULL }

/* ---- engine ------------------------------------------------------------ */

/* Append one section (format above) for obj to out. Never fails for a
 * description that passes state_desc_check(); asserts the size limit. */
void state_save(const StateDesc *desc, const void *obj, GByteArray *out);

/* Load one section from buf[0..len) (exactly one section, nothing after it)
 * into obj, which holds reset values. Hostile input: never crashes, sets a
 * STATE_ERROR naming the description and field path on failure. */
bool state_load(const StateDesc *desc, void *obj, const uint8_t *buf, size_t len, GError **errp);

/* Refuse a loaded value: set STATE_ERROR_INVALID with "<who>: <message>" and
 * return false (for post_load hooks and machine-state loaders). */
bool state_invalid(GError **errp, const char *who, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Human-readable JSON of obj as desc sees it ({"name", "version", "fields",
 * "sections"}); g_free() the result. */
char *state_dump_json(const StateDesc *desc, const void *obj);

/* Consistency check of a description and everything it nests: tags unique
 * and non-zero, names set, offsets and sizes inside desc->size, nested sizes
 * matching, depth bounded, versions sane. Tests run it on every registered
 * description; the engine assumes it holds. */
bool state_desc_check(const StateDesc *desc, GError **errp);

/* CRC-32 (IEEE, as zlib crc32(0, buf, len)); crc = 0 to start, or a
 * previous result to continue. */
uint32_t state_crc32(uint32_t crc, const uint8_t *buf, size_t len);
