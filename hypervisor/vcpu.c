#include "hypervisor/vcpu.h"

#include "hypervisor/error.h"
#include "hypervisor/log.h"
#include "hypervisor/thread_role.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum {
    REQ_PAUSE = 1u << 0,
    REQ_STOP = 1u << 1,
};

struct Vcpu {
    AccelVm *avm;
    AccelVcpu *accel;
    uint32_t index;
    VcpuHost host;
    AddrSpaceHint pio_hint, mmio_hint;

    GThread *thread;
    pid_t tid;
    guint requests; /* REQ_*, atomic */
    GMutex lock;
    GCond cond;
    bool parked;
    bool exited;
    VcpuStats stats;
};

/* The kick signal. Its handler does nothing: its only job is to make KVM_RUN
 * return -EINTR; the request itself travels in Vcpu.requests. */
static int kick_signal(void)
{
    return SIGRTMIN;
}

static void kick_handler(int sig)
{
    (void)sig;
}

static void kick_handler_install(void)
{
    static gsize done;
    if (g_once_init_enter(&done)) {
        struct sigaction sa = { .sa_handler = kick_handler };
        sigemptyset(&sa.sa_mask);
        sigaction(kick_signal(), &sa, NULL);
        g_once_init_leave(&done, 1);
    }
}

Vcpu *vcpu_new(AccelVm *avm, uint32_t index, const VcpuHost *host, GError **errp)
{
    AccelVcpu *a = NULL;
    int e = avm->ops->vcpu_create(avm, index, &a);
    if (e < 0) {
        error_set_errno(errp, e, "cannot create vCPU %u", index);
        return NULL;
    }
    Vcpu *v = g_new0(Vcpu, 1);
    v->avm = avm;
    v->accel = a;
    v->index = index;
    v->host = *host;
    g_mutex_init(&v->lock);
    g_cond_init(&v->cond);
    return v;
}

void vcpu_free(Vcpu *v)
{
    if (!v)
        return;
    vcpu_stop(v);
    v->accel->ops->vcpu_destroy(v->accel);
    g_mutex_clear(&v->lock);
    g_cond_clear(&v->cond);
    g_free(v);
}

AccelVcpu *vcpu_accel(Vcpu *v)
{
    return v->accel;
}

uint32_t vcpu_index(Vcpu *v)
{
    return v->index;
}

static void park(Vcpu *v)
{
    g_mutex_lock(&v->lock);
    v->parked = true;
    g_cond_broadcast(&v->cond);
    while ((g_atomic_int_get(&v->requests) & (REQ_PAUSE | REQ_STOP)) == REQ_PAUSE)
        g_cond_wait(&v->cond, &v->lock);
    v->parked = false;
    g_mutex_unlock(&v->lock);
}

/* Report an event and park until the controller decides what happens next. */
static void report(Vcpu *v, VcpuEvent ev, const char *detail)
{
    g_atomic_int_or(&v->requests, REQ_PAUSE);
    v->host.on_event(v->host.opaque, v, ev, detail);
}

static void handle_io(Vcpu *v, const AccelExit *e)
{
    v->stats.exits_io++;
    for (uint32_t i = 0; i < e->count; i++)
        addrspace_dispatch(v->host.pio, &v->pio_hint, e->addr, e->data + (size_t)i * e->size, e->size,
                           e->is_write);
}

/* An I/O exit is complete only once the next KVM_RUN has put a read's
 * value into the guest's register and moved RIP past the instruction; until
 * then the register state KVM reports is mid-instruction, and a snapshot of
 * it would run the access again. Before parking, enter KVM_RUN once with
 * immediate_exit set: KVM finishes the access and returns at once without
 * running guest code (KVM API documentation, KVM_RUN / immediate_exit). */
static void complete_io(Vcpu *v)
{
    const AccelOps *ops = v->accel->ops;
    /* An access split into fragments (MMIO across a page) exits once more
     * per fragment before KVM can finish it. */
    for (int i = 0; i < 16; i++) {
        AccelExit e;
        ops->vcpu_request_exit(v->accel);
        int r = ops->vcpu_run(v->accel, &e);
        ops->vcpu_clear_exit_request(v->accel);
        if (r == 0 && e.reason == ACCEL_EXIT_IO) {
            handle_io(v, &e);
        } else if (r == 0 && e.reason == ACCEL_EXIT_MMIO) {
            addrspace_dispatch(v->host.mmio, &v->mmio_hint, e.addr, e.data, e.size, e.is_write);
        } else {
            if (r < 0 || (e.reason != ACCEL_EXIT_INTR && e.reason != ACCEL_EXIT_NONE))
                g_warning("vCPU %u: completing an I/O access before parking: %s", v->index,
                          r < 0 ? g_strerror(-r) : "unexpected exit");
            return;
        }
    }
    g_warning("vCPU %u: an I/O access did not complete before parking", v->index);
}

static const char *exit_name(AccelExitReason r)
{
    switch (r) {
    case ACCEL_EXIT_INTERNAL_ERROR:
        return "internal error";
    case ACCEL_EXIT_FAIL_ENTRY:
        return "entry failure";
    default:
        return "unexpected exit";
    }
}

static gpointer vcpu_thread(gpointer opaque)
{
    Vcpu *v = opaque;
    char name[16];
    g_snprintf(name, sizeof(name), "vcpu%u", v->index);
    thread_role_enter(THREAD_ROLE_VCPU, name);
    g_mutex_lock(&v->lock);
    v->tid = (pid_t)syscall(SYS_gettid);
    g_cond_broadcast(&v->cond);
    g_mutex_unlock(&v->lock);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, kick_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    const AccelOps *ops = v->accel->ops;
    bool io_pending = false; /* the last exit was port I/O or MMIO */
    for (;;) {
        /* Clear the kick before reading the requests: a kick that lands after
         * this point leaves immediate_exit set and KVM_RUN returns at once. */
        ops->vcpu_clear_exit_request(v->accel);
        guint req = g_atomic_int_get(&v->requests);
        if (req & REQ_STOP)
            break;
        if (req & REQ_PAUSE) {
            if (io_pending)
                complete_io(v);
            io_pending = false;
            park(v);
            continue;
        }
        AccelExit e;
        int r = ops->vcpu_run(v->accel, &e);
        io_pending = r == 0 && (e.reason == ACCEL_EXIT_IO || e.reason == ACCEL_EXIT_MMIO);
        if (r < 0) {
            g_autofree char *d = g_strdup_printf("KVM_RUN failed: %s", g_strerror(-r));
            report(v, VCPU_EVENT_FAILED, d);
            continue;
        }
        switch (e.reason) {
        case ACCEL_EXIT_IO:
            handle_io(v, &e);
            break;
        case ACCEL_EXIT_MMIO:
            v->stats.exits_mmio++;
            addrspace_dispatch(v->host.mmio, &v->mmio_hint, e.addr, e.data, e.size, e.is_write);
            break;
        case ACCEL_EXIT_INTR:
        case ACCEL_EXIT_NONE:
            v->stats.exits_intr++;
            break;
        case ACCEL_EXIT_HLT:
            /* Only without an in-kernel irqchip, which Nimbus always creates. */
            report(v, VCPU_EVENT_FAILED, "HLT exit without an in-kernel irqchip");
            break;
        case ACCEL_EXIT_SHUTDOWN:
            report(v, VCPU_EVENT_RESET, "triple fault");
            break;
        case ACCEL_EXIT_SYSTEM_RESET:
            report(v, VCPU_EVENT_RESET, "system reset");
            break;
        case ACCEL_EXIT_SYSTEM_OFF:
            report(v, VCPU_EVENT_POWEROFF, "system off");
            break;
        case ACCEL_EXIT_GUEST_CRASH:
            report(v, VCPU_EVENT_CRASH, "guest crash event");
            break;
        case ACCEL_EXIT_INTERNAL_ERROR:
        case ACCEL_EXIT_FAIL_ENTRY:
        case ACCEL_EXIT_UNKNOWN: {
            g_autofree char *d = g_strdup_printf("%s (code 0x%" G_GINT64_MODIFIER "x)",
                                                 exit_name(e.reason), e.hw_code);
            report(v, VCPU_EVENT_FAILED, d);
            break;
        }
        }
    }
    g_mutex_lock(&v->lock);
    v->exited = true;
    g_cond_broadcast(&v->cond);
    g_mutex_unlock(&v->lock);
    return NULL;
}

bool vcpu_start(Vcpu *v, bool start_paused, GError **errp)
{
    g_assert(!v->thread);
    kick_handler_install();
    if (start_paused)
        g_atomic_int_or(&v->requests, REQ_PAUSE);
    char name[16];
    g_snprintf(name, sizeof(name), "vcpu%u", v->index);
    /* Block the kick signal while spawning: the new thread unblocks it itself,
     * and no other thread should ever run the (empty) handler. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, kick_signal());
    pthread_sigmask(SIG_BLOCK, &set, &old);
    v->thread = g_thread_try_new(name, vcpu_thread, v, errp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!v->thread)
        return false;
    g_mutex_lock(&v->lock);
    while (!v->tid)
        g_cond_wait(&v->cond, &v->lock);
    g_mutex_unlock(&v->lock);
    return true;
}

static void kick(Vcpu *v)
{
    v->accel->ops->vcpu_request_exit(v->accel);
    g_mutex_lock(&v->lock);
    if (v->thread && !v->exited)
        syscall(SYS_tgkill, getpid(), v->tid, kick_signal());
    g_cond_broadcast(&v->cond);
    g_mutex_unlock(&v->lock);
}

void vcpu_request_pause(Vcpu *v)
{
    g_atomic_int_or(&v->requests, REQ_PAUSE);
    kick(v);
}

void vcpu_wait_parked(Vcpu *v)
{
    g_mutex_lock(&v->lock);
    while (v->thread && !v->parked && !v->exited)
        g_cond_wait(&v->cond, &v->lock);
    g_mutex_unlock(&v->lock);
}

void vcpu_resume(Vcpu *v)
{
    g_mutex_lock(&v->lock);
    g_atomic_int_and(&v->requests, ~REQ_PAUSE);
    g_cond_broadcast(&v->cond);
    g_mutex_unlock(&v->lock);
}

void vcpu_stop(Vcpu *v)
{
    if (!v->thread)
        return;
    g_atomic_int_or(&v->requests, REQ_STOP);
    kick(v);
    g_thread_join(v->thread);
    v->thread = NULL;
}

pid_t vcpu_tid(Vcpu *v)
{
    return v->tid;
}

void vcpu_stats(Vcpu *v, VcpuStats *out)
{
    *out = v->stats;
}
