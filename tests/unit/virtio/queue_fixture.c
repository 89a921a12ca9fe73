#include "unit/virtio/queue_fixture.h"

#include <check.h>
#include <string.h>

Fixture fx;

void fx_log_once(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    LogConfig cfg = { .verbosity = 1, .path = "/dev/null" };
    bool ok = log_setup(&cfg, NULL);
    g_assert(ok); /* outside any test: no ck_assert */
}

void fx_setup(void)
{
    memset(&fx, 0, sizeof(fx));
    fx.mem = memory_new(NULL);
    virtq_driver_guarded_ram(fx.mem, 0, FX_LOW_SIZE, &fx.low);
    virtq_driver_guarded_ram(fx.mem, FX_HIGH_GPA, FX_HIGH_SIZE, &fx.high);
    ratelimit_init(&fx.rl, 1000, 5);
    virtq_element_init(&fx.el);
    fx_queue(16, 0);
}

void fx_teardown(void)
{
    virtq_element_clear(&fx.el);
    memory_free(fx.mem);
    virtq_driver_guarded_ram_free(&fx.low);
    virtq_driver_guarded_ram_free(&fx.high);
    ratelimit_clear(&fx.rl);
}

void fx_queue(uint16_t size, uint64_t features)
{
    virtq_init(&fx.vq, fx.mem, "test-vq", &fx.rl, VIRTQ_MAX_SIZE);
    virtq_driver_init(&fx.drv, fx.mem, size, FX_RINGS, FX_DATA, FX_DATA_SIZE);
    ck_assert_int_eq(virtq_set_size(&fx.vq, size), VIRTQ_OK);
    ck_assert_int_eq(virtq_set_addresses(&fx.vq, fx.drv.desc, fx.drv.avail, fx.drv.used), VIRTQ_OK);
    virtq_set_features(&fx.vq, features);
    ck_assert_int_eq(virtq_enable(&fx.vq), VIRTQ_OK);
}

bool fx_iov_in_ram(const VirtqElement *e)
{
    for (uint32_t i = 0; i < e->out_num + e->in_num; i++) {
        const struct iovec *v = &e->iov[i];
        if (!virtq_driver_guarded_contains(&fx.low, v->iov_base, v->iov_len) &&
            !virtq_driver_guarded_contains(&fx.high, v->iov_base, v->iov_len))
            return false;
    }
    return true;
}
