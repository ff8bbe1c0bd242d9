/* SPDX-License-Identifier: MIT
 *
 * The one error→HTTP status table (server/http/respond.c, sl__status_for) and the two escapes the
 * response bodies and Location headers use. Every code the server can meet is asserted against
 * the status DESIGN.md §6 gives it; any code not in the table is a 500.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "http/http.h"
#include "http/cond.h"
#include "proto/proto.h"
#include "proto/resumable.h"

/* The status for `err`, with the code's name in the failure message. */
#define assert_status(err, expected)                                                               \
    do {                                                                                           \
        unsigned got_ = sl__status_for(err);                                                       \
        ck_assert_msg(got_ == (expected), "%s maps to %u, expected %u", sl_err_name(err), got_,    \
                      (unsigned)(expected));                                                       \
    } while (0)

/* --- client errors ------------------------------------------------------------------------ */

START_TEST(bad_name_and_bad_request_are_400)
{
    assert_status(SL_EBADNAME, 400);
    assert_status(SL_EBADREQUEST, 400);
    assert_status(SL_EPREMATURE, 400);
}
END_TEST

START_TEST(missing_file_is_404)
{
    assert_status(SL_ENOTFOUND, 404);
}
END_TEST

START_TEST(wrong_method_is_405)
{
    assert_status(SL_EMETHOD, 405);
}
END_TEST

START_TEST(idle_upload_is_408)
{
    assert_status(SL_EIDLE, 408);
}
END_TEST

START_TEST(existing_name_is_412_and_file_directory_clashes_are_409)
{
    assert_status(SL_EEXISTS, 412); /* If-None-Match: *; POST ?name= turns it into 409 */
    assert_status(UV_EISDIR, 409);
    assert_status(UV_ENOTDIR, 409);
}
END_TEST

START_TEST(missing_length_is_411)
{
    assert_status(SL_ELENGTHREQUIRED, 411);
}
END_TEST

START_TEST(too_large_body_is_413)
{
    assert_status(SL_ETOOLARGE, 413);
    assert_status(UV_EFBIG, 413);
}
END_TEST

START_TEST(too_long_name_is_414)
{
    assert_status(SL_ETOOLONG, 414);
    assert_status(UV_ENAMETOOLONG, 414);
}
END_TEST

START_TEST(unsupported_encoding_is_415)
{
    assert_status(SL_EUNSUPPORTED, 415);
}
END_TEST

START_TEST(unsatisfiable_range_is_416)
{
    assert_status(SL_ERANGE, 416);
}
END_TEST

/* --- server errors ------------------------------------------------------------------------ */

START_TEST(not_implemented_is_501)
{
    assert_status(SL_ENOTIMPL, 501);
}
END_TEST

START_TEST(shutting_down_is_503)
{
    assert_status(SL_ESHUTDOWN, 503);
}
END_TEST

START_TEST(no_space_is_507)
{
    assert_status(UV_ENOSPC, 507);
    assert_status(-EDQUOT, 507);
}
END_TEST

START_TEST(unknown_codes_are_500)
{
    assert_status(UV_EIO, 500);
    assert_status(UV_EACCES, 500);
    assert_status(SL_EDESTROYED, 500);
    assert_status(SL_EMULTIPLECB, 500);
    assert_status(-4999, 500);
    assert_status(-123456, 500);
}
END_TEST

/* The failure metrics classify by the status the client was told (issue: -EDQUOT was 507 in the
 * answer and "other" in the metrics). */
START_TEST(failure_reasons_follow_the_status_table)
{
    static const int codes[] = {SL_EBADNAME,  SL_EBADREQUEST,     SL_EDECODE,      SL_EBOMB,
                                SL_ETOOLARGE, UV_EFBIG,           UV_ENOSPC,       -EDQUOT,
                                SL_ENOSPACE,  SL_ELENGTHREQUIRED, SL_EUNSUPPORTED, SL_EOFFSET,
                                UV_EIO,       UV_EACCES};
    size_t i;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        unsigned st = sl__status_for(codes[i]);
        int want = st == 413   ? SL_FAIL_TOOLARGE
                   : st == 507 ? SL_FAIL_NOSPACE
                   : st < 500  ? SL_FAIL_BADREQUEST
                               : SL_FAIL_OTHER;
        ck_assert_msg(sl__fail_reason(codes[i]) == want, "%s (%u)", sl_err_name(codes[i]), st);
    }
    ck_assert_int_eq(sl__fail_reason(-EDQUOT), SL_FAIL_NOSPACE);
    ck_assert_int_eq(sl__fail_reason(SL_ECHECKSUM), SL_FAIL_CHECKSUM);
    ck_assert_int_eq(sl__fail_reason(SL_EUPLOADCHECKSUM), SL_FAIL_CHECKSUM);
    ck_assert_int_eq(sl__fail_reason(SL_EPREMATURE), SL_FAIL_GONE);
    ck_assert_int_eq(sl__fail_reason(SL_EIDLE), SL_FAIL_IDLE);
    ck_assert_int_eq(sl__fail_reason(SL_ESHUTDOWN), SL_FAIL_SHUTDOWN);
}
END_TEST

/* --- escapes ------------------------------------------------------------------------------ */

START_TEST(json_escape_quotes_backslashes_and_control_bytes)
{
    char out[64];

    sl__json_escape("a\"b\\c", out, sizeof(out));
    ck_assert_str_eq(out, "a\\\"b\\\\c");
    sl__json_escape("tab\there\n", out, sizeof(out));
    ck_assert_str_eq(out, "tab\\u0009here\\u000a");
    sl__json_escape("caf\xc3\xa9", out, sizeof(out)); /* UTF-8 passes through */
    ck_assert_str_eq(out, "caf\xc3\xa9");
}
END_TEST

START_TEST(json_escape_never_overflows_or_splits_an_escape)
{
    char out[32];
    size_t cap;

    for (cap = 1; cap < 24; cap++) {
        memset(out, 'Z', sizeof(out));
        sl__json_escape("\x01\x02\x03\x04", out, cap);
        ck_assert_uint_lt(strlen(out), cap);
        ck_assert_uint_eq(strlen(out) % 6, 0); /* whole \u00XX escapes only */
        ck_assert_int_eq(out[cap], 'Z');
    }
}
END_TEST

START_TEST(url_escape_keeps_unreserved_bytes_and_slashes)
{
    char out[64];

    sl__url_escape("dir/file-1.2_~x", out, sizeof(out));
    ck_assert_str_eq(out, "dir/file-1.2_~x");
    sl__url_escape("a b?#%", out, sizeof(out));
    ck_assert_str_eq(out, "a%20b%3F%23%25");
    sl__url_escape("caf\xc3\xa9", out, sizeof(out));
    ck_assert_str_eq(out, "caf%C3%A9");
}
END_TEST

START_TEST(url_escape_never_overflows_or_splits_an_escape)
{
    char out[32];
    size_t cap;

    for (cap = 1; cap < 24; cap++) {
        memset(out, 'Z', sizeof(out));
        sl__url_escape("      ", out, cap);
        ck_assert_uint_lt(strlen(out), cap);
        ck_assert_uint_eq(strlen(out) % 3, 0); /* whole %20 escapes only */
        ck_assert_int_eq(out[cap], 'Z');
    }
}
END_TEST

/* --- the one checked path for every answer ------------------------------------------------ */

/* A request without a connection: enough for what sl__respond* and sl__queue touch when an
 * answer failed (nothing reaches libmicrohttpd's queue then). */
typedef struct {
    sl_server_t srv;
    sl_req_t r;
} fake_t;

static void fake_init(fake_t *f)
{
    memset(f, 0, sizeof(*f));
    f->srv.m = &f->srv.own_slot;
    f->srv.cfg.log_level = SL_LOG_ERROR;
    f->r.srv = &f->srv;
    f->r.url = "/files/x";
}

START_TEST(an_answer_libmicrohttpd_could_not_create_closes_and_counts)
{
    fake_t f;

    fake_init(&f);
    sl__respond(&f.r, 200, NULL); /* what MHD_create_response_* returns on failure */
    ck_assert(f.r.answered && f.r.resp_failed);
    sl__respond_header(&f.r, "ETag", "\"x\""); /* no dereference of the NULL response */
    ck_assert_int_eq(sl__queue(&f.r), MHD_NO); /* the connection is closed, never left hanging */
    ck_assert_uint_eq(f.srv.m->responses_failed, 1);
    ck_assert_int_eq(f.r.phase, PH_DONE);
    ck_assert_uint_eq(f.r.sent_status, 0);
    ck_assert_ptr_null(f.r.resp);
}
END_TEST

START_TEST(a_refused_header_fails_the_answer)
{
    fake_t f;

    fake_init(&f);
    sl__respond_json(&f.r, 200, "{}", 2);
    ck_assert_ptr_nonnull(f.r.resp);
    ck_assert(!f.r.resp_failed);
    sl__respond_header(&f.r, "X-Bad", "a\r\nInjected: 1"); /* libmicrohttpd refuses CR LF */
    ck_assert(f.r.resp_failed);
    ck_assert_int_eq(sl__queue(&f.r), MHD_NO);
    ck_assert_uint_eq(f.srv.m->responses_failed, 1);
    ck_assert_ptr_null(f.r.resp); /* destroyed, not leaked (ASan) */
}
END_TEST

START_TEST(a_new_answer_replaces_the_one_prepared)
{
    fake_t f;

    fake_init(&f);
    sl__respond(&f.r, 200, NULL);
    sl__respond_error(&f.r, SL_ENOTFOUND); /* a later outcome wins, and is whole again */
    ck_assert_ptr_nonnull(f.r.resp);
    ck_assert(!f.r.resp_failed);
    ck_assert_uint_eq(f.r.status, 404);
    MHD_destroy_response(f.r.resp);
}
END_TEST

Suite *respond_suite(void)
{
    Suite *s = suite_create("respond");
    TCase *tc;

    tc = tcase_create("status_table");
    tcase_add_test(tc, bad_name_and_bad_request_are_400);
    tcase_add_test(tc, missing_file_is_404);
    tcase_add_test(tc, wrong_method_is_405);
    tcase_add_test(tc, idle_upload_is_408);
    tcase_add_test(tc, existing_name_is_412_and_file_directory_clashes_are_409);
    tcase_add_test(tc, missing_length_is_411);
    tcase_add_test(tc, too_large_body_is_413);
    tcase_add_test(tc, too_long_name_is_414);
    tcase_add_test(tc, unsupported_encoding_is_415);
    tcase_add_test(tc, unsatisfiable_range_is_416);
    tcase_add_test(tc, not_implemented_is_501);
    tcase_add_test(tc, shutting_down_is_503);
    tcase_add_test(tc, no_space_is_507);
    tcase_add_test(tc, unknown_codes_are_500);
    tcase_add_test(tc, failure_reasons_follow_the_status_table);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("checked_answers");
    tcase_add_test(tc, an_answer_libmicrohttpd_could_not_create_closes_and_counts);
    tcase_add_test(tc, a_refused_header_fails_the_answer);
    tcase_add_test(tc, a_new_answer_replaces_the_one_prepared);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("escape");
    tcase_add_test(tc, json_escape_quotes_backslashes_and_control_bytes);
    tcase_add_test(tc, json_escape_never_overflows_or_splits_an_escape);
    tcase_add_test(tc, url_escape_keeps_unreserved_bytes_and_slashes);
    tcase_add_test(tc, url_escape_never_overflows_or_splits_an_escape);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
