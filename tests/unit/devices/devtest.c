#include "devtest.h"

#include "migration/device_state.h"
#include "support/fake_accel.h"

#include <check.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

static void on_stop(Vm *vm, VmStopReason reason, const char *detail, void *opaque)
{
    DevTest *t = opaque;
    t->stops++;
    t->stop_reason = reason;
    g_free(t->stop_detail);
    t->stop_detail = g_strdup(detail);
}

DevTest *devtest_new(void)
{
    DevTest *t = g_new0(DevTest, 1);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmConfig) cfg = vm_config_new_default();
    t->accel = fake_accel_new();
    t->loop = evloop_new("control");
    t->vm = vm_new(t->accel, t->loop, cfg, on_stop, t, &err);
    ck_assert_msg(t->vm, "vm_new: %s", err ? err->message : "?");
    /* No fixed routes needed: the fake accelerator takes any GSI. */
    vm_set_irq_router(t->vm, irq_router_new(vm_accel_vm(t->vm), NULL, 0, 24, 1023));
    return t;
}

void devtest_free(DevTest *t)
{
    if (!t)
        return;
    vm_free(t->vm);
    evloop_free(t->loop);
    accel_close(t->accel);
    g_free(t->stop_detail);
    g_free(t);
}

uint32_t devtest_in(DevTest *t, uint16_t port, unsigned size)
{
    uint8_t buf[4] = { 0 };
    addrspace_dispatch(vm_pio(t->vm), NULL, port, buf, size, false);
    return (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
           (uint32_t)buf[3] << 24;
}

void devtest_out(DevTest *t, uint16_t port, uint32_t value, unsigned size)
{
    uint8_t buf[4] = { (uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
                       (uint8_t)(value >> 24) };
    addrspace_dispatch(vm_pio(t->vm), NULL, port, buf, size, true);
}

uint8_t devtest_inb(DevTest *t, uint16_t port)
{
    return (uint8_t)devtest_in(t, port, 1);
}

void devtest_outb(DevTest *t, uint16_t port, uint8_t value)
{
    devtest_out(t, port, value, 1);
}

uint8_t devtest_mmio_readb(DevTest *t, uint64_t addr)
{
    uint8_t v = 0;
    addrspace_dispatch(vm_mmio(t->vm), NULL, addr, &v, 1, false);
    return v;
}

void devtest_mmio_writeb(DevTest *t, uint64_t addr, uint8_t value)
{
    addrspace_dispatch(vm_mmio(t->vm), NULL, addr, &value, 1, true);
}

bool devtest_irq(DevTest *t, uint32_t gsi)
{
    return fake_accel_irq_level(vm_accel_vm(t->vm), gsi);
}

unsigned devtest_irq_edges(DevTest *t, uint32_t gsi)
{
    return fake_accel_irq_edges(vm_accel_vm(t->vm), gsi);
}

void devtest_run_pending(DevTest *t)
{
    while (g_main_context_iteration(evloop_context(t->loop), FALSE))
        ;
}

bool devtest_run_until(DevTest *t, bool (*done)(void *opaque), void *opaque, unsigned timeout_ms)
{
    int64_t deadline = g_get_monotonic_time() + (int64_t)timeout_ms * 1000;
    while (!done(opaque) && g_get_monotonic_time() < deadline) {
        if (!g_main_context_iteration(evloop_context(t->loop), FALSE))
            g_usleep(1000);
    }
    return done(opaque);
}

int devtest_unix_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s",
                  g_strerror(errno));
    return fd;
}

void devtest_state_copy(Device *a, Device *b)
{
    g_autoptr(GByteArray) s1 = g_byte_array_new();
    g_autoptr(GByteArray) s2 = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    device_state_save(a, s1);
    ck_assert_msg(device_state_load(b, s1->data, s1->len, &err), "load: %s", err ? err->message : "?");
    ck_assert_msg(!b->ops->post_load_all || b->ops->post_load_all(b, &err), "post_load_all: %s",
                  err ? err->message : "?");
    device_state_save(b, s2);
    ck_assert_uint_eq(s1->len, s2->len);
    ck_assert(memcmp(s1->data, s2->data, s1->len) == 0);
}

char *devtest_tmpdir(void)
{
    g_autoptr(GError) err = NULL;
    char *dir = g_dir_make_tmp("nimbus-devtest-XXXXXX", &err);
    ck_assert_msg(dir, "g_dir_make_tmp: %s", err ? err->message : "?");
    return dir;
}

void devtest_rmdir(const char *dir)
{
    if (!dir)
        return;
    GDir *d = g_dir_open(dir, 0, NULL);
    if (d) {
        const char *name;
        while ((name = g_dir_read_name(d))) {
            g_autofree char *p = g_build_filename(dir, name, NULL);
            g_unlink(p);
        }
        g_dir_close(d);
    }
    g_rmdir(dir);
}
