/* SPDX-License-Identifier: MIT
 *
 * Configuration (server/config.c): the defaults, every command-line flag, the refusals (each one
 * SL_EBADREQUEST with a one-line message that names the flag) and sl_parse_size. Arguments are
 * given as NULL-terminated lists of strings after the program name. The cases that walk the
 * option table, for every flag at once, are test_config_table.c (in this suite).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sluice.h"
#include "support/config_args.h"
#include "streams/error.h"

static sl_config_t cfg;
static char err[256];

static void config_setup(void)
{
    sl_config_init(&cfg);
    err[0] = '\0';
}

#define parse(...) config_parse(&cfg, err, sizeof(err), (const char *const[]){__VA_ARGS__, NULL})

/* `flag value` is refused, and the message names the flag. */
static void assert_refused(const char *flag, const char *value)
{
    config_setup();
    ck_assert_msg(parse(flag, value) == SL_EBADREQUEST, "%s '%s' accepted", flag, value);
    ck_assert_msg(strstr(err, flag) != NULL, "message '%s' does not name %s", err, flag);
    ck_assert_ptr_null(strchr(err, '\n'));
}

/* Run parse(arg) with stdout captured into out[cap]. */
static int parse_captured(const char *arg, char *out, size_t cap)
{
    FILE *f = tmpfile();
    int saved, r;
    size_t n;

    ck_assert_ptr_nonnull(f);
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    dup2(fileno(f), STDOUT_FILENO);
    r = parse(arg);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    rewind(f);
    n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
    return r;
}

/* --- defaults and flags ------------------------------------------------------------------ */

START_TEST(defaults_are_the_documented_values)
{
    ck_assert_str_eq(cfg.host, "127.0.0.1");
    ck_assert_uint_eq(cfg.port, 8080);
    ck_assert_str_eq(cfg.root, "./data");
    ck_assert_uint_eq(cfg.max_size, 100ull << 30);
    ck_assert_uint_eq(cfg.max_connections, 10000);
    ck_assert_uint_eq(cfg.idle_timeout, 60);
    ck_assert_uint_eq(cfg.conn_memory, 40 << 10);
    ck_assert_uint_eq(cfg.upload_buffer, 1 << 20);
    ck_assert_uint_eq(cfg.buffer_budget, 256 << 20);
    ck_assert_uint_eq(cfg.threads, 16);
    ck_assert_int_eq(cfg.durable, 1);
    ck_assert_uint_eq(cfg.shutdown_timeout, 30);
    ck_assert_uint_eq(cfg.list_limit, 10000);
    ck_assert_uint_eq(cfg.s3_part_size, 64 << 20);
    ck_assert_int_eq(cfg.verbose, 0);
}
END_TEST

START_TEST(no_arguments_keep_the_defaults)
{
    sl_config_t before = cfg;

    ck_assert_int_eq(config_parse(&cfg, err, sizeof(err), (const char *const[]){NULL}), 0);
    ck_assert_mem_eq(&cfg, &before, sizeof(cfg));
}
END_TEST

START_TEST(every_flag_parses)
{
    ck_assert_int_eq(parse("--listen", "0.0.0.0:9000", "--root", "/srv/files", "--max-size", "10G",
                           "--durability", "none", "--max-connections", "500", "--idle-timeout",
                           "5", "--conn-memory", "64K", "--upload-buffer", "4M", "--buffer-budget",
                           "1G", "--threads", "8", "--shutdown-timeout", "0", "--list-limit", "100",
                           "--verbose"),
                     0);
    ck_assert_str_eq(cfg.host, "0.0.0.0");
    ck_assert_uint_eq(cfg.port, 9000);
    ck_assert_str_eq(cfg.root, "/srv/files");
    ck_assert_uint_eq(cfg.max_size, 10ull << 30);
    ck_assert_int_eq(cfg.durable, 0);
    ck_assert_uint_eq(cfg.max_connections, 500);
    ck_assert_uint_eq(cfg.idle_timeout, 5);
    ck_assert_uint_eq(cfg.conn_memory, 64 << 10);
    ck_assert_uint_eq(cfg.upload_buffer, 4 << 20);
    ck_assert_uint_eq(cfg.buffer_budget, 1 << 30);
    ck_assert_uint_eq(cfg.threads, 8);
    ck_assert_uint_eq(cfg.shutdown_timeout, 0);
    ck_assert_uint_eq(cfg.list_limit, 100);
    ck_assert_int_eq(cfg.verbose, 1);
}
END_TEST

START_TEST(durability_full_turns_syncs_back_on)
{
    ck_assert_int_eq(parse("--durability", "none", "--durability", "full"), 0);
    ck_assert_int_eq(cfg.durable, 1);
}
END_TEST

START_TEST(limits_at_their_bounds_are_accepted)
{
    ck_assert_int_eq(parse("--threads", "1", "--idle-timeout", "86400", "--conn-memory", "4K",
                           "--upload-buffer", "1", "--buffer-budget", "1T", "--max-connections",
                           "1000000"),
                     0);
    ck_assert_uint_eq(cfg.threads, 1);
    ck_assert_uint_eq(cfg.upload_buffer, 1);
    ck_assert_int_eq(parse("--threads", "1024", "--conn-memory", "16M", "--upload-buffer", "1G"),
                     0);
    ck_assert_uint_eq(cfg.threads, 1024);
    ck_assert_uint_eq(cfg.conn_memory, 16 << 20);
}
END_TEST

START_TEST(help_and_version_print_and_return_1)
{
    char out[4096];

    ck_assert_int_eq(parse_captured("--help", out, sizeof(out)), 1);
    ck_assert_ptr_nonnull(strstr(out, "usage: sluice"));
    ck_assert_ptr_nonnull(strstr(out, "--listen"));
    ck_assert_int_eq(parse_captured("-h", out, sizeof(out)), 1);
    ck_assert_ptr_nonnull(strstr(out, "usage: sluice"));
    ck_assert_int_eq(parse_captured("--version", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "sluice " SL_VERSION "\n");
}
END_TEST

/* --- --listen ---------------------------------------------------------------------------- */

START_TEST(listen_ipv4_with_port_0_asks_for_an_ephemeral_port)
{
    ck_assert_int_eq(parse("--listen", "127.0.0.1:0"), 0);
    ck_assert_str_eq(cfg.host, "127.0.0.1");
    ck_assert_uint_eq(cfg.port, 0);
}
END_TEST

START_TEST(listen_ipv6_in_brackets)
{
    ck_assert_int_eq(parse("--listen", "[::1]:8080"), 0);
    ck_assert_str_eq(cfg.host, "::1");
    ck_assert_uint_eq(cfg.port, 8080);
}
END_TEST

START_TEST(listen_port_above_65535_is_refused)
{
    assert_refused("--listen", "127.0.0.1:70000");
    ck_assert_str_eq(cfg.host, "127.0.0.1"); /* unchanged */
    ck_assert_uint_eq(cfg.port, 8080);
    assert_refused("--listen", "127.0.0.1:65536");
    ck_assert_int_eq(parse("--listen", "127.0.0.1:65535"), 0);
}
END_TEST

START_TEST(listen_without_a_colon_is_refused)
{
    assert_refused("--listen", "127.0.0.1");
    assert_refused("--listen", "8080");
}
END_TEST

START_TEST(listen_with_an_empty_or_malformed_part_is_refused)
{
    assert_refused("--listen", ":8080");
    assert_refused("--listen", "127.0.0.1:");
    assert_refused("--listen", "127.0.0.1:80x");
    assert_refused("--listen", "127.0.0.1:-1");
    assert_refused("--listen", "[::1]8080");
    assert_refused("--listen", "localhost:8080"); /* a numeric address: what the server binds */
    assert_refused("--listen", "%::1]:9000");     /* (found by fuzz_config: it printed back as
                                                     "[%::1]]:9000", which did not parse) */
    assert_refused("--listen", "[127.0.0.1]:80");
    assert_refused("--listen", "1.2.3:80");
    assert_refused("--listen", "[::1");
    assert_refused("--listen", "[]:80");
}
END_TEST

/* --- refusals ---------------------------------------------------------------------------- */

START_TEST(bad_values_are_refused_with_a_message_naming_the_flag)
{
    static const char *const bad[][2] = {
        {"--max-size", "junk"},
        {"--max-size", "-1"},
        {"--durability", "fast"},
        {"--max-connections", "0"},
        {"--max-connections", "1000001"},
        {"--idle-timeout", "0"},
        {"--idle-timeout", "86401"},
        {"--shutdown-timeout", "-1"},
        {"--threads", "0"},
        {"--threads", "1025"},
        {"--threads", "8x"},
        {"--conn-memory", "1K"},
        {"--conn-memory", "17M"},
        {"--upload-buffer", "0"},
        {"--upload-buffer", "2G"},
        {"--buffer-budget", "2T"},
        {"--list-limit", "0"},
        {"--list-limit", "many"},
        {"--root", ""},
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_refused(bad[i][0], bad[i][1]);
        ck_assert_msg(strstr(err, bad[i][1]) != NULL, "message '%s' does not quote '%s'", err,
                      bad[i][1]);
    }
}
END_TEST

START_TEST(root_longer_than_its_buffer_is_refused)
{
    static char root[5000];

    memset(root, 'r', sizeof(root) - 1);
    ck_assert_int_eq(parse("--root", root), SL_EBADREQUEST);
    ck_assert_str_eq(cfg.root, "./data");
}
END_TEST

START_TEST(mount_takes_a_path_prefix)
{
    ck_assert_str_eq(cfg.mount, "/");
    ck_assert_int_eq(parse("--mount", "/api/upload/"), 0);
    ck_assert_str_eq(cfg.mount, "/api/upload/");
    ck_assert_int_eq(parse("--mount", "api"), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "--mount"));
    ck_assert_int_eq(parse("--mount", "/a b"), SL_EBADREQUEST);
    ck_assert_int_eq(parse("--mount", "/a?b"), SL_EBADREQUEST);
}
END_TEST

START_TEST(unknown_flag_is_refused)
{
    ck_assert_int_eq(parse("--bogus", "1"), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "unknown option"));
    ck_assert_ptr_nonnull(strstr(err, "--bogus"));
    ck_assert_int_eq(parse("stray"), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "stray"));
}
END_TEST

START_TEST(unknown_flag_at_the_end_is_reported_as_unknown)
{
    ck_assert_int_eq(parse("--verbose", "--bogus"), SL_EBADREQUEST);
    ck_assert_msg(strstr(err, "unknown option") != NULL && strstr(err, "--bogus") != NULL,
                  "message: %s", err);
}
END_TEST

START_TEST(missing_value_is_refused)
{
    ck_assert_int_eq(parse("--root"), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "--root"));
    ck_assert_ptr_nonnull(strstr(err, "needs a value"));
    ck_assert_int_eq(parse("--verbose", "--threads"), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "--threads"));
}
END_TEST

/* --- sl_parse_size ----------------------------------------------------------------------- */

static uint64_t size_of(const char *s)
{
    uint64_t v = 12345;

    ck_assert_msg(sl_parse_size(s, &v) == 0, "'%s' refused", s);
    return v;
}

START_TEST(sizes_take_binary_suffixes)
{
    ck_assert_uint_eq(size_of("0"), 0);
    ck_assert_uint_eq(size_of("512"), 512);
    ck_assert_uint_eq(size_of("64K"), 64 << 10);
    ck_assert_uint_eq(size_of("64k"), 64 << 10);
    ck_assert_uint_eq(size_of("10M"), 10 << 20);
    ck_assert_uint_eq(size_of("2G"), 2ull << 30);
    ck_assert_uint_eq(size_of("1T"), 1ull << 40);
    ck_assert_uint_eq(size_of("1GiB"), 1ull << 30);
    ck_assert_uint_eq(size_of("3mib"), 3ull << 20);
    ck_assert_uint_eq(size_of("5KB"), 5 << 10);
    ck_assert_uint_eq(size_of("18446744073709551615"), UINT64_MAX);
    ck_assert_uint_eq(size_of("16777215T"), 16777215ull << 40);
}
END_TEST

START_TEST(junk_sizes_are_refused)
{
    static const char *const junk[] = {"",   "K",   "abc", "12x", "1.5G", "-1",    " 1",
                                       "+1", "1 K", "1KK", "1Gx", "1iB",  "1KiBB", "0x10"};
    uint64_t v = 7;
    size_t i;

    ck_assert_int_eq(sl_parse_size(NULL, &v), -1);
    for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        ck_assert_msg(sl_parse_size(junk[i], &v) == -1, "'%s' accepted as %llu", junk[i],
                      (unsigned long long)v);
}
END_TEST

START_TEST(overflowing_sizes_are_refused)
{
    static const char *const big[] = {"16777216T", "17179869184G", "18446744073709551616",
                                      "99999999999999999999999", "99999999999999999999999K"};
    uint64_t v = 7;
    size_t i;

    for (i = 0; i < sizeof(big) / sizeof(big[0]); i++)
        ck_assert_msg(sl_parse_size(big[i], &v) == -1, "'%s' accepted as %llu", big[i],
                      (unsigned long long)v);
}
END_TEST

void config_table_tests(Suite *s);

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc;

    tc = tcase_create("flags");
    tcase_add_checked_fixture(tc, config_setup, NULL);
    tcase_add_test(tc, defaults_are_the_documented_values);
    tcase_add_test(tc, no_arguments_keep_the_defaults);
    tcase_add_test(tc, every_flag_parses);
    tcase_add_test(tc, durability_full_turns_syncs_back_on);
    tcase_add_test(tc, limits_at_their_bounds_are_accepted);
    tcase_add_test(tc, help_and_version_print_and_return_1);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("listen");
    tcase_add_checked_fixture(tc, config_setup, NULL);
    tcase_add_test(tc, listen_ipv4_with_port_0_asks_for_an_ephemeral_port);
    tcase_add_test(tc, listen_ipv6_in_brackets);
    tcase_add_test(tc, listen_port_above_65535_is_refused);
    tcase_add_test(tc, listen_without_a_colon_is_refused);
    tcase_add_test(tc, listen_with_an_empty_or_malformed_part_is_refused);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_add_checked_fixture(tc, config_setup, NULL);
    tcase_add_test(tc, bad_values_are_refused_with_a_message_naming_the_flag);
    tcase_add_test(tc, root_longer_than_its_buffer_is_refused);
    tcase_add_test(tc, mount_takes_a_path_prefix);
    tcase_add_test(tc, unknown_flag_is_refused);
    tcase_add_test(tc, unknown_flag_at_the_end_is_reported_as_unknown);
    tcase_add_test(tc, missing_value_is_refused);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    config_table_tests(s); /* test_config_table.c */

    tc = tcase_create("sizes");
    tcase_add_test(tc, sizes_take_binary_suffixes);
    tcase_add_test(tc, junk_sizes_are_refused);
    tcase_add_test(tc, overflowing_sizes_are_refused);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
