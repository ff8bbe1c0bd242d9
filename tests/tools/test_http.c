/* SPDX-License-Identifier: MIT
 *
 * sluice-bench's HTTP (tools/bench/http.c): "Expect: 100-continue" in request heads, and the
 * response parser's handling of interim 1xx answers.
 *
 * Expect: every request kind with a body (put, post, chunked put, multipart, tus PATCH) carries
 * the header when its body is over --expect-threshold, not at or below it, never with
 * --no-expect, and never on a request without a body (tus creation, HEAD, GET); multipart counts
 * its framing. sb_request_expects agrees with the head. The URL's query goes with uploads and tus
 * creations, not with the PATCHes that follow a Location; so does a signature (--sign-key), the
 * one OpenSSL's HMAC() gives over sluice's canonical string. The parser: a 100 Continue then a 201
 * in one buffer, and the same bytes fed in every split (as reads may bring them): 0 until the last
 * byte, `continued` from the 100's last byte on; 1xx answers nobody asked for are skipped too.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bench.h"
#include "http.h"

static sb_opts_t o;
static char head[2048];

static void http_setup(void)
{
    sb_opts_init(&o);
    snprintf(o.host, sizeof(o.host), "127.0.0.1");
    o.port = 8080;
    snprintf(o.base, sizeof(o.base), "/files/");
}

/* The head of a request of `kind` with a body of `len` bytes; 1 if it says Expect. */
static int head_expects(int kind, uint64_t len)
{
    size_t n = sb_request_head(&o, kind, "f.bin", "/uploads/abc", len, 0, head, sizeof(head));
    const char *e;
    int says;

    ck_assert_uint_gt(n, 0);
    ck_assert_uint_eq(n, strlen(head));
    ck_assert_ptr_eq(strstr(head, "\r\n\r\n"), head + n - 4); /* one blank line, at the end */
    e = strstr(head, "\r\nExpect: 100-continue\r\n");
    says = e != NULL;
    ck_assert_int_eq(says, sb_request_expects(&o, kind, "f.bin", len));
    return says;
}

/* --- Expect in request heads ------------------------------------------------------------- */

START_TEST(each_body_kind_says_expect_above_the_threshold_only)
{
    static const sb_mode_t modes[] = {SB_PUT, SB_POST, SB_PUT};
    size_t i;

    ck_assert_int_eq(o.expect, 1);
    ck_assert_uint_eq(o.expect_threshold, 1048576); /* curl's */
    for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        o.mode = modes[i];
        o.chunked = i == 2;
        ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 1048577), 1);
        ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 2 << 20), 1);
        ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 1048576), 0);
        ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 1000), 0);
        ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 0), 0);
    }
    o.mode = SB_TUS;
    o.chunked = 0;
    ck_assert_int_eq(head_expects(SB_REQ_TUS_PATCH, 1048577), 1);
    ck_assert_int_eq(head_expects(SB_REQ_TUS_PATCH, 1048576), 0);
    ck_assert_int_eq(head_expects(SB_REQ_TUS_CREATE, 100 << 20), 0); /* no body */
    ck_assert_int_eq(head_expects(SB_REQ_TUS_HEAD, 100 << 20), 0);
    ck_assert_int_eq(head_expects(SB_REQ_GET, 100 << 20), 0);
}
END_TEST

START_TEST(a_query_goes_with_uploads_and_creations_only)
{
    snprintf(o.query, sizeof(o.query), "?sl-sig=ab");
    ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 10), 0);
    ck_assert_ptr_nonnull(strstr(head, "PUT /files/f.bin?sl-sig=ab HTTP/1.1\r\n"));
    o.mode = SB_POST;
    head_expects(SB_REQ_UPLOAD, 10);
    ck_assert_ptr_nonnull(strstr(head, "POST /files/?sl-sig=ab HTTP/1.1\r\n"));
    o.mode = SB_MULTIPART;
    head_expects(SB_REQ_UPLOAD, 10);
    ck_assert_ptr_nonnull(strstr(head, "POST /files/?sl-sig=ab HTTP/1.1\r\n"));
    o.mode = SB_TUS;
    snprintf(o.base, sizeof(o.base), "/uploads/");
    head_expects(SB_REQ_TUS_CREATE, 10);
    ck_assert_ptr_nonnull(strstr(head, "POST /uploads/?sl-sig=ab HTTP/1.1\r\n"));
    head_expects(SB_REQ_TUS_PATCH, 10); /* the server's Location says where, signed or not */
    ck_assert_ptr_nonnull(strstr(head, "PATCH /uploads/abc HTTP/1.1\r\n"));
}
END_TEST

/* sluice's signature of METHOD on path (server/http/sign.c), by OpenSSL's one-shot HMAC(). */
static void expected_query(const char *method, const char *path, char *out, size_t cap)
{
    char msg[512], hex[65];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0, i;
    int n = snprintf(msg, sizeof(msg), "sluice-v1\n%s\n%s\n%lld\n\n", method, path, o.sign_expires);

    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), o.sign_key, (int)o.sign_keylen,
                               (const unsigned char *)msg, (size_t)n, mac, &len));
    ck_assert_uint_eq(len, 32);
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    snprintf(out, cap, "?sl-expires=%lld&sl-sig=%s", o.sign_expires, hex);
}

START_TEST(signed_targets_carry_sluices_signature)
{
    char want[160], line[512];

    memcpy(o.sign_key, "0123456789abcdef0123456789abcdef-key", 36);
    o.sign_keylen = 36;
    o.sign_expires = 1796659563;
    head_expects(SB_REQ_UPLOAD, 10);
    expected_query("PUT", "/files/f.bin", want, sizeof(want));
    snprintf(line, sizeof(line), "PUT /files/f.bin%s HTTP/1.1\r\n", want);
    ck_assert_msg(strncmp(head, line, strlen(line)) == 0, "%s", head);
    o.mode = SB_POST;
    head_expects(SB_REQ_UPLOAD, 10);
    expected_query("POST", "/files/", want, sizeof(want));
    snprintf(line, sizeof(line), "POST /files/%s HTTP/1.1\r\n", want);
    ck_assert_msg(strncmp(head, line, strlen(line)) == 0, "%s", head);
    o.mode = SB_TUS;
    snprintf(o.base, sizeof(o.base), "/uploads/");
    head_expects(SB_REQ_TUS_CREATE, 10);
    expected_query("POST", "/uploads/", want, sizeof(want));
    snprintf(line, sizeof(line), "POST /uploads/%s HTTP/1.1\r\n", want);
    ck_assert_msg(strncmp(head, line, strlen(line)) == 0, "%s", head);
    head_expects(SB_REQ_TUS_PATCH, 10); /* the Location the server signed */
    ck_assert_ptr_nonnull(strstr(head, "PATCH /uploads/abc HTTP/1.1\r\n"));
    head_expects(SB_REQ_GET, 0); /* --verify-get */
    expected_query("GET", "/uploads/abc", want, sizeof(want));
    snprintf(line, sizeof(line), "GET /uploads/abc%s HTTP/1.1\r\n", want);
    ck_assert_msg(strncmp(head, line, strlen(line)) == 0, "%s", head);
}
END_TEST

START_TEST(the_head_keeps_its_other_fields)
{
    o.keepalive = 0;
    ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 2 << 20), 1);
    ck_assert_str_eq(head, "PUT /files/f.bin HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: "
                           "close\r\nExpect: 100-continue\r\nContent-Length: 2097152\r\n\r\n");
    o.mode = SB_TUS;
    ck_assert_int_eq(head_expects(SB_REQ_TUS_PATCH, 2 << 20), 1);
    ck_assert_ptr_nonnull(strstr(head, "Upload-Offset: 0\r\n"));
    ck_assert_ptr_nonnull(strstr(head, "Content-Length: 2097152\r\n"));
}
END_TEST

START_TEST(multipart_counts_its_framing)
{
    char mp[512];
    uint64_t framing = sb_multipart_head("f.bin", mp, sizeof(mp)) + strlen(sb_multipart_tail);

    o.mode = SB_MULTIPART;
    o.expect_threshold = 1000;
    ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 1000 - framing), 0); /* exactly the threshold */
    ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 1001 - framing), 1);
    ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 1000), 1); /* the file alone is not over it */
}
END_TEST

START_TEST(no_expect_and_threshold_zero)
{
    o.expect = 0;
    ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 100 << 20), 0);
    o.mode = SB_TUS;
    ck_assert_int_eq(head_expects(SB_REQ_TUS_PATCH, 100 << 20), 0);
    o.mode = SB_PUT;
    o.expect = 1;
    o.expect_threshold = 0; /* every body */
    ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 1), 1);
    ck_assert_int_eq(head_expects(SB_REQ_UPLOAD, 0), 0);
}
END_TEST

/* --- interim answers --------------------------------------------------------------------- */

static const char cont_201[] =
    "HTTP/1.1 100 Continue\r\n\r\n"
    "HTTP/1.1 201 Created\r\nConnection: close\r\nLocation: /files/f.bin\r\nContent-Length: 101\r\n"
    "\r\n{\"name\":\"f.bin\",\"size\":1,\"sha256\":"
    "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}";

static void assert_the_201(const sb_resp_t *r)
{
    ck_assert_uint_eq(r->status, 201);
    ck_assert_int_eq(r->continued, 1);
    ck_assert_int_eq(r->close, 1);
    ck_assert_str_eq(r->location, "/files/f.bin");
    ck_assert_str_eq(r->sha256, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    ck_assert_uint_eq(r->body_len, 101);
}

START_TEST(continue_then_201_in_one_buffer)
{
    sb_resp_t r;
    size_t len = strlen(cont_201);

    ck_assert_uint_eq(strlen(strstr(cont_201, "\r\n\r\n{")) - 4, 101); /* the fixture is right */
    ck_assert_int_eq(sb_resp_parse(cont_201, len, 0, 0, &r), (long)len);
    assert_the_201(&r);
}
END_TEST

START_TEST(continue_then_201_split_anywhere)
{
    size_t len = strlen(cont_201), cont_len = strlen("HTTP/1.1 100 Continue\r\n\r\n"), k;
    char buf[sizeof(cont_201)];
    sb_resp_t r;

    for (k = 0; k < len; k++) { /* the bytes that have arrived so far, in a buffer of their own */
        memcpy(buf, cont_201, k);
        ck_assert_msg(sb_resp_parse(buf, k, 0, 0, &r) == 0, "complete after %zu bytes", k);
        ck_assert_msg(r.continued == (k >= cont_len), "continued %d after %zu bytes", r.continued,
                      k);
    }
    memcpy(buf, cont_201, len);
    ck_assert_int_eq(sb_resp_parse(buf, len, 0, 0, &r), (long)len);
    assert_the_201(&r);
}
END_TEST

START_TEST(unasked_interim_answers_are_skipped)
{
    static const char many[] = "HTTP/1.1 102 Processing\r\n\r\n"
                               "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                               "HTTP/1.1 413 Content Too Large\r\nContent-Length: 2\r\n\r\n{}";
    static const char early[] = "HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
    static const char bad[] = "HTTP/1.1 100 Continue\r\n\r\nSSH-2.0-OpenSSH\r\n\r\n";
    sb_resp_t r;

    ck_assert_int_eq(sb_resp_parse(many, strlen(many), 0, 0, &r), (long)strlen(many));
    ck_assert_uint_eq(r.status, 413);
    ck_assert_int_eq(r.continued, 0); /* no 100 among them */
    ck_assert_uint_eq(r.body_len, 2);
    ck_assert_int_eq(sb_resp_parse(early, strlen(early), 0, 0, &r), (long)strlen(early));
    ck_assert_uint_eq(r.status, 204);
    ck_assert_int_eq(sb_resp_parse(bad, strlen(bad), 0, 0, &r), -1);
    ck_assert_int_eq(sb_resp_parse("HTTP/1.1 100 Continue\r\n\r\n", 25, 0, 1, &r), 0);
    ck_assert_int_eq(r.continued, 1); /* an interim answer alone is not an answer, even at EOF */
}
END_TEST

Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc;

    tc = tcase_create("expect");
    tcase_add_checked_fixture(tc, http_setup, NULL);
    tcase_add_test(tc, each_body_kind_says_expect_above_the_threshold_only);
    tcase_add_test(tc, the_head_keeps_its_other_fields);
    tcase_add_test(tc, a_query_goes_with_uploads_and_creations_only);
    tcase_add_test(tc, signed_targets_carry_sluices_signature);
    tcase_add_test(tc, multipart_counts_its_framing);
    tcase_add_test(tc, no_expect_and_threshold_zero);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("interim");
    tcase_add_test(tc, continue_then_201_in_one_buffer);
    tcase_add_test(tc, continue_then_201_split_anywhere);
    tcase_add_test(tc, unasked_interim_answers_are_skipped);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
