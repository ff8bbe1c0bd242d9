/* SPDX-License-Identifier: MIT
 *
 * check_server: the runner for tests/server/, one suite per file of server/ under test. Every
 * test runs in its own child process (CK_FORK) with a 10 second timeout.
 */
#include <check.h>
#include <stdlib.h>

Suite *config_suite(void);
Suite *respond_suite(void);
Suite *digests_suite(void);
Suite *tus_parse_suite(void);
Suite *config_file_suite(void);
Suite *cond_suite(void);
Suite *chain_suite(void);
Suite *config_abi_suite(void);
Suite *routes_suite(void);
Suite *upload_suite(void);
Suite *files_suite(void);
Suite *form_suite(void);
Suite *tus_suite(void);
Suite *hooks_suite(void);
Suite *ui_suite(void);
Suite *auth_suite(void);
Suite *quota_suite(void);

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int failed;

    srunner_add_suite(sr, respond_suite());
    srunner_add_suite(sr, digests_suite());
    srunner_add_suite(sr, tus_parse_suite());
    srunner_add_suite(sr, config_file_suite());
    srunner_add_suite(sr, cond_suite());
    srunner_add_suite(sr, chain_suite());
    srunner_add_suite(sr, config_abi_suite());
    srunner_add_suite(sr, routes_suite());
    srunner_add_suite(sr, upload_suite());
    srunner_add_suite(sr, files_suite());
    srunner_add_suite(sr, form_suite());
    srunner_add_suite(sr, tus_suite());
    srunner_add_suite(sr, hooks_suite());
    srunner_add_suite(sr, ui_suite());
    srunner_add_suite(sr, auth_suite());
    srunner_add_suite(sr, quota_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
