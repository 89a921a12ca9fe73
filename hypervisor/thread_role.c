#include "hypervisor/thread_role.h"

#include <glib.h>
#include <pthread.h>

/* Thread-local, so not shared mutable state: each thread records its own role. */
static __thread ThreadRole current_role = THREAD_ROLE_CONTROL;

void thread_role_enter(ThreadRole role, const char *name)
{
    g_assert(role < THREAD_ROLE_COUNT);
    current_role = role;
    char comm[16];
    g_strlcpy(comm, name, sizeof(comm));
    pthread_setname_np(pthread_self(), comm);
}

ThreadRole thread_role_current(void)
{
    return current_role;
}

const char *thread_role_name(ThreadRole role)
{
    static const char *const names[THREAD_ROLE_COUNT] = {
        [THREAD_ROLE_CONTROL] = "control",
        [THREAD_ROLE_VCPU] = "vcpu",
        [THREAD_ROLE_IO] = "io",
        [THREAD_ROLE_API] = "api",
    };
    return role < THREAD_ROLE_COUNT ? names[role] : "?";
}
