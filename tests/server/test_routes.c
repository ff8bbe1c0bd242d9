/* SPDX-License-Identifier: MIT
 *
 * Routing and first-call validation (server/http/routes.c, respond.c, cors.c), through a fake
 * connection: the real server, attached to a fake libmicrohttpd (tests/support/fake_mhd.h) on a
 * real libuv loop with a real store in a mkdtemp root. The fake calls the access handler as
 * libmicrohttpd 0.9.75 does (first call, body pieces, final calls; a suspended connection waits
 * for a resume and a kick) and captures the response queued.
 *
 * Covered: 404 for unknown paths (answered from the final call, or from the first call before a
 * body is read), /healthz, 405 with Allow per route, the mount prefix, the host's routes, header
 * and framing refusals (a bad field name, Transfer-Encoding, duplicate Content-Length,
 * Content-Encoding, an over-long name), /metrics' content type, CORS. Every error answer is
 * checked for its JSON shape {"error":…,"status":…,"code":"SL_E…"}.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "support/doubles.h"
#include "support/fake_mhd.h"
#include "support/files.h"
#include "support/json.h"

START_TEST(unknown_path_is_404_from_the_final_call)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    c = fc_request(&h, "GET", "/nope");
    fc_assert_error(c, 404, "SL_ENOTFOUND");
    ck_assert_int_eq(fc_early(c), 0);
    ck_assert_uint_ge(fc_final_calls(c), 1); /* queued after the headers: keep-alive kept */
    fc_host_stop(&h);
}
END_TEST

/* The idle trim (http.c's tick: slabs freed, malloc_trim 2 s after the last request) must see a
 * burst that starts and ends between two ticks: every request marks the server busy when it
 * starts, not only a tick that happens to find it running (goal 5 of docs/BENCHMARKS.md held
 * 115 MiB after such a burst). */
START_TEST(a_request_marks_the_server_busy_for_the_idle_trim)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    h.srv->busy_at = 0; /* as after a trim */
    c = fc_request(&h, "GET", "/healthz");
    ck_assert_uint_eq(fc_status(c), 200);
    ck_assert_uint_ne(h.srv->busy_at, 0);
    fc_host_stop(&h);
}
END_TEST

START_TEST(unknown_path_with_a_body_is_refused_before_the_body)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    c = fc_new(&h, "POST", "/nope/deeper");
    fc_body(c, "0123456789", 10, 1);
    ck_assert_uint_eq(fc_run(c), 404);
    fc_assert_error(c, 404, "SL_ENOTFOUND");
    ck_assert_int_eq(fc_early(c), 1); /* no 100 Continue */
    ck_assert_uint_eq(fc_delivered(c), 0);
    fc_host_stop(&h);
}
END_TEST

START_TEST(health_is_200_json)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    c = fc_request(&h, "GET", "/healthz");
    ck_assert_uint_eq(fc_status(c), 200);
    ck_assert_str_eq(fc_resp_body(c), "{\"status\":\"ok\"}\n");
    ck_assert_str_eq(fc_resp_header(c, "Content-Type"), "application/json");
    ck_assert_int_eq(fc_early(c), 0);
    c = fc_request(&h, "HEAD", "/healthz");
    ck_assert_uint_eq(fc_status(c), 200);
    ck_assert_uint_eq(fc_resp_body_len(c), 0);
    ck_assert_uint_eq(fc_resp_size(c), strlen("{\"status\":\"ok\"}\n"));
    fc_host_stop(&h);
}
END_TEST

START_TEST(wrong_method_is_405_with_allow)
{
    static const struct {
        const char *method, *url, *allow;
    } cases[] = {
        {"POST", "/files/a.txt", "GET, HEAD, PUT, DELETE"},
        {"PATCH", "/files/a.txt", "GET, HEAD, PUT, DELETE"},
        {"DELETE", "/files/", "GET, HEAD, POST"},
        {"PUT", "/files", "GET, HEAD, POST"},
        {"DELETE", "/healthz", "GET, HEAD"},
        {"GET", "/uploads/", "POST, OPTIONS"},
        {"PUT", "/uploads/0123456789abcdef0123456789abcdef", "HEAD, PATCH, DELETE, OPTIONS"},
    };
    fc_host_t h;
    size_t i;

    fc_host_up(&h);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fc_conn_t *c = fc_new(&h, cases[i].method, cases[i].url);
        fc_header(c, "Tus-Resumable", "1.0.0");
        fc_run(c);
        fc_assert_error(c, 405, "SL_EMETHOD");
        ck_assert_msg(fc_resp_header(c, "Allow") != NULL &&
                          strcmp(fc_resp_header(c, "Allow"), cases[i].allow) == 0,
                      "%s %s: Allow %s", cases[i].method, cases[i].url,
                      fc_resp_header(c, "Allow") ? fc_resp_header(c, "Allow") : "(none)");
    }
    fc_host_stop(&h);
}
END_TEST

START_TEST(mount_prefix)
{
    fc_host_t h;
    fc_conn_t *c;
    char buf[64];

    fc_host_init(&h);
    snprintf(h.cfg.mount, sizeof(h.cfg.mount), "/api/upload/");
    fc_host_start(&h);
    ck_assert_uint_eq(fc_status(fc_request(&h, "GET", "/api/upload/healthz")), 200);
    fc_assert_error(fc_request(&h, "GET", "/healthz"), 404, "SL_ENOTFOUND");
    fc_assert_error(fc_request(&h, "GET", "/api/uploadx/healthz"), 404, "SL_ENOTFOUND");
    fc_assert_error(fc_request(&h, "GET", "/api/healthz"), 404, "SL_ENOTFOUND");
    c = fc_put(&h, "/api/upload/files/m.txt", "mounted", 7, 1);
    ck_assert_uint_eq(fc_status(c), 201);
    ck_assert_str_eq(fc_resp_header(c, "Location"), "/api/upload/files/m.txt");
    ck_assert_int_eq(slurp(h.root, "m.txt", buf, sizeof(buf)), 7);
    ck_assert_str_eq(buf, "mounted");
    /* outside the mount nothing is stored */
    c = fc_put(&h, "/files/n.txt", "x", 1, 1);
    fc_assert_error(c, 404, "SL_ENOTFOUND");
    ck_assert_int_eq(slurp(h.root, "n.txt", buf, sizeof(buf)), -1);
    fc_host_stop(&h);
}
END_TEST

static unsigned host_routes(const char *method, const char *path, char *body, size_t cap,
                            size_t *len, const char **content_type, void *arg)
{
    int *calls = arg;

    (*calls)++;
    if (strcmp(path, "/host") != 0)
        return 0;
    *len = (size_t)snprintf(body, cap, "host %s", method);
    *content_type = "text/plain; charset=utf-8";
    return 202;
}

START_TEST(host_routes_answer_outside_sluice)
{
    fc_host_t h;
    fc_conn_t *c;
    int calls = 0;

    fc_host_up(&h);
    sl_server_set_routes(h.srv, host_routes, &calls);
    c = fc_request(&h, "GET", "/host");
    ck_assert_uint_eq(fc_status(c), 202);
    ck_assert_str_eq(fc_resp_body(c), "host GET");
    ck_assert_str_eq(fc_resp_header(c, "Content-Type"), "text/plain; charset=utf-8");
    /* a body for the host's route is read and dropped; the answer comes from the final call */
    c = fc_new(&h, "POST", "/host");
    fc_body(c, "abcdef", 6, 2);
    ck_assert_uint_eq(fc_run(c), 202);
    ck_assert_uint_eq(fc_delivered(c), 6);
    ck_assert_str_eq(fc_resp_body(c), "host POST");
    /* the host declines: 404 */
    fc_assert_error(fc_request(&h, "GET", "/elsewhere"), 404, "SL_ENOTFOUND");
    ck_assert_int_eq(calls, 3);
    /* sluice's own URLs never reach the host */
    ck_assert_uint_eq(fc_status(fc_request(&h, "GET", "/healthz")), 200);
    ck_assert_int_eq(calls, 3);
    fc_host_stop(&h);
}
END_TEST

START_TEST(bad_field_name_is_400)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    c = fc_new(&h, "PUT", "/files/a.txt");
    fc_header(c, "X Bad", "v");
    fc_body(c, "abc", 3, 1);
    fc_run(c);
    fc_assert_error(c, 400, "SL_EBADREQUEST");
    ck_assert_int_eq(fc_early(c), 1);
    ck_assert_int_eq(fc_entries(&h, ""), 1); /* .sluice alone */
    fc_host_stop(&h);
}
END_TEST

START_TEST(framing_refusals_come_before_the_body)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    /* any Transfer-Encoding but chunked: 501 (0.9.75 would hang on it) */
    c = fc_new(&h, "PUT", "/files/a.txt");
    fc_header(c, "Transfer-Encoding", "gzip");
    fc_body(c, "abc", 3, 1);
    fc_run(c);
    fc_assert_error(c, 501, "SL_ENOTIMPL");
    ck_assert_int_eq(fc_early(c), 1);
    /* Transfer-Encoding with Content-Length: a smuggling risk */
    c = fc_new(&h, "PUT", "/files/a.txt");
    fc_header(c, "Content-Length", "3");
    fc_chunked(c);
    fc_body(c, "abc", 3, 1);
    fc_run(c);
    fc_assert_error(c, 400, "SL_EBADREQUEST");
    ck_assert_int_eq(fc_early(c), 1);
    /* two Content-Length fields */
    c = fc_new(&h, "PUT", "/files/a.txt");
    fc_header(c, "Content-Length", "3");
    fc_body(c, "abc", 3, 1);
    fc_run(c);
    fc_assert_error(c, 400, "SL_EBADREQUEST");
    /* a coding sluice does not decode */
    c = fc_new(&h, "PUT", "/files/a.txt");
    fc_header(c, "Content-Encoding", "br");
    fc_body(c, "abc", 3, 1);
    fc_run(c);
    fc_assert_error(c, 415, "SL_EUNSUPPORTED");
    ck_assert_uint_eq(fc_delivered(c), 0);
    ck_assert_int_eq(fc_entries(&h, ""), 1);
    ck_assert_int_eq(fc_entries(&h, ".sluice/tmp"), 0);
    fc_host_stop(&h);
}
END_TEST

START_TEST(overlong_name_is_414)
{
    char url[8 + 3 * 1024 + 16];
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    memcpy(url, "/files/", 7);
    memset(url + 7, 'a', 3 * 1024 + 1);
    url[7 + 3 * 1024 + 1] = '\0';
    c = fc_new(&h, "PUT", url);
    fc_body(c, "abc", 3, 1);
    fc_run(c);
    fc_assert_error(c, 414, "SL_ETOOLONG");
    ck_assert_int_eq(fc_early(c), 1);
    fc_host_stop(&h);
}
END_TEST

START_TEST(metrics_are_prometheus_text)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    ck_assert_uint_eq(fc_status(fc_request(&h, "GET", "/healthz")), 200);
    c = fc_request(&h, "GET", "/metrics");
    ck_assert_uint_eq(fc_status(c), 200);
    /* the JSON content type was replaced, not doubled */
    ck_assert_int_eq(fc_resp_header_count(c, "Content-Type"), 1);
    ck_assert_str_eq(fc_resp_header(c, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(fc_resp_body(c), "sluice_"));
    fc_host_stop(&h);
}
END_TEST

START_TEST(cors_preflight_and_allowed_origins)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_init(&h);
    snprintf(h.cfg.cors_origin, sizeof(h.cfg.cors_origin), "https://a.example,https://b.example");
    fc_host_start(&h);
    c = fc_new(&h, "OPTIONS", "/files/x.bin");
    fc_header(c, "Origin", "https://b.example");
    fc_header(c, "Access-Control-Request-Method", "PUT");
    ck_assert_uint_eq(fc_run(c), 204);
    ck_assert_str_eq(fc_resp_header(c, "Access-Control-Allow-Origin"), "https://b.example");
    ck_assert_ptr_nonnull(fc_resp_header(c, "Access-Control-Allow-Methods"));
    ck_assert_str_eq(fc_resp_header(c, "Vary"), "Origin");
    /* an answer to an allowed origin exposes sluice's headers; another origin gets none */
    c = fc_new(&h, "GET", "/healthz");
    fc_header(c, "Origin", "https://a.example");
    ck_assert_uint_eq(fc_run(c), 200);
    ck_assert_str_eq(fc_resp_header(c, "Access-Control-Allow-Origin"), "https://a.example");
    ck_assert_ptr_nonnull(fc_resp_header(c, "Access-Control-Expose-Headers"));
    c = fc_new(&h, "GET", "/healthz");
    fc_header(c, "Origin", "https://a.example.evil");
    ck_assert_uint_eq(fc_run(c), 200);
    ck_assert_ptr_null(fc_resp_header(c, "Access-Control-Allow-Origin"));
    fc_host_stop(&h);
}
END_TEST

Suite *routes_suite(void)
{
    Suite *s = suite_create("routes");
    TCase *tc = add_tcase(s, "routes");

    tcase_add_test(tc, unknown_path_is_404_from_the_final_call);
    tcase_add_test(tc, a_request_marks_the_server_busy_for_the_idle_trim);
    tcase_add_test(tc, unknown_path_with_a_body_is_refused_before_the_body);
    tcase_add_test(tc, health_is_200_json);
    tcase_add_test(tc, wrong_method_is_405_with_allow);
    tcase_add_test(tc, mount_prefix);
    tcase_add_test(tc, host_routes_answer_outside_sluice);
    tcase_add_test(tc, bad_field_name_is_400);
    tcase_add_test(tc, framing_refusals_come_before_the_body);
    tcase_add_test(tc, overlong_name_is_414);
    tcase_add_test(tc, metrics_are_prometheus_text);
    tcase_add_test(tc, cors_preflight_and_allowed_origins);
    return s;
}
