/* Tests of hypervisor/vm.c and device.c on the fake accelerator: creation,
 * the lifecycle transition table, stop requests delivered on the control
 * loop, and the device list (attach, find, id generation, ordering). */
#include "hypervisor/device.h"
#include "hypervisor/error.h"
#include "hypervisor/vm.h"
#include "support/check_main.h"
#include "support/fake_accel.h"

#include <string.h>

static Accel *accel;
static EventLoop *control;
static VmConfig *cfg;
static Vm *vm;

/* What the stop callback saw. */
static struct {
    int calls;
    VmStopReason reason;
    char *detail;
    GThread *thread;
    bool on_loop;
    bool quit;
} stops;

static void on_stop(Vm *v, VmStopReason reason, const char *detail, void *opaque)
{
    ck_assert_ptr_eq(v, vm);
    ck_assert_ptr_eq(opaque, &stops);
    g_atomic_int_inc(&stops.calls);
    stops.reason = reason;
    g_free(stops.detail);
    stops.detail = g_strdup(detail);
    stops.thread = g_thread_self();
    stops.on_loop = evloop_is_current(control);
    if (stops.quit)
        evloop_quit(control);
}

/* Ordered log of device callbacks: "pause:d1", "unrealize:d0", ... */
static GPtrArray *calls;

static void setup(void)
{
    accel = fake_accel_new();
    control = evloop_new("control");
    cfg = vm_config_new_default();
    cfg->payload.kernel = g_strdup("/nonexistent");
    cfg->cpus.boot_vcpus = 2;
    cfg->cpus.max_vcpus = 4;
    memset(&stops, 0, sizeof(stops));
    calls = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    vm = vm_new(accel, control, cfg, on_stop, &stops, &err);
    ck_assert_msg(vm != NULL, "%s", err ? err->message : "?");
}

static void teardown(void)
{
    vm_free(vm);
    vm = NULL;
    evloop_free(control);
    vm_config_free(cfg);
    accel_close(accel);
    g_free(stops.detail);
    g_ptr_array_free(calls, TRUE);
}

static void log_call(const char *what, Device *d)
{
    g_ptr_array_add(calls, g_strdup_printf("%s:%s", what, d->id));
}

static bool logged(const char *entry)
{
    for (guint i = 0; i < calls->len; i++)
        if (strcmp(calls->pdata[i], entry) == 0)
            return true;
    return false;
}

/* The joined log, for order assertions. */
static char *log_text(void)
{
    g_ptr_array_add(calls, NULL);
    char *s = g_strjoinv(" ", (char **)calls->pdata);
    g_ptr_array_remove_index(calls, calls->len - 1);
    return s;
}

/* ---- creation and accessors ------------------------------------------------ */

START_TEST(test_new)
{
    ck_assert_int_eq(vm_state(vm), VM_STATE_CREATED);
    ck_assert_ptr_eq(vm_accel(vm), accel);
    ck_assert_ptr_nonnull(vm_accel_vm(vm));
    ck_assert_ptr_nonnull(vm_memory(vm));
    ck_assert_ptr_nonnull(vm_pio(vm));
    ck_assert_ptr_nonnull(vm_mmio(vm));
    ck_assert_ptr_ne(vm_pio(vm), vm_mmio(vm));
    ck_assert_ptr_eq(vm_control_loop(vm), control);
    ck_assert_ptr_null(vm_irq(vm));
    ck_assert_uint_eq(vm_vcpu_count(vm), 0);
    ck_assert_ptr_null(vm_vcpu(vm, 0));
    /* The VM keeps its own copy of the configuration. */
    const VmConfig *c = vm_config(vm);
    ck_assert_ptr_ne(c, cfg);
    ck_assert_ptr_ne(c->payload.kernel, cfg->payload.kernel);
    ck_assert_str_eq(c->payload.kernel, "/nonexistent");
    cfg->cpus.boot_vcpus = 99;
    ck_assert_uint_eq(vm_config(vm)->cpus.boot_vcpus, 2);
    ck_assert_ptr_null(vm_find_device(vm, "anything"));
}
END_TEST

START_TEST(test_irq_router)
{
    IrqRouter *r = irq_router_new(vm_accel_vm(vm), NULL, 0, 24, 31);
    vm_set_irq_router(vm, r);
    ck_assert_ptr_eq(vm_irq(vm), r);
    irq_line_set(r, 3, true);
    ck_assert(fake_accel_irq_level(vm_accel_vm(vm), 3));
}
END_TEST

START_TEST(test_create_vcpus)
{
    g_autoptr(GError) err = NULL;
    ck_assert(vm_create_vcpus(vm, &err));
    ck_assert_uint_eq(vm_vcpu_count(vm), 2);
    ck_assert_ptr_nonnull(vm_vcpu(vm, 0));
    ck_assert_ptr_nonnull(vm_vcpu(vm, 1));
    ck_assert_ptr_ne(vm_vcpu(vm, 0), vm_vcpu(vm, 1));
    ck_assert_ptr_null(vm_vcpu(vm, 2));
    ck_assert_uint_eq(vcpu_index(vm_vcpu(vm, 1)), 1);
    /* Again: nothing more is created. */
    ck_assert(vm_create_vcpus(vm, &err));
    ck_assert_uint_eq(vm_vcpu_count(vm), 2);
}
END_TEST

START_TEST(test_memory_through_vm)
{
    MemoryBacking b = { 0 };
    ck_assert_ptr_nonnull(memory_add_ram(vm_memory(vm), "ram", 0, 1 << 20, &b, NULL));
    ck_assert_uint_eq(fake_accel_memslot_count(vm_accel_vm(vm)), 1);
}
END_TEST

/* ---- lifecycle ---------------------------------------------------------------- */

START_TEST(test_transition_table)
{
    /* The documented lifecycle: CREATED -> RUNNING <-> PAUSED -> SHUTDOWN,
     * CREATED -> PAUSED (restore), and any state except SHUTDOWN may shut down. */
    static const bool expected[VM_STATE_COUNT][VM_STATE_COUNT] = {
        [VM_STATE_CREATED] = { [VM_STATE_RUNNING] = true, [VM_STATE_PAUSED] = true, [VM_STATE_SHUTDOWN] = true },
        [VM_STATE_RUNNING] = { [VM_STATE_PAUSED] = true, [VM_STATE_SHUTDOWN] = true },
        [VM_STATE_PAUSED] = { [VM_STATE_RUNNING] = true, [VM_STATE_SHUTDOWN] = true },
    };
    for (int from = 0; from < VM_STATE_COUNT; from++)
        for (int to = 0; to < VM_STATE_COUNT; to++)
            ck_assert_msg(vm_state_can_transition(from, to) == expected[from][to], "%s -> %s",
                          vm_state_name(from), vm_state_name(to));
    ck_assert(!vm_state_can_transition(VM_STATE_COUNT, VM_STATE_RUNNING));
    ck_assert(!vm_state_can_transition(VM_STATE_CREATED, VM_STATE_COUNT));
    ck_assert(!vm_state_can_transition((VmState)-1, VM_STATE_RUNNING));
}
END_TEST

START_TEST(test_names)
{
    for (int s = 0; s < VM_STATE_COUNT; s++) {
        ck_assert_str_ne(vm_state_name(s), "?");
        for (int t = 0; t < s; t++)
            ck_assert_str_ne(vm_state_name(s), vm_state_name(t));
    }
    ck_assert_str_eq(vm_state_name(VM_STATE_COUNT), "?");
    VmStopReason reasons[] = { VM_STOP_NONE, VM_STOP_RESET, VM_STOP_POWEROFF,
                               VM_STOP_CRASH, VM_STOP_FAILED, VM_STOP_HOST };
    for (unsigned i = 0; i < G_N_ELEMENTS(reasons); i++) {
        ck_assert_str_ne(vm_stop_reason_name(reasons[i]), "?");
        for (unsigned j = 0; j < i; j++)
            ck_assert_str_ne(vm_stop_reason_name(reasons[i]), vm_stop_reason_name(reasons[j]));
    }
    ck_assert_str_eq(vm_stop_reason_name((VmStopReason)42), "?");
}
END_TEST

typedef bool (*LifecycleFn)(Vm *, GError **);

static void expect_illegal(LifecycleFn fn, const char *fn_name)
{
    VmState before = vm_state(vm);
    g_autoptr(GError) err = NULL;
    ck_assert_msg(!fn(vm, &err), "%s allowed in state %s", fn_name, vm_state_name(before));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_STATE));
    ck_assert_msg(strstr(err->message, vm_state_name(before)), "'%s' does not name the state",
                  err->message);
    ck_assert_int_eq(vm_state(vm), before);
}

static void expect_legal(LifecycleFn fn, VmState after)
{
    g_autoptr(GError) err = NULL;
    ck_assert_msg(fn(vm, &err), "%s", err ? err->message : "?");
    ck_assert_ptr_null(err);
    ck_assert_int_eq(vm_state(vm), after);
}

START_TEST(test_lifecycle)
{
    expect_illegal(vm_pause, "pause");
    expect_illegal(vm_resume, "resume");
    expect_legal(vm_start, VM_STATE_RUNNING);
    expect_illegal(vm_start, "start");
    expect_illegal(vm_resume, "resume");
    expect_legal(vm_pause, VM_STATE_PAUSED);
    expect_illegal(vm_pause, "pause");
    expect_illegal(vm_start, "start");
    expect_legal(vm_resume, VM_STATE_RUNNING);
    expect_legal(vm_pause, VM_STATE_PAUSED);
    expect_legal(vm_shutdown, VM_STATE_SHUTDOWN);
    expect_illegal(vm_start, "start");
    expect_illegal(vm_pause, "pause");
    expect_illegal(vm_resume, "resume");
    /* Shutting down a shut-down VM is a no-op, not an error. */
    expect_legal(vm_shutdown, VM_STATE_SHUTDOWN);
}
END_TEST

START_TEST(test_shutdown_from_created)
{
    expect_legal(vm_shutdown, VM_STATE_SHUTDOWN);
    expect_illegal(vm_start, "start");
}
END_TEST

START_TEST(test_lifecycle_with_vcpus)
{
    /* The fake accelerator cannot run a guest: each vCPU reports a failure
     * and parks. Pause, resume and shutdown must still work. */
    ck_assert(vm_create_vcpus(vm, NULL));
    stops.quit = true;
    expect_legal(vm_start, VM_STATE_RUNNING);
    evloop_run(control);
    ck_assert_int_eq(stops.calls, 1);
    ck_assert_int_eq(stops.reason, VM_STOP_FAILED);
    ck_assert_ptr_nonnull(strstr(stops.detail, "vcpu"));
    ck_assert_uint_ne(vcpu_tid(vm_vcpu(vm, 0)), 0);
    expect_legal(vm_pause, VM_STATE_PAUSED);
    expect_legal(vm_resume, VM_STATE_RUNNING);
    expect_legal(vm_shutdown, VM_STATE_SHUTDOWN);
}
END_TEST

START_TEST(test_start_paused)
{
    /* A restore: vCPUs started but parked before the first KVM_RUN, the VM
     * Paused; resume runs it (the fake vCPUs then fail, as above). */
    ck_assert(vm_create_vcpus(vm, NULL));
    expect_legal(vm_start_paused, VM_STATE_PAUSED);
    ck_assert_uint_ne(vcpu_tid(vm_vcpu(vm, 0)), 0);
    expect_illegal(vm_start, "start");
    expect_illegal(vm_start_paused, "start paused");
    expect_illegal(vm_pause, "pause");
    stops.quit = true;
    expect_legal(vm_resume, VM_STATE_RUNNING);
    evloop_run(control);
    ck_assert_int_eq(stops.reason, VM_STOP_FAILED);
    expect_legal(vm_shutdown, VM_STATE_SHUTDOWN);
    expect_illegal(vm_start_paused, "start paused");
}
END_TEST

/* ---- stop requests ------------------------------------------------------------- */

static void drain(void)
{
    while (g_main_context_iteration(evloop_context(control), FALSE))
        ;
}

START_TEST(test_request_stop_first_wins)
{
    vm_request_stop(vm, VM_STOP_POWEROFF, "first");
    vm_request_stop(vm, VM_STOP_RESET, "second");
    vm_request_stop(vm, VM_STOP_CRASH, NULL);
    /* Delivered on the control loop, not inline. */
    ck_assert_int_eq(stops.calls, 0);
    stops.quit = true;
    evloop_run(control);
    drain();
    ck_assert_int_eq(stops.calls, 1);
    ck_assert_int_eq(stops.reason, VM_STOP_POWEROFF);
    ck_assert_str_eq(stops.detail, "first");
    ck_assert(stops.on_loop);
    /* Later requests are ignored as well. */
    vm_request_stop(vm, VM_STOP_HOST, "late");
    drain();
    ck_assert_int_eq(stops.calls, 1);
}
END_TEST

typedef struct Racer {
    VmStopReason reason;
    GMutex *gate;
} Racer;

static gpointer race_stop(gpointer opaque)
{
    Racer *r = opaque;
    g_mutex_lock(r->gate); /* start together */
    g_mutex_unlock(r->gate);
    g_autofree char *d = g_strdup_printf("reason %d", r->reason);
    for (int i = 0; i < 100; i++)
        vm_request_stop(vm, r->reason, d);
    return NULL;
}

START_TEST(test_request_stop_from_threads)
{
    ck_assert(evloop_start_thread(control, THREAD_ROLE_CONTROL, NULL));
    GMutex gate;
    g_mutex_init(&gate);
    g_mutex_lock(&gate);
    Racer r[4] = { { VM_STOP_RESET, &gate }, { VM_STOP_POWEROFF, &gate },
                   { VM_STOP_CRASH, &gate }, { VM_STOP_FAILED, &gate } };
    GThread *t[4];
    for (unsigned i = 0; i < 4; i++)
        t[i] = g_thread_new("racer", race_stop, &r[i]);
    g_mutex_unlock(&gate);
    for (unsigned i = 0; i < 4; i++)
        g_thread_join(t[i]);
    /* Let the loop thread deliver, then stop it. */
    for (int i = 0; i < 500 && g_atomic_int_get(&stops.calls) == 0; i++)
        g_usleep(1000);
    g_usleep(20 * 1000);
    evloop_stop_thread(control);
    g_mutex_clear(&gate);

    ck_assert_int_eq(stops.calls, 1);
    ck_assert(stops.on_loop);
    ck_assert_ptr_ne(stops.thread, g_thread_self());
    /* Whichever won, the detail belongs to the same request as the reason. */
    g_autofree char *d = g_strdup_printf("reason %d", stops.reason);
    ck_assert_str_eq(stops.detail, d);
}
END_TEST

START_TEST(test_request_stop_never_delivered)
{
    /* The VM goes away before its control loop runs: no callback, no leak. */
    vm_request_stop(vm, VM_STOP_HOST, "bye");
    vm_free(vm);
    vm = NULL;
    drain();
    ck_assert_int_eq(stops.calls, 0);
}
END_TEST

/* ---- devices --------------------------------------------------------------------- */

typedef struct TestDevCfg {
    bool fail_realize;
    bool fail_pause;
} TestDevCfg;

typedef struct TestDev {
    Device dev; /* first */
    TestDevCfg cfg;
    int resets;
    bool half_realized;
} TestDev;

static bool tdev_realize(Device *d, const void *opaque, GError **errp)
{
    TestDev *t = DEVICE_CAST(TestDev, d);
    ck_assert_ptr_eq(d->vm, vm);
    ck_assert(!d->realized);
    if (opaque)
        t->cfg = *(const TestDevCfg *)opaque;
    t->half_realized = true;
    log_call("realize", d);
    if (t->cfg.fail_realize) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "refusing to realize");
        return false;
    }
    return true;
}

static void tdev_reset(Device *d)
{
    DEVICE_CAST(TestDev, d)->resets++;
    log_call("reset", d);
}

static bool tdev_pause(Device *d, GError **errp)
{
    log_call("pause", d);
    if (DEVICE_CAST(TestDev, d)->cfg.fail_pause) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_IO, "busy");
        return false;
    }
    return true;
}

static bool tdev_resume(Device *d, GError **errp)
{
    log_call("resume", d);
    return true;
}

static void tdev_unrealize(Device *d)
{
    /* Must cope with a device whose realize failed half-way. */
    ck_assert(DEVICE_CAST(TestDev, d)->half_realized);
    log_call("unrealize", d);
}

#define TDEV_OPS(name, st)                                                                        \
    static const DeviceOps name = {                                                               \
        .type = "test-" #st, .instance_size = sizeof(TestDev), .stage = DEVICE_STAGE_##st,        \
        .realize = tdev_realize, .reset = tdev_reset, .pause = tdev_pause, .resume = tdev_resume, \
        .unrealize = tdev_unrealize,                                                              \
    }
TDEV_OPS(irqchip_ops, IRQCHIP);
TDEV_OPS(platform_ops, PLATFORM);
TDEV_OPS(pci_ops, PCI_DEVICE);

static const DeviceOps minimal_ops = { .type = "minimal", .instance_size = sizeof(Device) };

static Device *create(const DeviceOps *ops, const char *id, const TestDevCfg *c)
{
    g_autoptr(GError) err = NULL;
    Device *d = device_create(vm, ops, id, c, &err);
    ck_assert_msg(d != NULL, "%s", err ? err->message : "?");
    return d;
}

START_TEST(test_device_create_find)
{
    Device *d = create(&platform_ops, "uart0", NULL);
    ck_assert_str_eq(d->id, "uart0");
    ck_assert_ptr_eq(d->vm, vm);
    ck_assert_ptr_eq(d->ops, &platform_ops);
    ck_assert(d->realized);
    ck_assert_int_eq(DEVICE_CAST(TestDev, d)->resets, 1); /* reset after realize */
    ck_assert_ptr_eq(vm_find_device(vm, "uart0"), d);
    ck_assert_ptr_null(vm_find_device(vm, "uart1"));
    ck_assert_ptr_null(vm_find_device(vm, "uart"));
    ck_assert_ptr_null(vm_find_device(vm, ""));

    Device *m = create(&minimal_ops, "min", NULL); /* every op is optional */
    ck_assert_ptr_eq(vm_find_device(vm, "min"), m);
    vm_reset_devices(vm);
    ck_assert_int_eq(DEVICE_CAST(TestDev, d)->resets, 2);

    device_destroy(d);
    ck_assert(logged("unrealize:uart0"));
    ck_assert_ptr_null(vm_find_device(vm, "uart0"));
    ck_assert_ptr_eq(vm_find_device(vm, "min"), m);
    device_destroy(NULL);
}
END_TEST

START_TEST(test_device_duplicate_id)
{
    create(&platform_ops, "dev", NULL);
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(device_create(vm, &pci_ops, "dev", NULL, &err));
    ck_assert(g_error_matches(err, NIMBUS_ERROR, NIMBUS_ERROR_INVALID));
    ck_assert_ptr_nonnull(strstr(err->message, "'dev'"));
    ck_assert_ptr_eq(vm_find_device(vm, "dev")->ops, &platform_ops);
    ck_assert_uint_eq(calls->len, 2); /* realize+reset of the first only */
}
END_TEST

START_TEST(test_device_realize_fails)
{
    TestDevCfg c = { .fail_realize = true };
    g_autoptr(GError) err = NULL;
    ck_assert_ptr_null(device_create(vm, &pci_ops, "bad", &c, &err));
    ck_assert_ptr_nonnull(err);
    /* The error says which device, then why. */
    ck_assert_ptr_nonnull(strstr(err->message, "bad"));
    ck_assert_ptr_nonnull(strstr(err->message, "refusing to realize"));
    ck_assert(logged("unrealize:bad")); /* partial realize is undone */
    ck_assert(!logged("reset:bad"));
    ck_assert_ptr_null(vm_find_device(vm, "bad"));
    /* The id is free again. */
    create(&pci_ops, "bad", NULL);
}
END_TEST

START_TEST(test_device_id_new)
{
    g_autofree char *a = vm_device_id_new(vm, "serial");
    ck_assert(g_str_has_prefix(a, "serial"));
    create(&platform_ops, a, NULL);
    g_autofree char *b = vm_device_id_new(vm, "serial");
    ck_assert_str_ne(a, b);
    ck_assert_ptr_null(vm_find_device(vm, b));
    /* Ids taken explicitly are skipped. */
    g_autofree char *guess1 = g_strdup_printf("blk%u", 0);
    g_autofree char *guess2 = g_strdup_printf("blk%u", 1);
    g_autofree char *guess3 = g_strdup_printf("blk%u", 2);
    g_autofree char *guess4 = g_strdup_printf("blk%u", 3);
    create(&pci_ops, guess1, NULL);
    create(&pci_ops, guess2, NULL);
    create(&pci_ops, guess3, NULL);
    create(&pci_ops, guess4, NULL);
    for (int i = 0; i < 20; i++) {
        g_autofree char *id = vm_device_id_new(vm, "blk");
        ck_assert(g_str_has_prefix(id, "blk"));
        ck_assert_msg(!vm_find_device(vm, id), "%s is taken", id);
        create(&pci_ops, id, NULL);
    }
}
END_TEST

START_TEST(test_device_order)
{
    /* Created in mixed order; the list is by stage, then creation. */
    create(&pci_ops, "p0", NULL);
    create(&irqchip_ops, "i0", NULL);
    create(&platform_ops, "s0", NULL);
    create(&pci_ops, "p1", NULL);
    create(&platform_ops, "s1", NULL);
    g_ptr_array_set_size(calls, 0);

    expect_legal(vm_start, VM_STATE_RUNNING);
    expect_legal(vm_pause, VM_STATE_PAUSED);
    {
        g_autofree char *t = log_text();
        ck_assert_str_eq(t, "pause:p1 pause:p0 pause:s1 pause:s0 pause:i0");
    }
    g_ptr_array_set_size(calls, 0);
    expect_legal(vm_resume, VM_STATE_RUNNING);
    {
        g_autofree char *t = log_text();
        ck_assert_str_eq(t, "resume:i0 resume:s0 resume:s1 resume:p0 resume:p1");
    }
    g_ptr_array_set_size(calls, 0);
    vm_reset_devices(vm);
    {
        g_autofree char *t = log_text();
        ck_assert_str_eq(t, "reset:i0 reset:s0 reset:s1 reset:p0 reset:p1");
    }
    g_ptr_array_set_size(calls, 0);
    vm_free(vm);
    vm = NULL;
    {
        g_autofree char *t = log_text();
        ck_assert_str_eq(t, "unrealize:p1 unrealize:p0 unrealize:s1 unrealize:s0 unrealize:i0");
    }
}
END_TEST

START_TEST(test_pause_failure_rolls_back)
{
    TestDevCfg busy = { .fail_pause = true };
    create(&irqchip_ops, "i0", NULL);
    create(&platform_ops, "s0", &busy);
    create(&pci_ops, "p0", NULL);
    expect_legal(vm_start, VM_STATE_RUNNING);
    g_ptr_array_set_size(calls, 0);
    g_autoptr(GError) err = NULL;
    ck_assert(!vm_pause(vm, &err));
    ck_assert_ptr_nonnull(strstr(err->message, "s0"));
    ck_assert_ptr_nonnull(strstr(err->message, "busy"));
    ck_assert_int_eq(vm_state(vm), VM_STATE_RUNNING);
    /* p0 was paused before s0 failed, so it is resumed; i0 was never paused. */
    g_autofree char *t = log_text();
    ck_assert_str_eq(t, "pause:p0 pause:s0 resume:p0");
    /* Still a working VM. */
    expect_legal(vm_shutdown, VM_STATE_SHUTDOWN);
}
END_TEST

START_TEST(test_detach_attach)
{
    Device *d = create(&platform_ops, "x", NULL);
    vm_detach_device(vm, d);
    ck_assert_ptr_null(vm_find_device(vm, "x"));
    vm_attach_device(vm, d);
    ck_assert_ptr_eq(vm_find_device(vm, "x"), d);
}
END_TEST

static Suite *vm_suite(void)
{
    Suite *s = suite_create("vm");
    TCase *tc = tcase_create("vm");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_new);
    tcase_add_test(tc, test_irq_router);
    tcase_add_test(tc, test_create_vcpus);
    tcase_add_test(tc, test_memory_through_vm);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_transition_table);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_lifecycle);
    tcase_add_test(tc, test_shutdown_from_created);
    tcase_add_test(tc, test_lifecycle_with_vcpus);
    tcase_add_test(tc, test_start_paused);
    suite_add_tcase(s, tc);

    tc = tcase_create("stop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_request_stop_first_wins);
    tcase_add_test(tc, test_request_stop_from_threads);
    tcase_add_test(tc, test_request_stop_never_delivered);
    suite_add_tcase(s, tc);

    tc = tcase_create("devices");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_device_create_find);
    tcase_add_test(tc, test_device_duplicate_id);
    tcase_add_test(tc, test_device_realize_fails);
    tcase_add_test(tc, test_device_id_new);
    tcase_add_test(tc, test_device_order);
    tcase_add_test(tc, test_pause_failure_rolls_back);
    tcase_add_test(tc, test_detach_attach);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(vm_suite)
