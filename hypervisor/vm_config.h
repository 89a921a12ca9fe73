/* The typed VM configuration: what the CLI and the API's VmConfig JSON both
 * produce, and what a machine is built from (and rebuilt from on reboot,
 * restore and migration). Parsing of cloud-hypervisor style option strings
 * lives here too, so the CLI and tests share it. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct CpusConfig {
    uint32_t boot_vcpus;
    uint32_t max_vcpus;
} CpusConfig;

typedef struct MemoryConfig {
    uint64_t size;
    bool shared;
    bool hugepages;
    uint64_t hugepage_size; /* 0: system default */
} MemoryConfig;

typedef struct PayloadConfig {
    char *kernel;
    char *initramfs;
    char *cmdline;
} PayloadConfig;

typedef enum {
    CONSOLE_MODE_OFF,    /* no device at all */
    CONSOLE_MODE_NULL,   /* device present, output discarded, no input */
    CONSOLE_MODE_TTY,    /* our stdin/stdout */
    CONSOLE_MODE_FILE,   /* output appended to a file */
    CONSOLE_MODE_SOCKET, /* a UNIX socket we listen on; one client at a time */
    CONSOLE_MODE_PTY,    /* a pseudo-terminal we allocate */
} ConsoleMode;

typedef struct ConsoleConfig {
    ConsoleMode mode;
    char *path; /* FILE and SOCKET */
} ConsoleConfig;

typedef enum {
    REBOOT_POLICY_EXIT,    /* a guest reboot ends nimbus with status 0 */
    REBOOT_POLICY_RESTART, /* a guest reboot rebuilds and restarts the VM */
} RebootPolicy;

typedef struct VmConfig {
    CpusConfig cpus;
    MemoryConfig memory;
    PayloadConfig payload;
    ConsoleConfig serial;
    RebootPolicy reboot_policy;
} VmConfig;

/* Defaults: 1 vCPU, 512 MiB, serial on the tty, exit on reboot. */
VmConfig *vm_config_new_default(void);
VmConfig *vm_config_copy(const VmConfig *cfg);
void vm_config_free(VmConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmConfig, vm_config_free)

/* Option strings, cloud-hypervisor syntax. Errors name the bad part. */
bool vm_config_parse_cpus(const char *text, CpusConfig *out, GError **errp);
bool vm_config_parse_memory(const char *text, MemoryConfig *out, GError **errp);
bool vm_config_parse_console(const char *text, ConsoleConfig *out, GError **errp);
bool vm_config_parse_reboot_policy(const char *text, RebootPolicy *out, GError **errp);
const char *vm_config_console_mode_name(ConsoleMode mode);

/* Cross-field and host checks (files exist and are readable, vCPU counts
 * within max_vcpus_limit, memory within bounds). */
bool vm_config_validate(const VmConfig *cfg, uint32_t max_vcpus_limit, GError **errp);
