/* SPDX-License-Identifier: MIT
 *
 * The final report (tools/bench/report.c): the arithmetic of the rates, the text report (what it
 * shows and what it leaves out), and the JSON report, which is checked by a small strict JSON
 * parser below (RFC 8259 grammar, no extensions) and then searched for its keys.
 */
#include <check.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static sb_report_t r;
static sb_opts_t o;
static char out[16384];

static void report_setup(void)
{
    memset(&r, 0, sizeof(r));
    sb_hist_init(&r.latency);
    sb_opts_init(&o);
    snprintf(o.host, sizeof(o.host), "127.0.0.1");
    o.port = 8080;
    snprintf(o.base, sizeof(o.base), "/files/");
}

/* A report with something in every field. */
static void fill_report(void)
{
    uint64_t v;

    r.started = 110;
    r.ok = 100;
    r.failed = 7;
    r.causes[SB_E_STATUS] = 4;
    r.causes[SB_E_RESET] = 3;
    r.status[413] = 3;
    r.status[500] = 1;
    r.bytes_ok = 100 << 20;
    r.bytes_sent = 110 << 20;
    r.resumes = 5;
    for (v = 1; v <= 100; v++)
        sb_hist_record(&r.latency, v * 1000); /* 1 .. 100 ms */
    r.elapsed = 2.0;
}

/* Run sb_report_text (json = 0) or sb_report_json into out. */
static const char *render(int json)
{
    FILE *f = tmpfile();
    size_t n;

    ck_assert_ptr_nonnull(f);
    if (json)
        sb_report_json(&r, &o, f);
    else
        sb_report_text(&r, &o, f);
    rewind(f);
    n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    fclose(f);
    return out;
}

/* --- a strict JSON checker: each function consumes one production or returns NULL ------- */

static const char *json_value(const char *p, int depth);

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (; *p != '"'; p++) {
        if ((unsigned char)*p < 0x20)
            return NULL; /* also the end of the text */
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                int i;
                for (i = 1; i <= 4; i++)
                    if (!isxdigit((unsigned char)p[i]))
                        return NULL;
                p += 4;
            } else if (strchr("\"\\/bfnrt", *p) == NULL || *p == '\0') {
                return NULL;
            }
        }
    }
    return p + 1;
}

static const char *json_number(const char *p)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (isdigit((unsigned char)*p))
            p++;
    else
        return NULL;
    if (*p == '.') {
        if (!isdigit((unsigned char)*++p))
            return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return p;
}

/* An object or array: open, members separated by commas, close. */
static const char *json_container(const char *p, int depth)
{
    char close = *p == '{' ? '}' : ']';

    p = ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (close == '}') {
            p = json_string(ws(p));
            if (p == NULL || *(p = ws(p)) != ':')
                return NULL;
            p++;
        }
        p = json_value(p, depth + 1);
        if (p == NULL)
            return NULL;
        p = ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

static const char *json_value(const char *p, int depth)
{
    p = ws(p);
    if (depth > 32)
        return NULL;
    if (*p == '{' || *p == '[')
        return json_container(p, depth);
    if (*p == '"')
        return json_string(p);
    if (strncmp(p, "true", 4) == 0)
        return p + 4;
    if (strncmp(p, "false", 5) == 0)
        return p + 5;
    if (strncmp(p, "null", 4) == 0)
        return p + 4;
    return json_number(p);
}

/* s is exactly one JSON object (and whitespace). */
static int is_json_object(const char *s)
{
    const char *end;

    s = ws(s);
    if (*s != '{')
        return 0;
    end = json_value(s, 0);
    return end != NULL && *ws(end) == '\0';
}

START_TEST(the_json_checker_refuses_broken_json)
{
    ck_assert(is_json_object("{\"a\":[1,2.5,-3e2,{\"b\":null}],\"c\":\"x\\\"y\\u00e9\"}\n"));
    ck_assert(!is_json_object("{\"a\":1,}"));
    ck_assert(!is_json_object("{\"a\":nan}"));
    ck_assert(!is_json_object("{\"a\":01}"));
    ck_assert(!is_json_object("{\"a\":\"x\ty\"}"));
    ck_assert(!is_json_object("{\"a\":\"x\\q\"}"));
    ck_assert(!is_json_object("{\"a\":1} x"));
    ck_assert(!is_json_object("{\"a\" 1}"));
    ck_assert(!is_json_object("{\"a\":\"x"));
}
END_TEST

/* --- arithmetic ------------------------------------------------------------------------ */

START_TEST(cause_names_are_stable)
{
    ck_assert_str_eq(sb_cause_name(SB_E_STATUS), "status");
    ck_assert_str_eq(sb_cause_name(SB_E_REFUSED), "refused");
    ck_assert_str_eq(sb_cause_name(SB_E_RESET), "reset");
    ck_assert_str_eq(sb_cause_name(SB_E_TIMEOUT), "timeout");
    ck_assert_str_eq(sb_cause_name(SB_E_DIGEST), "digest");
    ck_assert_str_eq(sb_cause_name(SB_E_PROTOCOL), "protocol");
    ck_assert_str_eq(sb_cause_name(SB_NCAUSES), "unknown");
    ck_assert_str_eq(sb_cause_name(-1), "unknown");
}
END_TEST

START_TEST(throughput_and_rate_count_successful_uploads)
{
    r.bytes_ok = 1000000000;
    r.bytes_sent = 3000000000;
    r.ok = 100;
    r.failed = 50;
    r.elapsed = 4.0;
    ck_assert_double_eq_tol(sb_report_throughput(&r), 250e6, 1e-6);
    ck_assert_double_eq_tol(sb_report_rate(&r), 25, 1e-9);
}
END_TEST

START_TEST(zero_elapsed_gives_zero_rates)
{
    r.bytes_ok = 1 << 20;
    r.ok = 3;
    ck_assert(sb_report_throughput(&r) == 0);
    ck_assert(sb_report_rate(&r) == 0);
    r.elapsed = -1;
    ck_assert(sb_report_throughput(&r) == 0);
    ck_assert(sb_report_rate(&r) == 0);
}
END_TEST

/* --- text -------------------------------------------------------------------------------- */

START_TEST(text_shows_counts_rates_latency_and_errors)
{
    fill_report();
    render(0);
    ck_assert_ptr_nonnull(strstr(out, "http://127.0.0.1:8080/files/"));
    ck_assert_ptr_nonnull(strstr(out, "100 ok, 7 failed, 110 started"));
    ck_assert_ptr_nonnull(strstr(out, "2.000 s"));
    ck_assert_ptr_nonnull(strstr(out, "52.43 MB/s (50.00 MiB/s), 50.00 uploads/s"));
    ck_assert_ptr_nonnull(strstr(out, "p50 "));
    ck_assert_ptr_nonnull(strstr(out, "p99 "));
    ck_assert_ptr_nonnull(strstr(out, "max 100.00 ms"));
    ck_assert_ptr_nonnull(strstr(out, "status 4, reset 3"));
    ck_assert_ptr_nonnull(strstr(out, "413: 3, 500: 1"));
    ck_assert_ptr_null(strstr(out, "timeout")); /* causes that did not happen are left out */
    ck_assert_ptr_null(strstr(out, "refused"));
    ck_assert_ptr_null(strstr(out, "404"));
    ck_assert_ptr_nonnull(strstr(out, "resumes 5"));
    ck_assert_ptr_null(strstr(out, "server"));
    ck_assert_ptr_null(strstr(out, "ABORTED"));
    ck_assert_ptr_nonnull(strstr(out, ", Expect: 100-continue over 1M (wait 1 s)\n"));
    ck_assert_ptr_null(strstr(out, "  expect ")); /* no request carried it */
}
END_TEST

START_TEST(text_says_whether_expect_was_used)
{
    r.expect_sent = 9;
    r.expect_continued = 5;
    r.expect_timeouts = 1;
    r.expect_answered = 3;
    o.expect_threshold = 0;
    o.expect_timeout = 0.5;
    render(0);
    ck_assert_ptr_nonnull(strstr(out, "seed 1, Expect: 100-continue over 0 (wait 0.5 s)\n"));
    ck_assert_ptr_nonnull(strstr(out, "  expect      9 requests: 5 continued, 1 timed out (sent "
                                      "anyway), 3 answered first (not sent)\n"));
    o.expect = 0;
    memset(&r, 0, sizeof(r));
    render(0);
    ck_assert_ptr_nonnull(strstr(out, "seed 1, no Expect\n"));
    ck_assert_ptr_null(strstr(out, "100-continue"));
}
END_TEST

START_TEST(text_shows_server_readings_and_aborts)
{
    o.mode = SB_TUS;
    snprintf(o.host, sizeof(o.host), "::1");
    snprintf(o.base, sizeof(o.base), "/uploads/");
    r.has_server = 1;
    r.server_rss_peak_kib = 51200;
    r.server_cpu_s = 1.5;
    r.aborted = 1;
    render(0);
    ck_assert_ptr_nonnull(strstr(out, "tus http://[::1]:8080/uploads/"));
    ck_assert_ptr_nonnull(strstr(out, "peak RSS 50.0 MiB, CPU 1.50 s"));
    ck_assert_ptr_nonnull(strstr(out, "ABORTED"));
    ck_assert_ptr_nonnull(strstr(out, "tus resumes 0"));
    ck_assert_ptr_null(strstr(out, "errors"));
    ck_assert_ptr_null(strstr(out, "latency")); /* nothing succeeded, nothing measured */
}
END_TEST

/* --- JSON -------------------------------------------------------------------------------- */

START_TEST(json_is_one_valid_object_with_every_key)
{
    static const char *const keys[] = {
        "\"mode\":\"put\"",
        "\"host\":\"127.0.0.1\"",
        "\"port\":8080",
        "\"base\":\"/files/\"",
        "\"concurrency\":8",
        "\"uploads_started\":110",
        "\"ok\":100",
        "\"failed\":7",
        "\"elapsed_s\":2.000000",
        "\"bytes_ok\":104857600",
        "\"bytes_sent\":115343360",
        "\"throughput_bytes_per_s\":52428800.0",
        "\"uploads_per_s\":50.000",
        "\"latency_ms\":{\"p50\":",
        "\"p90\":",
        "\"p99\":",
        "\"max\":100.000",
        "\"mean\":50.500",
        "\"by_cause\":{\"status\":4,\"refused\":0,\"reset\":3,\"timeout\":0,\"digest\":0,"
        "\"protocol\":0}",
        "\"by_status\":{\"413\":3,\"500\":1}",
        "\"resumes\":5",
        "\"server\":null",
        "\"aborted\":false",
        "\"size\":\"1M\"",
        "\"seed\":1",
        "\"expect\":{\"threshold\":1048576,\"timeout_s\":1.000,\"requests\":9,\"continued\":5,"
        "\"timed_out\":1,\"answered\":3}",
    };
    size_t i;

    fill_report();
    r.expect_sent = 9;
    r.expect_continued = 5;
    r.expect_timeouts = 1;
    r.expect_answered = 3;
    render(1);
    ck_assert_msg(is_json_object(out), "not JSON: %s", out);
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        ck_assert_msg(strstr(out, keys[i]) != NULL, "%s missing from %s", keys[i], out);
    ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
}
END_TEST

START_TEST(json_of_an_empty_run_is_valid)
{
    render(1);
    ck_assert_msg(is_json_object(out), "not JSON: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "\"by_status\":{}"));
    ck_assert_ptr_nonnull(strstr(out, "\"p50\":0.000"));
    ck_assert_ptr_nonnull(strstr(out, "\"throughput_bytes_per_s\":0.0"));
    o.expect = 0;
    render(1);
    ck_assert_msg(is_json_object(out), "not JSON: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "\"expect\":null"));
}
END_TEST

START_TEST(json_server_readings_and_abort)
{
    r.has_server = 1;
    r.server_rss_peak_kib = 51200;
    r.server_cpu_s = 1.25;
    r.aborted = 1;
    render(1);
    ck_assert_msg(is_json_object(out), "not JSON: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "\"server\":{\"rss_peak_kib\":51200,\"cpu_s\":1.250}"));
    ck_assert_ptr_nonnull(strstr(out, "\"aborted\":true"));
}
END_TEST

START_TEST(json_escapes_strings_and_never_prints_nan)
{
    /* The parser forbids these characters; the report escapes them anyway. */
    snprintf(o.name_prefix, sizeof(o.name_prefix), "a\"b\\c\nd\x01");
    snprintf(o.base, sizeof(o.base), "/we\"ird/");
    r.elapsed = NAN;
    r.server_cpu_s = INFINITY;
    r.has_server = 1;
    render(1);
    ck_assert_msg(is_json_object(out), "not JSON: %s", out);
    ck_assert_ptr_nonnull(strstr(out, "\"name_prefix\":\"a\\\"b\\\\c\\u000ad\\u0001\""));
    ck_assert_ptr_nonnull(strstr(out, "\"base\":\"/we\\\"ird/\""));
    ck_assert_ptr_null(strstr(out, "nan"));
    ck_assert_ptr_null(strstr(out, "inf"));
}
END_TEST

START_TEST(json_size_reproduces_the_distribution)
{
    static const char *const specs[] = {"64K", "1000", "1K-1M", "lognormal:1M,1.5,100M",
                                        "lognormal:3000,0.25,1G"};
    size_t i;

    for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        char want[128];
        sb_dist_t back;
        const char *p;
        size_t n;

        ck_assert_int_eq(sb_dist_parse(specs[i], &o.size), 0);
        render(1);
        p = strstr(out, "\"size\":\"");
        ck_assert_ptr_nonnull(p);
        p += 8;
        n = strcspn(p, "\"");
        ck_assert_uint_lt(n, sizeof(want));
        memcpy(want, p, n);
        want[n] = '\0';
        ck_assert_int_eq(sb_dist_parse(want, &back), 0);
        ck_assert_int_eq(back.kind, o.size.kind);
        ck_assert_uint_eq(back.a, o.size.a);
        ck_assert_uint_eq(back.b, o.size.b);
        ck_assert(back.sigma == o.size.sigma || back.kind != SB_DIST_LOGNORMAL);
    }
}
END_TEST

Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc;

    tc = tcase_create("arithmetic");
    tcase_add_checked_fixture(tc, report_setup, NULL);
    tcase_add_test(tc, cause_names_are_stable);
    tcase_add_test(tc, throughput_and_rate_count_successful_uploads);
    tcase_add_test(tc, zero_elapsed_gives_zero_rates);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("text");
    tcase_add_checked_fixture(tc, report_setup, NULL);
    tcase_add_test(tc, text_shows_counts_rates_latency_and_errors);
    tcase_add_test(tc, text_shows_server_readings_and_aborts);
    tcase_add_test(tc, text_says_whether_expect_was_used);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("json");
    tcase_add_checked_fixture(tc, report_setup, NULL);
    tcase_add_test(tc, the_json_checker_refuses_broken_json);
    tcase_add_test(tc, json_is_one_valid_object_with_every_key);
    tcase_add_test(tc, json_of_an_empty_run_is_valid);
    tcase_add_test(tc, json_server_readings_and_abort);
    tcase_add_test(tc, json_escapes_strings_and_never_prints_nan);
    tcase_add_test(tc, json_size_reproduces_the_distribution);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
