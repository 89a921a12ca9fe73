#include "unit/firmware/dtc_check.h"

#include <check.h>
#include <glib/gstdio.h>
#include <sys/wait.h>

bool dtc_run(GBytes *blob, char **dts, char **warnings)
{
    g_autofree char *dtc = g_find_program_in_path("dtc");
    ck_assert_msg(dtc, "dtc not found (apt-get install device-tree-compiler)");
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("nimbus-dtc-XXXXXX", &err);
    ck_assert_msg(dir, "tmpdir: %s", err ? err->message : "?");
    g_autofree char *path = g_build_filename(dir, "tree.dtb", NULL);
    gsize len;
    const char *data = g_bytes_get_data(blob, &len);
    ck_assert(g_file_set_contents(path, data, (gssize)len, NULL));

    /* No -q: that would hide the warnings this is for. */
    const char *argv[] = { dtc, "-I", "dtb", "-O", "dts", path, NULL };
    int status = 0;
    *dts = *warnings = NULL;
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, dts, warnings,
                               &status, &err),
                  "dtc: %s", err ? err->message : "?");
    g_unlink(path);
    g_rmdir(dir);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

char *dtc_decompile(GBytes *blob)
{
    char *dts, *warnings;
    bool ok = dtc_run(blob, &dts, &warnings);
    ck_assert_msg(ok && !*warnings, "dtc complained:\n%s", warnings);
    g_free(warnings);
    return dts;
}
