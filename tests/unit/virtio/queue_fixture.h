/* Shared fixture of the virtqueue tests: guest memory made of guarded RAM
 * (PROT_NONE pages around each host mapping, so an access past a region's end
 * faults at once, also without ASan), a VirtQueue and a fake driver.
 *
 * Guest-physical layout:
 *   [0, 4 MiB)             RAM "low": rings at 64 KiB, driver data at 2 MiB
 *   [4 MiB, 4 GiB)         hole
 *   [4 GiB, 4 GiB + 1 MiB) RAM "high"
 */
#pragma once
#include "devices/virtio/queue.h"
#include "support/virtq_driver.h"

#define FX_LOW_SIZE (4ull << 20)
#define FX_RINGS 0x10000ull
#define FX_DATA (2ull << 20)
#define FX_DATA_SIZE (2ull << 20)
#define FX_HIGH_GPA (4ull << 30)
#define FX_HIGH_SIZE (1ull << 20)

typedef struct Fixture {
    GuestMemory *mem;
    GuardedRam low, high;
    RateLimit rl;
    VirtQueue vq;
    VirtqDriver drv;
    VirtqElement el;
} Fixture;

extern Fixture fx;

/* Checked fixture: memory, rate limiter, element. */
void fx_setup(void);
void fx_teardown(void);
/* (Re)configure and enable the queue with `size` and ring `features`, and
 * lay the driver's rings out for it. */
void fx_queue(uint16_t size, uint64_t features);
/* Enable guest-error logging (to /dev/null) so the log paths run too. */
void fx_log_once(void);
/* True if every iovec of fx.el lies inside guarded RAM. */
bool fx_iov_in_ram(const VirtqElement *e);
