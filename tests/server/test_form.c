/* SPDX-License-Identifier: MIT
 *
 * POST /files/ with multipart/form-data (server/proto/form.c on upload.c's chain), through a fake
 * connection: the real server attached to a fake libmicrohttpd (tests/support/fake_mhd.h) that
 * calls the access handler as 0.9.75 does, on a real libuv loop and a real store in a mkdtemp
 * root. The form is all-or-nothing: its files are staged and renamed into place in one step.
 *
 * Covered: two files and a text field (201 JSON, files on disk, no staging left), the same body
 * in 7-byte pieces, ?name= for the group (409 when it exists, before the body), --max-files and
 * --max-size per file (413, nothing committed), a body cut before its final boundary (400,
 * nothing committed), refusals before the body (no boundary, multipart/mixed).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/doubles.h"
#include "support/fake_mhd.h"
#include "support/files.h"
#include "support/json.h"

#define CT "multipart/form-data; boundary=XyZzy"

static const char FORM[] = "--XyZzy\r\n"
                           "Content-Disposition: form-data; name=\"note\"\r\n"
                           "\r\n"
                           "hi there\r\n"
                           "--XyZzy\r\n"
                           "Content-Disposition: form-data; name=\"f1\"; filename=\"a.txt\"\r\n"
                           "Content-Type: text/plain\r\n"
                           "\r\n"
                           "first file\r\n"
                           "--XyZzy\r\n"
                           "Content-Disposition: form-data; name=\"f2\"; filename=\"b.bin\"\r\n"
                           "Content-Type: application/octet-stream\r\n"
                           "\r\n"
                           "second\r\nfile\r\n"
                           "--XyZzy--\r\n";

static fc_conn_t *post_form(fc_host_t *h, const char *url, const char *body, size_t len,
                            unsigned pieces)
{
    fc_conn_t *c = fc_new(h, "POST", url);

    fc_header(c, "Content-Type", CT);
    fc_body(c, body, len, pieces);
    fc_run(c);
    return c;
}

/* The form's answer names its group: "<group>/a.txt". */
static void check_form(fc_host_t *h, fc_conn_t *c, const char *group)
{
    const char *body = fc_resp_body(c);
    char buf[64], want[128];

    ck_assert_msg(fc_status(c) == 201, "%u %s", fc_status(c), body);
    ck_assert_msg(json_valid(body), "%s", body);
    ck_assert(json_get(body, "fields", buf, sizeof(buf)));
    ck_assert_str_eq(buf, "{\"note\":\"hi there\"}");
    snprintf(want, sizeof(want), "\"field\":\"f1\",\"name\":\"%s/a.txt\",\"size\":10", group);
    ck_assert_msg(strstr(body, want) != NULL, "no %s in %s", want, body);
    snprintf(want, sizeof(want), "\"field\":\"f2\",\"name\":\"%s/b.bin\",\"size\":12", group);
    ck_assert_msg(strstr(body, want) != NULL, "no %s in %s", want, body);
    snprintf(want, sizeof(want), "%s/a.txt", group);
    ck_assert_int_eq(slurp(h->root, want, buf, sizeof(buf)), 10);
    ck_assert_str_eq(buf, "first file");
    snprintf(want, sizeof(want), "%s/b.bin", group);
    ck_assert_int_eq(slurp(h->root, want, buf, sizeof(buf)), 12);
    ck_assert_str_eq(buf, "second\r\nfile");
    ck_assert_int_eq(fc_entries(h, ".sluice/tmp"), 0);
}

/* The group of the first file: its name up to the '/'. */
static void group_of(const fc_conn_t *c, char *out, size_t cap)
{
    const char *p = strstr(fc_resp_body(c), "\"name\":\"");

    ck_assert_ptr_nonnull(p);
    p += 8;
    snprintf(out, cap, "%.*s", (int)strcspn(p, "/"), p);
}

START_TEST(two_files_and_a_field)
{
    fc_host_t h;
    fc_conn_t *c;
    char group[64];

    fc_host_up(&h);
    c = post_form(&h, "/files/", FORM, sizeof(FORM) - 1, 1);
    group_of(c, group, sizeof(group));
    check_form(&h, c, group);
    ck_assert_int_eq(fc_entries(&h, ""), 2); /* .sluice and the group */
    ck_assert_int_eq(fc_entries(&h, group), 2);
    fc_host_stop(&h);
}
END_TEST

START_TEST(form_in_small_pieces)
{
    fc_host_t h;
    fc_conn_t *c;
    char group[64];

    fc_host_up(&h);
    c = post_form(&h, "/files/", FORM, sizeof(FORM) - 1, (sizeof(FORM) - 1) / 7);
    group_of(c, group, sizeof(group));
    check_form(&h, c, group);
    fc_host_stop(&h);
}
END_TEST

START_TEST(named_group_and_its_conflict)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    c = post_form(&h, "/files/?name=batch", FORM, sizeof(FORM) - 1, 3);
    check_form(&h, c, "batch");
    c = post_form(&h, "/files/?name=batch", FORM, sizeof(FORM) - 1, 3);
    fc_assert_error(c, 409, "SL_EEXISTS");
    ck_assert_int_eq(fc_early(c), 1);
    ck_assert_uint_eq(fc_delivered(c), 0);
    fc_host_stop(&h);
}
END_TEST

START_TEST(too_many_files_is_413_and_commits_nothing)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_init(&h);
    h.cfg.max_files = 1;
    fc_host_start(&h);
    c = post_form(&h, "/files/?name=batch", FORM, sizeof(FORM) - 1, 4);
    fc_assert_error(c, 413, "SL_ETOOLARGE");
    ck_assert_int_eq(fc_early(c), 0); /* found mid-body: answered from the final call */
    ck_assert_int_eq(fc_entries(&h, ""), 1);
    ck_assert_int_eq(fc_entries(&h, ".sluice/tmp"), 0);
    fc_host_stop(&h);
}
END_TEST

START_TEST(file_over_max_size_is_413)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_init(&h);
    h.cfg.max_size = 11; /* "second\r\nfile" is 12 */
    fc_host_start(&h);
    c = post_form(&h, "/files/", FORM, sizeof(FORM) - 1, 2);
    fc_assert_error(c, 413, "SL_ETOOLARGE");
    ck_assert_int_eq(fc_entries(&h, ""), 1);
    ck_assert_int_eq(fc_entries(&h, ".sluice/tmp"), 0);
    fc_host_stop(&h);
}
END_TEST

START_TEST(cut_before_the_final_boundary_is_400)
{
    fc_host_t h;
    fc_conn_t *c;
    size_t len = strstr(FORM, "--XyZzy--") - FORM;

    fc_host_up(&h);
    c = post_form(&h, "/files/", FORM, len, 2);
    ck_assert_uint_eq(fc_status(c), 400);
    ck_assert_msg(json_valid(fc_resp_body(c)), "%s", fc_resp_body(c));
    fc_assert_error(c, 400, "SL_EBADREQUEST");
    ck_assert_int_eq(fc_entries(&h, ""), 1);
    ck_assert_int_eq(fc_entries(&h, ".sluice/tmp"), 0);
    fc_host_stop(&h);
}
END_TEST

START_TEST(refused_before_the_body)
{
    fc_host_t h;
    fc_conn_t *c;

    fc_host_up(&h);
    c = fc_new(&h, "POST", "/files/");
    fc_header(c, "Content-Type", "multipart/form-data");
    fc_body(c, FORM, sizeof(FORM) - 1, 1);
    fc_run(c);
    fc_assert_error(c, 400, "SL_EBADREQUEST");
    ck_assert_int_eq(fc_early(c), 1);
    c = fc_new(&h, "POST", "/files/");
    fc_header(c, "Content-Type", "multipart/mixed; boundary=XyZzy");
    fc_body(c, FORM, sizeof(FORM) - 1, 1);
    fc_run(c);
    fc_assert_error(c, 415, "SL_EUNSUPPORTED");
    ck_assert_int_eq(fc_early(c), 1);
    ck_assert_int_eq(fc_entries(&h, ""), 1);
    fc_host_stop(&h);
}
END_TEST

Suite *form_suite(void)
{
    Suite *s = suite_create("form");
    TCase *tc = add_tcase(s, "form");

    tcase_add_test(tc, two_files_and_a_field);
    tcase_add_test(tc, form_in_small_pieces);
    tcase_add_test(tc, named_group_and_its_conflict);
    tcase_add_test(tc, too_many_files_is_413_and_commits_nothing);
    tcase_add_test(tc, file_over_max_size_is_413);
    tcase_add_test(tc, cut_before_the_final_boundary_is_400);
    tcase_add_test(tc, refused_before_the_body);
    return s;
}
