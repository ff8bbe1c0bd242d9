/* SPDX-License-Identifier: MIT
 *
 * Tests of streams/multipart.h: the boundary parameter, part headers, limits and malformed bodies.
 *
 * The recorder and the fixtures are in tests/support/mp_rec.h; the chunking and pause tests are in
 * test_multipart_chunks.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "streams/error.h"
#include "streams/multipart.h"
#include "support/doubles.h"
#include "support/mp_rec.h"

Suite *multipart_suite(void);

START_TEST(boundary_is_read_from_a_token_value)
{
    ck_assert_str_eq(mp_boundary_or_error("multipart/form-data; boundary=AaB03x"), "AaB03x");
    ck_assert_str_eq(mp_boundary_or_error(mp_curl_one.content_type),
                     "------------------------19780d746f4ac0e3");
    ck_assert_str_eq(mp_boundary_or_error(mp_chromium.content_type),
                     "----WebKitFormBoundaryePkpFF7tjBAqx29L");
    ck_assert_str_eq(mp_boundary_or_error("multipart/form-data;boundary=a;"), "a");
}
END_TEST

START_TEST(boundary_is_read_from_a_quoted_value_with_escapes)
{
    ck_assert_str_eq(mp_boundary_or_error("multipart/form-data; boundary=\"a b:c?d\""), "a b:c?d");
    ck_assert_str_eq(mp_boundary_or_error("multipart/form-data; boundary=\"a\\bc\""), "abc");
    ck_assert_str_eq(mp_boundary_or_error("multipart/form-data; boundary=\"a\\\"b\""), "<error>");
    ck_assert_str_eq(mp_boundary_or_error("multipart/form-data; boundary=\"abc"), "<error>");
}
END_TEST

START_TEST(boundary_may_come_after_other_parameters)
{
    ck_assert_str_eq(mp_boundary_or_error("multipart/form-data; charset=utf-8; boundary=xyz"),
                     "xyz");
    ck_assert_str_eq(mp_boundary_or_error("multipart/form-data; a=\"x;boundary=no\"; boundary=yes"),
                     "yes");
}
END_TEST

START_TEST(boundary_parameter_and_type_are_case_insensitive)
{
    ck_assert_str_eq(mp_boundary_or_error("multipart/form-data; Boundary=XyZ"), "XyZ");
    ck_assert_str_eq(mp_boundary_or_error("Multipart/Form-Data; BOUNDARY=XyZ"), "XyZ");
}
END_TEST

START_TEST(boundary_is_not_followed_by_the_next_parameter)
{
    /* MHD_PostProcessor reads this boundary as "XyZ; charset=utf-8". */
    ck_assert_str_eq(mp_boundary_or_error("multipart/form-data; boundary=XyZ; charset=utf-8"),
                     "XyZ");
    ck_assert_str_eq(mp_boundary_or_error("multipart/form-data; boundary=\"XyZ\" ;charset=utf-8"),
                     "XyZ");
}
END_TEST

START_TEST(boundary_of_70_chars_is_accepted_and_71_rejected)
{
    char ct[200], want[72];
    char out[SL_MP_BOUNDARY_MAX + 1];

    memset(want, 'b', 70);
    want[70] = '\0';
    snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", want);
    ck_assert_str_eq(mp_boundary_or_error(ct), want);
    ck_assert_int_eq(sl_multipart_boundary(ct, out, 70), SL_EBADREQUEST); /* no room for NUL */
    snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%sb", want);
    ck_assert_int_eq(sl_multipart_boundary(ct, out, sizeof(out)), SL_EBADREQUEST);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(boundary_missing_empty_invalid_or_repeated_is_rejected)
{
    static const char *const bad[] = {
        "multipart/form-data",
        "multipart/form-data;",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"ends in space \"",
        "multipart/form-data; boundary=a#b",
        "multipart/form-data; boundary=a; boundary=b",
        "multipart/form-data; boundary",
        "multipart/form-data boundary=a",
        "",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(strcmp(mp_boundary_or_error(bad[i]), "<error>") == 0, "accepted: %s", bad[i]);
    ck_assert_int_eq(sl_multipart_boundary(NULL, NULL, 0), SL_EBADREQUEST);
}
END_TEST

START_TEST(boundary_of_another_type_is_rejected)
{
    ck_assert_str_eq(mp_boundary_or_error("multipart/mixed; boundary=a"), "<error>");
    ck_assert_str_eq(mp_boundary_or_error("text/plain; boundary=a"), "<error>");
    ck_assert_str_eq(mp_boundary_or_error("multipart/form-dataX; boundary=a"), "<error>");
    ck_assert_str_eq(mp_boundary_or_error("application/x-www-form-urlencoded"), "<error>");
}
END_TEST

START_TEST(curl_posts_give_their_fields_and_files)
{
    rec_t r;

    mp_parse_whole(&mp_curl_one, &r, 0);
    mp_assert_part(&r, 0, "a", NULL, "", DATA("1"));
    mp_assert_part(&r, 1, "f", "notes.txt", "text/plain",
                   DATA("hello, sluice\nsecond line\r\nwith a CRLF\n"));
    mp_rec_free(&r);

    mp_parse_whole(&mp_curl_three, &r, 0);
    mp_assert_part(&r, 0, "a", NULL, "", DATA("1"));
    mp_assert_part(&r, 1, "title", NULL, "", DATA("two words"));
    mp_assert_part(&r, 2, "f1", "notes.txt", "text/plain",
                   DATA("hello, sluice\nsecond line\r\nwith a CRLF\n"));
    mp_assert_part(&r, 3, "f2", "tiny.png", "image/png",
                   DATA("\211PNG\r\n\032\n\000\000\000\rIHDR--\r\n--x"));
    mp_assert_part(&r, 4, "f3", "data.json", "application/json", DATA("{\"k\": \"v\"}\n"));
    mp_rec_free(&r);
}
END_TEST

START_TEST(chromium_post_gives_raw_utf8_names_and_an_empty_file)
{
    rec_t r;

    mp_parse_whole(&mp_chromium, &r, 0);
    mp_assert_part(&r, 0, "comment", NULL, "", DATA("h\303\251llo\r\nsecond line"));
    mp_assert_part(&r, 1, "upload", "r\303\251sum\303\251 %22v2%22.txt", "text/plain",
                   DATA("------WebKitFormBoundary is not a delimiter without CRLF before it\r\n"));
    mp_assert_part(&r, 2, "empty", "", "application/octet-stream", DATA(""));
    mp_rec_free(&r);
}
END_TEST

START_TEST(preamble_padding_header_case_escapes_and_epilogue_are_handled)
{
    rec_t r;

    mp_parse_whole(&mp_tricky, &r, 0);
    mp_assert_part(&r, 0, "field1", "na\303\257ve file.txt", "text/plain ; charset=utf-8",
                   DATA("line1\r\n--AaB03\r\n-\r\r\n--AaB0\r\n--\r\n--AaB03 x\r"));
    mp_assert_part(&r, 1, "esc\"aped\\", NULL, "", DATA(""));
    mp_assert_part(&r, 2, "token_value", "plain.bin", "", DATA("\r\n\r\r\n"));
    mp_rec_free(&r);
}
END_TEST

/* One part with the given Content-Disposition value; returns the mp_parse result. */
static int one_part(rec_t *r, const char *disposition)
{
    char msg[4096];
    int n = snprintf(msg, sizeof(msg), "--AaB03x\r\nContent-Disposition: %s\r\n\r\nv\r\n--AaB03x--",
                     disposition);

    memset(r, 0, sizeof(*r));
    return mp_parse(r, "AaB03x", msg, (size_t)n, NULL, 0);
}

START_TEST(filename_star_wins_over_filename_in_either_order)
{
    rec_t r;

    ck_assert_int_eq(one_part(&r, "form-data; name=f; filename=\"a.txt\"; "
                                  "filename*=utf-8''%e2%82%ac%20rates.txt"),
                     0);
    ck_assert_str_eq(r.p[0].h.filename, "\342\202\254 rates.txt");
    mp_rec_free(&r);
    ck_assert_int_eq(one_part(&r, "form-data; filename*=UTF-8'en'b.txt; filename=a.txt; name=f"),
                     0);
    ck_assert_str_eq(r.p[0].h.filename, "b.txt");
    mp_rec_free(&r);
    ck_assert_int_eq(one_part(&r, "form-data; name=f; filename*=ISO-8859-1''caf%E9"), 0);
    ck_assert_str_eq(r.p[0].h.filename, "caf\303\251");
    mp_rec_free(&r);
    /* A charset we cannot decode is ignored, as RFC 8187 allows. */
    ck_assert_int_eq(one_part(&r, "form-data; name=f; filename=a.txt; filename*=koi8-r''%E9"), 0);
    ck_assert_str_eq(r.p[0].h.filename, "a.txt");
    ck_assert_int_eq(r.p[0].h.has_filename, 1);
    mp_rec_free(&r);
}
END_TEST

START_TEST(parameters_come_in_any_order_and_case_with_spaces)
{
    rec_t r;

    ck_assert_int_eq(one_part(&r, "Form-Data ;filename = \"x;y.txt\" ;  NAME=\"n\" ; size=3"), 0);
    ck_assert_str_eq(r.p[0].h.name, "n");
    ck_assert_str_eq(r.p[0].h.filename, "x;y.txt");
    ck_assert_str_eq(r.p[0].h.content_type, "");
    ck_assert_uint_eq(r.p[0].len, 1);
    mp_rec_free(&r);
    /* Browsers send a Windows path unescaped: a backslash escapes only a quote or a backslash. */
    ck_assert_int_eq(
        one_part(&r, "form-data; name=\"a\\\\b\"; filename=\"C:\\dir\\f \\\"1\\\".txt\""), 0);
    ck_assert_str_eq(r.p[0].h.name, "a\\b");
    ck_assert_str_eq(r.p[0].h.filename, "C:\\dir\\f \"1\".txt");
    mp_rec_free(&r);
    ck_assert_int_eq(one_part(&r, "form-data; name=\"\""), 0); /* present, if empty */
    ck_assert_str_eq(r.p[0].h.name, "");
    ck_assert_int_eq(r.p[0].h.has_filename, 0);
    mp_rec_free(&r);
}
END_TEST

START_TEST(a_body_may_start_with_crlf_or_the_delimiter_and_hold_zero_parts)
{
    static const char with_crlf[] = "\r\n--AaB03x\r\nContent-Disposition: form-data; name=a\r\n"
                                    "\r\nx\r\n--AaB03x--";
    rec_t r = {0};

    ck_assert_int_eq(mp_parse(&r, "AaB03x", DATA(with_crlf), NULL, 0), 0);
    ck_assert_uint_eq(r.n, 1);
    mp_assert_part(&r, 0, "a", NULL, "", DATA("x"));
    mp_rec_free(&r);
    ck_assert_int_eq(mp_parse(&r, "AaB03x", DATA("--AaB03x--\r\n"), NULL, 0), 0);
    ck_assert_uint_eq(r.n, 0);
    ck_assert(r.final);
    mp_rec_free(&r);
}
END_TEST

typedef struct bad_s {
    const char *what;
    const char *body;
    size_t len;
} bad_t;

#define PART(cd) "--AaB03x\r\nContent-Disposition: " cd "\r\n\r\nv\r\n"
#define END "--AaB03x--\r\n"
#define BAD(what, body)                                                                            \
    {                                                                                              \
        what, body, sizeof(body) - 1                                                               \
    }

static const bad_t bad_bodies[] = {
    BAD("wrong boundary", "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--XyZ--"),
    BAD("empty body", ""),
    BAD("truncated in a part", "--AaB03x\r\nContent-Disposition: form-data; name=a\r\n\r\nval"),
    BAD("truncated in headers", "--AaB03x\r\nContent-Disposition: form-da"),
    BAD("no final boundary", PART("form-data; name=a") "--AaB03x\r\n"),
    BAD("final boundary cut", PART("form-data; name=a") "--AaB03x-"),
    BAD("bare LF after a boundary",
        "--AaB03x\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n" END),
    BAD("bare LF after padding", "--AaB03x  \n"),
    BAD("bare LF in a header", "--AaB03x\r\nContent-Disposition: form-data; name=a\n\r\nv\r\n" END),
    BAD("bare LF ending headers",
        "--AaB03x\r\nContent-Disposition: form-data; name=a\r\n\nv\r\n" END),
    BAD("LF-only message", "--AaB03x\nContent-Disposition: form-data; name=a\n\nv\n--AaB03x--\n"),
    BAD("text after a boundary", "--AaB03xyz\r\n"),
    BAD("one dash after a boundary", PART("form-data; name=a") "--AaB03x-x"),
    BAD("no Content-Disposition", "--AaB03x\r\nContent-Type: text/plain\r\n\r\nv\r\n" END),
    BAD("not form-data", PART("attachment; name=a") END),
    BAD("no name", PART("form-data; filename=a.txt") END),
    BAD("empty disposition", PART("") END),
    BAD("name without a value", PART("form-data; name") END),
    BAD("name with an empty token", PART("form-data; name=") END),
    BAD("open quoted string", PART("form-data; name=\"a") END),
    BAD("text after a quoted string", PART("form-data; name=\"a\"b") END),
    BAD("repeated name", PART("form-data; name=a; name=b") END),
    BAD("repeated header",
        "--AaB03x\r\nContent-Disposition: form-data; name=a\r\nContent-Disposition: form-data; "
        "name=b\r\n\r\nv\r\n" END),
    BAD("folded header", "--AaB03x\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nv\r\n" END),
    BAD("header without a colon", "--AaB03x\r\nContent-Disposition form-data\r\n\r\n" END),
    BAD("space before the colon",
        "--AaB03x\r\nContent-Disposition : form-data; name=a\r\n\r\n" END),
    BAD("control byte in a value", PART("form-data; name=\"a\001\"") END),
    BAD("%00 in filename*", PART("form-data; name=a; filename*=UTF-8''a%00b") END),
    BAD("bad escape in filename*", PART("form-data; name=a; filename*=UTF-8''a%zz") END),
    BAD("filename* without quotes", PART("form-data; name=a; filename*=UTF-8") END),
    BAD("NUL in a header",
        "--AaB03x\r\nContent-Disposition: form-data; name=a\r\nX: \0\r\n\r\n" END),
};

START_TEST(malformed_bodies_fail_with_sl_ebadrequest_at_any_split)
{
    size_t i, len, cut;
    rec_t r;

    for (i = 0; i < sizeof(bad_bodies) / sizeof(bad_bodies[0]); i++) {
        const bad_t *t = &bad_bodies[i];

        len = t->len;
        for (cut = 0; cut <= len; cut++) {
            memset(&r, 0, sizeof(r));
            ck_assert_msg(mp_parse(&r, "AaB03x", t->body, len, &cut, 1) == SL_EBADREQUEST,
                          "%s (cut %zu)", t->what, cut);
            ck_assert_int_eq(r.violations, 0);
            mp_rec_free(&r);
        }
    }
}
END_TEST

START_TEST(an_invalid_boundary_fails_every_call)
{
    static const char *const bad[] = {"", "a\r\nb", "ends in space ", "has#hash"};
    char b71[72];
    sl_multipart_t mp;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_multipart_init(&mp, bad[i], NULL, NULL, NULL);
        ck_assert_int_eq(sl_multipart_execute(&mp, "--x", 3), SL_EBADREQUEST);
        ck_assert_int_eq(sl_multipart_finish(&mp), SL_EBADREQUEST);
    }
    memset(b71, 'b', 71);
    b71[71] = '\0';
    sl_multipart_init(&mp, b71, NULL, NULL, NULL);
    ck_assert_int_eq(sl_multipart_execute(&mp, "--x", 3), SL_EBADREQUEST);
    sl_multipart_init(&mp, b71 + 1, NULL, NULL, NULL); /* 70 is fine */
    ck_assert_int_eq(sl_multipart_execute(&mp, "--x", 3), 3);
}
END_TEST

START_TEST(headers_over_max_header_bytes_fail_with_sl_etoolarge)
{
    static const char msg[] = PART("form-data; name=a") END;
    /* The header block: "Content-Disposition: form-data; name=a\r\n\r\n". */
    size_t hb = strlen("Content-Disposition: form-data; name=a\r\n\r\n"), cut;
    sl_mp_limits_t lim = {hb, 0};
    rec_t r;

    for (cut = 0; cut <= sizeof(msg) - 1; cut++) {
        memset(&r, 0, sizeof(r));
        lim.max_header_bytes = hb;
        ck_assert_int_eq(mp_parse_limits(&r, "AaB03x", &lim, DATA(msg), &cut, 1), 0);
        mp_rec_free(&r);
        lim.max_header_bytes = hb - 1;
        ck_assert_int_eq(mp_parse_limits(&r, "AaB03x", &lim, DATA(msg), &cut, 1), SL_ETOOLARGE);
        ck_assert_uint_eq(r.n, 0);
        mp_rec_free(&r);
    }
}
END_TEST

/* A part whose header block (through the blank line) is exactly `hb` bytes, into msg[]. */
static size_t part_with_header_bytes(char *msg, size_t hb)
{
    static const char head[] = "Content-Disposition: form-data; name=a\r\nX-Pad: ";
    size_t len = 0;

    memcpy(msg, "--AaB03x\r\n", 10);
    memcpy(msg + 10, head, sizeof(head) - 1);
    len = 10 + sizeof(head) - 1;
    memset(msg + len, 'p', hb - (sizeof(head) - 1) - 4);
    len += hb - (sizeof(head) - 1) - 4;
    memcpy(msg + len, "\r\n\r\nv\r\n" END, 7 + sizeof(END) - 1);
    return len + 7 + sizeof(END) - 1;
}

START_TEST(the_default_header_limit_is_8_kib)
{
    char *msg = malloc(16384);
    rec_t r = {0};

    ck_assert_int_eq(mp_parse(&r, "AaB03x", msg, part_with_header_bytes(msg, 8192), NULL, 0), 0);
    ck_assert_uint_eq(r.n, 1);
    mp_rec_free(&r);
    ck_assert_int_eq(mp_parse(&r, "AaB03x", msg, part_with_header_bytes(msg, 8193), NULL, 0),
                     SL_ETOOLARGE);
    ck_assert_uint_eq(r.n, 0);
    mp_rec_free(&r);
    free(msg);
}
END_TEST

START_TEST(values_longer_than_their_field_fail_with_sl_etoolarge)
{
    char cd[2100];
    size_t n;
    rec_t r;

    memset(cd, 0, sizeof(cd));
    n = (size_t)snprintf(cd, sizeof(cd), "form-data; name=");
    memset(cd + n, 'n', 255);
    ck_assert_int_eq(one_part(&r, cd), 0); /* 255 bytes fit name[256] */
    ck_assert_uint_eq(strlen(r.p[0].h.name), 255);
    mp_rec_free(&r);
    cd[n + 255] = 'n';
    ck_assert_int_eq(one_part(&r, cd), SL_ETOOLARGE);
    mp_rec_free(&r);
    n = (size_t)snprintf(cd, sizeof(cd), "form-data; name=a; filename=");
    memset(cd + n, 'f', 1024);
    ck_assert_int_eq(one_part(&r, cd), SL_ETOOLARGE);
    mp_rec_free(&r);
}
END_TEST

START_TEST(more_than_max_parts_fails_with_sl_etoolarge)
{
    static const char msg[] =
        PART("form-data; name=a") PART("form-data; name=b") PART("form-data; name=c") END;
    sl_mp_limits_t lim = {0, 3};
    size_t cut;
    rec_t r;

    for (cut = 0; cut <= sizeof(msg) - 1; cut++) {
        memset(&r, 0, sizeof(r));
        lim.max_parts = 3;
        ck_assert_int_eq(mp_parse_limits(&r, "AaB03x", &lim, DATA(msg), &cut, 1), 0);
        mp_rec_free(&r);
        lim.max_parts = 2;
        ck_assert_int_eq(mp_parse_limits(&r, "AaB03x", &lim, DATA(msg), &cut, 1), SL_ETOOLARGE);
        ck_assert_uint_eq(r.n, 2);
        mp_rec_free(&r);
    }
}
END_TEST

START_TEST(the_default_part_limit_is_1000)
{
    static const char part[] = PART("form-data; name=a");
    size_t i, len = 0;
    char *msg = malloc(1001 * (sizeof(part) - 1) + sizeof(END));
    rec_t r = {0};

    for (i = 0; i < 1001; i++, len += sizeof(part) - 1)
        memcpy(msg + len, part, sizeof(part) - 1);
    memcpy(msg + len, END, sizeof(END) - 1);
    ck_assert_int_eq(mp_parse(&r, "AaB03x", msg, len, NULL, 0), SL_ETOOLARGE);
    ck_assert_uint_eq(r.n, 1000);
    mp_rec_free(&r);
    memset(&r, 0, sizeof(r));
    len += sizeof(END) - 1 - (sizeof(part) - 1); /* the same without its first part */
    ck_assert_int_eq(mp_parse(&r, "AaB03x", msg + sizeof(part) - 1, len, NULL, 0), 0);
    ck_assert_uint_eq(r.n, 1000);
    mp_rec_free(&r);
    free(msg);
}
END_TEST

Suite *multipart_suite(void)
{
    Suite *s = suite_create("multipart");
    TCase *tc;

    tc = add_tcase(s, "boundary");
    tcase_add_test(tc, boundary_is_read_from_a_token_value);
    tcase_add_test(tc, boundary_is_read_from_a_quoted_value_with_escapes);
    tcase_add_test(tc, boundary_may_come_after_other_parameters);
    tcase_add_test(tc, boundary_parameter_and_type_are_case_insensitive);
    tcase_add_test(tc, boundary_is_not_followed_by_the_next_parameter);
    tcase_add_test(tc, boundary_of_70_chars_is_accepted_and_71_rejected);
    tcase_add_test(tc, boundary_missing_empty_invalid_or_repeated_is_rejected);
    tcase_add_test(tc, boundary_of_another_type_is_rejected);

    tc = add_tcase(s, "parts");
    tcase_add_test(tc, curl_posts_give_their_fields_and_files);
    tcase_add_test(tc, chromium_post_gives_raw_utf8_names_and_an_empty_file);
    tcase_add_test(tc, preamble_padding_header_case_escapes_and_epilogue_are_handled);
    tcase_add_test(tc, filename_star_wins_over_filename_in_either_order);
    tcase_add_test(tc, parameters_come_in_any_order_and_case_with_spaces);
    tcase_add_test(tc, a_body_may_start_with_crlf_or_the_delimiter_and_hold_zero_parts);

    tc = add_tcase(s, "errors");
    tcase_add_test(tc, malformed_bodies_fail_with_sl_ebadrequest_at_any_split);
    tcase_add_test(tc, an_invalid_boundary_fails_every_call);
    tcase_add_test(tc, headers_over_max_header_bytes_fail_with_sl_etoolarge);
    tcase_add_test(tc, the_default_header_limit_is_8_kib);
    tcase_add_test(tc, values_longer_than_their_field_fail_with_sl_etoolarge);
    tcase_add_test(tc, more_than_max_parts_fails_with_sl_etoolarge);
    tcase_add_test(tc, the_default_part_limit_is_1000);
    return s;
}
