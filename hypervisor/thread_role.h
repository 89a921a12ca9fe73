/* Every thread Nimbus starts has a role. The role names the thread (visible in
 * /proc/<pid>/task/<tid>/comm and to libvirt's vcpuinfo) and is what a seccomp
 * filter will be chosen by (one profile per role). */
#pragma once

typedef enum {
    THREAD_ROLE_CONTROL, /* main thread: control event loop, API requests, migration */
    THREAD_ROLE_VCPU,    /* bare KVM_RUN loop */
    THREAD_ROLE_IO,      /* an IoThread: virtqueues and backends */
    THREAD_ROLE_API,     /* the HTTP API server's loop (api/); hands requests to control */
    THREAD_ROLE_COUNT
} ThreadRole;

/* Name the calling thread (at most 15 chars) and record its role. */
void thread_role_enter(ThreadRole role, const char *name);
/* The calling thread's role; THREAD_ROLE_CONTROL for threads that never entered one. */
ThreadRole thread_role_current(void);
const char *thread_role_name(ThreadRole role);
