/* Live-migration frames and payloads (format in protocol.h). */
#include "migration/protocol.h"

#include "hypervisor/error.h"
#include "hypervisor/le.h"
#include "migration/state.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool bad(GError **errp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static bool bad(GError **errp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *m = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "migration stream: %s", m);
    return false;
}

const char *mig_msg_name(uint32_t type)
{
    static const char *const names[] = { "?",        "Start", "Config",  "Memory",  "State",
                                         "Complete", "Ack",   "Abandon", "MemoryFd" };
    return type < G_N_ELEMENTS(names) ? names[type] : "?";
}

static uint32_t frame_crc(const uint8_t *hdr, const uint8_t *payload, size_t len)
{
    uint32_t crc = state_crc32(0, hdr, 8);
    return len ? state_crc32(crc, payload, len) : crc;
}

void mig_frame_encode(GByteArray *out, MigMsgType type, const void *payload, size_t len)
{
    g_assert(len <= MIG_FRAME_MAX);
    uint8_t hdr[MIG_FRAME_HEADER];
    le_store32(hdr, type);
    le_store32(hdr + 4, (uint32_t)len);
    le_store32(hdr + 8, frame_crc(hdr, payload, len));
    g_byte_array_append(out, hdr, sizeof hdr);
    if (len)
        g_byte_array_append(out, payload, (guint)len);
}

bool mig_frame_header_parse(const uint8_t hdr[MIG_FRAME_HEADER], uint32_t *type, uint32_t *len, uint32_t *crc,
                            GError **errp)
{
    *type = le_load32(hdr);
    *len = le_load32(hdr + 4);
    *crc = le_load32(hdr + 8);
    if (*type < MIG_MSG_START || *type > MIG_MSG_LAST)
        return bad(errp, "unknown message type %u", *type);
    if (*len > MIG_FRAME_MAX)
        return bad(errp, "%s frame of %u bytes is over the %u-byte limit", mig_msg_name(*type), *len,
                   MIG_FRAME_MAX);
    return true;
}

bool mig_frame_crc_ok(const uint8_t hdr[MIG_FRAME_HEADER], const uint8_t *payload, size_t len, uint32_t crc)
{
    return frame_crc(hdr, payload, len) == crc;
}

bool mig_frame_decode(const uint8_t *buf, size_t len, uint32_t *type, const uint8_t **payload,
                      uint32_t *payload_len, size_t *consumed, GError **errp)
{
    uint32_t crc;
    if (len < MIG_FRAME_HEADER)
        return bad(errp, "truncated frame header (%zu bytes)", len);
    if (!mig_frame_header_parse(buf, type, payload_len, &crc, errp))
        return false;
    if (len - MIG_FRAME_HEADER < *payload_len)
        return bad(errp, "truncated %s frame (%zu of %u bytes)", mig_msg_name(*type), len - MIG_FRAME_HEADER,
                   *payload_len);
    *payload = buf + MIG_FRAME_HEADER;
    if (!mig_frame_crc_ok(buf, *payload, *payload_len, crc))
        return bad(errp, "%s frame fails its CRC (corrupt)", mig_msg_name(*type));
    *consumed = MIG_FRAME_HEADER + *payload_len;
    return true;
}

static bool io_error(GError **errp, int err, const char *what)
{
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_IO, "migration: %s: %s", what,
                err ? g_strerror(err) : "the peer closed the connection");
    return false;
}

/* watch (may be NULL): sent in pieces, watch->moved after each. */
static bool write_all(int fd, const uint8_t *p, size_t len, const MigSendWatch *watch, GError **errp)
{
    while (len) {
        ssize_t n = send(fd, p, watch ? MIN(len, MIG_SEND_PIECE) : len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return io_error(errp, n < 0 ? errno : EPIPE, "cannot send");
        p += n;
        len -= (size_t)n;
        if (watch)
            watch->moved(watch->opaque);
    }
    return true;
}

static bool read_all(int fd, uint8_t *p, size_t len, GError **errp)
{
    while (len) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return io_error(errp, errno == EAGAIN ? ETIMEDOUT : errno, "cannot receive");
        if (n == 0)
            return io_error(errp, 0, "truncated stream");
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Send the header's first byte with the fd attached: the receiver gets
 * the fd with the frame it belongs to. */
static bool send_with_fd(int fd, const uint8_t *p, int pass, GError **errp)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = { .iov_base = (void *)p, .iov_len = 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass, sizeof(int));
    ssize_t n;
    do
        n = sendmsg(fd, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        return io_error(errp, n < 0 ? errno : EPIPE, "cannot pass a memory fd");
    return true;
}

static bool send_frame(int fd, MigMsgType type, const void *payload, size_t len, int pass, const MigSendWatch *watch,
                       GError **errp)
{
    uint8_t hdr[MIG_FRAME_HEADER];
    g_assert(len <= MIG_FRAME_MAX);
    le_store32(hdr, type);
    le_store32(hdr + 4, (uint32_t)len);
    le_store32(hdr + 8, frame_crc(hdr, payload, len));
    if (pass >= 0) {
        if (!send_with_fd(fd, hdr, pass, errp) || !write_all(fd, hdr + 1, sizeof hdr - 1, watch, errp))
            return false;
    } else if (!write_all(fd, hdr, sizeof hdr, watch, errp)) {
        return false;
    }
    return !len || write_all(fd, payload, len, watch, errp);
}

bool mig_send_fd(int fd, MigMsgType type, const void *payload, size_t len, int pass, GError **errp)
{
    return send_frame(fd, type, payload, len, pass, NULL, errp);
}

bool mig_send(int fd, MigMsgType type, const void *payload, size_t len, GError **errp)
{
    return send_frame(fd, type, payload, len, -1, NULL, errp);
}

bool mig_send_watched(int fd, MigMsgType type, const void *payload, size_t len, int pass, const MigSendWatch *watch,
                      GError **errp)
{
    return send_frame(fd, type, payload, len, pass, watch, errp);
}

/* Read the header's first byte with recvmsg, keeping an fd that comes
 * with it (a plain read would drop it). */
static bool read_first(int fd, uint8_t *p, int *passed, GError **errp)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = p, .iov_len = 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
    ssize_t n;
    do
        n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return io_error(errp, errno == EAGAIN ? ETIMEDOUT : errno, "cannot receive");
    if (n == 0)
        return io_error(errp, 0, "truncated stream");
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfds; i++) {
            int got;
            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*passed < 0)
                *passed = got;
            else
                close(got); /* one fd per frame at most */
        }
    }
    return true;
}

bool mig_recv(int fd, uint32_t *type, uint8_t **payload, uint32_t *len, GError **errp)
{
    int passed = -1;
    bool ok = mig_recv_fd(fd, type, payload, len, &passed, errp);
    if (passed >= 0)
        close(passed);
    return ok;
}

static bool recv_payload(int fd, const uint8_t hdr[MIG_FRAME_HEADER], uint32_t type, uint32_t len, uint32_t crc,
                         uint8_t **payload, GError **errp)
{
    g_autofree uint8_t *buf = g_try_malloc(len ? len : 1);
    if (!buf)
        return bad(errp, "cannot allocate %u bytes", len);
    if (!read_all(fd, buf, len, errp))
        return false;
    if (!mig_frame_crc_ok(hdr, buf, len, crc))
        return bad(errp, "%s frame fails its CRC (corrupt)", mig_msg_name(type));
    *payload = g_steal_pointer(&buf);
    return true;
}

bool mig_recv_fd(int fd, uint32_t *type, uint8_t **payload, uint32_t *len, int *passed, GError **errp)
{
    uint8_t hdr[MIG_FRAME_HEADER];
    uint32_t crc;
    *payload = NULL;
    *passed = -1;
    bool ok = read_first(fd, hdr, passed, errp) && read_all(fd, hdr + 1, sizeof hdr - 1, errp) &&
              mig_frame_header_parse(hdr, type, len, &crc, errp) &&
              recv_payload(fd, hdr, *type, *len, crc, payload, errp);
    if (!ok && *passed >= 0) {
        close(*passed);
        *passed = -1;
    }
    return ok;
}

void mig_start_encode(uint8_t out[MIG_START_LEN], uint32_t arch)
{
    memcpy(out, MIG_MAGIC, 8);
    le_store32(out + 8, MIG_PROTOCOL_VERSION);
    le_store32(out + 12, arch);
    le_store32(out + 16, MIG_PAGE);
}

bool mig_start_parse(const uint8_t *p, size_t len, uint32_t arch, GError **errp)
{
    if (len != MIG_START_LEN || memcmp(p, MIG_MAGIC, 8) != 0)
        return bad(errp, "not a nimbus migration (bad Start message)");
    uint32_t v = le_load32(p + 8), a = le_load32(p + 12), page = le_load32(p + 16);
    if (v != MIG_PROTOCOL_VERSION)
        return bad(errp, "protocol version %u is not supported (this nimbus speaks %u)", v, MIG_PROTOCOL_VERSION);
    if (a != arch)
        return bad(errp, "the source is architecture %u, this is %u", a, arch);
    if (page != MIG_PAGE)
        return bad(errp, "page size %u is not supported", page);
    return true;
}

bool mig_memory_parse(const uint8_t *p, size_t len, bool (*fn)(void *opaque, const MigMemEntry *e, GError **errp),
                      void *opaque, GError **errp)
{
    for (int pass = 0; pass < 2; pass++) { /* validate everything, then apply */
        if (len < 4)
            return bad(errp, "truncated Memory message");
        uint32_t count = le_load32(p);
        size_t off = 4;
        for (uint32_t i = 0; i < count; i++) {
            if (len - off < MIG_MEM_ENTRY_HEADER)
                return bad(errp, "Memory entry %u is truncated", i);
            MigMemEntry e = { .gpa = le_load64(p + off), .len = le_load32(p + off + 8),
                              .flags = le_load32(p + off + 12) };
            off += MIG_MEM_ENTRY_HEADER;
            if (e.flags & ~MIG_MEM_ZERO)
                return bad(errp, "Memory entry %u has unknown flags %#x", i, e.flags);
            if (!e.len || e.len % MIG_PAGE || e.gpa % MIG_PAGE || e.gpa + e.len < e.gpa)
                return bad(errp, "Memory entry %u (gpa %#" G_GINT64_MODIFIER "x, %u bytes) is empty or unaligned",
                           i, e.gpa, e.len);
            if (!(e.flags & MIG_MEM_ZERO)) {
                if (len - off < e.len)
                    return bad(errp, "Memory entry %u is truncated", i);
                e.data = p + off;
                off += e.len;
            }
            if (pass == 1 && !fn(opaque, &e, errp))
                return false;
        }
        if (off != len)
            return bad(errp, "%zu stray bytes after the Memory entries", len - off);
    }
    return true;
}

void mig_memory_begin(GByteArray *out)
{
    g_byte_array_set_size(out, 4);
    le_store32(out->data, 0);
}

void mig_memory_add(GByteArray *out, uint64_t gpa, uint32_t len, const void *data)
{
    uint8_t h[MIG_MEM_ENTRY_HEADER];
    le_store64(h, gpa);
    le_store32(h + 8, len);
    le_store32(h + 12, data ? 0 : MIG_MEM_ZERO);
    g_byte_array_append(out, h, sizeof h);
    if (data)
        g_byte_array_append(out, data, len);
    le_store32(out->data, le_load32(out->data) + 1);
}

void mig_memory_finish(GByteArray *out)
{
    (void)out;
}

bool mig_state_parse(const uint8_t *p, size_t len, const uint8_t **machine, size_t *machine_len,
                     const uint8_t **devices, size_t *devices_len, GError **errp)
{
    if (len < 16)
        return bad(errp, "truncated State message");
    uint64_t m = le_load64(p), d = le_load64(p + 8);
    if (m > len - 16 || d != len - 16 - m)
        return bad(errp, "State message lengths (%" G_GUINT64_FORMAT " + %" G_GUINT64_FORMAT
                   ") do not match its %zu bytes", m, d, len - 16);
    *machine = p + 16;
    *machine_len = (size_t)m;
    *devices = p + 16 + m;
    *devices_len = (size_t)d;
    return true;
}
