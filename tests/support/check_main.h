/* One-line main() for Check test programs: CHECK_MAIN(foo_suite). Runs the
 * suite in fork mode (a crashing test cannot take the others down) and exits
 * non-zero on any failure, and when no test ran at all (CK_RUN_CASE or
 * CK_RUN_SUITE naming nothing must not pass). */
#pragma once
#include <check.h>
#include <stdlib.h>

#define CHECK_MAIN(suite_fn)                                        \
    int main(void)                                                  \
    {                                                               \
        SRunner *sr = srunner_create(suite_fn());                   \
        srunner_run_all(sr, CK_NORMAL);                             \
        int failed = srunner_ntests_failed(sr);                     \
        int ran = srunner_ntests_run(sr);                           \
        srunner_free(sr);                                           \
        if (ran == 0) /* a CK_RUN_CASE that names no case */       \
            return EXIT_FAILURE;                                    \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                \
    }

/* Exit code that ctest reports as "skipped" (SKIP_RETURN_CODE). */
#define CHECK_SKIP_CODE 77
