/* Tests of devices/virtio/queue.c, normal operation: chains (single, multi,
 * indirect, mixed), buffers across adjacent RAM regions, index wraparound,
 * queue sizes 1 and 32768, used ring contents and batching, interrupt and
 * notification suppression with and without EVENT_IDX, configuration checks,
 * reset and save/restore. */
#include "support/check_main.h"
#include "unit/virtio/queue_fixture.h"

#include <string.h>

static const MemoryBacking plain_ram = { 0 };

static VirtqStatus pop(void)
{
    return virtq_pop(&fx.vq, &fx.el);
}

static void *hva(Gpa gpa, uint64_t len)
{
    void *p = memory_hva(fx.mem, gpa, len);
    ck_assert_ptr_nonnull(p);
    return p;
}

START_TEST(test_single_readable)
{
    Gpa buf = virtq_driver_alloc(&fx.drv, 100, 8);
    virtq_driver_fill(&fx.drv, buf, 0xab, 100);
    VirtqDriverBuf b = { buf, 100, false };
    uint16_t head = virtq_driver_add(&fx.drv, &b, 1);

    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.head, head);
    ck_assert_uint_eq(fx.el.out_num, 1);
    ck_assert_uint_eq(fx.el.in_num, 0);
    ck_assert_uint_eq(fx.el.out_bytes, 100);
    ck_assert_uint_eq(fx.el.ndesc, 1);
    ck_assert_ptr_eq(fx.el.out_iov[0].iov_base, hva(buf, 100));
    ck_assert_uint_eq(fx.el.out_iov[0].iov_len, 100);
    ck_assert_uint_eq(((uint8_t *)fx.el.out_iov[0].iov_base)[99], 0xab);
    ck_assert_int_eq(pop(), VIRTQ_EMPTY);

    virtq_push(&fx.vq, fx.el.head, 0);
    uint32_t id, len;
    ck_assert(virtq_driver_get_used(&fx.drv, &id, &len));
    ck_assert_uint_eq(id, head);
    ck_assert_uint_eq(len, 0);
    ck_assert(!virtq_driver_get_used(&fx.drv, &id, &len));
}
END_TEST

START_TEST(test_multi_descriptor)
{
    VirtqDriverBuf b[4] = {
        { virtq_driver_alloc(&fx.drv, 16, 8), 16, false },
        { virtq_driver_alloc(&fx.drv, 512, 8), 512, false },
        { virtq_driver_alloc(&fx.drv, 256, 8), 256, true },
        { virtq_driver_alloc(&fx.drv, 1, 1), 1, true },
    };
    uint16_t head = virtq_driver_add(&fx.drv, b, 4);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.head, head);
    ck_assert_uint_eq(fx.el.out_num, 2);
    ck_assert_uint_eq(fx.el.in_num, 2);
    ck_assert_uint_eq(fx.el.out_bytes, 528);
    ck_assert_uint_eq(fx.el.in_bytes, 257);
    ck_assert_uint_eq(fx.el.ndesc, 4);
    for (unsigned i = 0; i < 2; i++) {
        ck_assert_ptr_eq(fx.el.out_iov[i].iov_base, hva(b[i].gpa, b[i].len));
        ck_assert_ptr_eq(fx.el.in_iov[i].iov_base, hva(b[2 + i].gpa, b[2 + i].len));
    }
    /* The device writes through in_iov; the driver sees it. */
    memset(fx.el.in_iov[0].iov_base, 0x5a, 256);
    ((uint8_t *)fx.el.in_iov[1].iov_base)[0] = 0;
    virtq_push(&fx.vq, head, 257);
    uint8_t got[256];
    ck_assert(memory_read(fx.mem, b[2].gpa, got, sizeof(got)));
    for (unsigned i = 0; i < sizeof(got); i++)
        ck_assert_uint_eq(got[i], 0x5a);
    uint32_t id, len;
    ck_assert(virtq_driver_get_used(&fx.drv, &id, &len));
    ck_assert_uint_eq(id, head);
    ck_assert_uint_eq(len, 257);
}
END_TEST

START_TEST(test_indirect)
{
    fx_queue(8, VIRTQ_F_INDIRECT_DESC);
    VirtqDriverBuf b[3] = {
        { virtq_driver_alloc(&fx.drv, 64, 8), 64, false },
        { virtq_driver_alloc(&fx.drv, 4096, 8), 4096, true },
        { virtq_driver_alloc(&fx.drv, 1, 1), 1, true },
    };
    uint16_t head = virtq_driver_add_indirect(&fx.drv, b, 3);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.head, head);
    ck_assert_uint_eq(fx.el.out_num, 1);
    ck_assert_uint_eq(fx.el.in_num, 2);
    ck_assert_uint_eq(fx.el.in_bytes, 4097);
    ck_assert_uint_eq(fx.el.ndesc, 3);
    ck_assert_ptr_eq(fx.el.in_iov[0].iov_base, hva(b[1].gpa, 4096));
    virtq_push(&fx.vq, head, 10);
    uint32_t id, len;
    ck_assert(virtq_driver_get_used(&fx.drv, &id, &len));
    ck_assert_uint_eq(id, head);
    ck_assert_uint_eq(len, 10);
}
END_TEST

/* Two direct descriptors, then one INDIRECT (with WRITE set, which the device
 * must ignore) whose table holds two writable entries. */
START_TEST(test_direct_then_indirect)
{
    fx_queue(8, VIRTQ_F_INDIRECT_DESC);
    Gpa a = virtq_driver_alloc(&fx.drv, 32, 8);
    Gpa c = virtq_driver_alloc(&fx.drv, 128, 8);
    Gpa table = virtq_driver_alloc(&fx.drv, 32, 16);
    virtq_driver_set_table_desc(&fx.drv, table, 0, c, 64, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    virtq_driver_set_table_desc(&fx.drv, table, 1, c + 64, 64, VIRTQ_DESC_F_WRITE, 0);
    virtq_driver_set_desc(&fx.drv, 3, a, 16, VIRTQ_DESC_F_NEXT, 5);
    virtq_driver_set_desc(&fx.drv, 5, a + 16, 16, VIRTQ_DESC_F_NEXT, 6);
    virtq_driver_set_desc(&fx.drv, 6, table, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
    virtq_driver_expose(&fx.drv, 3);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.head, 3);
    ck_assert_uint_eq(fx.el.out_num, 2);
    ck_assert_uint_eq(fx.el.in_num, 2);
    ck_assert_uint_eq(fx.el.out_bytes, 32);
    ck_assert_uint_eq(fx.el.in_bytes, 128);
    ck_assert_uint_eq(fx.el.ndesc, 4);
}
END_TEST

/* A zero-length descriptor is legal: no iovec, address never looked at. */
START_TEST(test_zero_length_descriptor)
{
    VirtqDriverBuf b[3] = {
        { virtq_driver_alloc(&fx.drv, 8, 8), 8, false },
        { 0xdead00000000ull, 0, false },
        { virtq_driver_alloc(&fx.drv, 8, 8), 8, true },
    };
    virtq_driver_add(&fx.drv, b, 3);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.ndesc, 3);
    ck_assert_uint_eq(fx.el.out_num, 1);
    ck_assert_uint_eq(fx.el.in_num, 1);
    /* A chain of only zero-length buffers is an empty element, not an error. */
    VirtqDriverBuf z = { 0, 0, true };
    virtq_driver_add(&fx.drv, &z, 1);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.out_num + fx.el.in_num, 0);
    ck_assert_uint_eq(fx.el.ndesc, 1);
}
END_TEST

/* A buffer crossing from one RAM region into an adjacent one is split. */
START_TEST(test_buffer_across_adjacent_regions)
{
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_nonnull(memory_add_ram(fx.mem, "next", FX_LOW_SIZE, 1 << 20, &plain_ram, &err));
    Gpa start = FX_LOW_SIZE - 100;
    VirtqDriverBuf b = { start, 300, true };
    virtq_driver_add(&fx.drv, &b, 1);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.in_num, 2);
    ck_assert_uint_eq(fx.el.in_bytes, 300);
    ck_assert_ptr_eq(fx.el.in_iov[0].iov_base, hva(start, 100));
    ck_assert_uint_eq(fx.el.in_iov[0].iov_len, 100);
    ck_assert_ptr_eq(fx.el.in_iov[1].iov_base, hva(FX_LOW_SIZE, 200));
    ck_assert_uint_eq(fx.el.in_iov[1].iov_len, 200);

    /* The same for an indirect table straddling the boundary. */
    fx_queue(4, VIRTQ_F_INDIRECT_DESC);
    Gpa table = FX_LOW_SIZE - 16;
    Gpa buf = virtq_driver_alloc(&fx.drv, 64, 8);
    virtq_driver_set_table_desc(&fx.drv, table, 0, buf, 32, VIRTQ_DESC_F_NEXT, 1);
    virtq_driver_set_table_desc(&fx.drv, table, 1, buf + 32, 32, VIRTQ_DESC_F_WRITE, 0);
    virtq_driver_set_desc(&fx.drv, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    virtq_driver_expose(&fx.drv, 0);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.out_num, 1);
    ck_assert_uint_eq(fx.el.in_num, 1);
}
END_TEST

/* 16-bit avail and used indices wrap over 65536+ round trips. */
START_TEST(test_index_wraparound)
{
    fx_queue(4, 0);
    Gpa buf = virtq_driver_alloc(&fx.drv, 8, 8);
    for (uint32_t i = 0; i < 70000; i++) {
        VirtqDriverBuf b = { buf, 8, (i & 1) != 0 };
        uint16_t head = virtq_driver_add(&fx.drv, &b, 1);
        ck_assert_int_eq(pop(), VIRTQ_OK);
        ck_assert_uint_eq(fx.el.head, head);
        virtq_push(&fx.vq, head, i & 0xff);
        uint32_t id, len;
        ck_assert(virtq_driver_get_used(&fx.drv, &id, &len));
        ck_assert_uint_eq(id, head);
        ck_assert_uint_eq(len, i & 0xff);
    }
    ck_assert_uint_eq(virtq_driver_used_idx(&fx.drv), (uint16_t)70000);
    ck_assert_uint_eq(fx.vq.s.last_avail_idx, (uint16_t)70000);
    ck_assert_int_eq(pop(), VIRTQ_EMPTY);
}
END_TEST

START_TEST(test_queue_size_one)
{
    fx_queue(1, 0);
    Gpa buf = virtq_driver_alloc(&fx.drv, 8, 8);
    for (unsigned i = 0; i < 1000; i++) {
        VirtqDriverBuf b = { buf, 8, true };
        ck_assert_uint_eq(virtq_driver_add(&fx.drv, &b, 1), 0);
        ck_assert_uint_eq(virtq_avail_count(&fx.vq), 1);
        ck_assert_int_eq(pop(), VIRTQ_OK);
        ck_assert_int_eq(pop(), VIRTQ_EMPTY);
        virtq_push(&fx.vq, 0, 8);
        uint32_t id, len;
        ck_assert(virtq_driver_get_used(&fx.drv, &id, &len));
        ck_assert_uint_eq(id, 0);
    }
}
END_TEST

START_TEST(test_queue_size_max)
{
    const uint16_t n = 32768;
    fx_queue(n, 0);
    Gpa buf = virtq_driver_alloc(&fx.drv, 8, 8);
    /* A full ring of single-descriptor chains, popped and batched back. */
    for (uint32_t i = 0; i < n; i++) {
        VirtqDriverBuf b = { buf, 8, false };
        virtq_driver_add(&fx.drv, &b, 1);
    }
    ck_assert_uint_eq(virtq_avail_count(&fx.vq), n);
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_int_eq(pop(), VIRTQ_OK);
        ck_assert_uint_eq(fx.el.head, i);
        virtq_fill(&fx.vq, fx.el.head, i);
    }
    ck_assert_int_eq(pop(), VIRTQ_EMPTY);
    ck_assert_uint_eq(virtq_driver_used_idx(&fx.drv), 0);
    virtq_flush(&fx.vq);
    ck_assert_uint_eq(virtq_driver_used_idx(&fx.drv), n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id, len;
        ck_assert(virtq_driver_get_used(&fx.drv, &id, &len));
        ck_assert_uint_eq(id, i);
        ck_assert_uint_eq(len, i);
    }
    /* One chain using every descriptor of the table. */
    g_autofree VirtqDriverBuf *bufs = g_new(VirtqDriverBuf, n);
    for (uint32_t i = 0; i < n; i++)
        bufs[i] = (VirtqDriverBuf){ buf, 8, i >= n / 2 };
    virtq_driver_add(&fx.drv, bufs, n);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.ndesc, n);
    ck_assert_uint_eq(fx.el.out_num, n / 2);
    ck_assert_uint_eq(fx.el.in_num, n / 2);
}
END_TEST

START_TEST(test_used_batching)
{
    Gpa buf = virtq_driver_alloc(&fx.drv, 8, 8);
    uint16_t heads[3];
    for (unsigned i = 0; i < 3; i++) {
        VirtqDriverBuf b[2] = { { buf, 4, false }, { buf + 4, 4, true } };
        heads[i] = virtq_driver_add(&fx.drv, b, 2);
    }
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_int_eq(pop(), VIRTQ_OK);
        ck_assert_uint_eq(fx.el.head, heads[i]);
    }
    /* Completed out of order, staged, then published at once. */
    virtq_fill(&fx.vq, heads[2], 30);
    virtq_fill(&fx.vq, heads[0], 10);
    ck_assert_uint_eq(virtq_driver_used_idx(&fx.drv), 0);
    virtq_fill(&fx.vq, heads[1], 20);
    virtq_flush(&fx.vq);
    ck_assert_uint_eq(virtq_driver_used_idx(&fx.drv), 3);
    uint32_t id, len;
    virtq_driver_used_elem(&fx.drv, 0, &id, &len);
    ck_assert_uint_eq(id, heads[2]);
    ck_assert_uint_eq(len, 30);
    virtq_driver_used_elem(&fx.drv, 1, &id, &len);
    ck_assert_uint_eq(id, heads[0]);
    virtq_driver_used_elem(&fx.drv, 2, &id, &len);
    ck_assert_uint_eq(id, heads[1]);
    ck_assert_uint_eq(len, 20);
    virtq_flush(&fx.vq); /* nothing staged: no change */
    ck_assert_uint_eq(virtq_driver_used_idx(&fx.drv), 3);
}
END_TEST

static uint16_t add_one(void)
{
    Gpa buf = virtq_driver_alloc(&fx.drv, 8, 8);
    VirtqDriverBuf b = { buf, 8, true };
    return virtq_driver_add(&fx.drv, &b, 1);
}

static void complete_one(void)
{
    add_one();
    ck_assert_int_eq(pop(), VIRTQ_OK);
    virtq_push(&fx.vq, fx.el.head, 1);
}

START_TEST(test_interrupt_suppression_flags)
{
    complete_one();
    ck_assert(virtq_should_notify(&fx.vq));
    ck_assert(!virtq_should_notify(&fx.vq)); /* nothing new */
    virtq_driver_set_avail_flags(&fx.drv, VIRTQ_AVAIL_F_NO_INTERRUPT);
    complete_one();
    ck_assert(!virtq_should_notify(&fx.vq));
    virtq_driver_set_avail_flags(&fx.drv, 0);
    complete_one();
    ck_assert(virtq_should_notify(&fx.vq));
    /* used_event is ignored without EVENT_IDX. */
    virtq_driver_set_used_event(&fx.drv, 100);
    complete_one();
    ck_assert(virtq_should_notify(&fx.vq));
}
END_TEST

START_TEST(test_interrupt_suppression_event_idx)
{
    fx_queue(8, VIRTQ_F_EVENT_IDX);
    /* NO_INTERRUPT is ignored with EVENT_IDX. */
    virtq_driver_set_avail_flags(&fx.drv, VIRTQ_AVAIL_F_NO_INTERRUPT);
    virtq_driver_set_used_event(&fx.drv, 0);
    complete_one(); /* used idx 0 -> 1: the entry at 0 == used_event */
    ck_assert(virtq_should_notify(&fx.vq));
    virtq_driver_set_used_event(&fx.drv, 2);
    complete_one(); /* 1 -> 2: entry 1 */
    ck_assert(!virtq_should_notify(&fx.vq));
    complete_one(); /* 2 -> 3: entry 2 == used_event */
    ck_assert(virtq_should_notify(&fx.vq));
    complete_one(); /* 3 -> 4, used_event 2 is behind */
    ck_assert(!virtq_should_notify(&fx.vq));
    /* A batch crossing used_event notifies once. */
    virtq_driver_set_used_event(&fx.drv, 5);
    for (unsigned i = 0; i < 3; i++) {
        add_one();
        ck_assert_int_eq(pop(), VIRTQ_OK);
        virtq_fill(&fx.vq, fx.el.head, 0);
    }
    virtq_flush(&fx.vq); /* 4 -> 7 */
    ck_assert(virtq_should_notify(&fx.vq));
    ck_assert(!virtq_should_notify(&fx.vq));
    /* used_event just behind a wrapped index. */
    fx_queue(2, VIRTQ_F_EVENT_IDX);
    virtq_driver_set_used_event(&fx.drv, 0xffff);
    complete_one();
    ck_assert(virtq_should_notify(&fx.vq)); /* first decision is always yes */
    for (uint32_t i = 1; i < 65535; i++) {
        complete_one();
        ck_assert_msg(!virtq_should_notify(&fx.vq), "spurious at %u", i);
    }
    complete_one(); /* entry 0xffff */
    ck_assert(virtq_should_notify(&fx.vq));
}
END_TEST

START_TEST(test_notification_flags)
{
    ck_assert_uint_eq(virtq_driver_used_flags(&fx.drv), 0);
    virtq_disable_notification(&fx.vq);
    ck_assert_uint_eq(virtq_driver_used_flags(&fx.drv), VIRTQ_USED_F_NO_NOTIFY);
    uint16_t old = fx.drv.avail_idx;
    add_one();
    ck_assert(!virtq_driver_kick_needed(&fx.drv, false, old, fx.drv.avail_idx));
    /* The chain added while disabled is found by the re-check. */
    ck_assert(virtq_enable_notification(&fx.vq));
    ck_assert_uint_eq(virtq_driver_used_flags(&fx.drv), 0);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert(!virtq_enable_notification(&fx.vq));
    old = fx.drv.avail_idx;
    add_one();
    ck_assert(virtq_driver_kick_needed(&fx.drv, false, old, fx.drv.avail_idx));
}
END_TEST

START_TEST(test_notification_event_idx)
{
    fx_queue(8, VIRTQ_F_EVENT_IDX);
    /* Popping to empty publishes avail_event = next index to be used. */
    add_one();
    add_one();
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_int_eq(pop(), VIRTQ_EMPTY);
    ck_assert_uint_eq(virtq_driver_avail_event(&fx.drv), 2);
    uint16_t old = fx.drv.avail_idx;
    add_one();
    ck_assert(virtq_driver_kick_needed(&fx.drv, true, old, fx.drv.avail_idx));

    /* Disabled: avail_event is left alone and flags stay 0. */
    virtq_disable_notification(&fx.vq);
    ck_assert_uint_eq(virtq_driver_used_flags(&fx.drv), 0);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_int_eq(pop(), VIRTQ_EMPTY);
    ck_assert_uint_eq(virtq_driver_avail_event(&fx.drv), 2);
    old = fx.drv.avail_idx;
    add_one(); /* entry 3: no kick requested */
    ck_assert(!virtq_driver_kick_needed(&fx.drv, true, old, fx.drv.avail_idx));
    /* Re-enable: it reports the chain that came without a kick... */
    ck_assert(virtq_enable_notification(&fx.vq));
    ck_assert_int_eq(pop(), VIRTQ_OK);
    /* ...and once drained, asks for a kick at the next one. */
    ck_assert_int_eq(pop(), VIRTQ_EMPTY);
    ck_assert(!virtq_enable_notification(&fx.vq));
    ck_assert_uint_eq(virtq_driver_avail_event(&fx.drv), 4);
    old = fx.drv.avail_idx;
    add_one();
    ck_assert(virtq_driver_kick_needed(&fx.drv, true, old, fx.drv.avail_idx));
}
END_TEST

START_TEST(test_config_checks)
{
    VirtQueue q;
    virtq_init(&q, fx.mem, "cfg", &fx.rl, 256);
    ck_assert_uint_eq(q.s.size, 256);
    ck_assert(!virtq_is_ready(&q));
    ck_assert_int_eq(virtq_pop(&q, &fx.el), VIRTQ_NOT_READY);
    ck_assert_int_eq(virtq_set_size(&q, 0), VIRTQ_ERR_SIZE);
    ck_assert_int_eq(virtq_set_size(&q, 3), VIRTQ_ERR_SIZE);
    ck_assert_int_eq(virtq_set_size(&q, 512), VIRTQ_ERR_SIZE);
    ck_assert_int_eq(virtq_set_size(&q, 65536), VIRTQ_ERR_SIZE);
    ck_assert_uint_eq(q.s.size, 256);
    ck_assert_int_eq(virtq_set_size(&q, 64), VIRTQ_OK);
    ck_assert_int_eq(virtq_set_addresses(&q, 0x1008, 0x2000, 0x3000), VIRTQ_ERR_ALIGN);
    ck_assert_int_eq(virtq_set_addresses(&q, 0x1000, 0x2001, 0x3000), VIRTQ_ERR_ALIGN);
    ck_assert_int_eq(virtq_set_addresses(&q, 0x1000, 0x2000, 0x3002), VIRTQ_ERR_ALIGN);
    /* Aligned but the used ring runs past the end of low RAM. */
    ck_assert_int_eq(virtq_set_addresses(&q, 0x1000, 0x2002, FX_LOW_SIZE - 8), VIRTQ_OK);
    ck_assert_int_eq(virtq_enable(&q), VIRTQ_ERR_RING_RANGE);
    ck_assert(!virtq_is_ready(&q));
    /* Descriptor table in the hole. */
    ck_assert_int_eq(virtq_set_addresses(&q, FX_LOW_SIZE, 0x2002, 0x3004), VIRTQ_OK);
    ck_assert_int_eq(virtq_enable(&q), VIRTQ_ERR_RING_RANGE);
    /* Avail ring beyond 2^64. */
    ck_assert_int_eq(virtq_set_addresses(&q, 0x1000, UINT64_MAX - 1, 0x3004), VIRTQ_OK);
    ck_assert_int_eq(virtq_enable(&q), VIRTQ_ERR_RING_RANGE);
    ck_assert_int_eq(virtq_set_addresses(&q, 0x1000, 0x2002, 0x3004), VIRTQ_OK);
    ck_assert_int_eq(virtq_enable(&q), VIRTQ_OK);
    ck_assert(virtq_is_ready(&q));
    ck_assert_int_eq(virtq_set_size(&q, 32), VIRTQ_ERR_BUSY);
    ck_assert_int_eq(virtq_set_addresses(&q, 0x1000, 0x2000, 0x3000), VIRTQ_ERR_BUSY);
    ck_assert_int_eq(virtq_pop(&q, &fx.el), VIRTQ_EMPTY);
    virtq_reset(&q);
    ck_assert(!virtq_is_ready(&q));
    ck_assert_uint_eq(q.s.size, 256);
    ck_assert_uint_eq(q.s.desc_gpa, 0);
    ck_assert_int_eq(virtq_pop(&q, &fx.el), VIRTQ_NOT_READY);
}
END_TEST

START_TEST(test_unpop_and_avail_count)
{
    add_one();
    add_one();
    ck_assert_uint_eq(virtq_avail_count(&fx.vq), 2);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    uint16_t first = fx.el.head;
    ck_assert_uint_eq(virtq_avail_count(&fx.vq), 1);
    virtq_unpop(&fx.vq, 1);
    ck_assert_uint_eq(virtq_avail_count(&fx.vq), 2);
    ck_assert_int_eq(pop(), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.head, first);
}
END_TEST

START_TEST(test_save_load)
{
    fx_queue(8, VIRTQ_F_EVENT_IDX | VIRTQ_F_INDIRECT_DESC);
    for (unsigned i = 0; i < 5; i++)
        complete_one();
    add_one(); /* one chain in flight */
    ck_assert_int_eq(pop(), VIRTQ_OK);
    uint16_t inflight = fx.el.head;
    VirtqState st;
    virtq_save(&fx.vq, &st);
    ck_assert(st.ready && st.event_idx && st.indirect_desc);
    ck_assert_uint_eq(st.size, 8);
    ck_assert_uint_eq(st.last_avail_idx, 6);
    ck_assert_uint_eq(st.used_idx, 5);

    VirtQueue q;
    virtq_init(&q, fx.mem, "restored", &fx.rl, VIRTQ_MAX_SIZE);
    ck_assert_int_eq(virtq_load(&q, &st), VIRTQ_OK);
    VirtqState again;
    virtq_save(&q, &again);
    ck_assert(again.ready == st.ready && again.event_idx == st.event_idx &&
              again.indirect_desc == st.indirect_desc);
    ck_assert_uint_eq(again.size, st.size);
    ck_assert_uint_eq(again.desc_gpa, st.desc_gpa);
    ck_assert_uint_eq(again.avail_gpa, st.avail_gpa);
    ck_assert_uint_eq(again.used_gpa, st.used_gpa);
    ck_assert_uint_eq(again.last_avail_idx, st.last_avail_idx);
    ck_assert_uint_eq(again.used_idx, st.used_idx);
    /* The restored queue carries on where the old one stopped. */
    virtq_push(&q, inflight, 3);
    uint16_t head = add_one();
    ck_assert_int_eq(virtq_pop(&q, &fx.el), VIRTQ_OK);
    ck_assert_uint_eq(fx.el.head, head);
    ck_assert_uint_eq(virtq_driver_used_idx(&fx.drv), 6);

    /* Untrusted state. */
    VirtqState bad = st;
    bad.size = 12;
    ck_assert_int_eq(virtq_load(&q, &bad), VIRTQ_ERR_SIZE);
    ck_assert(!virtq_is_ready(&q));
    bad = st;
    bad.used_gpa |= 2;
    ck_assert_int_eq(virtq_load(&q, &bad), VIRTQ_ERR_ALIGN);
    bad = st;
    bad.last_avail_idx = (uint16_t)(bad.used_idx + 9);
    ck_assert_int_eq(virtq_load(&q, &bad), VIRTQ_ERR_STATE);
    bad = st;
    bad.desc_gpa = FX_LOW_SIZE; /* the hole */
    ck_assert_int_eq(virtq_load(&q, &bad), VIRTQ_ERR_RING_RANGE);
    ck_assert(!virtq_is_ready(&q));
    VirtQueue small;
    virtq_init(&small, fx.mem, "small", &fx.rl, 4);
    ck_assert_int_eq(virtq_load(&small, &st), VIRTQ_ERR_SIZE); /* above its maximum */
    /* A queue that was never enabled loads as not ready. */
    bad = st;
    bad.ready = false;
    bad.desc_gpa = FX_LOW_SIZE;
    ck_assert_int_eq(virtq_load(&q, &bad), VIRTQ_OK);
    ck_assert(!virtq_is_ready(&q));
}
END_TEST

static Suite *queue_suite(void)
{
    fx_log_once();
    Suite *s = suite_create("virtio_queue");
    TCase *tc = tcase_create("normal");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_single_readable);
    tcase_add_test(tc, test_multi_descriptor);
    tcase_add_test(tc, test_indirect);
    tcase_add_test(tc, test_direct_then_indirect);
    tcase_add_test(tc, test_zero_length_descriptor);
    tcase_add_test(tc, test_buffer_across_adjacent_regions);
    tcase_add_test(tc, test_index_wraparound);
    tcase_add_test(tc, test_queue_size_one);
    tcase_add_test(tc, test_queue_size_max);
    tcase_add_test(tc, test_used_batching);
    tcase_add_test(tc, test_interrupt_suppression_flags);
    tcase_add_test(tc, test_interrupt_suppression_event_idx);
    tcase_add_test(tc, test_notification_flags);
    tcase_add_test(tc, test_notification_event_idx);
    tcase_add_test(tc, test_config_checks);
    tcase_add_test(tc, test_unpop_and_avail_count);
    tcase_add_test(tc, test_save_load);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(queue_suite)
