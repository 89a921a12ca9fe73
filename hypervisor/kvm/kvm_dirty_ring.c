/* The KVM dirty ring: per-vCPU rings of written guest pages, used instead of
 * KVM_GET_DIRTY_LOG where the host has KVM_CAP_DIRTY_LOG_RING (x86). Its cost
 * follows the number of pages written, not the size of guest memory, and it
 * needs no per-slot bitmap walk in the kernel.
 *
 * vm_get_dirty_log() keeps its meaning: every collection harvests all rings
 * into per-slot bitmaps held here, and the caller takes (copies and clears)
 * the one of its slot. KVM allows harvesting from any thread; one mutex
 * serializes the collector and vCPUs whose ring filled up. */
#include "hypervisor/kvm/kvm_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* 16 Ki entries (256 KiB) per vCPU: a vCPU exits to have its ring emptied at
 * most once per 16 K new dirty pages (64 MiB). */
#define RING_ENTRIES 16384u

typedef struct RingSlot {
    uint64_t npages;
    uint64_t *bits; /* harvested, not yet taken by vm_get_dirty_log */
} RingSlot;

struct KvmDirtyRing {
    uint32_t entries;
    GMutex lock;
    GPtrArray *vcpus;  /* KvmVcpu *, each with its ring mapped */
    GHashTable *slots; /* slot id -> RingSlot *, for slots that log dirty pages */
};

#ifdef __x86_64__
static void ring_slot_free(gpointer p)
{
    RingSlot *s = p;
    g_free(s->bits);
    g_free(s);
}
#endif

void kvm_dirty_ring_enable(KvmVm *vm)
{
#ifdef __x86_64__
    /* arm64 also needs the bitmap for writes without a vCPU (ITS tables);
     * there the dirty log stays. */
    int max = kvm_ioctl(vm->fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_DIRTY_LOG_RING);
    uint32_t bytes = RING_ENTRIES * sizeof(struct kvm_dirty_gfn);
    if (max > 0 && (uint32_t)max < bytes)
        bytes = (uint32_t)max; /* a power of two as well */
    if (max > 0) {
        struct kvm_enable_cap cap = { .cap = KVM_CAP_DIRTY_LOG_RING, .args = { bytes } };
        int r = kvm_ioctl(vm->fd, KVM_ENABLE_CAP, &cap);
        if (r == 0) {
            KvmDirtyRing *ring = g_new0(KvmDirtyRing, 1);
            ring->entries = bytes / sizeof(struct kvm_dirty_gfn);
            g_mutex_init(&ring->lock);
            ring->vcpus = g_ptr_array_new();
            ring->slots = g_hash_table_new_full(NULL, NULL, NULL, ring_slot_free);
            vm->ring = ring;
            g_info("KVM dirty-page tracking: dirty ring (%u entries per vCPU)", ring->entries);
            return;
        }
        g_info("KVM dirty-page tracking: dirty log (enabling the dirty ring failed: %s)",
               g_strerror(-r));
        return;
    }
    g_info("KVM dirty-page tracking: dirty log (no KVM_CAP_DIRTY_LOG_RING)");
#else
    g_info("KVM dirty-page tracking: dirty log (the dirty ring is used on x86_64 only)");
#endif
}

void kvm_dirty_ring_free(KvmVm *vm)
{
    KvmDirtyRing *ring = vm->ring;
    if (!ring)
        return;
    g_ptr_array_free(ring->vcpus, TRUE);
    g_hash_table_destroy(ring->slots);
    g_mutex_clear(&ring->lock);
    g_free(ring);
    vm->ring = NULL;
}

static size_t ring_bytes(KvmDirtyRing *ring)
{
    return (size_t)ring->entries * sizeof(struct kvm_dirty_gfn);
}

int kvm_dirty_ring_vcpu_add(KvmVcpu *c)
{
    KvmDirtyRing *ring = c->vm->ring;
    if (!ring)
        return 0;
    off_t off = (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, ring_bytes(ring), PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, off);
    if (p == MAP_FAILED)
        return -errno;
    c->ring = p;
    c->ring_next = 0;
    g_mutex_lock(&ring->lock);
    g_ptr_array_add(ring->vcpus, c);
    g_mutex_unlock(&ring->lock);
    return 0;
}

void kvm_dirty_ring_vcpu_remove(KvmVcpu *c)
{
    KvmDirtyRing *ring = c->vm->ring;
    if (!ring || !c->ring)
        return;
    g_mutex_lock(&ring->lock);
    g_ptr_array_remove(ring->vcpus, c);
    g_mutex_unlock(&ring->lock);
    munmap(c->ring, ring_bytes(ring));
    c->ring = NULL;
}

void kvm_dirty_ring_slot_set(KvmVm *vm, uint32_t slot, uint64_t size, bool log_dirty)
{
    KvmDirtyRing *ring = vm->ring;
    if (!ring)
        return;
    g_mutex_lock(&ring->lock);
    RingSlot *s = g_hash_table_lookup(ring->slots, GUINT_TO_POINTER(slot));
    uint64_t npages = size / 4096;
    if (!log_dirty || !npages)
        g_hash_table_remove(ring->slots, GUINT_TO_POINTER(slot));
    else if (!s || s->npages != npages) {
        s = g_new0(RingSlot, 1);
        s->npages = npages;
        s->bits = g_new0(uint64_t, (npages + 63) / 64);
        g_hash_table_replace(ring->slots, GUINT_TO_POINTER(slot), s);
    }
    g_mutex_unlock(&ring->lock);
}

/* Move one vCPU's published entries into the slot bitmaps and hand them back
 * to KVM. Lock held. */
static void ring_harvest(KvmDirtyRing *ring, KvmVcpu *c)
{
    for (;;) {
        struct kvm_dirty_gfn *g = &c->ring[c->ring_next & (ring->entries - 1)];
        /* Acquire: slot and offset are valid once KVM's flag store is seen. */
        if (!(__atomic_load_n(&g->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
            break;
        uint32_t as_id = g->slot >> 16, id = g->slot & 0xffff;
        RingSlot *s = as_id ? NULL : g_hash_table_lookup(ring->slots, GUINT_TO_POINTER(id));
        if (s && g->offset < s->npages)
            s->bits[g->offset / 64] |= 1ull << (g->offset % 64);
        /* Release: our reads of the entry finish before KVM may reuse it. */
        __atomic_store_n(&g->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
        c->ring_next++;
    }
}

int kvm_dirty_ring_collect(KvmVm *vm)
{
    KvmDirtyRing *ring = vm->ring;
    g_mutex_lock(&ring->lock);
    for (guint i = 0; i < ring->vcpus->len; i++)
        ring_harvest(ring, g_ptr_array_index(ring->vcpus, i));
    /* Re-protects the harvested pages, so later writes are logged again.
     * Also with nothing new: a vCPU stopped on a full ring must get going
     * even if an earlier reset failed. */
    int r = kvm_ioctl(vm->fd, KVM_RESET_DIRTY_RINGS, NULL);
    g_mutex_unlock(&ring->lock);
    return r < 0 ? r : 0;
}

int kvm_dirty_ring_get_log(KvmVm *vm, uint32_t slot, uint64_t *bitmap)
{
    KvmDirtyRing *ring = vm->ring;
    int r = kvm_dirty_ring_collect(vm);
    if (r < 0)
        return r;
    g_mutex_lock(&ring->lock);
    RingSlot *s = g_hash_table_lookup(ring->slots, GUINT_TO_POINTER(slot));
    if (s) {
        size_t words = (s->npages + 63) / 64;
        memcpy(bitmap, s->bits, words * sizeof(uint64_t));
        memset(s->bits, 0, words * sizeof(uint64_t));
    }
    g_mutex_unlock(&ring->lock);
    return s ? 0 : -ENOENT;
}
