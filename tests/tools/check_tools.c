/* SPDX-License-Identifier: MIT
 *
 * check_tools: the runner for tests/tools/, one suite per file of tools/bench/ under test
 * (args.c, dist.c, hist.c, report.c, http.c: Expect in request heads and interim answers; the
 * engine is exercised end to end by the integration tests). Every test runs in its own child
 * process (CK_FORK) with a 10 second timeout.
 */
#include <check.h>
#include <stdlib.h>

Suite *args_suite(void);
Suite *dist_suite(void);
Suite *hist_suite(void);
Suite *report_suite(void);
Suite *http_suite(void);

int main(void)
{
    SRunner *sr = srunner_create(args_suite());
    int failed;

    srunner_add_suite(sr, dist_suite());
    srunner_add_suite(sr, hist_suite());
    srunner_add_suite(sr, report_suite());
    srunner_add_suite(sr, http_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
