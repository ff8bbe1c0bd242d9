/* SPDX-License-Identifier: MIT
 *
 * The S3 store's pieces that need no service (storage/s3_http.c, s3.c's configuration): key and
 * query encoding as SigV4 wants it, the XML answers, ISO times, and a configuration that is
 * refused, or whose endpoint does not answer, at start-up with a message. What it does against a
 * real service is tests/integration/test_s3.py's and test_s3_tus.py's (a real Ceph RGW).
 */
#include <check.h>
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
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    tc = tcase_create("open");
    tcase_add_test(tc, a_bad_configuration_is_refused_with_a_message);
    tcase_add_test(tc, an_endpoint_that_does_not_answer_is_unavailable);
    tcase_set_timeout(tc, 20);
    suite_add_tcase(s, tc);
    return s;
}
