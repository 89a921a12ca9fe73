/* A port range with nothing behind it that the guest may nonetheless poke:
 * writes vanish, reads return a fixed byte. The dispatcher splits wider
 * accesses into bytes (impl_max 1), so an inw/inl reads the byte repeated. */
#include "devices/misc/port_sink.h"

#include "hypervisor/error.h"
#include "hypervisor/vm.h"

typedef struct PortSink {
    Device dev;
    uint64_t base;
    uint8_t read_value; /* immutable after realize: no lock needed */
    bool mapped;
} PortSink;

static uint64_t sink_read(void *opaque, uint64_t offset, unsigned size)
{
    PortSink *s = opaque;
    return s->read_value;
}

static void sink_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
}

static const RegionOps sink_region_ops = {
    .read = sink_read,
    .write = sink_write,
    .valid_min = 1,
    .valid_max = 4, /* inb/inw/inl */
    .valid_unaligned = true,
    .impl_min = 1,
    .impl_max = 1,
};

static bool port_sink_realize(Device *d, const void *opaque, GError **errp)
{
    PortSink *s = DEVICE_CAST(PortSink, d);
    const PortSinkConfig *cfg = opaque;
    s->base = cfg->base;
    s->read_value = cfg->read_value;
    if (!addrspace_map(vm_pio(d->vm), d->id, cfg->base, cfg->size, &sink_region_ops, s, errp))
        return false;
    s->mapped = true;
    return true;
}

static void port_sink_unrealize(Device *d)
{
    PortSink *s = DEVICE_CAST(PortSink, d);
    if (s->mapped)
        addrspace_unmap(vm_pio(d->vm), s->base, NULL);
}

const DeviceOps port_sink_ops = {
    .type = "port-sink",
    .instance_size = sizeof(PortSink),
    .stage = DEVICE_STAGE_PLATFORM,
    .realize = port_sink_realize,
    .state = &port_sink_state,
    .unrealize = port_sink_unrealize,
};
