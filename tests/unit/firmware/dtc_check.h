/* Decompile a DTB with the device-tree compiler (`dtc -I dtb -O dts`), the
 * same checks a kernel developer's tools apply. */
#pragma once
#include <glib.h>
#include <stdbool.h>

/* Run dtc on blob: true if it exited 0. *dts and *warnings (both set, maybe
 * empty) are its stdout and stderr. Fails the running Check test if dtc is
 * missing or cannot be run. */
bool dtc_run(GBytes *blob, char **dts, char **warnings);

/* The DTS text. Fails the running Check test if dtc exits non-zero or prints
 * anything on stderr (every warning counts). */
char *dtc_decompile(GBytes *blob);
