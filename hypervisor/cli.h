/* Command-line parsing (cloud-hypervisor syntax) into a VmConfig plus the
 * process options. Pure: no I/O besides reading argv, so it is unit-tested. */
#pragma once
#include "hypervisor/vm_config.h"

#include <glib.h>
#include <stdbool.h>

typedef struct CliOptions {
    VmConfig *vm;    /* NULL when no VM is described on the command line */
    int verbosity;   /* number of -v */
    char *log_file;
    bool show_help;
    bool show_version;
    bool acpi_shutdown; /* --shutdown-mode acpi */
    /* --api-socket path=P | fd=N: at most one is set (path NULL, fd -1: no API). */
    char *api_socket_path;
    int api_socket_fd;
    /* --restore source_url=URL[,prefault=on][,resume=on] (NULL: none). */
    char *restore_url;
    bool restore_prefault;
    bool restore_resume;
} CliOptions;

/* argv is not modified. Returns NULL with a one-line error on bad input. */
CliOptions *cli_parse(int argc, char **argv, GError **errp);
void cli_options_free(CliOptions *o);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliOptions, cli_options_free)

/* The --help text. */
char *cli_help_text(void);
