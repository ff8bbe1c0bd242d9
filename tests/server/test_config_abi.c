/* SPDX-License-Identifier: MIT
 *
 * The versioned sl_config_t (sluice.h): sl_config_init records the size the program was built
 * with; every library function reads and writes only the fields within it, gives the rest their
 * defaults, and refuses a config that sl_config_init never filled. A program built against a
 * newer header (a longer struct) and one built against an older header (a shorter one) are both
 * simulated with the size field, since only the library's side of the contract can be tested in
 * one build.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "ops/options.h"
#include "sluice.h"
#include "streams/error.h"
#include "support/doubles.h"

START_TEST(init_records_the_programs_size)
{
    sl_config_t cfg;

    sl_config_init(&cfg);
    ck_assert_uint_eq(cfg.size, sizeof(sl_config_t));
    ck_assert_uint_ge(cfg.size, SL_CONFIG_MIN_SIZE);
}
END_TEST

START_TEST(a_config_never_initialised_is_refused)
{
    sl_config_t cfg;
    char err[128] = "";
    char *argv[] = {"sluice", "--max-size", "1M", NULL};
    char *envp[] = {"SLUICE_MAX_SIZE=1M", NULL};
    sl_server_t *srv = NULL;
    uv_loop_t loop;

    memset(&cfg, 0, sizeof(cfg));
    ck_assert_int_eq(sl_config_parse_args(&cfg, 3, argv, err, sizeof(err)), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "sl_config_init"));
    ck_assert_int_eq(sl_config_load_env(&cfg, envp, err, sizeof(err)), SL_EBADREQUEST);
    ck_assert_int_eq(sl_config_load_file(&cfg, "/dev/null", err, sizeof(err)), SL_EBADREQUEST);
    uv_loop_init(&loop);
    ck_assert_int_eq(sl_server_new(&loop, &cfg, &srv), UV_EINVAL);
    ck_assert_ptr_null(srv);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static void on_stopped(sl_server_t *srv, void *arg)
{
    (void)arg;
    sl_server_free(srv);
}

static void kick(void *arg)
{
    (void)arg;
}

/* A program compiled against a newer header: its struct is longer than this library's. */
START_TEST(a_longer_config_from_a_newer_program_works)
{
    size_t size = sizeof(sl_config_t) + 256;
    sl_config_t *cfg = calloc(1, size);
    char *argv[] = {"sluice", "--listen", "127.0.0.1:0", "--max-size", "3M", NULL};
    char err[256] = "", *root = tmpdir_new(), *real;
    sl_server_t *srv = NULL;
    uv_loop_t loop;

    sl_config_init_size(cfg, size);
    ck_assert_uint_eq(cfg->size, size);
    ck_assert_int_eq(sl_config_parse_args(cfg, 5, argv, err, sizeof(err)), 0);
    ck_assert_uint_eq(cfg->max_size, 3u << 20);
    snprintf(cfg->root, sizeof(cfg->root), "%s", root);
    uv_loop_init(&loop);
    ck_assert_int_eq(sl_server_attach(&loop, cfg, kick, NULL, &srv), 0); /* the fake daemon */
    real = realpath(root, NULL);
    ck_assert_str_eq(sl_server_root(srv), real); /* the root set in the longer struct */
    free(real);
    sl_server_stop(srv, on_stopped, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    tmpdir_remove(root);
    free(cfg);
}
END_TEST

/* A program compiled against an older header: its struct ends before the last fields. */
START_TEST(a_shorter_config_is_read_and_written_only_within_its_size)
{
    const sl_opt_t *o = sl__opt_find("min-free", 8);
    sl_config_t cfg, copy;
    char *out = NULL;
    size_t outlen = 0;
    FILE *f;

    ck_assert_ptr_nonnull(o);
    sl_config_init(&cfg);
    cfg.min_free = 12345;                       /* beyond the "older" struct: never looked at */
    cfg.size = offsetof(sl_config_t, min_free); /* as a program without that field would have */
    ck_assert_int_eq(sl__opt_set(o, &cfg, "1G"), -1);
    ck_assert_uint_eq(cfg.min_free, 12345);
    f = open_memstream(&out, &outlen);
    sl_config_print(&cfg, f);
    fclose(f);
    ck_assert_ptr_null(strstr(out, "min-free"));
    ck_assert_ptr_nonnull(strstr(out, "max-size"));
    free(out);
    sl__config_copy(&copy, &cfg); /* what sl_server_new keeps: the default for what is missing */
    ck_assert_uint_eq(copy.size, sizeof(copy));
    ck_assert_uint_eq(copy.min_free, UINT64_MAX); /* auto */
    ck_assert_uint_eq(copy.max_size, cfg.max_size);
}
END_TEST

Suite *config_abi_suite(void)
{
    Suite *s = suite_create("config_abi");
    TCase *tc = tcase_create("versioned_by_size");

    tcase_add_test(tc, init_records_the_programs_size);
    tcase_add_test(tc, a_config_never_initialised_is_refused);
    tcase_add_test(tc, a_longer_config_from_a_newer_program_works);
    tcase_add_test(tc, a_shorter_config_is_read_and_written_only_within_its_size);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
