/* SPDX-License-Identifier: MIT
 *
 * Tests of streams/multipart.h across chunk edges: every split position, byte-by-byte feeding,
 * random chunkings, delimiters straddling chunk edges, held-back bytes, and pauses at every
 * callback. Each parses a message whole, then in other chunkings, and requires identical records
 * (tests/support/mp_rec.h).
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

Suite *multipart_chunks_suite(void);

START_TEST(every_split_position_gives_identical_parts_and_bytes)
{
    size_t i, cut;
    char b[SL_MP_BOUNDARY_MAX + 1];
    rec_t whole, r;

    for (i = 0; i < NFIX; i++) {
        mp_parse_whole(mp_fixtures[i], &whole, 0);
        mp_boundary_of(mp_fixtures[i], b);
        for (cut = 0; cut <= mp_fixtures[i]->len; cut++) {
            memset(&r, 0, sizeof(r));
            ck_assert_int_eq(mp_parse(&r, b, mp_fixtures[i]->body, mp_fixtures[i]->len, &cut, 1),
                             0);
            mp_assert_same(&whole, &r, "cut at", cut);
            mp_rec_free(&r);
        }
        mp_rec_free(&whole);
    }
}
END_TEST

START_TEST(byte_by_byte_feeding_gives_identical_parts_and_bytes)
{
    size_t i, k, cuts[2048];
    char b[SL_MP_BOUNDARY_MAX + 1];
    rec_t whole, r;

    for (i = 0; i < NFIX; i++) {
        mp_parse_whole(mp_fixtures[i], &whole, 0);
        mp_boundary_of(mp_fixtures[i], b);
        for (k = 1; k < mp_fixtures[i]->len; k++)
            cuts[k - 1] = k;
        memset(&r, 0, sizeof(r));
        ck_assert_int_eq(mp_parse(&r, b, mp_fixtures[i]->body, mp_fixtures[i]->len, cuts, k - 1),
                         0);
        mp_assert_same(&whole, &r, "fixture", i);
        mp_rec_free(&r);
        mp_rec_free(&whole);
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
        mp_parse_whole(mp_fixtures[i], &whole, 0);
        mp_boundary_of(mp_fixtures[i], b);
        for (round = 0; round < 500; round++) {
            /* Increasing cuts with steps of 1..step bytes: small steps favour many edges. */
            size_t step = 1 + lcg(&seed) % 64;
            for (n = 0, at = 0; n < 64; n++) {
                at += 1 + lcg(&seed) % step;
                if (at >= mp_fixtures[i]->len)
                    break;
                cuts[n] = at;
            }
            memset(&r, 0, sizeof(r));
            r.pause = round % 3 == 0 ? P_ALL : 0;
            ck_assert_int_eq(mp_parse(&r, b, mp_fixtures[i]->body, mp_fixtures[i]->len, cuts, n),
                             0);
            mp_assert_same(&whole, &r, "round", (size_t)round);
            mp_rec_free(&r);
        }
        mp_rec_free(&whole);
    }
}
END_TEST

/* Cut f twice anywhere in [o - 1, o + dlen + 1], so the delimiter at o spans up to three
 * chunks, and compare with the whole mp_parse. */
static void straddle(const fixture_t *f, const rec_t *whole, const char *b, size_t o, size_t dlen)
{
    size_t a, c, cuts[2];
    rec_t r;

    for (a = o > 0 ? o - 1 : 0; a <= o + dlen + 1 && a <= f->len; a++) {
        for (c = a; c <= o + dlen + 1 && c <= f->len; c++) {
            cuts[0] = a;
            cuts[1] = c;
            memset(&r, 0, sizeof(r));
            ck_assert_int_eq(mp_parse(&r, b, f->body, f->len, cuts, 2), 0);
            mp_assert_same(whole, &r, "cut near", o);
            mp_rec_free(&r);
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
        f = mp_fixtures[i];
        mp_parse_whole(f, &whole, 0);
        mp_boundary_of(f, b);
        dlen = (size_t)snprintf(d, sizeof(d), "\r\n--%s", b);
        straddle(f, &whole, b, 0, dlen); /* the opening delimiter, or the preamble's start */
        for (o = 0; o + dlen <= f->len; o++) {
            hit = memmem(f->body + o, f->len - o, d, dlen);
            if (hit == NULL)
                break;
            o = (size_t)(hit - f->body);
            straddle(f, &whole, b, o, dlen);
        }
        mp_rec_free(&whole);
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
    sl_multipart_init(&mp, "bound", NULL, &mp_rec_cbs, r);
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
    mp_assert_part(&r, 0, "f", NULL, "", DATA(want));
    mp_rec_free(&r);
}
END_TEST

START_TEST(pause_at_every_callback_gives_identical_results)
{
    static const int masks[] = {P_BEGIN, P_DATA, P_END, P_FINAL, P_ALL};
    size_t i, m, cut;
    char b[SL_MP_BOUNDARY_MAX + 1];
    rec_t whole, r;

    for (i = 0; i < NFIX; i++) {
        mp_parse_whole(mp_fixtures[i], &whole, 0);
        mp_boundary_of(mp_fixtures[i], b);
        for (m = 0; m < sizeof(masks) / sizeof(masks[0]); m++) {
            for (cut = 0; cut <= mp_fixtures[i]->len; cut++) {
                memset(&r, 0, sizeof(r));
                r.pause = masks[m];
                ck_assert_int_eq(
                    mp_parse(&r, b, mp_fixtures[i]->body, mp_fixtures[i]->len, &cut, 1), 0);
                mp_assert_same(&whole, &r, "paused, cut at", cut);
                mp_rec_free(&r);
            }
        }
        mp_rec_free(&whole);
    }
}
END_TEST

START_TEST(a_pause_returns_right_after_the_callback)
{
    sl_multipart_t mp;
    rec_t r = {0};
    const char *p = mp_curl_one.body;
    char b[SL_MP_BOUNDARY_MAX + 1];
    ssize_t n;

    mp_boundary_of(&mp_curl_one, b);
    r.pause = P_ALL;
    sl_multipart_init(&mp, b, NULL, &mp_rec_cbs, &r);
    n = sl_multipart_execute(&mp, p, mp_curl_one.len);
    ck_assert_int_eq(n, strstr(p, "\r\n\r\n1") + 4 - p); /* headers of "a" end here */
    ck_assert_int_eq(r.calls, 1);
    p += n;
    n = sl_multipart_execute(&mp, p, mp_curl_one.len - (size_t)(p - mp_curl_one.body));
    ck_assert_int_eq(n, 1); /* "1" */
    ck_assert_int_eq(r.calls, 2);
    p += n;
    n = sl_multipart_execute(&mp, p, mp_curl_one.len - (size_t)(p - mp_curl_one.body));
    ck_assert_int_eq(n, 2 + 2 + strlen(b)); /* the delimiter, then on_part_end */
    ck_assert_int_eq(r.calls, 3);
    mp_rec_free(&r);
}
END_TEST

START_TEST(a_negative_callback_return_aborts_and_sticks)
{
    char b[SL_MP_BOUNDARY_MAX + 1];
    size_t cut;
    rec_t r;

    mp_boundary_of(&mp_curl_three, b);
    for (cut = 0; cut <= mp_curl_three.len; cut += 7) {
        memset(&r, 0, sizeof(r));
        r.fail_begin = -77;
        ck_assert_int_eq(mp_parse(&r, b, mp_curl_three.body, mp_curl_three.len, &cut, 1), -77);
        ck_assert_uint_eq(r.n, 1);
        mp_rec_free(&r);
    }
}
END_TEST

Suite *multipart_chunks_suite(void)
{
    Suite *s = suite_create("multipart_chunks");
    TCase *tc;

    tc = add_tcase(s, "chunks");
    tcase_add_test(tc, every_split_position_gives_identical_parts_and_bytes);
    tcase_add_test(tc, byte_by_byte_feeding_gives_identical_parts_and_bytes);
    tcase_add_test(tc, random_chunkings_give_identical_parts_and_bytes);
    tcase_add_test(tc, a_delimiter_straddling_any_two_chunk_edges_is_found);
    tcase_add_test(tc, body_bytes_like_a_partial_delimiter_are_held_then_released);

    tc = add_tcase(s, "pause");
    tcase_add_test(tc, pause_at_every_callback_gives_identical_results);
    tcase_add_test(tc, a_pause_returns_right_after_the_callback);
    tcase_add_test(tc, a_negative_callback_return_aborts_and_sticks);
    return s;
}
