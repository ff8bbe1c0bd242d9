/* SPDX-License-Identifier: MIT
 *
 * The configuration file and the environment (server/ops/config_file.c): keys are the flags without
 * dashes, errors name the file and the line, SLUICE_* variables map to flags, the precedence is
 * file < environment < command line, and sl_config_print writes a file that reads back the same.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"
#include "streams/error.h"

static sl_config_t cfg;
static char err[512];

static const char *write_file(const char *text)
{
    static char path[64];
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/sluice-cfg-XXXXXX");
    f = fdopen(mkstemp(path), "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int load(const char *text)
{
    const char *p = write_file(text);
    int r;

    sl_config_init(&cfg);
    err[0] = '\0';
    r = sl_config_load_file(&cfg, p, err, sizeof(err));
    unlink(p);
    return r;
}

START_TEST(keys_are_flags_without_dashes)
{
    ck_assert_int_eq(
        load("# a comment\n\nmax-size = 10G\n  durability=none  \nroot = \"/srv/a b\"\n"
             "cors-origin = https://a.example # why\ncors-origin = https://b.example\n"
             "verbose = true\nlisten = [::1]:9000\n"),
        0);
    ck_assert_uint_eq(cfg.max_size, 10ull << 30);
    ck_assert_int_eq(cfg.durable, 0);
    ck_assert_str_eq(cfg.root, "/srv/a b");
    ck_assert_str_eq(cfg.cors_origin, "https://a.example,https://b.example");
    ck_assert_int_eq(cfg.verbose, 1);
    ck_assert_str_eq(cfg.host, "::1");
    ck_assert_uint_eq(cfg.port, 9000);
}
END_TEST

/* Found by tests/fuzz/fuzz_config.c: what --check-config prints must read back the same. */
START_TEST(comments_and_quotes_read_back_what_was_printed)
{
    ck_assert_int_eq(load("root = \"/srv/a #b\" # the store, \"main\"\n"
                          "hook-exec = x#y #z\ncors-origin = \"#odd\"\n"),
                     0);
    ck_assert_str_eq(cfg.root, "/srv/a #b"); /* " #" inside quotes is no comment */
    ck_assert_str_eq(cfg.hook_exec, "x#y");  /* the first # after a blank starts one */
    ck_assert_str_eq(cfg.cors_origin, "#odd");
}
END_TEST

START_TEST(errors_name_the_file_and_the_line)
{
    ck_assert_int_eq(load("max-size = 1G\nbogus = 1\n"), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, ":2: unknown key 'bogus'"));
    ck_assert_int_eq(load("\n\nmax-size = ten\n"), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, ":3: invalid value 'ten' for max-size"));
    ck_assert_int_eq(load("just words\n"), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, ":1: expected 'key = value'"));
    ck_assert_int_eq(load("verbose = maybe\n"), SL_EBADREQUEST);
    ck_assert_ptr_null(strchr(err, '\n'));
    sl_config_init(&cfg);
    ck_assert_int_eq(sl_config_load_file(&cfg, "/nonexistent/sluice.conf", err, sizeof(err)),
                     SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/sluice.conf"));
}
END_TEST

START_TEST(environment_variables_map_to_flags)
{
    char *env[] = {"PATH=/bin",
                   "SLUICE_MAX_SIZE=5M",
                   "SLUICE_IDLE_TIMEOUT=7",
                   "SLUICE_BIN=/not/a/flag",
                   "SLUICE_VERBOSE=1",
                   NULL};
    char *bad[] = {"SLUICE_IDLE_TIMEOUT=soon", NULL};
    sl_config_t old;

    sl_config_init(&cfg);
    ck_assert_int_eq(sl_config_load_env(&cfg, env, err, sizeof(err)), 0);
    ck_assert_uint_eq(cfg.max_size, 5u << 20);
    ck_assert_uint_eq(cfg.idle_timeout, 7);
    ck_assert_int_eq(cfg.verbose, 1);
    sl_config_init(&old); /* the deprecated name does the same */
    ck_assert_int_eq(sl_config_apply_environ(&old, env, err, sizeof(err)), 0);
    ck_assert_mem_eq(&old, &cfg, sizeof(cfg));
    ck_assert_int_eq(sl_config_load_env(&cfg, bad, err, sizeof(err)), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "SLUICE_IDLE_TIMEOUT"));
}
END_TEST

START_TEST(file_then_environment_then_flags)
{
    const char *p = write_file("max-size = 10G\nthreads = 3\nidle-timeout = 9\n");
    char *argv[] = {"sluice", "--config", (char *)p, "--threads", "5", NULL};

    setenv("SLUICE_MAX_SIZE", "5G", 1);
    setenv("SLUICE_THREADS", "4", 1);
    sl_config_init(&cfg);
    ck_assert_int_eq(sl_config_parse_args(&cfg, 5, argv, err, sizeof(err)), 0);
    unlink(p);
    ck_assert_uint_eq(cfg.idle_timeout, 9);      /* the file */
    ck_assert_uint_eq(cfg.max_size, 5ull << 30); /* the environment over the file */
    ck_assert_uint_eq(cfg.threads, 5);           /* the flag over both */
}
END_TEST

START_TEST(the_printed_configuration_reads_back_the_same)
{
    sl_config_t a, b;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    const char *p;

    sl_config_init(&a);
    ck_assert_int_eq(sl_config_load_file(&a,
                                         write_file("max-size = 3G\ndurability = none\n"
                                                    "cors-origin = *\nmount = /api/\n"
                                                    "hook-http = http://127.0.0.1:9/h\n"
                                                    "root = \"/srv/with space\"\n"),
                                         err, sizeof(err)),
                     0);
    sl_config_print(&a, f);
    fclose(f);
    p = write_file(text);
    sl_config_init(&b);
    ck_assert_msg(sl_config_load_file(&b, p, err, sizeof(err)) == 0, "%s\n%s", err, text);
    unlink(p);
    ck_assert_mem_eq(&a, &b, sizeof(a));
    free(text);
}
END_TEST

Suite *config_file_suite(void)
{
    Suite *s = suite_create("config_file");
    TCase *tc = tcase_create("config_file");

    tcase_add_test(tc, keys_are_flags_without_dashes);
    tcase_add_test(tc, comments_and_quotes_read_back_what_was_printed);
    tcase_add_test(tc, errors_name_the_file_and_the_line);
    tcase_add_test(tc, environment_variables_map_to_flags);
    tcase_add_test(tc, file_then_environment_then_flags);
    tcase_add_test(tc, the_printed_configuration_reads_back_the_same);
    suite_add_tcase(s, tc);
    return s;
}
