#include "hypervisor/cli.h"

#include "hypervisor/error.h"
#include "hypervisor/kvlist.h"

#include <string.h>

/* The help names this build's kernel format, serial device and console. */
#if defined(__aarch64__)
#define HELP_KERNEL "Linux kernel to boot: an uncompressed arm64 Image"
#define HELP_SERIAL "PL011 UART"
#define HELP_EXAMPLE_KERNEL "Image"
#define HELP_EXAMPLE_CONSOLE "console=ttyAMA0"
#else
#define HELP_KERNEL "Linux kernel to boot: a bzImage or an ELF vmlinux with a PVH entry note"
#define HELP_SERIAL "16550 UART (COM1)"
#define HELP_EXAMPLE_KERNEL "bzImage"
#define HELP_EXAMPLE_CONSOLE "console=ttyS0"
#endif

typedef struct CliRaw {
    char *kernel, *initramfs, *cmdline, *cpus, *memory, *serial, *reboot_policy, *log_file;
    char *console, *rng, *vsock, *balloon, *api_socket, *restore, *shutdown_mode;
    char **disks, **nets; /* repeatable */
    gboolean help, version;
    int verbosity;
} CliRaw;

static gboolean count_verbose(const gchar *name, const gchar *value, gpointer data, GError **errp)
{
    ((CliRaw *)data)->verbosity++;
    return TRUE;
}

static GOptionContext *make_context(CliRaw *raw)
{
    const GOptionEntry entries[] = {
        { "kernel", 0, 0, G_OPTION_ARG_FILENAME, &raw->kernel, HELP_KERNEL, "PATH" },
        { "initramfs", 0, 0, G_OPTION_ARG_FILENAME, &raw->initramfs, "Initial ramdisk", "PATH" },
        { "cmdline", 0, 0, G_OPTION_ARG_STRING, &raw->cmdline, "Kernel command line", "TEXT" },
        { "cpus", 0, 0, G_OPTION_ARG_STRING, &raw->cpus,
          "vCPUs: boot=N[,max=M] (default boot=1)", "boot=N[,max=M]" },
        { "memory", 0, 0, G_OPTION_ARG_STRING, &raw->memory,
          "Guest RAM: size=SIZE[,shared=on|off][,hugepages=on|off][,hugepage_size=SIZE] "
          "(default size=512M)",
          "size=SIZE,..." },
        { "serial", 0, 0, G_OPTION_ARG_STRING, &raw->serial,
          HELP_SERIAL " backend: tty|file=PATH|socket=PATH|pty|null|off (default tty)",
          "MODE" },
        { "console", 0, 0, G_OPTION_ARG_STRING, &raw->console,
          "virtio-console backend: off (default)|tty|pty|null|file=PATH|socket=PATH", "MODE" },
        { "disk", 0, 0, G_OPTION_ARG_STRING_ARRAY, &raw->disks,
          "virtio-blk disk (repeatable): path=PATH[,readonly=on][,direct=on][,num_queues=N]"
          "[,queue_size=N][,id=ID][,serial=TEXT]",
          "path=PATH,..." },
        { "net", 0, 0, G_OPTION_ARG_STRING_ARRAY, &raw->nets,
          "virtio-net device (repeatable): tap=NAME | ip=ADDR,mask=MASK (a new tap)"
          "[,mac=MAC][,num_queues=N][,queue_size=N][,id=ID]",
          "tap=NAME,..." },
        { "rng", 0, 0, G_OPTION_ARG_STRING, &raw->rng,
          "virtio-rng fed from src=PATH (such as /dev/urandom)", "src=PATH" },
        { "vsock", 0, 0, G_OPTION_ARG_STRING, &raw->vsock,
          "virtio-vsock with a hybrid UNIX socket: cid=N,socket=PATH[,id=ID]", "cid=N,socket=PATH" },
        { "balloon", 0, 0, G_OPTION_ARG_STRING, &raw->balloon,
          "virtio-balloon: size=SIZE[,deflate_on_oom=on][,free_page_reporting=on]",
          "size=SIZE,..." },
        { "shutdown-mode", 0, 0, G_OPTION_ARG_STRING, &raw->shutdown_mode,
          "What the API's vm.shutdown does to a running guest: hard (default; stop it at once) "
          "or acpi (press its power button, stop it after 30 s)",
          "hard|acpi" },
        { "reboot-policy", 0, 0, G_OPTION_ARG_STRING, &raw->reboot_policy,
          "What a guest reboot does: exit (default; nimbus exits with status 0) or restart",
          "exit|restart" },
        { "api-socket", 0, 0, G_OPTION_ARG_STRING, &raw->api_socket,
          "Serve the cloud-hypervisor REST API on a UNIX socket: path=PATH or PATH (created, removed "
          "at exit) or fd=N (already listening)",
          "path=PATH|fd=N" },
        { "restore", 0, 0, G_OPTION_ARG_STRING, &raw->restore,
          "Restore the VM of a snapshot instead of booting one: source_url=file:///DIR"
          "[,prefault=on][,resume=on] (left paused without resume=on)",
          "source_url=URL,..." },
        { "verbose", 'v', G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, (gpointer)count_verbose,
          "More log output (repeat: -v info, -vv debug, -vvv guest errors)", NULL },
        { "log-file", 0, 0, G_OPTION_ARG_FILENAME, &raw->log_file,
          "Write the log to PATH instead of stderr", "PATH" },
        { "version", 'V', 0, G_OPTION_ARG_NONE, &raw->version, "Print the version and exit", NULL },
        { "help", 'h', 0, G_OPTION_ARG_NONE, &raw->help, "Show this help and exit", NULL },
        { NULL },
    };
    GOptionContext *ctx = g_option_context_new("- a cloud virtual machine monitor on KVM");
    GOptionGroup *group = g_option_group_new("nimbus", "Nimbus options", "Show Nimbus options", raw, NULL);
    g_option_group_add_entries(group, entries);
    g_option_context_set_main_group(ctx, group);
    /* We print help ourselves: glib's built-in --help calls exit(). */
    g_option_context_set_help_enabled(ctx, FALSE);
    g_option_context_set_summary(ctx,
        "Boots a Linux guest directly from its kernel, with a serial console on the\n"
        "terminal. A guest power-off, or a reboot with --reboot-policy exit, ends\n"
        "nimbus with exit status 0 (with --api-socket, nimbus serves the API on).");
    g_option_context_set_description(ctx,
        "Sizes take a K, M, G or T suffix (512M, 4G). Options taking key=value lists\n"
        "reject unknown or repeated keys.\n"
        "\n"
        "Exit status: 0 when the guest powered off or rebooted, 1 on an error,\n"
        "128+N when stopped by signal N.\n"
        "\n"
        "Example:\n"
        "  nimbus --kernel " HELP_EXAMPLE_KERNEL " --initramfs initrd.gz --cmdline \"" HELP_EXAMPLE_CONSOLE "\" \\\n"
        "         --cpus boot=2 --memory size=1G --serial tty\n");
    return ctx;
}

static void raw_clear(CliRaw *r)
{
    g_free(r->kernel);
    g_free(r->initramfs);
    g_free(r->cmdline);
    g_free(r->cpus);
    g_free(r->memory);
    g_free(r->serial);
    g_free(r->reboot_policy);
    g_free(r->log_file);
    g_free(r->console);
    g_free(r->rng);
    g_free(r->vsock);
    g_free(r->balloon);
    g_free(r->api_socket);
    g_free(r->restore);
    g_free(r->shutdown_mode);
    g_strfreev(r->disks);
    g_strfreev(r->nets);
}

void cli_options_free(CliOptions *o)
{
    if (!o)
        return;
    vm_config_free(o->vm);
    g_free(o->log_file);
    g_free(o->api_socket_path);
    g_free(o->restore_url);
    g_free(o);
}

/* Apply one option value, prefixing errors with the option's name. */
#define APPLY(opt, call)                                 \
    do {                                                 \
        if (!(call)) {                                   \
            g_prefix_error(errp, "--%s: ", opt);         \
            goto out;                                    \
        }                                                \
    } while (0)

/* --api-socket path=P | fd=N | P (a bare path, as cloud-hypervisor accepts). */
static bool parse_api_socket(const char *text, CliOptions *o, GError **errp)
{
    if (!strchr(text, '=')) {
        if (!*text) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "empty socket path");
            return false;
        }
        o->api_socket_path = g_strdup(text);
        return true;
    }
    static const char *const keys[] = { "path", "fd", NULL };
    g_autoptr(KvList) kv = kvlist_parse(text, keys, errp);
    if (!kv)
        return false;
    if (kvlist_has(kv, "path") == kvlist_has(kv, "fd")) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "give exactly one of path= or fd=");
        return false;
    }
    if (kvlist_has(kv, "path"))
        return kvlist_get_str(kv, "path", &o->api_socket_path, errp);
    uint32_t fd = 0;
    if (!kvlist_get_u32(kv, "fd", &fd, errp))
        return false;
    if (fd > G_MAXINT) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "fd=%u is out of range", fd);
        return false;
    }
    o->api_socket_fd = (int)fd;
    return true;
}

/* --restore source_url=URL[,prefault=on|off][,resume=on|off] */
static bool parse_restore(const char *text, CliOptions *o, GError **errp)
{
    static const char *const keys[] = { "source_url", "prefault", "resume", NULL };
    g_autoptr(KvList) kv = kvlist_parse(text, keys, errp);
    if (!kv)
        return false;
    if (!kvlist_has(kv, "source_url")) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "source_url= is required");
        return false;
    }
    return kvlist_get_str(kv, "source_url", &o->restore_url, errp) &&
           kvlist_get_bool(kv, "prefault", &o->restore_prefault, errp) &&
           kvlist_get_bool(kv, "resume", &o->restore_resume, errp);
}

CliOptions *cli_parse(int argc, char **argv, GError **errp)
{
    CliRaw raw = { 0 };
    GOptionContext *ctx = make_context(&raw);
    /* GOption rearranges its array: give it a copy. */
    g_autofree char **args = g_new0(char *, (gsize)argc + 1);
    memcpy(args, argv, sizeof(char *) * (gsize)argc);
    int n = argc;
    char **pargs = args;
    gboolean ok = g_option_context_parse(ctx, &n, &pargs, errp);
    g_option_context_free(ctx);
    g_autoptr(CliOptions) o = g_new0(CliOptions, 1);
    o->api_socket_fd = -1;
    if (!ok)
        goto out;
    if (n > 1) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID, "unexpected argument '%s'", pargs[1]);
        ok = FALSE;
        goto out;
    }
    o->verbosity = raw.verbosity;
    o->log_file = g_strdup(raw.log_file);
    o->show_help = raw.help;
    o->show_version = raw.version;
    if (raw.shutdown_mode) {
        if (g_strcmp0(raw.shutdown_mode, "acpi") == 0) {
            o->acpi_shutdown = true;
        } else if (g_strcmp0(raw.shutdown_mode, "hard") != 0) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                        "--shutdown-mode: '%s' is not hard or acpi", raw.shutdown_mode);
            ok = FALSE;
            goto out;
        }
    }
    if (raw.api_socket && !parse_api_socket(raw.api_socket, o, errp)) {
        g_prefix_error(errp, "--api-socket: ");
        ok = FALSE;
        goto out;
    }
    bool describes_vm = raw.kernel || raw.initramfs || raw.cmdline || raw.cpus || raw.memory ||
                        raw.serial || raw.reboot_policy || raw.console || raw.disks || raw.nets ||
                        raw.rng || raw.vsock || raw.balloon;
    if (raw.restore) {
        ok = FALSE;
        if (describes_vm) {
            g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                        "--restore: the snapshot describes the VM; give no --kernel, --cpus, --disk, ...");
            goto out;
        }
        APPLY("restore", parse_restore(raw.restore, o, errp));
        ok = TRUE;
    }
    if (describes_vm) {
        g_autoptr(VmConfig) vm = vm_config_new_default();
        vm->payload.kernel = g_strdup(raw.kernel);
        vm->payload.initramfs = g_strdup(raw.initramfs);
        vm->payload.cmdline = g_strdup(raw.cmdline);
        ok = FALSE;
        if (raw.cpus)
            APPLY("cpus", vm_config_parse_cpus(raw.cpus, &vm->cpus, errp));
        if (raw.memory)
            APPLY("memory", vm_config_parse_memory(raw.memory, &vm->memory, errp));
        if (raw.serial)
            APPLY("serial", vm_config_parse_console(raw.serial, &vm->serial, errp));
        if (raw.console)
            APPLY("console", vm_config_parse_console(raw.console, &vm->console, errp));
        for (char **d = raw.disks; d && *d; d++) {
            DiskConfig *disk;
            APPLY("disk", vm_config_parse_disk(*d, &disk, errp));
            g_ptr_array_add(vm->disks, disk);
        }
        for (char **nv = raw.nets; nv && *nv; nv++) {
            NetConfig *net;
            APPLY("net", vm_config_parse_net(*nv, &net, errp));
            g_ptr_array_add(vm->nets, net);
        }
        if (raw.rng)
            APPLY("rng", vm_config_parse_rng(raw.rng, &vm->rng, errp));
        if (raw.vsock)
            APPLY("vsock", vm_config_parse_vsock(raw.vsock, &vm->vsock, errp));
        if (raw.balloon)
            APPLY("balloon", vm_config_parse_balloon(raw.balloon, &vm->balloon, errp));
        if (raw.reboot_policy)
            APPLY("reboot-policy", vm_config_parse_reboot_policy(raw.reboot_policy,
                                                                 &vm->reboot_policy, errp));
        ok = TRUE;
        o->vm = g_steal_pointer(&vm);
    }
out:
    raw_clear(&raw);
    return ok ? g_steal_pointer(&o) : NULL;
}

char *cli_help_text(void)
{
    CliRaw raw = { 0 };
    GOptionContext *ctx = make_context(&raw);
    char *text = g_option_context_get_help(ctx, TRUE, NULL);
    g_option_context_free(ctx);
    return text;
}
