#include "hypervisor/irq.h"

#include "hypervisor/error.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define TEST_LINES 64

struct IrqRouter {
    AccelVm *avm;
    GMutex lock;
    GArray *base;   /* AccelRoute: fixed irqchip routes */
    GArray *msi;    /* AccelRoute: allocated MSI routes */
    uint32_t first_msi_gsi, max_gsi;
    bool dirty;
    /* recorded when avm == NULL */
    bool test_levels[TEST_LINES];
    unsigned test_msis;
};

IrqRouter *irq_router_new(AccelVm *avm, const AccelRoute *base, size_t n_base,
                          uint32_t first_msi_gsi, uint32_t max_gsi)
{
    IrqRouter *r = g_new0(IrqRouter, 1);
    r->avm = avm;
    g_mutex_init(&r->lock);
    r->base = g_array_new(FALSE, FALSE, sizeof(AccelRoute));
    g_array_append_vals(r->base, base, (guint)n_base);
    r->msi = g_array_new(FALSE, FALSE, sizeof(AccelRoute));
    r->first_msi_gsi = first_msi_gsi;
    r->max_gsi = max_gsi;
    r->dirty = true;
    return r;
}

void irq_router_free(IrqRouter *r)
{
    if (!r)
        return;
    g_array_free(r->base, TRUE);
    g_array_free(r->msi, TRUE);
    g_mutex_clear(&r->lock);
    g_free(r);
}

void irq_line_set(IrqRouter *r, uint32_t gsi, bool level)
{
    if (r->avm) {
        r->avm->ops->vm_set_irq_line(r->avm, gsi, level);
        return;
    }
    g_mutex_lock(&r->lock);
    if (gsi < TEST_LINES)
        r->test_levels[gsi] = level;
    g_mutex_unlock(&r->lock);
}

void irq_line_pulse(IrqRouter *r, uint32_t gsi)
{
    irq_line_set(r, gsi, true);
    irq_line_set(r, gsi, false);
}

void irq_msi_send(IrqRouter *r, uint64_t addr, uint32_t data, uint32_t devid, bool has_devid)
{
    if (r->avm) {
        r->avm->ops->vm_signal_msi(r->avm, addr, data, devid, has_devid);
        return;
    }
    g_mutex_lock(&r->lock);
    r->test_msis++;
    g_mutex_unlock(&r->lock);
}

static AccelRoute *find_msi(IrqRouter *r, uint32_t gsi, guint *index)
{
    for (guint i = 0; i < r->msi->len; i++) {
        AccelRoute *e = &g_array_index(r->msi, AccelRoute, i);
        if (e->gsi == gsi) {
            if (index)
                *index = i;
            return e;
        }
    }
    return NULL;
}

bool irq_msi_route_add(IrqRouter *r, uint64_t addr, uint32_t data, uint32_t devid,
                       bool has_devid, uint32_t *gsi, GError **errp)
{
    g_mutex_lock(&r->lock);
    for (uint32_t g = r->first_msi_gsi; g <= r->max_gsi; g++) {
        if (find_msi(r, g, NULL))
            continue;
        AccelRoute e = { .gsi = g, .kind = ACCEL_ROUTE_MSI,
                         .msi = { .addr = addr, .data = data, .devid = devid, .has_devid = has_devid } };
        g_array_append_val(r->msi, e);
        r->dirty = true;
        g_mutex_unlock(&r->lock);
        *gsi = g;
        return true;
    }
    g_mutex_unlock(&r->lock);
    g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_UNSUPPORTED, "out of interrupt routes (GSI %u-%u in use)",
                r->first_msi_gsi, r->max_gsi);
    return false;
}

bool irq_msi_route_update(IrqRouter *r, uint32_t gsi, uint64_t addr, uint32_t data, uint32_t devid,
                          bool has_devid, GError **errp)
{
    g_mutex_lock(&r->lock);
    AccelRoute *e = find_msi(r, gsi, NULL);
    if (e) {
        e->msi.addr = addr;
        e->msi.data = data;
        e->msi.devid = devid;
        e->msi.has_devid = has_devid;
        r->dirty = true;
    }
    g_mutex_unlock(&r->lock);
    if (!e)
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_NOT_FOUND, "GSI %u is not an MSI route", gsi);
    return e != NULL;
}

void irq_route_remove(IrqRouter *r, uint32_t gsi)
{
    g_mutex_lock(&r->lock);
    guint i;
    if (find_msi(r, gsi, &i)) {
        g_array_remove_index_fast(r->msi, i);
        r->dirty = true;
    }
    g_mutex_unlock(&r->lock);
}

bool irq_router_commit(IrqRouter *r, GError **errp)
{
    g_mutex_lock(&r->lock);
    int e = 0;
    if (r->dirty && r->avm) {
        /* KVM replaces the whole table: always send the fixed routes too. */
        g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(AccelRoute));
        g_array_append_vals(all, r->base->data, r->base->len);
        g_array_append_vals(all, r->msi->data, r->msi->len);
        e = r->avm->ops->vm_set_gsi_routing(r->avm, (AccelRoute *)all->data, all->len);
    }
    if (e == 0)
        r->dirty = false;
    g_mutex_unlock(&r->lock);
    if (e < 0) {
        error_set_errno(errp, e, "cannot set the interrupt routing table");
        return false;
    }
    return true;
}

struct IrqFd {
    IrqRouter *router;
    uint32_t gsi;
    int fd;
};

IrqFd *irqfd_new(IrqRouter *r, uint32_t gsi, GError **errp)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) {
        error_set_errno(errp, -errno, "eventfd");
        return NULL;
    }
    if (r->avm) {
        int e = r->avm->ops->vm_irqfd(r->avm, fd, gsi, -1, true);
        if (e < 0) {
            close(fd);
            error_set_errno(errp, e, "cannot bind an irqfd to GSI %u", gsi);
            return NULL;
        }
    }
    IrqFd *f = g_new0(IrqFd, 1);
    f->router = r;
    f->gsi = gsi;
    f->fd = fd;
    return f;
}

void irqfd_free(IrqFd *f)
{
    if (!f)
        return;
    if (f->router->avm)
        f->router->avm->ops->vm_irqfd(f->router->avm, f->fd, f->gsi, -1, false);
    close(f->fd);
    g_free(f);
}

int irqfd_fd(IrqFd *f)
{
    return f->fd;
}

void irqfd_trigger(IrqFd *f)
{
    uint64_t one = 1;
    /* A full counter (EAGAIN) means an interrupt is already pending: fine. */
    ssize_t n = write(f->fd, &one, sizeof(one));
    (void)n;
    if (!f->router->avm) {
        g_mutex_lock(&f->router->lock);
        f->router->test_msis++;
        g_mutex_unlock(&f->router->lock);
    }
}

bool irq_router_test_level(IrqRouter *r, uint32_t gsi)
{
    g_mutex_lock(&r->lock);
    bool v = gsi < TEST_LINES && r->test_levels[gsi];
    g_mutex_unlock(&r->lock);
    return v;
}

unsigned irq_router_test_msi_count(IrqRouter *r)
{
    g_mutex_lock(&r->lock);
    unsigned n = r->test_msis;
    g_mutex_unlock(&r->lock);
    return n;
}
