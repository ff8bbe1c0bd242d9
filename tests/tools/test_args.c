/* SPDX-License-Identifier: MIT
 *
 * sluice-bench's options (tools/bench/args.c): the defaults, every flag in its long and short
 * forms, the URL in every shape it may take and the default path per mode, the rules between
 * flags, and the refusals: each one returns -1 with a one-line message that names the flag and
 * the value. Arguments are given as NULL-terminated lists of strings after the program name.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static sb_opts_t o;
static char err[256];

static void args_setup(void)
{
    sb_opts_init(&o);
    err[0] = '\0';
}

/* Parse the NULL-terminated arguments after "sluice-bench" (getopt may permute them). */
static int parse_argv(const char *const *args)
{
    char *argv[40];
    int argc = 0;

    argv[argc++] = "sluice-bench";
    while (*args != NULL && argc < 39)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    return sb_parse_args(&o, argc, argv, err, sizeof(err));
}
#define parse(...) parse_argv((const char *const[]){__VA_ARGS__, NULL})

#define URL "http://127.0.0.1:8080/"

/* `flag value URL` is refused with one line that names `name` and the value. */
static void assert_refused_as(const char *flag, const char *value, const char *name)
{
    args_setup();
    ck_assert_msg(parse(flag, value, URL) == -1, "%s '%s' accepted", flag, value);
    ck_assert_msg(strstr(err, name) != NULL, "message '%s' does not name %s", err, name);
    ck_assert_msg(strstr(err, value) != NULL, "message '%s' does not quote '%s'", err, value);
    ck_assert_ptr_null(strchr(err, '\n'));
}
#define assert_refused(flag, value) assert_refused_as(flag, value, flag)

/* Run parse(arg, URL) with stdout captured into out[cap]. */
static int parse_captured(const char *arg, char *out, size_t cap)
{
    FILE *f = tmpfile();
    int saved, r;
    size_t n;

    ck_assert_ptr_nonnull(f);
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    dup2(fileno(f), STDOUT_FILENO);
    r = parse(arg, URL);
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
    ck_assert_uint_eq(o.port, 80);
    ck_assert_int_eq(o.mode, SB_PUT);
    ck_assert_uint_eq(o.concurrency, 8);
    ck_assert_uint_eq(o.uploads, 100);
    ck_assert(o.duration == 0);
    ck_assert_int_eq(o.size.kind, SB_DIST_FIXED);
    ck_assert_uint_eq(o.size.a, 1 << 20);
    ck_assert_uint_eq(o.rate, 0);
    ck_assert_int_eq(o.keepalive, 1);
    ck_assert(o.ramp == 0);
    ck_assert_int_eq(o.chunked, 0);
    ck_assert_uint_eq(o.chunk_size, 64 << 20);
    ck_assert(o.disconnect == 0);
    ck_assert_uint_eq(o.seed, 1);
    ck_assert_int_eq(o.verify_get, 0);
    ck_assert_int_eq(o.json, 0);
    ck_assert_int_eq(o.progress, isatty(STDERR_FILENO));
    ck_assert_int_eq(o.server_pid, 0);
    ck_assert(o.timeout == 60);
    ck_assert(o.max_time == 3600);
    ck_assert_str_eq(o.name_prefix, "bench");
    ck_assert_int_eq(o.expect, 1);
    ck_assert_uint_eq(o.expect_threshold, 1 << 20);
    ck_assert(o.expect_timeout == 1);
}
END_TEST

START_TEST(a_url_alone_keeps_the_defaults)
{
    sb_opts_t before = o;

    ck_assert_int_eq(parse("http://127.0.0.1:8080"), 0);
    ck_assert_str_eq(o.host, "127.0.0.1");
    ck_assert_uint_eq(o.port, 8080);
    ck_assert_str_eq(o.base, "/files/");
    ck_assert_uint_eq(o.uploads, 100);
    memcpy(o.host, before.host, sizeof(o.host));
    memcpy(o.base, before.base, sizeof(o.base));
    o.port = before.port;
    ck_assert_mem_eq(&o, &before, sizeof(o));
}
END_TEST

START_TEST(every_long_flag_parses)
{
    ck_assert_int_eq(parse("--mode", "tus", "--concurrency", "1000", "--uploads", "5000",
                           "--duration", "2.5", "--size", "1K-1M", "--rate", "10M",
                           "--no-keepalive", "--ramp", "3", "--chunk-size", "8M", "--disconnect",
                           "0.25", "--seed", "18446744073709551615", "--verify-get", "--json",
                           "--progress", "--server-pid", "4242", "--timeout", "0.5", "--max-time",
                           "120", "--name-prefix", "run_7-b", "--expect-threshold", "4M",
                           "--expect-timeout", "2.5", URL),
                     0);
    ck_assert_int_eq(o.mode, SB_TUS);
    ck_assert_uint_eq(o.concurrency, 1000);
    ck_assert_uint_eq(o.uploads, 5000);
    ck_assert(o.duration == 2.5);
    ck_assert_int_eq(o.size.kind, SB_DIST_UNIFORM);
    ck_assert_uint_eq(o.size.a, 1 << 10);
    ck_assert_uint_eq(o.size.b, 1 << 20);
    ck_assert_uint_eq(o.rate, 10 << 20);
    ck_assert_int_eq(o.keepalive, 0);
    ck_assert(o.ramp == 3);
    ck_assert_uint_eq(o.chunk_size, 8 << 20);
    ck_assert(o.disconnect == 0.25);
    ck_assert_uint_eq(o.seed, UINT64_MAX);
    ck_assert_int_eq(o.verify_get, 1);
    ck_assert_int_eq(o.json, 1);
    ck_assert_int_eq(o.progress, 1);
    ck_assert_int_eq(o.server_pid, 4242);
    ck_assert(o.timeout == 0.5);
    ck_assert(o.max_time == 120);
    ck_assert_str_eq(o.name_prefix, "run_7-b");
    ck_assert_int_eq(o.expect, 1);
    ck_assert_uint_eq(o.expect_threshold, 4 << 20);
    ck_assert(o.expect_timeout == 2.5);
}
END_TEST

START_TEST(the_last_expect_flag_wins)
{
    ck_assert_int_eq(parse("--no-expect", URL), 0);
    ck_assert_int_eq(o.expect, 0);
    ck_assert_uint_eq(o.expect_threshold, 1 << 20);
    ck_assert_int_eq(parse("--no-expect", "--expect-threshold", "0", URL), 0);
    ck_assert_int_eq(o.expect, 1);
    ck_assert_uint_eq(o.expect_threshold, 0);
    ck_assert_int_eq(parse("--expect-threshold=64K", "--no-expect", URL), 0);
    ck_assert_int_eq(o.expect, 0);
    ck_assert_uint_eq(o.expect_threshold, 64 << 10);
}
END_TEST

START_TEST(short_flags_and_equals_forms_parse)
{
    ck_assert_int_eq(parse("-c", "3", "-n", "7", "-d", "10", "-s", "lognormal:1M,1.5", URL), 0);
    ck_assert_uint_eq(o.concurrency, 3);
    ck_assert_uint_eq(o.uploads, 7);
    ck_assert(o.duration == 10);
    ck_assert_int_eq(o.size.kind, SB_DIST_LOGNORMAL);
    ck_assert(o.size.sigma == 1.5);
    ck_assert_int_eq(parse("-c12", "--mode=post", "--size=64K", "--chunked", URL), 0);
    ck_assert_uint_eq(o.concurrency, 12);
    ck_assert_int_eq(o.mode, SB_POST);
    ck_assert_uint_eq(o.size.a, 64 << 10);
    ck_assert_int_eq(o.chunked, 1);
}
END_TEST

START_TEST(the_last_progress_flag_wins)
{
    ck_assert_int_eq(parse("--progress", "--no-progress", URL), 0);
    ck_assert_int_eq(o.progress, 0);
    ck_assert_int_eq(parse("--no-progress", "--progress", URL), 0);
    ck_assert_int_eq(o.progress, 1);
}
END_TEST

START_TEST(every_mode_parses)
{
    ck_assert_int_eq(parse("--mode", "put", URL), 0);
    ck_assert_int_eq(o.mode, SB_PUT);
    ck_assert_int_eq(parse("--mode", "post", URL), 0);
    ck_assert_int_eq(o.mode, SB_POST);
    ck_assert_int_eq(parse("--mode", "multipart", URL), 0);
    ck_assert_int_eq(o.mode, SB_MULTIPART);
    ck_assert_int_eq(parse("--mode", "tus", URL), 0);
    ck_assert_int_eq(o.mode, SB_TUS);
}
END_TEST

START_TEST(duration_alone_means_no_upload_count)
{
    ck_assert_int_eq(parse("-d", "30", URL), 0);
    ck_assert_uint_eq(o.uploads, 0);
    ck_assert(o.duration == 30);
    ck_assert_int_eq(parse("-n", "500", "-d", "30", URL), 0);
    ck_assert_uint_eq(o.uploads, 500);
    args_setup();
    ck_assert_int_eq(parse("-d", "30", "-n", "500", URL), 0);
    ck_assert_uint_eq(o.uploads, 500);
}
END_TEST

START_TEST(limits_at_their_bounds_are_accepted)
{
    ck_assert_int_eq(parse("-c", "1", "--disconnect", "0", "--mode", "tus", URL), 0);
    ck_assert_uint_eq(o.concurrency, 1);
    ck_assert_int_eq(parse("-c", "100000", "--disconnect", "1", URL), 0);
    ck_assert_uint_eq(o.concurrency, 100000);
    ck_assert(o.disconnect == 1);
    ck_assert_int_eq(parse("--seed", "0", "--rate", "0", "--chunk-size", "1", "-n", "1", URL), 0);
    ck_assert_uint_eq(o.seed, 0);
    ck_assert_uint_eq(o.chunk_size, 1);
    ck_assert_uint_eq(o.uploads, 1);
}
END_TEST

START_TEST(help_and_version_print_and_return_1)
{
    char out[8192];

    ck_assert_int_eq(parse_captured("--help", out, sizeof(out)), 1);
    ck_assert_ptr_nonnull(strstr(out, "usage: sluice-bench"));
    ck_assert_int_eq(parse_captured("-h", out, sizeof(out)), 1);
    ck_assert_ptr_nonnull(strstr(out, "usage: sluice-bench"));
    ck_assert_int_eq(parse_captured("--version", out, sizeof(out)), 1);
    ck_assert_str_eq(out, "sluice-bench " SB_TEST_VERSION "\n");
}
END_TEST

START_TEST(usage_lists_every_option_and_examples)
{
    static const char *const opts[] = {"--mode",
                                       "--concurrency",
                                       "--uploads",
                                       "--duration",
                                       "--size",
                                       "--rate",
                                       "--no-keepalive",
                                       "--ramp",
                                       "--chunked",
                                       "--chunk-size",
                                       "--disconnect",
                                       "--seed",
                                       "--verify-get",
                                       "--json",
                                       "--progress",
                                       "--no-progress",
                                       "--server-pid",
                                       "--timeout",
                                       "--max-time",
                                       "--name-prefix",
                                       "--expect-threshold",
                                       "--expect-timeout",
                                       "--no-expect",
                                       "--help",
                                       "--version",
                                       "-c,",
                                       "-n,",
                                       "-d,",
                                       "-s,",
                                       "-h,"};
    char out[8192];
    const char *p = out;
    size_t i;
    int examples = 0;

    ck_assert_int_eq(parse_captured("--help", out, sizeof(out)), 1);
    for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        ck_assert_msg(strstr(out, opts[i]) != NULL, "usage does not list %s", opts[i]);
    while ((p = strstr(p, "\n  sluice-bench ")) != NULL) {
        examples++;
        p++;
    }
    ck_assert_int_ge(examples, 3);
}
END_TEST

/* --- the URL ----------------------------------------------------------------------------- */

START_TEST(url_without_port_or_path_takes_80_and_the_mode_path)
{
    ck_assert_int_eq(parse("http://example.com"), 0);
    ck_assert_str_eq(o.host, "example.com");
    ck_assert_uint_eq(o.port, 80);
    ck_assert_str_eq(o.base, "/files/");
}
END_TEST

START_TEST(url_ipv6_in_brackets)
{
    ck_assert_int_eq(parse("http://[::1]:8080/files/"), 0);
    ck_assert_str_eq(o.host, "::1");
    ck_assert_uint_eq(o.port, 8080);
    ck_assert_str_eq(o.base, "/files/");
    ck_assert_int_eq(parse("http://[::ffff:127.0.0.1]"), 0);
    ck_assert_str_eq(o.host, "::ffff:127.0.0.1");
    ck_assert_uint_eq(o.port, 80);
}
END_TEST

START_TEST(default_path_follows_the_mode_wherever_it_is_given)
{
    static const char *const modes[] = {"put", "post", "multipart", "tus"};
    static const char *const paths[] = {"/files/", "/files/", "/files/", "/uploads/"};
    size_t i;

    for (i = 0; i < 4; i++) {
        args_setup();
        ck_assert_int_eq(parse("http://h:1", "--mode", modes[i]), 0);
        ck_assert_str_eq(o.base, paths[i]);
        args_setup();
        ck_assert_int_eq(parse("--mode", modes[i], "http://h:1/"), 0);
        ck_assert_str_eq(o.base, paths[i]);
    }
}
END_TEST

START_TEST(an_explicit_path_is_kept_and_ends_with_a_slash)
{
    ck_assert_int_eq(parse("--mode", "tus", "http://h/files/"), 0);
    ck_assert_str_eq(o.base, "/files/");
    ck_assert_int_eq(parse("http://h:9/api/v1/files"), 0);
    ck_assert_str_eq(o.base, "/api/v1/files/");
}
END_TEST

START_TEST(url_scheme_is_case_insensitive_and_the_url_may_come_first)
{
    ck_assert_int_eq(parse("HTTP://Localhost:65535/x/", "-c", "2"), 0);
    ck_assert_str_eq(o.host, "Localhost");
    ck_assert_uint_eq(o.port, 65535);
    ck_assert_str_eq(o.base, "/x/");
    ck_assert_uint_eq(o.concurrency, 2);
    ck_assert_int_eq(parse("-c", "5", "--", "http://h:1/"), 0);
    ck_assert_str_eq(o.host, "h");
    ck_assert_uint_eq(o.concurrency, 5);
}
END_TEST

START_TEST(bad_urls_are_refused_and_leave_the_options_alone)
{
    static const char *const bad[] = {
        "https://h/",           "ftp://h/",           "h:8080/files/",  "http://",
        "http:///files/",       "http://:80/",        "http://h:0/",    "http://h:65536/",
        "http://h:80x/",        "http://h:/",         "http://h:-1/",   "http://[::1/",
        "http://[]:80/",        "http://[::1]x/",     "http://[g::1]/", "http://u@h/",
        "http://h/a b/",        "http://h/a\tb/",     "http://h/?a b",  "http://h/a#b",
        "http://h/?x#y",        "http://h/a?b/?\x01", "http://h h/",    "",
        "http://h:99999999999/"};
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sb_opts_t before;

        args_setup();
        before = o;
        ck_assert_msg(sb_parse_url(bad[i], &o) == -1, "'%s' accepted", bad[i]);
        ck_assert_mem_eq(&o, &before, sizeof(o));
        ck_assert_msg(parse(bad[i]) == -1, "'%s' accepted by sb_parse_args", bad[i]);
        ck_assert_ptr_nonnull(strstr(err, "URL"));
        ck_assert_ptr_null(strchr(err, '\n'));
    }
}
END_TEST

START_TEST(https_is_refused_with_a_reason)
{
    ck_assert_int_eq(parse("https://h/"), -1);
    ck_assert_ptr_nonnull(strstr(err, "https://h/"));
    ck_assert_ptr_nonnull(strstr(err, "only http://"));
    ck_assert_int_eq(parse("http://h:70000/"), -1);
    ck_assert_ptr_nonnull(strstr(err, "1..65535"));
}
END_TEST

START_TEST(sb_parse_url_uses_the_mode_set_so_far)
{
    o.mode = SB_TUS;
    ck_assert_int_eq(sb_parse_url("http://10.0.0.1:1080", &o), 0);
    ck_assert_str_eq(o.host, "10.0.0.1");
    ck_assert_uint_eq(o.port, 1080);
    ck_assert_str_eq(o.base, "/uploads/");
    o.mode = SB_MULTIPART;
    ck_assert_int_eq(sb_parse_url("http://10.0.0.1:1080/", &o), 0);
    ck_assert_str_eq(o.base, "/files/");
}
END_TEST

START_TEST(a_query_goes_with_the_uploads)
{
    o.mode = SB_TUS;
    ck_assert_int_eq(sb_parse_url("http://h:81/uploads/?sl-expires=9&sl-sig=ab", &o), 0);
    ck_assert_str_eq(o.base, "/uploads/");
    ck_assert_str_eq(o.query, "?sl-expires=9&sl-sig=ab");
    ck_assert_int_eq(sb_parse_url("http://h?x=1", &o), 0);
    ck_assert_str_eq(o.base, "/uploads/");
    ck_assert_str_eq(o.query, "?x=1");
    ck_assert_int_eq(sb_parse_url("http://h/in", &o), 0);
    ck_assert_str_eq(o.base, "/in/");
    ck_assert_str_eq(o.query, "");
}
END_TEST

START_TEST(a_sign_key_is_read_as_sluice_reads_it)
{
    char path[] = "/tmp/sb-key-XXXXXX";
    int fd = mkstemp(path);
    FILE *f;
    time_t now = time(NULL);

    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fputs("0123456789abcdef0123456789abcde\n", f); /* 31 bytes: too short */
    fflush(f);
    ck_assert_int_eq(parse("--sign-key", path, URL), -1);
    ck_assert_ptr_nonnull(strstr(err, "--sign-key"));
    rewind(f);
    fputs("0123456789abcdef0123456789abcdef\r\n", f);
    fclose(f);
    args_setup();
    ck_assert_int_eq(parse("--sign-key", path, URL), 0);
    ck_assert_uint_eq(o.sign_keylen, 32);
    ck_assert_mem_eq(o.sign_key, "0123456789abcdef0123456789abcdef", 32);
    ck_assert_int_ge(o.sign_expires, now + 3600 + 60); /* --max-time's 3600 s, and a minute */
    ck_assert_int_le(o.sign_expires, now + 3600 + 65);
    args_setup();
    ck_assert_int_eq(parse("--sign-key", path, "--max-time", "7200", URL), 0);
    ck_assert_int_ge(o.sign_expires, now + 7200 + 60);
    args_setup(); /* the URL's own query and a signature: one or the other */
    ck_assert_int_eq(parse("--sign-key", path, "http://h/?sl-sig=ab"), -1);
    ck_assert_ptr_nonnull(strstr(err, "--sign-key"));
    args_setup();
    ck_assert_int_eq(parse("--sign-key", "/nonexistent/key", URL), -1);
    for (int len = 1024; len <= 1025; len++) { /* sluice's longest key, with its line end */
        f = fopen(path, "w");
        for (int i = 0; i < len; i++)
            fputc('k', f);
        fputs("\n", f);
        fclose(f);
        args_setup();
        ck_assert_int_eq(parse("--sign-key", path, URL), len == 1024 ? 0 : -1);
    }
    ck_assert_uint_eq(o.sign_keylen, 0);
    unlink(path);
}
END_TEST

START_TEST(a_missing_or_second_url_is_refused)
{
    ck_assert_int_eq(parse("-c", "4"), -1);
    ck_assert_ptr_nonnull(strstr(err, "URL"));
    ck_assert_int_eq(parse(URL, "http://other/"), -1);
    ck_assert_ptr_nonnull(strstr(err, "http://other/"));
    ck_assert_int_eq(parse(URL, "--", "extra"), -1);
    ck_assert_ptr_nonnull(strstr(err, "extra"));
}
END_TEST

/* --- refusals ---------------------------------------------------------------------------- */

START_TEST(bad_values_are_refused_with_a_message_naming_the_flag)
{
    static const char *const bad[][2] = {
        {"--mode", "get"},
        {"--mode", "PUT"},
        {"--mode", ""},
        {"--concurrency", "0"},
        {"--concurrency", "100001"},
        {"--concurrency", "-1"},
        {"--concurrency", "4x"},
        {"--concurrency", " 4"},
        {"--uploads", "0"},
        {"--uploads", "1e3"},
        {"--uploads", "-5"},
        {"--duration", "-1"},
        {"--duration", "abc"},
        {"--duration", "inf"},
        {"--duration", "nan"},
        {"--duration", "0x10"},
        {"--duration", "5s"},
        {"--size", "1Q"},
        {"--size", "2M-1M"},
        {"--size", "0-1M"},
        {"--size", "lognormal:"},
        {"--size", "lognormal:1M,0"},
        {"--size", "lognormal:1M,6"},
        {"--size", "lognormal:1M,1,1K"},
        {"--size", "normal:1M"},
        {"--rate", "fast"},
        {"--rate", "-1"},
        {"--ramp", "-2"},
        {"--ramp", "x"},
        {"--chunk-size", "0"},
        {"--chunk-size", "8Q"},
        {"--disconnect", "1.5"},
        {"--disconnect", "-0.1"},
        {"--disconnect", "half"},
        {"--seed", "-1"},
        {"--seed", "18446744073709551616"},
        {"--seed", "0x10"},
        {"--server-pid", "0"},
        {"--server-pid", "abc"},
        {"--server-pid", "2147483648"},
        {"--timeout", "0"},
        {"--timeout", "-3"},
        {"--max-time", "0"},
        {"--max-time", "forever"},
        {"--name-prefix", ""},
        {"--name-prefix", "a b"},
        {"--name-prefix", "a/b"},
        {"--name-prefix", "a\"b"},
        {"--name-prefix", "a.b"},
        {"--name-prefix", "\xc3\xa9t\xc3\xa9"},
        {"--expect-threshold", "-1"},
        {"--expect-threshold", "1Q"},
        {"--expect-threshold", "big"},
        {"--expect-timeout", "0"},
        {"--expect-timeout", "-1"},
        {"--expect-timeout", "soon"},
        {"--expect-timeout", "inf"},
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused(bad[i][0], bad[i][1]);
}
END_TEST

START_TEST(short_flags_are_named_by_their_long_name)
{
    assert_refused_as("-c", "0", "--concurrency");
    assert_refused_as("-n", "x", "--uploads");
    assert_refused_as("-d", "-1", "--duration");
    assert_refused_as("-s", "big", "--size");
}
END_TEST

START_TEST(a_name_prefix_longer_than_its_buffer_is_refused)
{
    char longp[200];

    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    ck_assert_int_eq(parse("--name-prefix", longp, URL), -1);
    longp[sizeof(o.name_prefix) - 1] = '\0';
    ck_assert_int_eq(parse("--name-prefix", longp, URL), 0);
    ck_assert_uint_eq(strlen(o.name_prefix), sizeof(o.name_prefix) - 1);
}
END_TEST

START_TEST(chunked_is_only_for_put_and_post)
{
    ck_assert_int_eq(parse("--chunked", "--mode", "tus", URL), -1);
    ck_assert_ptr_nonnull(strstr(err, "--chunked"));
    ck_assert_int_eq(parse("--mode", "multipart", URL, "--chunked"), -1);
    ck_assert_ptr_nonnull(strstr(err, "--chunked"));
    args_setup();
    ck_assert_int_eq(parse("--chunked", "--mode", "post", URL), 0);
    args_setup();
    ck_assert_int_eq(parse("--chunked", URL), 0);
    ck_assert_int_eq(o.chunked, 1);
}
END_TEST

START_TEST(disconnect_is_only_for_tus)
{
    ck_assert_int_eq(parse("--disconnect", "0.5", URL), -1);
    ck_assert_ptr_nonnull(strstr(err, "--disconnect"));
    ck_assert_ptr_null(strchr(err, '\n'));
    args_setup();
    ck_assert_int_eq(parse("--disconnect", "0.5", "--mode", "multipart", URL), -1);
    args_setup();
    ck_assert_int_eq(parse("--disconnect", "0.5", URL, "--mode", "tus"), 0);
    ck_assert(o.disconnect == 0.5);
}
END_TEST

START_TEST(unknown_flags_are_refused)
{
    ck_assert_int_eq(parse("--bogus", URL), -1);
    ck_assert_ptr_nonnull(strstr(err, "--bogus"));
    ck_assert_ptr_null(strchr(err, '\n'));
    ck_assert_int_eq(parse(URL, "-x"), -1);
    ck_assert_ptr_nonnull(strstr(err, "-x"));
    ck_assert_int_eq(parse("--json=yes", URL), -1);
    ck_assert_ptr_nonnull(strstr(err, "--json"));
    ck_assert_ptr_nonnull(strstr(err, "no value"));
}
END_TEST

START_TEST(missing_values_are_refused)
{
    ck_assert_int_eq(parse(URL, "--mode"), -1);
    ck_assert_ptr_nonnull(strstr(err, "--mode"));
    ck_assert_ptr_nonnull(strstr(err, "needs a value"));
    ck_assert_int_eq(parse(URL, "-c"), -1);
    ck_assert_ptr_nonnull(strstr(err, "--concurrency"));
    ck_assert_int_eq(parse(URL, "--name-prefix"), -1);
    ck_assert_ptr_nonnull(strstr(err, "--name-prefix"));
}
END_TEST

/* --- sb_parse_size: sluice's own sl_parse_size (streams/chunk.c, tested in test_config.c) ---- */

START_TEST(sizes_are_sluices_sizes)
{
    uint64_t v = 0;

    ck_assert_int_eq(sb_parse_size("64K", &v), 0);
    ck_assert_uint_eq(v, 64 << 10);
    ck_assert_int_eq(sb_parse_size("1.5G", &v), -1);
}
END_TEST

Suite *args_suite(void)
{
    Suite *s = suite_create("args");
    TCase *tc;

    tc = tcase_create("flags");
    tcase_add_checked_fixture(tc, args_setup, NULL);
    tcase_add_test(tc, defaults_are_the_documented_values);
    tcase_add_test(tc, a_url_alone_keeps_the_defaults);
    tcase_add_test(tc, every_long_flag_parses);
    tcase_add_test(tc, short_flags_and_equals_forms_parse);
    tcase_add_test(tc, the_last_progress_flag_wins);
    tcase_add_test(tc, the_last_expect_flag_wins);
    tcase_add_test(tc, every_mode_parses);
    tcase_add_test(tc, duration_alone_means_no_upload_count);
    tcase_add_test(tc, limits_at_their_bounds_are_accepted);
    tcase_add_test(tc, help_and_version_print_and_return_1);
    tcase_add_test(tc, usage_lists_every_option_and_examples);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("url");
    tcase_add_checked_fixture(tc, args_setup, NULL);
    tcase_add_test(tc, url_without_port_or_path_takes_80_and_the_mode_path);
    tcase_add_test(tc, url_ipv6_in_brackets);
    tcase_add_test(tc, default_path_follows_the_mode_wherever_it_is_given);
    tcase_add_test(tc, an_explicit_path_is_kept_and_ends_with_a_slash);
    tcase_add_test(tc, url_scheme_is_case_insensitive_and_the_url_may_come_first);
    tcase_add_test(tc, bad_urls_are_refused_and_leave_the_options_alone);
    tcase_add_test(tc, https_is_refused_with_a_reason);
    tcase_add_test(tc, sb_parse_url_uses_the_mode_set_so_far);
    tcase_add_test(tc, a_query_goes_with_the_uploads);
    tcase_add_test(tc, a_sign_key_is_read_as_sluice_reads_it);
    tcase_add_test(tc, a_missing_or_second_url_is_refused);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_add_checked_fixture(tc, args_setup, NULL);
    tcase_add_test(tc, bad_values_are_refused_with_a_message_naming_the_flag);
    tcase_add_test(tc, short_flags_are_named_by_their_long_name);
    tcase_add_test(tc, a_name_prefix_longer_than_its_buffer_is_refused);
    tcase_add_test(tc, chunked_is_only_for_put_and_post);
    tcase_add_test(tc, disconnect_is_only_for_tus);
    tcase_add_test(tc, unknown_flags_are_refused);
    tcase_add_test(tc, missing_values_are_refused);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("sizes");
    tcase_add_test(tc, sizes_are_sluices_sizes);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
