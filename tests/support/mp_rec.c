/* SPDX-License-Identifier: MIT
 * The multipart tests' callback recorder and fixtures (mp_rec.h). */
#include "mp_rec.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "streams/error.h"

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

const sl_mp_callbacks_t mp_rec_cbs = {on_begin, on_data, on_end, on_final};

void mp_rec_free(rec_t *r)
{
    size_t i;

    for (i = 0; i < MAX_GOT; i++)
        free(r->p[i].data);
    memset(r, 0, sizeof(*r));
}

/* Parse msg[0..len) in chunks ending at cuts[0..ncuts) (increasing) and at len, into `r` (whose
 * pause and fail_begin settings are kept). Returns finish's code, or the first error, which must
 * be sticky. */
int mp_parse_limits(rec_t *r, const char *boundary, const sl_mp_limits_t *lim, const char *msg,
                    size_t len, const size_t *cuts, size_t ncuts)
{
    sl_multipart_t mp;
    size_t i, from, to;
    ssize_t n;
    int calls;

    sl_multipart_init(&mp, boundary, lim, &mp_rec_cbs, r);
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

int mp_parse(rec_t *r, const char *boundary, const char *msg, size_t len, const size_t *cuts,
             size_t ncuts)
{
    return mp_parse_limits(r, boundary, NULL, msg, len, cuts, ncuts);
}

void mp_assert_same(const rec_t *a, const rec_t *b, const char *how, size_t at)
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

const fixture_t mp_curl_one =
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

const fixture_t mp_curl_three =
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

const fixture_t mp_chromium =
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
const fixture_t mp_tricky =
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

const fixture_t *const mp_fixtures[] = {&mp_curl_one, &mp_curl_three, &mp_chromium, &mp_tricky};

/* The fixture parsed in one piece (with `pause` set), checked for basic sanity. */
void mp_parse_whole(const fixture_t *f, rec_t *r, int pause)
{
    char b[SL_MP_BOUNDARY_MAX + 1];

    memset(r, 0, sizeof(*r));
    r->pause = pause;
    ck_assert_int_eq(sl_multipart_boundary(f->content_type, b, sizeof(b)), 0);
    ck_assert_int_eq(mp_parse(r, b, f->body, f->len, NULL, 0), 0);
    ck_assert_uint_eq(r->n, f->parts);
    ck_assert(r->final);
    ck_assert_int_eq(r->violations, 0);
}

void mp_boundary_of(const fixture_t *f, char *b)
{
    ck_assert_int_eq(sl_multipart_boundary(f->content_type, b, SL_MP_BOUNDARY_MAX + 1), 0);
}

void mp_assert_part(const rec_t *r, size_t i, const char *name, const char *filename,
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

const char *mp_boundary_or_error(const char *ct)
{
    static char out[SL_MP_BOUNDARY_MAX + 1];

    return sl_multipart_boundary(ct, out, sizeof(out)) == 0 ? out : "<error>";
}
