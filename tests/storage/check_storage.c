/* SPDX-License-Identifier: MIT
 *
 * check_storage: the runner for tests/storage/, one suite per file of storage/. Every test runs
 * in its own child process (CK_FORK) with a 10 second timeout, so a crash or a hang fails that
 * test alone, as in libuv's runner.
 */
#include <check.h>
#include <stdlib.h>

Suite *paths_suite(void);
Suite *store_suite(void);
Suite *sink_file_suite(void);
Suite *jobs_suite(void);
Suite *meta_suite(void);
Suite *tus_suite(void);
Suite *store_iface_suite(void);
Suite *sink_held_suite(void);
Suite *sink_piped_suite(void);
Suite *s3_http_suite(void);
Suite *s3_concat_suite(void);

int main(void)
{
    SRunner *sr = srunner_create(paths_suite());
    int failed;

    srunner_add_suite(sr, store_suite());
    srunner_add_suite(sr, sink_file_suite());
    srunner_add_suite(sr, sink_held_suite());
    srunner_add_suite(sr, sink_piped_suite());
    srunner_add_suite(sr, jobs_suite());
    srunner_add_suite(sr, meta_suite());
    srunner_add_suite(sr, tus_suite());
    srunner_add_suite(sr, store_iface_suite());
    srunner_add_suite(sr, s3_http_suite());
    srunner_add_suite(sr, s3_concat_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
