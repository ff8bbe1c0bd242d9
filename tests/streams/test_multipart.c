/* SPDX-License-Identifier: MIT
 *
 * Tests of streams/multipart.h: the boundary parameter, part headers, delimiters across chunk
 * edges, pauses, limits and malformed bodies.
 *
 * A recorder collects what the callbacks saw (each part's headers and bytes, in order) and counts
 * callbacks that break the order begin (data) end ... final. Split tests parse one message whole,
 * then in other chunkings, and require identical records. The curl fixtures are bytes captured
 * from curl 7.88.1 `-F` posts; the Chromium one follows Chromium's format (raw UTF-8 filename,
 * '"' sent as %22, an empty file input as filename="" with application/octet-stream).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "streams/error.h"
#include "streams/multipart.h"

Suite *multipart_suite(void);

#define MAX_GOT 16
enum { P_BEGIN = 1, P_DATA = 2, P_END = 4, P_FINAL = 8, P_ALL = 15 };

typedef struct got_part_s {
    sl_mp_part_t h;
    char *data;
    size_t len;
    int ended;
} got_part_t;

typedef struct rec_s {
    got_part_t p[MAX_GOT];
    size_t n;        /* parts begun */
    int open, final; /* inside a part; on_end seen */
    int violations;  /* callbacks out of order, or data of length 0 */
    int pause;       /* P_* mask: these callbacks return SL_MP_PAUSE */
    int fail_begin;  /* nonzero: on_part_begin returns it */
    int calls, last_paused;
} rec_t;

static int answer(rec_t *r, int which)
{
    r->calls++;
    r->last_paused = (r->pause & which) != 0;
    return r->last_paused ? SL_MP_PAUSE : 0;
}

static int on_begin(void *arg, const sl_mp_part_t *part)
{
    rec_t *r = arg;

    r->violations += r->open || r->final;
    r->open = 1;
    if (r->n < MAX_GOT)
        r->p[r->n].h = *part;
    r->n++;
    if (r->fail_begin != 0)
        return r->fail_begin;
    return answer(r, P_BEGIN);
}

static int on_data(void *arg, const char *data, size_t len)
{
    rec_t *r = arg;
    got_part_t *g = r->n > 0 && r->n <= MAX_GOT ? &r->p[r->n - 1] : NULL;

    r->violations += !r->open || len == 0;
    if (g != NULL) {
        g->data = realloc(g->data, g->len + len + 1);
        memcpy(g->data + g->len, data, len);
        g->len += len;
    }
    return answer(r, P_DATA);
}

static int on_end(void *arg)
{
    rec_t *r = arg;

    r->violations += !r->open;
    r->open = 0;
    if (r->n > 0 && r->n <= MAX_GOT)
        r->p[r->n - 1].ended = 1;
    return answer(r, P_END);
}

static int on_final(void *arg)
{
    rec_t *r = arg;

    r->violations += r->open || r->final;
    r->final = 1;
    return answer(r, P_FINAL);
}

static const sl_mp_callbacks_t cbs = {on_begin, on_data, on_end, on_final};

static void rec_free(rec_t *r)
{
    size_t i;

    for (i = 0; i < MAX_GOT; i++)
        free(r->p[i].data);
    memset(r, 0, sizeof(*r));
}

/* Parse msg[0..len) in chunks ending at cuts[0..ncuts) (increasing) and at len, into `r` (whose
 * pause and fail_begin settings are kept). Returns finish's code, or the first error, which must
 * be sticky. */
static int parse_limits(rec_t *r, const char *boundary, const sl_mp_limits_t *lim, const char *msg,
                        size_t len, const size_t *cuts, size_t ncuts)
{
    sl_multipart_t mp;
    size_t i, from, to;
    ssize_t n;
    int calls;

    sl_multipart_init(&mp, boundary, lim, &cbs, r);
    for (i = 0; i <= ncuts; i++) {
        from = i > 0 ? cuts[i - 1] : 0;
        to = i < ncuts ? cuts[i] : len;
        while (from < to) {
            calls = r->calls;
            n = sl_multipart_execute(&mp, msg + from, to - from);
            if (n < 0) {
                ck_assert_int_eq(sl_multipart_execute(&mp, msg, len), n);
                ck_assert_int_eq(sl_multipart_finish(&mp), n);
                return (int)n;
            }
            ck_assert_uint_le(mp.matched, strlen(boundary) + 4);
            /* A short count only after a pause, right after the pausing callback. */
            if ((size_t)n < to - from)
                ck_assert(r->last_paused && r->calls > calls);
            if (r->pause == P_ALL)
                ck_assert_int_le(r->calls - calls, 1);
            ck_assert(n > 0 || r->calls > calls); /* progress */
            from += (size_t)n;
        }
    }
    return sl_multipart_finish(&mp);
}

static int parse(rec_t *r, const char *boundary, const char *msg, size_t len, const size_t *cuts,
                 size_t ncuts)
{
    return parse_limits(r, boundary, NULL, msg, len, cuts, ncuts);
}

static void assert_same(const rec_t *a, const rec_t *b, const char *how, size_t at)
{
    size_t i;

    ck_assert_msg(a->n == b->n && a->final == b->final, "%s %zu: parts or final differ", how, at);
    ck_assert_int_eq(b->violations, 0);
    for (i = 0; i < a->n && i < MAX_GOT; i++) {
        ck_assert_msg(memcmp(&a->p[i].h, &b->p[i].h, sizeof(a->p[i].h)) == 0,
                      "%s %zu: headers of part %zu differ", how, at, i);
        ck_assert_msg(
            a->p[i].len == b->p[i].len && a->p[i].ended == b->p[i].ended &&
                (a->p[i].len == 0 || memcmp(a->p[i].data, b->p[i].data, a->p[i].len) == 0),
            "%s %zu: bytes of part %zu differ", how, at, i);
    }
}

typedef struct fixture_s {
    const char *content_type;
    const char *body;
    size_t len;
    size_t parts;
} fixture_t;

#define FIXTURE(ct, body, parts)                                                                   \
    {                                                                                              \
        ct, body, sizeof(body) - 1, parts                                                          \
    }

static const fixture_t curl_one =
    FIXTURE("multipart/form-data; boundary=------------------------19780d746f4ac0e3",
            "--------------------------19780d746f4ac0e3\r\n"
            "Content-Disposition: form-data; name=\"a\"\r\n"
            "\r\n"
            "1\r\n"
            "--------------------------19780d746f4ac0e3\r\n"
            "Content-Disposition: form-data; name=\"f\"; filename=\"notes.txt\"\r\n"
            "Content-Type: text/plain\r\n"
            "\r\n"
            "hello, sluice\n"
            "second line\r\n"
            "with a CRLF\n"
            "\r\n"
            "--------------------------19780d746f4ac0e3--\r\n",
            2);

static const fixture_t curl_three =
    FIXTURE("multipart/form-data; boundary=------------------------570d1a3d043c3437",
            "--------------------------570d1a3d043c3437\r\n"
            "Content-Disposition: form-data; name=\"a\"\r\n"
            "\r\n"
            "1\r\n"
            "--------------------------570d1a3d043c3437\r\n"
            "Content-Disposition: form-data; name=\"title\"\r\n"
            "\r\n"
            "two words\r\n"
            "--------------------------570d1a3d043c3437\r\n"
            "Content-Disposition: form-data; name=\"f1\"; filename=\"notes.txt\"\r\n"
            "Content-Type: text/plain\r\n"
            "\r\n"
            "hello, sluice\n"
            "second line\r\n"
            "with a CRLF\n"
            "\r\n"
            "--------------------------570d1a3d043c3437\r\n"
            "Content-Disposition: form-data; name=\"f2\"; filename=\"tiny.png\"\r\n"
            "Content-Type: image/png\r\n"
            "\r\n"
            "\211PNG\r\n"
            "\032\n"
            "\000\000\000\rIHDR--\r\n"
            "--x\r\n"
            "--------------------------570d1a3d043c3437\r\n"
            "Content-Disposition: form-data; name=\"f3\"; filename=\"data.json\"\r\n"
            "Content-Type: application/json\r\n"
            "\r\n"
            "{\"k\": \"v\"}\n"
            "\r\n"
            "--------------------------570d1a3d043c3437--\r\n",
            5);

static const fixture_t chromium =
    FIXTURE("multipart/form-data; boundary=----WebKitFormBoundaryePkpFF7tjBAqx29L",
            "------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
            "Content-Disposition: form-data; name=\"comment\"\r\n"
            "\r\n"
            "h\303\251llo\r\nsecond line\r\n"
            "------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
            "Content-Disposition: form-data; name=\"upload\"; filename=\"r\303\251sum\303\251 "
            "%22v2%22.txt\"\r\n"
            "Content-Type: text/plain\r\n"
            "\r\n"
            "------WebKitFormBoundary is not a delimiter without CRLF before it\r\n"
            "\r\n"
            "------WebKitFormBoundaryePkpFF7tjBAqx29L\r\n"
            "Content-Disposition: form-data; name=\"empty\"; filename=\"\"\r\n"
            "Content-Type: application/octet-stream\r\n"
            "\r\n"
            "\r\n"
            "------WebKitFormBoundaryePkpFF7tjBAqx29L--\r\n",
            3);

/* Preamble with a near-delimiter, padding, odd header case, filename* before filename, body
 * bytes that look like partial delimiters, an empty body, a CR-heavy body, an epilogue. */
static const fixture_t tricky =
    FIXTURE("multipart/form-data; boundary=AaB03x",
            "This is the preamble.\r\n--AaB03y\r\n\r\n"
            "--AaB03x \t\r\n"
            "content-disposition: form-data; filename*=UTF-8''na%C3%AFve%20file.txt; NAME=field1; "
            "filename=\"fallback.txt\"\r\n"
            "CONTENT-TYPE:  text/plain ; charset=utf-8  \r\n"
            "X-Other: ignored\r\n"
            "\r\n"
            "line1\r\n--AaB03\r\n-\r\r\n--AaB0\r\n--\r\n--AaB03 x\r"
            "\r\n--AaB03x\r\n"
            "Content-Disposition: form-data; name=\"esc\\\"aped\\\\\"\r\n"
            "\r\n"
            "\r\n--AaB03x\r\n"
            "Content-Disposition: form-data; name=token_value; filename=plain.bin\r\n"
            "\r\n"
            "\r\n\r\r\n"
            "\r\n--AaB03x--  \r\nepilogue\r\n--AaB03x\r\n garbage",
            3);

static const fixture_t *const fixtures[] = {&curl_one, &curl_three, &chromium, &tricky};
#define NFIX (sizeof(fixtures) / sizeof(fixtures[0]))

/* The fixture parsed in one piece (with `pause` set), checked for basic sanity. */
static void parse_whole(const fixture_t *f, rec_t *r, int pause)
{
    char b[SL_MP_BOUNDARY_MAX + 1];

    memset(r, 0, sizeof(*r));
    r->pause = pause;
    ck_assert_int_eq(sl_multipart_boundary(f->content_type, b, sizeof(b)), 0);
    ck_assert_int_eq(parse(r, b, f->body, f->len, NULL, 0), 0);
    ck_assert_uint_eq(r->n, f->parts);
    ck_assert(r->final);
    ck_assert_int_eq(r->violations, 0);
}

static void boundary_of(const fixture_t *f, char *b)
{
    ck_assert_int_eq(sl_multipart_boundary(f->content_type, b, SL_MP_BOUNDARY_MAX + 1), 0);
}

static void assert_part(const rec_t *r, size_t i, const char *name, const char *filename,
                        const char *ct, const char *data, size_t len)
{
    ck_assert_str_eq(r->p[i].h.name, name);
    ck_assert_int_eq(r->p[i].h.has_filename, filename != NULL);
    ck_assert_str_eq(r->p[i].h.filename, filename != NULL ? filename : "");
    ck_assert_str_eq(r->p[i].h.content_type, ct);
    ck_assert_uint_eq(r->p[i].len, len);
    ck_assert(len == 0 || memcmp(r->p[i].data, data, len) == 0);
    ck_assert(r->p[i].ended);
}

#define DATA(s) s, sizeof(s) - 1

static const char *boundary_or_error(const char *ct)
{
    static char out[SL_MP_BOUNDARY_MAX + 1];

    return sl_multipart_boundary(ct, out, sizeof(out)) == 0 ? out : "<error>";
}

START_TEST(boundary_is_read_from_a_token_value)
{
    ck_assert_str_eq(boundary_or_error("multipart/form-data; boundary=AaB03x"), "AaB03x");
    ck_assert_str_eq(boundary_or_error(curl_one.content_type),
                     "------------------------19780d746f4ac0e3");
    ck_assert_str_eq(boundary_or_error(chromium.content_type),
                     "----WebKitFormBoundaryePkpFF7tjBAqx29L");
    ck_assert_str_eq(boundary_or_error("multipart/form-data;boundary=a;"), "a");
}
END_TEST

START_TEST(boundary_is_read_from_a_quoted_value_with_escapes)
{
    ck_assert_str_eq(boundary_or_error("multipart/form-data; boundary=\"a b:c?d\""), "a b:c?d");
    ck_assert_str_eq(boundary_or_error("multipart/form-data; boundary=\"a\\bc\""), "abc");
    ck_assert_str_eq(boundary_or_error("multipart/form-data; boundary=\"a\\\"b\""), "<error>");
    ck_assert_str_eq(boundary_or_error("multipart/form-data; boundary=\"abc"), "<error>");
}
END_TEST

START_TEST(boundary_may_come_after_other_parameters)
{
    ck_assert_str_eq(boundary_or_error("multipart/form-data; charset=utf-8; boundary=xyz"), "xyz");
    ck_assert_str_eq(boundary_or_error("multipart/form-data; a=\"x;boundary=no\"; boundary=yes"),
                     "yes");
}
END_TEST

START_TEST(boundary_parameter_and_type_are_case_insensitive)
{
    ck_assert_str_eq(boundary_or_error("multipart/form-data; Boundary=XyZ"), "XyZ");
    ck_assert_str_eq(boundary_or_error("Multipart/Form-Data; BOUNDARY=XyZ"), "XyZ");
}
END_TEST

START_TEST(boundary_is_not_followed_by_the_next_parameter)
{
    /* MHD_PostProcessor reads this boundary as "XyZ; charset=utf-8". */
    ck_assert_str_eq(boundary_or_error("multipart/form-data; boundary=XyZ; charset=utf-8"), "XyZ");
    ck_assert_str_eq(boundary_or_error("multipart/form-data; boundary=\"XyZ\" ;charset=utf-8"),
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
    ck_assert_str_eq(boundary_or_error(ct), want);
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
        ck_assert_msg(strcmp(boundary_or_error(bad[i]), "<error>") == 0, "accepted: %s", bad[i]);
    ck_assert_int_eq(sl_multipart_boundary(NULL, NULL, 0), SL_EBADREQUEST);
}
END_TEST

START_TEST(boundary_of_another_type_is_rejected)
{
    ck_assert_str_eq(boundary_or_error("multipart/mixed; boundary=a"), "<error>");
    ck_assert_str_eq(boundary_or_error("text/plain; boundary=a"), "<error>");
    ck_assert_str_eq(boundary_or_error("multipart/form-dataX; boundary=a"), "<error>");
    ck_assert_str_eq(boundary_or_error("application/x-www-form-urlencoded"), "<error>");
}
END_TEST

START_TEST(curl_posts_give_their_fields_and_files)
{
    rec_t r;

    parse_whole(&curl_one, &r, 0);
    assert_part(&r, 0, "a", NULL, "", DATA("1"));
    assert_part(&r, 1, "f", "notes.txt", "text/plain",
                DATA("hello, sluice\nsecond line\r\nwith a CRLF\n"));
    rec_free(&r);

    parse_whole(&curl_three, &r, 0);
    assert_part(&r, 0, "a", NULL, "", DATA("1"));
    assert_part(&r, 1, "title", NULL, "", DATA("two words"));
    assert_part(&r, 2, "f1", "notes.txt", "text/plain",
                DATA("hello, sluice\nsecond line\r\nwith a CRLF\n"));
    assert_part(&r, 3, "f2", "tiny.png", "image/png",
                DATA("\211PNG\r\n\032\n\000\000\000\rIHDR--\r\n--x"));
    assert_part(&r, 4, "f3", "data.json", "application/json", DATA("{\"k\": \"v\"}\n"));
    rec_free(&r);
}
END_TEST

START_TEST(chromium_post_gives_raw_utf8_names_and_an_empty_file)
{
    rec_t r;

    parse_whole(&chromium, &r, 0);
    assert_part(&r, 0, "comment", NULL, "", DATA("h\303\251llo\r\nsecond line"));
    assert_part(&r, 1, "upload", "r\303\251sum\303\251 %22v2%22.txt", "text/plain",
                DATA("------WebKitFormBoundary is not a delimiter without CRLF before it\r\n"));
    assert_part(&r, 2, "empty", "", "application/octet-stream", DATA(""));
    rec_free(&r);
}
END_TEST

START_TEST(preamble_padding_header_case_escapes_and_epilogue_are_handled)
{
    rec_t r;

    parse_whole(&tricky, &r, 0);
    assert_part(&r, 0, "field1", "na\303\257ve file.txt", "text/plain ; charset=utf-8",
                DATA("line1\r\n--AaB03\r\n-\r\r\n--AaB0\r\n--\r\n--AaB03 x\r"));
    assert_part(&r, 1, "esc\"aped\\", NULL, "", DATA(""));
    assert_part(&r, 2, "token_value", "plain.bin", "", DATA("\r\n\r\r\n"));
    rec_free(&r);
}
END_TEST

/* One part with the given Content-Disposition value; returns the parse result. */
static int one_part(rec_t *r, const char *disposition)
{
    char msg[4096];
    int n = snprintf(msg, sizeof(msg), "--AaB03x\r\nContent-Disposition: %s\r\n\r\nv\r\n--AaB03x--",
                     disposition);

    memset(r, 0, sizeof(*r));
    return parse(r, "AaB03x", msg, (size_t)n, NULL, 0);
}

START_TEST(filename_star_wins_over_filename_in_either_order)
{
    rec_t r;

    ck_assert_int_eq(one_part(&r, "form-data; name=f; filename=\"a.txt\"; "
                                  "filename*=utf-8''%e2%82%ac%20rates.txt"),
                     0);
    ck_assert_str_eq(r.p[0].h.filename, "\342\202\254 rates.txt");
    rec_free(&r);
    ck_assert_int_eq(one_part(&r, "form-data; filename*=UTF-8'en'b.txt; filename=a.txt; name=f"),
                     0);
    ck_assert_str_eq(r.p[0].h.filename, "b.txt");
    rec_free(&r);
    ck_assert_int_eq(one_part(&r, "form-data; name=f; filename*=ISO-8859-1''caf%E9"), 0);
    ck_assert_str_eq(r.p[0].h.filename, "caf\303\251");
    rec_free(&r);
    /* A charset we cannot decode is ignored, as RFC 8187 allows. */
    ck_assert_int_eq(one_part(&r, "form-data; name=f; filename=a.txt; filename*=koi8-r''%E9"), 0);
    ck_assert_str_eq(r.p[0].h.filename, "a.txt");
    ck_assert_int_eq(r.p[0].h.has_filename, 1);
    rec_free(&r);
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
    rec_free(&r);
    /* Browsers send a Windows path unescaped: a backslash escapes only a quote or a backslash. */
    ck_assert_int_eq(
        one_part(&r, "form-data; name=\"a\\\\b\"; filename=\"C:\\dir\\f \\\"1\\\".txt\""), 0);
    ck_assert_str_eq(r.p[0].h.name, "a\\b");
    ck_assert_str_eq(r.p[0].h.filename, "C:\\dir\\f \"1\".txt");
    rec_free(&r);
    ck_assert_int_eq(one_part(&r, "form-data; name=\"\""), 0); /* present, if empty */
    ck_assert_str_eq(r.p[0].h.name, "");
    ck_assert_int_eq(r.p[0].h.has_filename, 0);
    rec_free(&r);
}
END_TEST

START_TEST(a_body_may_start_with_crlf_or_the_delimiter_and_hold_zero_parts)
{
    static const char with_crlf[] = "\r\n--AaB03x\r\nContent-Disposition: form-data; name=a\r\n"
                                    "\r\nx\r\n--AaB03x--";
    rec_t r = {0};

    ck_assert_int_eq(parse(&r, "AaB03x", DATA(with_crlf), NULL, 0), 0);
    ck_assert_uint_eq(r.n, 1);
    assert_part(&r, 0, "a", NULL, "", DATA("x"));
    rec_free(&r);
    ck_assert_int_eq(parse(&r, "AaB03x", DATA("--AaB03x--\r\n"), NULL, 0), 0);
    ck_assert_uint_eq(r.n, 0);
    ck_assert(r.final);
    rec_free(&r);
}
END_TEST

START_TEST(every_split_position_gives_identical_parts_and_bytes)
{
    size_t i, cut;
    char b[SL_MP_BOUNDARY_MAX + 1];
    rec_t whole, r;

    for (i = 0; i < NFIX; i++) {
        parse_whole(fixtures[i], &whole, 0);
        boundary_of(fixtures[i], b);
        for (cut = 0; cut <= fixtures[i]->len; cut++) {
            memset(&r, 0, sizeof(r));
            ck_assert_int_eq(parse(&r, b, fixtures[i]->body, fixtures[i]->len, &cut, 1), 0);
            assert_same(&whole, &r, "cut at", cut);
            rec_free(&r);
        }
        rec_free(&whole);
    }
}
END_TEST

START_TEST(byte_by_byte_feeding_gives_identical_parts_and_bytes)
{
    size_t i, k, cuts[2048];
    char b[SL_MP_BOUNDARY_MAX + 1];
    rec_t whole, r;

    for (i = 0; i < NFIX; i++) {
        parse_whole(fixtures[i], &whole, 0);
        boundary_of(fixtures[i], b);
        for (k = 1; k < fixtures[i]->len; k++)
            cuts[k - 1] = k;
        memset(&r, 0, sizeof(r));
        ck_assert_int_eq(parse(&r, b, fixtures[i]->body, fixtures[i]->len, cuts, k - 1), 0);
        assert_same(&whole, &r, "fixture", i);
        rec_free(&r);
        rec_free(&whole);
    }
}
END_TEST

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

START_TEST(random_chunkings_give_identical_parts_and_bytes)
{
    uint32_t seed = 20240601u;
    size_t i, n, at, cuts[64];
    int round;
    char b[SL_MP_BOUNDARY_MAX + 1];
    rec_t whole, r;

    for (i = 0; i < NFIX; i++) {
        parse_whole(fixtures[i], &whole, 0);
        boundary_of(fixtures[i], b);
        for (round = 0; round < 500; round++) {
            /* Increasing cuts with steps of 1..step bytes: small steps favour many edges. */
            size_t step = 1 + lcg(&seed) % 64;
            for (n = 0, at = 0; n < 64; n++) {
                at += 1 + lcg(&seed) % step;
                if (at >= fixtures[i]->len)
                    break;
                cuts[n] = at;
            }
            memset(&r, 0, sizeof(r));
            r.pause = round % 3 == 0 ? P_ALL : 0;
            ck_assert_int_eq(parse(&r, b, fixtures[i]->body, fixtures[i]->len, cuts, n), 0);
            assert_same(&whole, &r, "round", (size_t)round);
            rec_free(&r);
        }
        rec_free(&whole);
    }
}
END_TEST

/* Cut f twice anywhere in [o - 1, o + dlen + 1], so the delimiter at o spans up to three
 * chunks, and compare with the whole parse. */
static void straddle(const fixture_t *f, const rec_t *whole, const char *b, size_t o, size_t dlen)
{
    size_t a, c, cuts[2];
    rec_t r;

    for (a = o > 0 ? o - 1 : 0; a <= o + dlen + 1 && a <= f->len; a++) {
        for (c = a; c <= o + dlen + 1 && c <= f->len; c++) {
            cuts[0] = a;
            cuts[1] = c;
            memset(&r, 0, sizeof(r));
            ck_assert_int_eq(parse(&r, b, f->body, f->len, cuts, 2), 0);
            assert_same(whole, &r, "cut near", o);
            rec_free(&r);
        }
    }
}

START_TEST(a_delimiter_straddling_any_two_chunk_edges_is_found)
{
    size_t i, o, dlen;
    char b[SL_MP_BOUNDARY_MAX + 1], d[SL_MP_BOUNDARY_MAX + 5];
    const fixture_t *f;
    const char *hit;
    rec_t whole;

    for (i = 0; i < NFIX; i++) {
        f = fixtures[i];
        parse_whole(f, &whole, 0);
        boundary_of(f, b);
        dlen = (size_t)snprintf(d, sizeof(d), "\r\n--%s", b);
        straddle(f, &whole, b, 0, dlen); /* the opening delimiter, or the preamble's start */
        for (o = 0; o + dlen <= f->len; o++) {
            hit = memmem(f->body + o, f->len - o, d, dlen);
            if (hit == NULL)
                break;
            o = (size_t)(hit - f->body);
            straddle(f, &whole, b, o, dlen);
        }
        rec_free(&whole);
    }
}
END_TEST

/* Feed `msg` in the chunks given by cuts and return how many body bytes had been delivered
 * after each chunk, in got[]. */
static void delivered_after_each(const char *msg, size_t len, const size_t *cuts, size_t n,
                                 size_t *got, rec_t *r)
{
    sl_multipart_t mp;
    size_t i, from = 0;

    memset(r, 0, sizeof(*r));
    sl_multipart_init(&mp, "bound", NULL, &cbs, r);
    for (i = 0; i <= n; i++) {
        size_t to = i < n ? cuts[i] : len;
        ck_assert_int_eq(sl_multipart_execute(&mp, msg + from, to - from), (ssize_t)(to - from));
        got[i] = r->n > 0 ? r->p[0].len : 0;
        from = to;
    }
    ck_assert_int_eq(sl_multipart_finish(&mp), 0);
}

START_TEST(body_bytes_like_a_partial_delimiter_are_held_then_released)
{
    static const char msg[] = "--bound\r\nContent-Disposition: form-data; name=f\r\n\r\n"
                              "ab\r\n--bou|nX\r\n-|Y\r|Z\r\n--boun|d\r\n--bound--";
    static const char want[] = "ab\r\n--bou|nX\r\n-|Y\r|Z\r\n--boun|d";
    size_t cuts[4], got[5], i, k = 0;
    rec_t r;

    /* Cut at each '|' (kept as data), so partial delimiters end three chunks. */
    for (i = 0; msg[i] != '\0'; i++)
        if (msg[i] == '|')
            cuts[k++] = i;
    delivered_after_each(msg, sizeof(msg) - 1, cuts, k, got, &r);
    ck_assert_uint_eq(got[0], 2);                                   /* "ab", "\r\n--bou" held */
    ck_assert_uint_eq(got[1], strlen("ab\r\n--bou|nX"));            /* "\r\n-" held */
    ck_assert_uint_eq(got[2], strlen("ab\r\n--bou|nX\r\n-|Y"));     /* a CR at the end is held */
    ck_assert_uint_eq(got[3], strlen("ab\r\n--bou|nX\r\n-|Y\r|Z")); /* 8 of 9 held */
    assert_part(&r, 0, "f", NULL, "", DATA(want));
    rec_free(&r);
}
END_TEST

START_TEST(pause_at_every_callback_gives_identical_results)
{
    static const int masks[] = {P_BEGIN, P_DATA, P_END, P_FINAL, P_ALL};
    size_t i, m, cut;
    char b[SL_MP_BOUNDARY_MAX + 1];
    rec_t whole, r;

    for (i = 0; i < NFIX; i++) {
        parse_whole(fixtures[i], &whole, 0);
        boundary_of(fixtures[i], b);
        for (m = 0; m < sizeof(masks) / sizeof(masks[0]); m++) {
            for (cut = 0; cut <= fixtures[i]->len; cut++) {
                memset(&r, 0, sizeof(r));
                r.pause = masks[m];
                ck_assert_int_eq(parse(&r, b, fixtures[i]->body, fixtures[i]->len, &cut, 1), 0);
                assert_same(&whole, &r, "paused, cut at", cut);
                rec_free(&r);
            }
        }
        rec_free(&whole);
    }
}
END_TEST

START_TEST(a_pause_returns_right_after_the_callback)
{
    sl_multipart_t mp;
    rec_t r = {0};
    const char *p = curl_one.body;
    char b[SL_MP_BOUNDARY_MAX + 1];
    ssize_t n;

    boundary_of(&curl_one, b);
    r.pause = P_ALL;
    sl_multipart_init(&mp, b, NULL, &cbs, &r);
    n = sl_multipart_execute(&mp, p, curl_one.len);
    ck_assert_int_eq(n, strstr(p, "\r\n\r\n1") + 4 - p); /* headers of "a" end here */
    ck_assert_int_eq(r.calls, 1);
    p += n;
    n = sl_multipart_execute(&mp, p, curl_one.len - (size_t)(p - curl_one.body));
    ck_assert_int_eq(n, 1); /* "1" */
    ck_assert_int_eq(r.calls, 2);
    p += n;
    n = sl_multipart_execute(&mp, p, curl_one.len - (size_t)(p - curl_one.body));
    ck_assert_int_eq(n, 2 + 2 + strlen(b)); /* the delimiter, then on_part_end */
    ck_assert_int_eq(r.calls, 3);
    rec_free(&r);
}
END_TEST

START_TEST(a_negative_callback_return_aborts_and_sticks)
{
    char b[SL_MP_BOUNDARY_MAX + 1];
    size_t cut;
    rec_t r;

    boundary_of(&curl_three, b);
    for (cut = 0; cut <= curl_three.len; cut += 7) {
        memset(&r, 0, sizeof(r));
        r.fail_begin = -77;
        ck_assert_int_eq(parse(&r, b, curl_three.body, curl_three.len, &cut, 1), -77);
        ck_assert_uint_eq(r.n, 1);
        rec_free(&r);
    }
}
END_TEST

#define PART(cd) "--AaB03x\r\nContent-Disposition: " cd "\r\n\r\nv\r\n"
#define END "--AaB03x--\r\n"

typedef struct bad_s {
    const char *what;
    const char *body;
    size_t len;
} bad_t;

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
            ck_assert_msg(parse(&r, "AaB03x", t->body, len, &cut, 1) == SL_EBADREQUEST,
                          "%s (cut %zu)", t->what, cut);
            ck_assert_int_eq(r.violations, 0);
            rec_free(&r);
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
        ck_assert_int_eq(parse_limits(&r, "AaB03x", &lim, DATA(msg), &cut, 1), 0);
        rec_free(&r);
        lim.max_header_bytes = hb - 1;
        ck_assert_int_eq(parse_limits(&r, "AaB03x", &lim, DATA(msg), &cut, 1), SL_ETOOLARGE);
        ck_assert_uint_eq(r.n, 0);
        rec_free(&r);
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

    ck_assert_int_eq(parse(&r, "AaB03x", msg, part_with_header_bytes(msg, 8192), NULL, 0), 0);
    ck_assert_uint_eq(r.n, 1);
    rec_free(&r);
    ck_assert_int_eq(parse(&r, "AaB03x", msg, part_with_header_bytes(msg, 8193), NULL, 0),
                     SL_ETOOLARGE);
    ck_assert_uint_eq(r.n, 0);
    rec_free(&r);
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
    rec_free(&r);
    cd[n + 255] = 'n';
    ck_assert_int_eq(one_part(&r, cd), SL_ETOOLARGE);
    rec_free(&r);
    n = (size_t)snprintf(cd, sizeof(cd), "form-data; name=a; filename=");
    memset(cd + n, 'f', 1024);
    ck_assert_int_eq(one_part(&r, cd), SL_ETOOLARGE);
    rec_free(&r);
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
        ck_assert_int_eq(parse_limits(&r, "AaB03x", &lim, DATA(msg), &cut, 1), 0);
        rec_free(&r);
        lim.max_parts = 2;
        ck_assert_int_eq(parse_limits(&r, "AaB03x", &lim, DATA(msg), &cut, 1), SL_ETOOLARGE);
        ck_assert_uint_eq(r.n, 2);
        rec_free(&r);
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
    ck_assert_int_eq(parse(&r, "AaB03x", msg, len, NULL, 0), SL_ETOOLARGE);
    ck_assert_uint_eq(r.n, 1000);
    rec_free(&r);
    memset(&r, 0, sizeof(r));
    len += sizeof(END) - 1 - (sizeof(part) - 1); /* the same without its first part */
    ck_assert_int_eq(parse(&r, "AaB03x", msg + sizeof(part) - 1, len, NULL, 0), 0);
    ck_assert_uint_eq(r.n, 1000);
    rec_free(&r);
    free(msg);
}
END_TEST

static TCase *new_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return tc;
}

Suite *multipart_suite(void)
{
    Suite *s = suite_create("multipart");
    TCase *tc;

    tc = new_tcase(s, "boundary");
    tcase_add_test(tc, boundary_is_read_from_a_token_value);
    tcase_add_test(tc, boundary_is_read_from_a_quoted_value_with_escapes);
    tcase_add_test(tc, boundary_may_come_after_other_parameters);
    tcase_add_test(tc, boundary_parameter_and_type_are_case_insensitive);
    tcase_add_test(tc, boundary_is_not_followed_by_the_next_parameter);
    tcase_add_test(tc, boundary_of_70_chars_is_accepted_and_71_rejected);
    tcase_add_test(tc, boundary_missing_empty_invalid_or_repeated_is_rejected);
    tcase_add_test(tc, boundary_of_another_type_is_rejected);

    tc = new_tcase(s, "parts");
    tcase_add_test(tc, curl_posts_give_their_fields_and_files);
    tcase_add_test(tc, chromium_post_gives_raw_utf8_names_and_an_empty_file);
    tcase_add_test(tc, preamble_padding_header_case_escapes_and_epilogue_are_handled);
    tcase_add_test(tc, filename_star_wins_over_filename_in_either_order);
    tcase_add_test(tc, parameters_come_in_any_order_and_case_with_spaces);
    tcase_add_test(tc, a_body_may_start_with_crlf_or_the_delimiter_and_hold_zero_parts);

    tc = new_tcase(s, "chunks");
    tcase_add_test(tc, every_split_position_gives_identical_parts_and_bytes);
    tcase_add_test(tc, byte_by_byte_feeding_gives_identical_parts_and_bytes);
    tcase_add_test(tc, random_chunkings_give_identical_parts_and_bytes);
    tcase_add_test(tc, a_delimiter_straddling_any_two_chunk_edges_is_found);
    tcase_add_test(tc, body_bytes_like_a_partial_delimiter_are_held_then_released);

    tc = new_tcase(s, "pause");
    tcase_add_test(tc, pause_at_every_callback_gives_identical_results);
    tcase_add_test(tc, a_pause_returns_right_after_the_callback);
    tcase_add_test(tc, a_negative_callback_return_aborts_and_sticks);

    tc = new_tcase(s, "errors");
    tcase_add_test(tc, malformed_bodies_fail_with_sl_ebadrequest_at_any_split);
    tcase_add_test(tc, an_invalid_boundary_fails_every_call);
    tcase_add_test(tc, headers_over_max_header_bytes_fail_with_sl_etoolarge);
    tcase_add_test(tc, the_default_header_limit_is_8_kib);
    tcase_add_test(tc, values_longer_than_their_field_fail_with_sl_etoolarge);
    tcase_add_test(tc, more_than_max_parts_fails_with_sl_etoolarge);
    tcase_add_test(tc, the_default_part_limit_is_1000);
    return s;
}
