/* The live-migration wire protocol: typed, versioned, framed messages over a
 * byte stream (a connected UNIX or TCP socket).
 *
 * FRAME (little-endian):
 *   u32 type      MigMsgType
 *   u32 length    payload bytes, <= MIG_FRAME_MAX
 *   u32 crc32     state_crc32() over the type and length fields (8 bytes
 *                 as sent) and then the payload
 *   u8  payload[length]
 *
 * MESSAGES (source -> destination unless noted):
 *   START     u8 magic[8] "NIMBUSMG", u32 version (MIG_PROTOCOL_VERSION),
 *             u32 arch (STATE_ARCH_*), u32 page_size (4096); exactly 20 bytes
 *   CONFIG    the VM configuration as vm.create JSON, <= MIG_CONFIG_MAX
 *   MEMORY    u32 count, then count entries { u64 gpa, u32 len, u32 flags,
 *             u8 data[len] unless flags & MIG_MEM_ZERO }; gpa and len
 *             page-aligned, len > 0; the entries exactly fill the payload
 *   STATE     u64 machine_len, u64 devices_len, the machine's state stream
 *             (MachineOps.save_state), the devices' stream (device_state.h)
 *   MEMORY_FD local migration (local=true over unix:, memory shared=on):
 *             u64 gpa, u64 size of one RAM region, and the region's memfd
 *             passed with the frame header (SCM_RIGHTS); exactly 16 bytes.
 *             The destination maps that fd in place of its own RAM, so no
 *             page is copied. Sent for every RAM region instead of MEMORY.
 *   COMPLETE  empty: everything has been sent
 *   ACK       destination -> source, empty: the previous step (START,
 *             CONFIG or COMPLETE) was accepted
 *   ABANDON   either way: UTF-8 reason (<= MIG_REASON_MAX); the migration
 *             is over and failed
 *
 * Every frame received is hostile: the reader checks the type, the length
 * bound and the CRC before returning it, and the payload parsers below check
 * every field. */
#pragma once
#include "migration/stream.h"
#include "migration/transport.h"

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_PROTOCOL_VERSION 1u
/* The architecture (STATE_ARCH_*, migration/stream.h) this build sends and
 * accepts in Start. */
#if defined(__x86_64__)
#define MIG_ARCH_HOST STATE_ARCH_X86_64
#else
#define MIG_ARCH_HOST STATE_ARCH_AARCH64
#endif
#define MIG_MAGIC "NIMBUSMG"
#define MIG_FRAME_HEADER 12u
#define MIG_FRAME_MAX (64u << 20)
#define MIG_CONFIG_MAX (1u << 20)
#define MIG_REASON_MAX 4096u
#define MIG_PAGE 4096u
#define MIG_START_LEN 20u
#define MIG_MEM_ENTRY_HEADER 16u
#define MIG_MEM_ZERO 1u

typedef enum MigMsgType {
    MIG_MSG_START = 1,
    MIG_MSG_CONFIG = 2,
    MIG_MSG_MEMORY = 3,
    MIG_MSG_STATE = 4,
    MIG_MSG_COMPLETE = 5,
    MIG_MSG_ACK = 6,
    MIG_MSG_ABANDON = 7,
    MIG_MSG_MEMORY_FD = 8,
} MigMsgType;

#define MIG_MSG_LAST MIG_MSG_MEMORY_FD
#define MIG_MEMORY_FD_LEN 16u

const char *mig_msg_name(uint32_t type);

/* Encode one frame (header + payload) into out (appended). */
void mig_frame_encode(GByteArray *out, MigMsgType type, const void *payload, size_t len);
/* Check a frame header: a known type, length within the bound. */
bool mig_frame_header_parse(const uint8_t hdr[MIG_FRAME_HEADER], uint32_t *type, uint32_t *len, uint32_t *crc,
                            GError **errp);
/* Check the crc of a frame whose header and payload have been read. */
bool mig_frame_crc_ok(const uint8_t hdr[MIG_FRAME_HEADER], const uint8_t *payload, size_t len, uint32_t crc);
/* Parse one whole frame from buf (tests, and the stream reader's core):
 * *consumed tells how many bytes it used. A short buffer is an error. */
bool mig_frame_decode(const uint8_t *buf, size_t len, uint32_t *type, const uint8_t **payload,
                      uint32_t *payload_len, size_t *consumed, GError **errp);

/* Blocking frame I/O on a socket fd. A closed peer or a short read is an
 * error; *payload (g_malloc'd) is owned by the caller. */
bool mig_send(int fd, MigMsgType type, const void *payload, size_t len, GError **errp);
/* mig_send_fd (pass -1: none) that writes in pieces of at most
 * MIG_SEND_PIECE bytes and calls watch->moved after each: a peer that
 * stopped reading shows as no call (the source's stall detection). */
#define MIG_SEND_PIECE (256u << 10)
typedef struct MigSendWatch {
    void (*moved)(void *opaque);
    void *opaque;
} MigSendWatch;
bool mig_send_watched(int fd, MigMsgType type, const void *payload, size_t len, int pass, const MigSendWatch *watch,
                      GError **errp);
bool mig_recv(int fd, uint32_t *type, uint8_t **payload, uint32_t *len, GError **errp);
/* The same with one fd passed along (SCM_RIGHTS, UNIX sockets only). On
 * receive *passed is the fd that came with the frame (O_CLOEXEC, owned by
 * the caller) or -1; mig_recv closes any fd that comes unasked. */
bool mig_send_fd(int fd, MigMsgType type, const void *payload, size_t len, int pass, GError **errp);
bool mig_recv_fd(int fd, uint32_t *type, uint8_t **payload, uint32_t *len, int *passed, GError **errp);

/* Payloads. */
void mig_start_encode(uint8_t out[MIG_START_LEN], uint32_t arch);
bool mig_start_parse(const uint8_t *p, size_t len, uint32_t arch, GError **errp);

typedef struct MigMemEntry {
    uint64_t gpa;
    uint32_t len;
    uint32_t flags;
    const uint8_t *data; /* NULL for MIG_MEM_ZERO */
} MigMemEntry;
/* Calls fn for each entry after the whole payload has been validated. */
bool mig_memory_parse(const uint8_t *p, size_t len, bool (*fn)(void *opaque, const MigMemEntry *e, GError **errp),
                      void *opaque, GError **errp);
/* A MEMORY payload under construction: begin, add entries, finish. */
void mig_memory_begin(GByteArray *out);
void mig_memory_add(GByteArray *out, uint64_t gpa, uint32_t len, const void *data /* NULL: zero */);
void mig_memory_finish(GByteArray *out);

bool mig_state_parse(const uint8_t *p, size_t len, const uint8_t **machine, size_t *machine_len,
                     const uint8_t **devices, size_t *devices_len, GError **errp);

