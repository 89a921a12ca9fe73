/* nimbus: parse the command line, build the VM, run the control loop.
 * The only file that calls exit() (by returning from main). */
#include "api/api.h"
#include "api/vm_snapshot.h"
#include "arch/arch.h"
#include "hypervisor/cli.h"
#include "hypervisor/log.h"
#include "hypervisor/version.h"
#include "hypervisor/vmm.h"

#include <stdio.h>

static int fail(const GError *err)
{
    fprintf(stderr, "nimbus: error: %s\n", err->message);
    return VMM_EXIT_ERROR;
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(CliOptions) opts = cli_parse(argc, argv, &err);
    if (!opts)
        return fail(err);
    if (opts->show_help) {
        g_autofree char *help = cli_help_text();
        fputs(help, stdout);
        return VMM_EXIT_OK;
    }
    if (opts->show_version) {
        printf("nimbus v%s\n", NIMBUS_VERSION);
        return VMM_EXIT_OK;
    }
    bool has_api = opts->api_socket_path || opts->api_socket_fd >= 0;
    if (!opts->vm && !opts->restore_url && !has_api) {
        fprintf(stderr, "nimbus: error: nothing to run: give --kernel PATH, --restore or --api-socket "
                        "(see nimbus --help)\n");
        return VMM_EXIT_ERROR;
    }
    LogConfig log_cfg = { .verbosity = opts->verbosity, .path = opts->log_file };
    if (!log_setup(&log_cfg, &err))
        return fail(err);

    Vmm *vmm = vmm_new(arch_machine_ops());
    vmm_set_snapshot_ops(vmm, &api_snapshot_ops);
    ApiServer *api = NULL;
    int status;
    if (opts->api_socket_path)
        api = api_server_new_path(vmm, opts->api_socket_path, &err);
    else if (opts->api_socket_fd >= 0)
        api = api_server_new_fd(vmm, opts->api_socket_fd, &err);
    if (has_api && !api) {
        status = fail(err);
    } else if (opts->vm && (!vmm_vm_create(vmm, opts->vm, &err) || !vmm_vm_boot(vmm, &err))) {
        status = fail(err);
    } else if (opts->restore_url && !vmm_vm_restore(vmm, opts->restore_url, opts->restore_prefault,
                                                    opts->restore_resume, &err)) {
        status = fail(err);
    } else {
        /* With an API, a stopped guest leaves nimbus running (the VM can be
         * booted again or deleted); without one, nimbus ends with it. */
        vmm_set_exit_with_guest(vmm, !api);
        vmm_set_acpi_shutdown(vmm, opts->acpi_shutdown);
        vmm_watch_signals(vmm);
        status = vmm_run(vmm);
    }
    api_server_free(api);
    vmm_free(vmm);
    log_teardown();
    return status;
}
