/* SPDX-License-Identifier: MIT
 *
 * Reading the store over HTTP (server/proto/files.c, with cond.c's decisions), through a fake
 * connection: the real server attached to a fake libmicrohttpd (tests/support/fake_mhd.h) on a
 * real libuv loop and a real store in a mkdtemp root. Each request's final call starts a store
 * job with the connection suspended; the fake calls the handler again only after the resume and
 * the kick, and captures the response queued there (an fd response's bytes are read with pread, as
 * sendfile would send them; HEAD gets none).
 *
 * Covered: GET (body, ETag as the PUT's, Last-Modified, Accept-Ranges, Repr-Digest), a file put
 * into the root by hand (weak metadata: size/mtime ETag), HEAD, Range (206 with Content-Range,
 * 416 with bytes *\/N), If-None-Match (304), If-Match (412), 404, DELETE (204, then 404), the
 * listing (JSON, its budget charge released once the response is freed). Every answer comes
 * from the final call (none from the first: the connection stays alive).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/doubles.h"
#include "support/fake_mhd.h"
#include "support/files.h"
#include "support/json.h"

static const char DATA[] = "0123456789abcdefghij"; /* 20 bytes */

static fc_conn_t *get(fc_host_t *h, const char *method, const char *url, const char *name,
                      const char *value)
{
    fc_conn_t *c = fc_new(h, method, url);

    if (name != NULL)
        fc_header(c, name, value);
    fc_run(c);
    ck_assert_int_eq(fc_early(c), 0);
    return c;
}

START_TEST(get_returns_the_file_and_its_validators)
{
    fc_host_t h;
    fc_conn_t *put, *c;

    fc_host_up(&h);
    put = fc_put(&h, "/files/f.txt", DATA, 20, 1);
    ck_assert_uint_eq(fc_status(put), 201);
    c = get(&h, "GET", "/files/f.txt", NULL, NULL);
    ck_assert_uint_eq(fc_status(c), 200);
    ck_assert_uint_eq(fc_resp_body_len(c), 20);
    ck_assert_str_eq(fc_resp_body(c), DATA);
    ck_assert_uint_ge(fc_suspends(c), 1); /* the store job ran with the connection suspended */
    ck_assert_str_eq(fc_resp_header(c, "Content-Type"), "application/octet-stream");
    ck_assert_str_eq(fc_resp_header(c, "ETag"), fc_resp_header(put, "ETag"));
    ck_assert_str_eq(fc_resp_header(c, "Repr-Digest"), fc_resp_header(put, "Repr-Digest"));
    ck_assert_str_eq(fc_resp_header(c, "Accept-Ranges"), "bytes");
    ck_assert_ptr_nonnull(strstr(fc_resp_header(c, "Last-Modified"), " GMT"));
    fc_host_stop(&h);
}
END_TEST

START_TEST(get_a_file_put_by_hand)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    put_text(h.root, "hand.txt", "by hand");
    c = get(&h, "GET", "/files/hand.txt", NULL, NULL);
    ck_assert_uint_eq(fc_status(c), 200);
    ck_assert_str_eq(fc_resp_body(c), "by hand");
    ck_assert_ptr_nonnull(fc_resp_header(c, "ETag"));
    ck_assert_ptr_null(fc_resp_header(c, "Repr-Digest")); /* no digest was ever computed */
    fc_host_stop(&h);
}
END_TEST

START_TEST(head_sends_no_body)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    ck_assert_uint_eq(fc_status(fc_put(&h, "/files/f.txt", DATA, 20, 1)), 201);
    c = get(&h, "HEAD", "/files/f.txt", "Range", "bytes=0-1"); /* HEAD ignores Range */
    ck_assert_uint_eq(fc_status(c), 200);
    ck_assert_uint_eq(fc_resp_size(c), 20);
    ck_assert_uint_eq(fc_resp_body_len(c), 0);
    ck_assert_ptr_nonnull(fc_resp_header(c, "ETag"));
    fc_host_stop(&h);
}
END_TEST

START_TEST(range_is_206_or_416)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    ck_assert_uint_eq(fc_status(fc_put(&h, "/files/f.txt", DATA, 20, 1)), 201);
    c = get(&h, "GET", "/files/f.txt", "Range", "bytes=2-5");
    ck_assert_uint_eq(fc_status(c), 206);
    ck_assert_str_eq(fc_resp_body(c), "2345");
    ck_assert_str_eq(fc_resp_header(c, "Content-Range"), "bytes 2-5/20");
    c = get(&h, "GET", "/files/f.txt", "Range", "bytes=-3");
    ck_assert_uint_eq(fc_status(c), 206);
    ck_assert_str_eq(fc_resp_body(c), "hij");
    ck_assert_str_eq(fc_resp_header(c, "Content-Range"), "bytes 17-19/20");
    c = get(&h, "GET", "/files/f.txt", "Range", "bytes=100-");
    fc_assert_error(c, 416, "SL_ERANGE");
    ck_assert_str_eq(fc_resp_header(c, "Content-Range"), "bytes */20");
    fc_host_stop(&h);
}
END_TEST

START_TEST(conditional_requests)
{
    fc_host_t h;
    fc_conn_t *put, *c;
    char etag[80];

    fc_host_up(&h);
    put = fc_put(&h, "/files/f.txt", DATA, 20, 1);
    snprintf(etag, sizeof(etag), "%s", fc_resp_header(put, "ETag"));
    c = get(&h, "GET", "/files/f.txt", "If-None-Match", etag);
    ck_assert_uint_eq(fc_status(c), 304);
    ck_assert_uint_eq(fc_resp_body_len(c), 0);
    ck_assert_str_eq(fc_resp_header(c, "ETag"), etag);
    c = get(&h, "GET", "/files/f.txt", "If-Match", "\"something-else\"");
    fc_assert_error(c, 412, "SL_EPRECONDITION");
    c = get(&h, "GET", "/files/f.txt", "If-Match", etag);
    ck_assert_uint_eq(fc_status(c), 200);
    /* If-Range with another validator: the whole file */
    c = fc_new(&h, "GET", "/files/f.txt");
    fc_header(c, "Range", "bytes=0-0");
    fc_header(c, "If-Range", "\"old\"");
    ck_assert_uint_eq(fc_run(c), 200);
    ck_assert_uint_eq(fc_resp_body_len(c), 20);
    fc_host_stop(&h);
}
END_TEST

START_TEST(missing_file_is_404)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    fc_assert_error(get(&h, "GET", "/files/none.txt", NULL, NULL), 404, "SL_ENOTFOUND");
    c = get(&h, "HEAD", "/files/none.txt", NULL, NULL);
    ck_assert_uint_eq(fc_status(c), 404); /* the error's size, without its body */
    ck_assert_uint_gt(fc_resp_size(c), 0);
    ck_assert_uint_eq(fc_resp_body_len(c), 0);
    fc_assert_error(get(&h, "DELETE", "/files/none.txt", NULL, NULL), 404, "SL_ENOTFOUND");
    fc_host_stop(&h);
}
END_TEST

START_TEST(delete_removes_the_file)
{
    fc_host_t h;
    fc_conn_t *c;
    char buf[32];

    fc_host_up(&h);
    ck_assert_uint_eq(fc_status(fc_put(&h, "/files/sub/gone.txt", DATA, 20, 1)), 201);
    c = get(&h, "DELETE", "/files/sub/gone.txt", NULL, NULL);
    ck_assert_uint_eq(fc_status(c), 204);
    ck_assert_uint_eq(fc_resp_size(c), 0);
    ck_assert_int_eq(slurp(h.root, "sub/gone.txt", buf, sizeof(buf)), -1);
    fc_assert_error(get(&h, "GET", "/files/sub/gone.txt", NULL, NULL), 404, "SL_ENOTFOUND");
    fc_assert_error(get(&h, "DELETE", "/files/sub/gone.txt", NULL, NULL), 404, "SL_ENOTFOUND");
    fc_host_stop(&h);
}
END_TEST

START_TEST(listing_is_json_and_its_budget_is_returned)
{
    fc_host_t h;
    fc_conn_t *c;
    size_t in_use = 1;
    const char *body;

    fc_host_init(&h);
    h.cfg.buffer_budget = 64 << 20;
    fc_host_start(&h);
    ck_assert_uint_eq(fc_status(fc_put(&h, "/files/one.txt", "1", 1, 1)), 201);
    ck_assert_uint_eq(fc_status(fc_put(&h, "/files/dir/two.txt", "22", 2, 1)), 201);
    c = get(&h, "GET", "/files/", NULL, NULL);
    ck_assert_uint_eq(fc_status(c), 200);
    ck_assert_str_eq(fc_resp_header(c, "Content-Type"), "application/json");
    body = fc_resp_body(c);
    ck_assert_msg(json_valid(body), "%s", body);
    ck_assert_ptr_nonnull(strstr(body, "\"one.txt\""));
    ck_assert_ptr_nonnull(strstr(body, "\"dir/two.txt\""));
    ck_assert_ptr_null(strstr(body, ".sluice"));
    /* the unread listing is charged to the budget until libmicrohttpd frees the response */
    sl_server_budget(h.srv, &in_use, NULL);
    ck_assert_uint_ge(in_use, fc_resp_body_len(c));
    fc_complete(c, MHD_REQUEST_TERMINATED_COMPLETED_OK);
    sl_server_budget(h.srv, &in_use, NULL);
    ck_assert_uint_eq(in_use, 0);
    fc_host_stop(&h);
}
END_TEST

Suite *files_suite(void)
{
    Suite *s = suite_create("files");
    TCase *tc = add_tcase(s, "files");

    tcase_add_test(tc, get_returns_the_file_and_its_validators);
    tcase_add_test(tc, get_a_file_put_by_hand);
    tcase_add_test(tc, head_sends_no_body);
    tcase_add_test(tc, range_is_206_or_416);
    tcase_add_test(tc, conditional_requests);
    tcase_add_test(tc, missing_file_is_404);
    tcase_add_test(tc, delete_removes_the_file);
    tcase_add_test(tc, listing_is_json_and_its_budget_is_returned);
    return s;
}
