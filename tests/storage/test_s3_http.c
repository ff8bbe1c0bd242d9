/* SPDX-License-Identifier: MIT
 *
 * The S3 store's pieces that need no service (storage/s3_http.c, s3.c's configuration): key and
 * query encoding as SigV4 wants it, the XML answers, ISO times, the Range a read asks for and
 * the Content-Range it must get back (s3_read.c), and a configuration that is
 * refused, or whose endpoint does not answer, at start-up with a message. What it does against a
 * real service is tests/integration/test_s3.py's and test_s3_tus.py's (a real Ceph RGW).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/s3_int.h"

START_TEST(encode_keeps_unreserved_and_slash_in_a_path)
{
    char out[64];

    ck_assert_int_eq(sl__s3_encode("a/b c~d_e.f-g", 1, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "a/b%20c~d_e.f-g");
}
END_TEST

START_TEST(encode_escapes_slash_and_bytes_in_a_query)
{
    char out[64];

    ck_assert_int_eq(sl__s3_encode("p/\xc3\xa9=&+", 0, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "p%2F%C3%A9%3D%26%2B");
}
END_TEST

START_TEST(encode_refuses_what_does_not_fit)
{
    char out[6];

    ck_assert_int_eq(sl__s3_encode("abcde", 0, out, sizeof(out)), 0);
    ck_assert_int_eq(sl__s3_encode("abcdef", 0, out, sizeof(out)), SL_ETOOLONG);
    ck_assert_int_eq(sl__s3_encode("ab c", 0, out, sizeof(out)), SL_ETOOLONG);
}
END_TEST

START_TEST(xml_next_walks_tags_and_decodes_entities)
{
    static const char xml[] = "<R><Key>a&amp;b</Key><Size>3</Size><Key>c&lt;d&gt;&quot;</Key>"
                              "</R>";
    size_t pos = 0, n = sizeof(xml) - 1;
    char v[32];

    ck_assert(sl__s3_xml_next(xml, n, &pos, "Key", v, sizeof(v)));
    ck_assert_str_eq(v, "a&b");
    ck_assert(sl__s3_xml_next(xml, n, &pos, "Key", v, sizeof(v)));
    ck_assert_str_eq(v, "c<d>\"");
    ck_assert(!sl__s3_xml_next(xml, n, &pos, "Key", v, sizeof(v)));
    pos = 0;
    ck_assert(!sl__s3_xml_next(xml, n, &pos, "UploadId", v, sizeof(v)));
    ck_assert(!sl__s3_xml_next("<Key>open", 9, &(size_t){0}, "Key", v, sizeof(v)));
}
END_TEST

START_TEST(iso_time_reads_s3_dates)
{
    ck_assert_int_eq(sl__s3_iso_time("1970-01-02T00:00:01.000Z"), 86401);
    ck_assert_int_eq(sl__s3_iso_time("2026-12-06T23:57:14.123Z"), 1796601434);
    ck_assert_int_eq(sl__s3_iso_time("yesterday"), 0);
}
END_TEST

START_TEST(range_asks_for_exactly_the_bytes_or_the_whole)
{
    char h[96] = "";

    ck_assert_int_eq(sl__s3_range(0, 1, 1 << 30, h, sizeof(h)), 1);
    ck_assert_str_eq(h, "Range: bytes=0-0");
    ck_assert_int_eq(sl__s3_range(1000, 24, 1 << 30, h, sizeof(h)), 1);
    ck_assert_str_eq(h, "Range: bytes=1000-1023");
    ck_assert_int_eq(sl__s3_range(10, 90, 100, h, sizeof(h)), 1);
    ck_assert_str_eq(h, "Range: bytes=10-99");
    ck_assert_int_eq(sl__s3_range(0, 100, 100, h, sizeof(h)), 0); /* the whole: no Range */
    ck_assert_int_eq(sl__s3_range(0, 0, 100, h, sizeof(h)), SL_ERANGE);
    ck_assert_int_eq(sl__s3_range(100, 1, 100, h, sizeof(h)), SL_ERANGE);
    ck_assert_int_eq(sl__s3_range(50, 51, 100, h, sizeof(h)), SL_ERANGE);
    ck_assert_int_eq(sl__s3_range(1, UINT64_MAX, UINT64_MAX, h, sizeof(h)), SL_ERANGE);
}
END_TEST

START_TEST(content_range_is_read_strictly)
{
    uint64_t a, b, t;

    ck_assert_int_eq(sl__s3_content_range("bytes 0-0/1073741824", &a, &b, &t), 0);
    ck_assert(a == 0 && b == 0 && t == 1073741824);
    ck_assert_int_eq(sl__s3_content_range("bytes 10-19/*", &a, &b, &t), 0);
    ck_assert(a == 10 && b == 19 && t == UINT64_MAX);
    ck_assert_int_eq(sl__s3_content_range("bytes 18446744073709551614-18446744073709551614/"
                                          "18446744073709551615",
                                          &a, &b, &t),
                     0);
    ck_assert(a == UINT64_MAX - 1 && t == UINT64_MAX);
    ck_assert_int_eq(sl__s3_content_range("bytes 5-4/10", &a, &b, &t), -1);  /* backwards */
    ck_assert_int_eq(sl__s3_content_range("bytes 5-10/10", &a, &b, &t), -1); /* past the end */
    ck_assert_int_eq(sl__s3_content_range("bytes */10", &a, &b, &t), -1);    /* a 416's */
    ck_assert_int_eq(sl__s3_content_range("bytes 1-2/10 ", &a, &b, &t), -1); /* trailing */
    ck_assert_int_eq(sl__s3_content_range("bytes -1-2/10", &a, &b, &t), -1); /* a sign */
    ck_assert_int_eq(sl__s3_content_range("items 1-2/10", &a, &b, &t), -1);  /* another unit */
    ck_assert_int_eq(sl__s3_content_range("bytes 1-18446744073709551616/*", &a, &b, &t), -1);
    ck_assert_int_eq(sl__s3_content_range("", &a, &b, &t), -1);
}
END_TEST

START_TEST(retry_classifies_failures_by_what_is_safe_to_repeat)
{
    /* a request that may be repeated: any transient failure */
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_OK, 503), 1); /* SlowDown */
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_OK, 500), 1);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_OK, 502), 1);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_OK, 504), 1);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_COULDNT_CONNECT, 0), 1);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_RECV_ERROR, 0), 1);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_SEND_ERROR, 0), 1);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_OPERATION_TIMEDOUT, 0), 1);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_GOT_NOTHING, 0), 1);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_SEND_FAIL_REWIND, 0), 1);
    /* answers, and our own failures, are final */
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_OK, 200), 0);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_OK, 404), 0);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_OK, 412), 0);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_OK, 403), 0);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_OK, 501), 0);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_READ_ERROR, 0), 0);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_WRITE_ERROR, 200), 0);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_IDEMPOTENT, CURLE_ABORTED_BY_CALLBACK, 0), 0);
    /* a conditional write: only what proves nothing was done */
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_UNSENT, CURLE_OK, 503), 1);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_UNSENT, CURLE_OK, 429), 1);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_UNSENT, CURLE_COULDNT_CONNECT, 0), 1);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_UNSENT, CURLE_RECV_ERROR, 0), 0);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_UNSENT, CURLE_OPERATION_TIMEDOUT, 0), 0);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_UNSENT, CURLE_OK, 500), 0);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_UNSENT, CURLE_OK, 504), 0);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_NEVER, CURLE_OK, 503), 0);
    ck_assert_int_eq(sl__s3_retryable(SL_S3_RETRY_NEVER, CURLE_COULDNT_CONNECT, 0), 0);
}
END_TEST

START_TEST(backoff_doubles_up_to_a_cap_with_jitter_in_its_upper_half)
{
    static const uint64_t base[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000};
    unsigned t;

    for (t = 1; t <= 10; t++) {
        uint64_t b = base[t - 1];
        ck_assert_uint_eq(sl__s3_backoff_ms(t, 0), b / 2);
        ck_assert_uint_eq(sl__s3_backoff_ms(t, (uint32_t)(b / 2)), b);
        ck_assert_uint_le(sl__s3_backoff_ms(t, 0xffffffffu), b);
        ck_assert_uint_ge(sl__s3_backoff_ms(t, 0xffffffffu), b / 2);
    }
    ck_assert_uint_le(sl__s3_backoff_ms(100, 12345), 5000);
}
END_TEST

START_TEST(multipart_etag_is_the_md5_of_the_parts_md5s)
{
    char etags[2][80] = {"\"5d41402abc4b2a76b9719d911017c592\"",  /* MD5("hello") */
                         "\"7d793037a0760186574b0282f2f435e7\""}; /* MD5("world") */
    char out[80];

    ck_assert_int_eq(sl__s3_multipart_etag(etags, 2, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "\"065947336a2f2a95ba8899f3675c3be6-2\"");
    snprintf(etags[1], sizeof(etags[1]), "\"not-an-md5\"");
    ck_assert_int_eq(sl__s3_multipart_etag(etags, 2, out, sizeof(out)), UV_EINVAL);
    ck_assert_int_eq(sl__s3_multipart_etag(etags, 1, out, 10), SL_ETOOLONG);
}
END_TEST

static int open_store(const sl_s3_conf_t *c, char *err, size_t n)
{
    uv_loop_t loop;
    sl_store_t *st = NULL;
    int r;

    uv_loop_init(&loop);
    r = sl_s3_store_new(&loop, c, &st, err, n);
    if (r == 0) {
        sl_store_close(st);
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    return r;
}

START_TEST(a_bad_configuration_is_refused_with_a_message)
{
    sl_s3_conf_t c = {.url = "s3://",
                      .endpoint = "http://127.0.0.1:1",
                      .access_key = "a",
                      .secret_key = "s",
                      .spool = "/tmp"};
    char err[256] = "";

    ck_assert(sl_s3_is_url("s3://b/p") && !sl_s3_is_url("/srv/data") && !sl_s3_is_url(NULL));
    ck_assert_int_eq(open_store(&c, err, sizeof(err)), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "s3://BUCKET"));
    unsetenv("AWS_ACCESS_KEY_ID");
    c.url = "s3://bucket/prefix";
    c.access_key = NULL;
    ck_assert_int_eq(open_store(&c, err, sizeof(err)), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "AWS_ACCESS_KEY_ID"));
    c.access_key = "a";
    c.spool = "/nonexistent-spool";
    ck_assert_int_eq(open_store(&c, err, sizeof(err)), SL_EBADREQUEST);
    ck_assert_ptr_nonnull(strstr(err, "--spool"));
}
END_TEST

START_TEST(an_endpoint_that_does_not_answer_is_unavailable)
{
    sl_s3_conf_t c = {.url = "s3://bucket",
                      .endpoint = "http://127.0.0.1:1",
                      .access_key = "a",
                      .secret_key = "s",
                      .spool = "/tmp"};
    char err[256] = "";

    ck_assert_int_eq(open_store(&c, err, sizeof(err)), SL_EUNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(err, "127.0.0.1:1"));
}
END_TEST

Suite *s3_http_suite(void)
{
    Suite *s = suite_create("s3_http");
    TCase *tc = tcase_create("pure");

    tcase_add_test(tc, encode_keeps_unreserved_and_slash_in_a_path);
    tcase_add_test(tc, encode_escapes_slash_and_bytes_in_a_query);
    tcase_add_test(tc, encode_refuses_what_does_not_fit);
    tcase_add_test(tc, xml_next_walks_tags_and_decodes_entities);
    tcase_add_test(tc, iso_time_reads_s3_dates);
    tcase_add_test(tc, range_asks_for_exactly_the_bytes_or_the_whole);
    tcase_add_test(tc, content_range_is_read_strictly);
    tcase_add_test(tc, retry_classifies_failures_by_what_is_safe_to_repeat);
    tcase_add_test(tc, backoff_doubles_up_to_a_cap_with_jitter_in_its_upper_half);
    tcase_add_test(tc, multipart_etag_is_the_md5_of_the_parts_md5s);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    tc = tcase_create("open");
    tcase_add_test(tc, a_bad_configuration_is_refused_with_a_message);
    tcase_add_test(tc, an_endpoint_that_does_not_answer_is_unavailable);
    tcase_set_timeout(tc, 20);
    suite_add_tcase(s, tc);
    return s;
}
