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

/* --disk path=...,readonly=on,direct=on,num_queues=N,queue_size=N,id=,serial= */
typedef struct DiskConfig {
    char *path;
    bool readonly;
    bool direct;         /* O_DIRECT */
    uint32_t num_queues; /* default 1 */
    uint32_t queue_size; /* default 256 */
    char *id;            /* NULL: generated ("disk0", ...) */
    char *serial;        /* VIRTIO_BLK_T_GET_ID answer; NULL: none */
} DiskConfig;

/* --net tap=NAME | ip=,mask=  [,mac=,num_queues=,queue_size=,id=] */
typedef struct NetConfig {
    char *tap;           /* existing tap to open; NULL: nimbus creates one */
    char *ip, *mask;     /* host side address of a created tap */
    uint8_t mac[6];      /* guest MAC */
    bool mac_set;        /* false: a random locally administered MAC */
    uint32_t num_queues; /* queue pairs * 2; default 2 */
    uint32_t queue_size; /* default 256 */
    char *id;
} NetConfig;

/* --rng src=PATH (default /dev/urandom) */
typedef struct RngConfig {
    char *src;
} RngConfig;

/* --vsock cid=N,socket=PATH[,id=] (cloud-hypervisor's hybrid vsock) */
typedef struct VsockConfig {
    uint64_t cid;
    char *socket;
    char *id;
} VsockConfig;

/* --balloon size=S[,deflate_on_oom=on][,free_page_reporting=on] */
typedef struct BalloonConfig {
    uint64_t size;
    bool deflate_on_oom;
    bool free_page_reporting;
} BalloonConfig;

typedef struct VmConfig {
    CpusConfig cpus;
    MemoryConfig memory;
    PayloadConfig payload;
    ConsoleConfig serial;
    ConsoleConfig console; /* virtio-console; mode OFF: none */
    RebootPolicy reboot_policy;
    GPtrArray *disks;      /* DiskConfig*, owned */
    GPtrArray *nets;       /* NetConfig*, owned */
    RngConfig *rng;        /* NULL: no rng */
    VsockConfig *vsock;    /* NULL: none */
    BalloonConfig *balloon; /* NULL: none */
} VmConfig;

DiskConfig *disk_config_copy(const DiskConfig *d);
void disk_config_free(DiskConfig *d);
NetConfig *net_config_copy(const NetConfig *n);
void net_config_free(NetConfig *n);

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
bool vm_config_parse_disk(const char *text, DiskConfig **out, GError **errp);
bool vm_config_parse_net(const char *text, NetConfig **out, GError **errp);
bool vm_config_parse_mac(const char *text, uint8_t mac[6], GError **errp);
/* The checks the parsers above apply, for configs built another way (API JSON). */
bool vm_config_check_disk(const DiskConfig *d, GError **errp);
bool vm_config_check_net(const NetConfig *n, GError **errp);
bool vm_config_parse_rng(const char *text, RngConfig **out, GError **errp);
bool vm_config_parse_vsock(const char *text, VsockConfig **out, GError **errp);
bool vm_config_parse_balloon(const char *text, BalloonConfig **out, GError **errp);

/* Cross-field and host checks (files exist and are readable, vCPU counts
 * within max_vcpus_limit, memory within bounds). */
bool vm_config_validate(const VmConfig *cfg, uint32_t max_vcpus_limit, GError **errp);
