/* Split virtqueue (virtio 1.x, section "Split Virtqueues"): pure ring logic on
 * GuestMemory. No transport, threading or device knowledge.
 *
 * Life of a queue:
 *   virtq_init()                          once, by the device
 *   virtq_set_size/_addresses/_features   while the driver configures it
 *   virtq_enable()                        ring ranges checked against guest RAM
 *   virtq_pop() ... virtq_push()          the data path, from one thread
 *   virtq_reset()                         device reset
 *
 * The guest is hostile. virtq_pop() copies every descriptor to host storage
 * before validating it, reads the available index once per batch, bounds the
 * work of one pop by the queue size (plus one indirect table), and never
 * touches memory outside guest RAM. A malformed chain returns a negative
 * VirtqStatus (VIRTQ_ERR_*) and logs a rate-limited guest error; the queue
 * then stays broken (every later pop returns the same error, without reading
 * guest memory) until virtq_reset(). The caller turns any error into the
 * device's DEVICE_NEEDS_RESET state.
 *
 * Zero-length buffers: the spec does not forbid a zero-length data descriptor,
 * so one is accepted, contributes no iovec and its address is not checked
 * (nothing will be accessed through it). A zero-length *indirect table* is an
 * error (VIRTQ_ERR_INDIRECT_LEN): it describes no chain at all.
 *
 * Threading: a VirtQueue is used by one thread at a time (the device's I/O
 * thread); the only concurrency is with the guest, through guest memory, and
 * the ordering for that is handled here. Host pointers handed out in a
 * VirtqElement, like the cached ring pointers, stay valid until a RAM region
 * is removed, which the VM only does with devices paused; a device calls
 * virtq_remap() on resume. */
#pragma once
#include "hypervisor/log.h"
#include "hypervisor/memory.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define VIRTQ_MAX_SIZE 32768u
/* Most entries accepted in one indirect table (32768 * 16 bytes = 512 KiB). */
#define VIRTQ_INDIRECT_MAX 32768u

/* Ring feature bits (virtio 1.x bit numbers), for virtq_set_features(). */
#define VIRTQ_F_INDIRECT_DESC (1ull << 28)
#define VIRTQ_F_EVENT_IDX (1ull << 29)

/* Descriptor flags and ring flags (spec values). */
#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY 1u

/* Guest-visible layout sizes in bytes (including used_event/avail_event). */
#define VIRTQ_DESC_BYTES(n) (16ull * (n))
#define VIRTQ_AVAIL_BYTES(n) (6ull + 2ull * (n))
#define VIRTQ_USED_BYTES(n) (6ull + 8ull * (n))

typedef enum VirtqStatus {
    VIRTQ_OK = 0,        /* an element was popped / the operation succeeded */
    VIRTQ_EMPTY = 1,     /* no available chain */
    VIRTQ_NOT_READY = 2, /* the queue is not enabled (a kick on a dead queue) */

    /* Configuration by the driver (virtq_set_* / virtq_enable / virtq_load). */
    VIRTQ_ERR_SIZE = -1,        /* 0, not a power of 2, or above the device's maximum */
    VIRTQ_ERR_ALIGN = -2,       /* desc not 16-, avail not 2-, used not 4-aligned */
    VIRTQ_ERR_RING_RANGE = -3,  /* a ring is not wholly inside one RAM region */
    VIRTQ_ERR_BUSY = -4,        /* reconfiguring an enabled queue */
    VIRTQ_ERR_STATE = -5,       /* virtq_load(): inconsistent saved indices */

    /* Malformed rings and chains (virtq_pop). */
    VIRTQ_ERR_AVAIL_IDX = -10,        /* avail idx more than the queue size ahead */
    VIRTQ_ERR_HEAD_INDEX = -11,       /* head index >= queue size */
    VIRTQ_ERR_NEXT_INDEX = -12,       /* next index >= queue size or table length */
    VIRTQ_ERR_CHAIN_LOOP = -13,       /* chain longer than the queue / the indirect table */
    VIRTQ_ERR_BUF_ADDR = -14,         /* buffer (or table) not in guest RAM */
    VIRTQ_ERR_BUF_WRAP = -15,         /* addr + len wraps the 64-bit address space */
    VIRTQ_ERR_TOTAL_LEN = -16,        /* chain longer than 2^32 bytes */
    VIRTQ_ERR_INDIRECT_FEATURE = -17, /* INDIRECT flag without VIRTIO_F_INDIRECT_DESC */
    VIRTQ_ERR_INDIRECT_LEN = -18,     /* table length 0, not a multiple of 16, or too long */
    VIRTQ_ERR_INDIRECT_NESTED = -19,  /* INDIRECT inside an indirect table */
    VIRTQ_ERR_INDIRECT_NEXT = -20,    /* INDIRECT and NEXT set together */
    VIRTQ_ERR_ORDER = -21,            /* device-readable descriptor after a writable one */
} VirtqStatus;

static inline bool virtq_is_error(VirtqStatus st)
{
    return st < 0;
}
const char *virtq_strerror(VirtqStatus st);

/* One popped chain. Readable ("out") iovecs come first in `iov`, writable
 * ("in") ones after them; `out_iov`/`in_iov` point into it. The storage grows
 * on demand and is reused by the next pop into the same element. */
typedef struct VirtqElement {
    uint16_t head;      /* give this back to virtq_push() */
    uint32_t out_num;   /* device-readable iovecs */
    uint32_t in_num;    /* device-writable iovecs */
    uint64_t out_bytes; /* total readable bytes */
    uint64_t in_bytes;  /* total writable bytes */
    uint32_t ndesc;     /* descriptors in the chain (indirect ones included) */
    struct iovec *out_iov;
    struct iovec *in_iov;
    /* private */
    struct iovec *iov;
    uint32_t iov_cap;
} VirtqElement;

void virtq_element_init(VirtqElement *e);
void virtq_element_clear(VirtqElement *e); /* frees the storage; init again to reuse */

/* The plain, save/restore-friendly part of a queue (the later StateDesc
 * describes these fields). */
typedef struct VirtqState {
    uint16_t size;
    bool ready;
    bool event_idx;     /* VIRTIO_F_EVENT_IDX negotiated */
    bool indirect_desc; /* VIRTIO_F_INDIRECT_DESC negotiated */
    Gpa desc_gpa;
    Gpa avail_gpa;
    Gpa used_gpa;
    uint16_t last_avail_idx; /* next avail ring slot the device reads */
    uint16_t used_idx;       /* used idx as published to the guest */
} VirtqState;

typedef struct VirtQueue {
    VirtqState s;
    /* configuration fixed at init */
    GuestMemory *mem;
    const char *name; /* for guest-error logs ("virtio-blk0 q1") */
    RateLimit *rl;
    uint16_t max_size;
    /* runtime, not saved */
    VirtqStatus error;          /* sticky pop error, VIRTQ_OK when healthy */
    uint16_t shadow_avail_idx;  /* avail idx as last read from the guest */
    uint16_t pending_used;      /* filled but not yet flushed entries */
    uint16_t signalled_used;    /* used idx at the last interrupt decision */
    bool signalled_used_valid;
    bool notify_enabled;        /* device wants available-buffer notifications */
    uint8_t *desc_hva;          /* cached ring pointers (virtq_enable/virtq_remap) */
    uint8_t *avail_hva;
    uint8_t *used_hva;
} VirtQueue;

/* `rl` may be NULL (a shared limiter is used); `name` must outlive the queue. */
void virtq_init(VirtQueue *vq, GuestMemory *mem, const char *name, RateLimit *rl,
                uint16_t max_size);
/* Back to the power-on state: size = max_size, addresses 0, not ready,
 * indices 0, features off, notifications enabled, no sticky error. */
void virtq_reset(VirtQueue *vq);

/* Driver configuration; refused (VIRTQ_ERR_BUSY) while the queue is enabled. */
VirtqStatus virtq_set_size(VirtQueue *vq, uint32_t size);
VirtqStatus virtq_set_addresses(VirtQueue *vq, Gpa desc, Gpa avail, Gpa used);
/* `features`: the negotiated feature word; only the ring bits matter here. */
void virtq_set_features(VirtQueue *vq, uint64_t features);
/* Check the size and that each ring lies inside guest RAM, cache the ring
 * pointers and mark the queue ready. On error the queue stays disabled. */
VirtqStatus virtq_enable(VirtQueue *vq);
/* Re-resolve the cached ring pointers after guest memory changed (resume). */
VirtqStatus virtq_remap(VirtQueue *vq);
static inline bool virtq_is_ready(const VirtQueue *vq)
{
    return vq->s.ready;
}

/* Take the next available chain. VIRTQ_OK: `out` holds it. VIRTQ_EMPTY /
 * VIRTQ_NOT_READY: nothing to do. Negative: the guest broke the ring.
 * With EVENT_IDX and notifications enabled, finding the ring empty publishes
 * avail_event and re-checks, so a device that pops until VIRTQ_EMPTY never
 * misses a kick. */
VirtqStatus virtq_pop(VirtQueue *vq, VirtqElement *out);
/* Give back the last `n` popped chains unprocessed (e.g. no rx data yet). */
void virtq_unpop(VirtQueue *vq, uint16_t n);
/* Available chains not yet popped (re-reads the avail idx); 0 on a broken or
 * disabled queue. */
uint16_t virtq_avail_count(VirtQueue *vq);

/* Stage a used element (not yet visible to the guest). */
void virtq_fill(VirtQueue *vq, uint16_t head, uint32_t written_len);
/* Publish every staged element: one release store of used idx. */
void virtq_flush(VirtQueue *vq);
/* virtq_fill() + virtq_flush(). */
void virtq_push(VirtQueue *vq, uint16_t head, uint32_t written_len);

/* After a flush: whether the driver wants a used-buffer notification
 * (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX). */
bool virtq_should_notify(VirtQueue *vq);

/* Available-buffer notification suppression for polling devices:
 *   virtq_disable_notification(vq);
 *   do { while (virtq_pop(vq, &e) == VIRTQ_OK) handle(&e); }
 *   while (virtq_enable_notification(vq));
 * enable returns true when chains arrived meanwhile (re-check after enable,
 * so no kick is lost). */
void virtq_disable_notification(VirtQueue *vq);
bool virtq_enable_notification(VirtQueue *vq);

/* Save/restore. virtq_load() treats `st` as untrusted: size, alignment, ring
 * ranges (when ready) and the in-flight count are checked; on error the queue
 * is left reset. Call after virtq_init() and guest memory is in place. */
void virtq_save(const VirtQueue *vq, VirtqState *st);
VirtqStatus virtq_load(VirtQueue *vq, const VirtqState *st);
