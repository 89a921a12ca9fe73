/* The state stream: the sections of a whole VM (one per device or vCPU, keyed
 * by id) in one buffer, as written to a snapshot's state.bin and sent as the
 * migration State command. Sections are those of state.h, each with its own
 * CRC; the stream adds a magic, the architecture and a whole-stream CRC that
 * also covers the framing (ids and lengths).
 *
 * STREAM FORMAT (version 1, little-endian):
 *
 *   u8   magic[8]      "NIMBUSST"
 *   u16  version       STATE_STREAM_VERSION; a reader rejects any other
 *   u16  arch          STATE_ARCH_X86_64 (1) or STATE_ARCH_AARCH64 (2); must
 *                      equal the reader's (state is not portable across arches)
 *   u32  reserved      0
 *   entries, each:
 *     u8   kind        1 = section
 *     u8   id_len      1..STATE_NAME_MAX, printable ASCII without spaces
 *     u8   id[id_len]  unique within the stream
 *     u32  section_len <= STATE_SECTION_MAX
 *     u8   section[section_len]   (state.h "Section")
 *   trailer:
 *     u8   kind        0 = end
 *     u8   reserved[3] 0
 *     u32  count       number of entries
 *     u32  crc32       state_crc32() of every stream byte before it
 *   nothing after the trailer; whole stream <= STATE_STREAM_MAX.
 *
 * state_stream_load() checks the whole framing, the limits and the stream CRC
 * before it loads any section, so a corrupt or truncated stream changes no
 * object. A section refused later (bounds, post_load) leaves the sections
 * before it loaded: the caller discards the half-loaded machine.
 */
#pragma once
#include "migration/state.h"

#define STATE_STREAM_VERSION 1u
#define STATE_STREAM_MAX (64u * 1024 * 1024)

#define STATE_ARCH_X86_64 1u
#define STATE_ARCH_AARCH64 2u

/* Write the stream header to an empty out. */
void state_stream_begin(GByteArray *out);
/* Append one section for obj under id (unique, 1..STATE_NAME_MAX printable). */
void state_stream_add(GByteArray *out, const char *id, const StateDesc *desc, const void *obj);
/* Write the trailer; out is then a complete stream. */
void state_stream_finish(GByteArray *out);

/* Where the section for `id` goes: set *desc and *obj and return true, or
 * return false for an id the machine does not have (the load then fails). */
typedef bool (*StateStreamLookup)(void *opaque, const char *id, const StateDesc **desc, void **obj);

/* Verify the stream, then load every section into the object lookup names,
 * in stream order. Hostile input: never crashes; errors name the id. */
bool state_stream_load(const uint8_t *buf, size_t len, StateStreamLookup lookup, void *opaque, GError **errp);
