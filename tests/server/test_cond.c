/* SPDX-License-Identifier: MIT
 *
 * Conditional and range requests (server/http/cond.c) against RFC 9110 §13 and §14, as exact
 * outputs. Range: one satisfiable range-spec is SL_RANGE_ONE with its inclusive start and end,
 * clamped to the representation; a valid set with nothing satisfiable is SL_ERANGE (416); anything
 * else is SL_RANGE_WHOLE: absent, another unit, a syntax error anywhere in the field (including
 * last-pos < first-pos, §14.1.1), several satisfiable ranges. The output range is written only for
 * SL_RANGE_ONE, so every other case starts it at a sentinel and checks it is still there.
 * Positions are parsed with saturation: 20 and 30 digits are "past the end", never a wrapped
 * small number. On an empty representation a suffix-range with a non-zero length is satisfiable
 * (§14.1.2) but has nothing to send, so the Range is ignored (§14.2), never 416.
 * Entity-tags: "*" matches, a list matches if any member does, strong comparison refuses weak tags
 * on either side, a malformed list matches nothing. Dates: the three HTTP-date forms of §5.6.7,
 * the RFC 850 two-digit year read as at most 50 years ahead. Preconditions in the §13.2.2 order,
 * then If-Range (§13.1.5) and Range. The representation is 100 bytes, ETag "v1", modified at
 * 784111777 (Sun, 06 Nov 1994 08:49:37 GMT, the RFC's example date).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http.h"
#include "http/cond.h"
#include "proto/proto.h"
#include "proto/resumable.h"

Suite *cond_suite(void);

#define SENTINEL 0x5eed5eed5eed5eedu
#define ETAG "\"v1\""
#define MTIME ((time_t)784111777)
#define D_EQ "Sun, 06 Nov 1994 08:49:37 GMT"     /* == MTIME */
#define D_BEFORE "Sun, 06 Nov 1994 08:49:36 GMT" /* one second before: modified since */
#define D_AFTER "Sun, 06 Nov 1994 08:49:38 GMT"  /* one second after: not modified since */

static void one_at(const char *v, uint64_t size, uint64_t start, uint64_t end, int line)
{
    sl_range_t r = {SENTINEL, SENTINEL};
    int rc = sl__range_parse(v, size, &r);

    ck_assert_msg(rc == SL_RANGE_ONE, "line %d: \"%.80s\" on %llu: %d, not SL_RANGE_ONE", line, v,
                  (unsigned long long)size, rc);
    ck_assert_msg(r.start == start && r.end == end,
                  "line %d: \"%.80s\" on %llu: %llu-%llu, not %llu-%llu", line, v,
                  (unsigned long long)size, (unsigned long long)r.start, (unsigned long long)r.end,
                  (unsigned long long)start, (unsigned long long)end);
}

/* rc is SL_RANGE_WHOLE or SL_ERANGE: *out must stay untouched. */
static void none_at(const char *v, uint64_t size, int want, int line)
{
    sl_range_t r = {SENTINEL, SENTINEL};
    int rc = sl__range_parse(v, size, &r);

    ck_assert_msg(rc == want, "line %d: \"%.80s\" on %llu: %d, not %s", line, v ? v : "(null)",
                  (unsigned long long)size, rc, want == SL_ERANGE ? "SL_ERANGE" : "SL_RANGE_WHOLE");
    ck_assert_msg(r.start == SENTINEL && r.end == SENTINEL, "line %d: \"%.80s\": out written", line,
                  v ? v : "(null)");
}

#define expect_one(v, size, start, end) one_at(v, size, start, end, __LINE__)
#define expect_whole(v, size) none_at(v, size, SL_RANGE_WHOLE, __LINE__)
#define expect_416(v, size) none_at(v, size, SL_ERANGE, __LINE__)

/* --- Range: single ranges ------------------------------------------------------------------ */

START_TEST(range_on_an_empty_file_is_never_satisfiable_by_position)
{
    expect_416("bytes=0-", 0);
    expect_416("bytes=0-0", 0);
    expect_416("bytes=0-99", 0);
    expect_416("bytes=5-10", 0);
    expect_416("bytes=-0", 0);
    expect_416("bytes=0-,1-", 0);
}
END_TEST

/* RFC 9110 §14.1.2: "When a selected representation has zero length, the only satisfiable form of
 * range-spec in a GET request is a suffix-range with a non-zero suffix-length." It is satisfiable,
 * so 416 is wrong; no Content-Range can describe it, so the server ignores the Range (§14.2: "MAY
 * ignore a Range header field when the selected representation has no content"). */
START_TEST(suffix_range_on_an_empty_file_is_ignored_not_416)
{
    expect_whole("bytes=-1", 0);
    expect_whole("bytes=-5", 0);
    expect_whole("bytes=-5000", 0);
    expect_whole("bytes=0-,-5", 0);
}
END_TEST

START_TEST(range_reaching_the_last_byte)
{
    expect_one("bytes=99-", 100, 99, 99);
    expect_one("bytes=-1", 100, 99, 99);
    expect_one("bytes=99-99", 100, 99, 99);
    expect_one("bytes=99-100", 100, 99, 99);
    expect_one("bytes=0-0", 100, 0, 0);
    expect_one("bytes=0-0", 1, 0, 0);
    expect_one("bytes=-1", 1, 0, 0);
    expect_one("bytes=10-19", 100, 10, 19);
    expect_416("bytes=100-", 100);
    expect_416("bytes=100-100", 100);
    expect_416("bytes=1-", 1);
}
END_TEST

START_TEST(suffix_longer_than_the_file_is_the_whole_file_as_one_range)
{
    expect_one("bytes=-5000", 100, 0, 99);
    expect_one("bytes=-101", 100, 0, 99);
    expect_one("bytes=-100", 100, 0, 99);
    expect_one("bytes=-99", 100, 1, 99);
}
END_TEST

START_TEST(suffix_of_zero_bytes_is_unsatisfiable)
{
    expect_416("bytes=-0", 100);
    expect_416("bytes=-000", 100);
}
END_TEST

START_TEST(open_range_from_zero_is_the_whole_file_as_one_range)
{
    expect_one("bytes=0-", 100, 0, 99);
    expect_one("bytes=000-", 100, 0, 99);
    expect_one("bytes=0-99999", 100, 0, 99);
    expect_one("bytes=0-", UINT64_MAX, 0, UINT64_MAX - 1);
}
END_TEST

START_TEST(positions_of_20_and_30_digits_saturate_and_never_wrap)
{
    /* first-pos past the end, whatever its length: 2^64 and 2^64+1 would wrap to 0 and 1 */
    expect_416("bytes=99999999999999999999-", 100);
    expect_416("bytes=18446744073709551616-", 100);
    expect_416("bytes=18446744073709551617-", 100);
    expect_416("bytes=999999999999999999999999999999-", 100);
    expect_416("bytes=99999999999999999999-999999999999999999999999999999", 100);
    expect_416("bytes=99999999999999999999-", UINT64_MAX);
    /* last-pos past the end is clamped to the last byte */
    expect_one("bytes=0-99999999999999999999", 100, 0, 99);
    expect_one("bytes=5-18446744073709551616", 100, 5, 99);
    expect_one("bytes=0-999999999999999999999999999999", 100, 0, 99);
    expect_one("bytes=18446744073709551614-99999999999999999999", UINT64_MAX, UINT64_MAX - 1,
               UINT64_MAX - 1);
    /* a suffix longer than the file, whatever its length: 2^64 would wrap to -0 */
    expect_one("bytes=-99999999999999999999", 100, 0, 99);
    expect_one("bytes=-18446744073709551616", 100, 0, 99);
    expect_one("bytes=-999999999999999999999999999999", 100, 0, 99);
    expect_one("bytes=-99999999999999999999", UINT64_MAX, 0, UINT64_MAX - 1);
    /* a huge last-pos below a huge first-pos is still last < first: invalid */
    expect_whole("bytes=99999999999999999999-5", 100);
    expect_whole("bytes=999999999999999999999999999999-1", 100);
}
END_TEST

/* §14.1.1: "An int-range is invalid if the last-pos value is present and less than the
 * first-pos", and http/cond.h: an invalid field is SL_RANGE_WHOLE. Saturating both numbers to
 * UINT64_MAX must not turn last < first into last == first (an unsatisfiable 416). */
START_TEST(last_below_first_stays_invalid_when_both_saturate)
{
    expect_whole("bytes=99999999999999999999-99999999999999999998", 100);
    expect_whole("bytes=18446744073709551616-18446744073709551615", 100);
    expect_whole("bytes=999999999999999999999999999999-99999999999999999999", 100);
    expect_whole("bytes=999999999999999999999999999999-18446744073709551615", 100);
}
END_TEST

START_TEST(last_before_first_invalidates_the_whole_field)
{
    expect_whole("bytes=10-4", 100);
    expect_whole("bytes=5-4", 100);
    expect_whole("bytes=1-0", 100);
    expect_whole("bytes=1-0", 0);
    expect_whole("bytes=200-150", 100); /* invalid, not merely unsatisfiable */
    expect_whole("bytes=0-5,10-4", 100);
    expect_whole("bytes=10-4,0-5", 100);
}
END_TEST

START_TEST(garbage_is_ignored)
{
    static const char *const bad[] = {
        "bytes=200000-x", "bytes=50-x",  "bytes=100-5x", "bytes=0-5x", "bytes=",
        "bytes=-",        "bytes=--5",   "bytes=5",      "=0-5",       "",
        "bytes",          "bytes=0--5",  "bytes=0-5-",   "bytes=-5-",  "bytes=0-5;",
        "bytes=+0-5",     "bytes=0x0-5", "bytes=,",      "bytes= , ,", "bytes=0-5 6-7",
        "bytes=0-1\r\n",  "bytes=a-b",   "bytes=0.5-6",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_whole(bad[i], 100);
    expect_whole(NULL, 100);
    expect_whole("bytes=", 0);
    expect_whole("bytes=200000-x", 0);
}
END_TEST

START_TEST(unit_name_is_case_insensitive)
{
    expect_one("Bytes=0-5", 100, 0, 5);
    expect_one("BYTES=0-5", 100, 0, 5);
    expect_one("bYtEs=-1", 100, 99, 99);
}
END_TEST

START_TEST(another_unit_is_ignored)
{
    expect_whole("items=0-5", 100);
    expect_whole("byte=0-5", 100);
    expect_whole("bytesx=0-5", 100);
    expect_whole("bytes =0-5", 100);
    expect_whole("items=200-", 100); /* not a 416: the unit is unknown */
}
END_TEST

START_TEST(whitespace_around_the_field_and_commas_but_not_inside_a_spec)
{
    expect_one(" bytes=0-5", 100, 0, 5);
    expect_one("\t bytes=0-5", 100, 0, 5);
    expect_one("bytes=0-5 ", 100, 0, 5);
    expect_one("bytes=0-1 , 500-600", 100, 0, 1);
    expect_one("bytes=500-600 ,\t0-1", 100, 0, 1);
    expect_whole("bytes=0-1 , 5-6", 100);
    expect_whole("bytes=0 -5", 100);
    expect_whole("bytes=0- 5", 100);
    expect_whole("bytes=- 5", 100);
}
END_TEST

/* --- Range: several ranges ----------------------------------------------------------------- */

START_TEST(several_satisfiable_ranges_are_the_whole_file)
{
    expect_whole("bytes=0-4,10-14", 100);
    expect_whole("bytes=0-4,2-6", 100); /* overlapping */
    expect_whole("bytes=0-0,0-0", 100); /* the same twice */
    expect_whole("bytes=-1,0-", 100);
    expect_whole("bytes=0-4,10-14,200-", 100);
}
END_TEST

START_TEST(one_satisfiable_range_among_unsatisfiable_ones_is_that_range)
{
    expect_one("bytes=0-4,200-300", 100, 0, 4);
    expect_one("bytes=200-300,5-9", 100, 5, 9);
    expect_one("bytes=200-,-0,95-", 100, 95, 99);
    expect_one("bytes=-0,-3", 100, 97, 99);
}
END_TEST

START_TEST(all_unsatisfiable_ranges_are_416)
{
    expect_416("bytes=200-300,100-", 100);
    expect_416("bytes=-0,100-200,99999999999999999999-", 100);
    expect_416("bytes=0-,-0", 0);
}
END_TEST

START_TEST(empty_list_elements_are_skipped)
{
    expect_one("bytes=,0-5,", 100, 0, 5);
    expect_one("bytes=,,, 0-5 ,,", 100, 0, 5);
    expect_one("bytes=0-5,,,200-", 100, 0, 5);
}
END_TEST

static char *many_specs(size_t n, const char *spec, const char *last)
{
    size_t sl = strlen(spec), ll = last ? strlen(last) : 0, len = 6 + n * (sl + 1) + ll + 1, i;
    char *v = malloc(len), *p;

    ck_assert_ptr_nonnull(v);
    memcpy(v, "bytes=", 6);
    p = v + 6;
    for (i = 0; i < n; i++) {
        memcpy(p, spec, sl);
        p += sl;
        *p++ = ',';
    }
    if (last != NULL) {
        memcpy(p, last, ll);
        p += ll;
    }
    *p = '\0';
    return v;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(ten_thousand_ranges_are_answered_quickly)
{
    char *all = many_specs(10000, "0-0", NULL);       /* all satisfiable: whole */
    char *none = many_specs(10000, "200-300", NULL);  /* none satisfiable: 416 */
    char *one = many_specs(9999, "200-300", "10-19"); /* the last one only */
    double t0 = now_s();

    expect_whole(all, 100);
    expect_416(none, 100);
    expect_one(one, 100, 10, 19);
    ck_assert_msg(now_s() - t0 < 0.5, "30,000 range-specs took %.3f s", now_s() - t0);
    free(all);
    free(none);
    free(one);
}
END_TEST

/* --- entity-tags --------------------------------------------------------------------------- */

START_TEST(etag_star_matches_anything)
{
    ck_assert_int_eq(sl__etag_match("*", ETAG, 0), 1);
    ck_assert_int_eq(sl__etag_match("*", ETAG, 1), 1);
    ck_assert_int_eq(sl__etag_match(" * ", ETAG, 0), 1);
    ck_assert_int_eq(sl__etag_match("*", "W/\"v1\"", 0), 1);
    ck_assert_int_eq(sl__etag_match("*, \"v1\"", ETAG, 0), 0); /* "*" is alone or nothing */
}
END_TEST

START_TEST(etag_list_matches_when_one_member_does)
{
    ck_assert_int_eq(sl__etag_match("\"v1\"", ETAG, 0), 1);
    ck_assert_int_eq(sl__etag_match("\"a\", \"v1\", \"b\"", ETAG, 0), 1);
    ck_assert_int_eq(sl__etag_match("\"a\",\"v1\"", ETAG, 0), 1);
    ck_assert_int_eq(sl__etag_match(" ,\"a\" ,, \t\"v1\" , ", ETAG, 0), 1);
    ck_assert_int_eq(sl__etag_match("\"a\", \"b\"", ETAG, 0), 0);
    ck_assert_int_eq(sl__etag_match("\"v\"", ETAG, 0), 0);
    ck_assert_int_eq(sl__etag_match("\"v12\"", ETAG, 0), 0);
    ck_assert_int_eq(sl__etag_match("\"V1\"", ETAG, 0), 0); /* opaque-tags are case-sensitive */
    ck_assert_int_eq(sl__etag_match("\"\"", "\"\"", 0), 1);
    ck_assert_int_eq(sl__etag_match("", ETAG, 0), 0);
    ck_assert_int_eq(sl__etag_match(",", ETAG, 0), 0);
}
END_TEST

/* §8.8.3.2: strong comparison needs both tags strong; weak comparison ignores W/ on both sides. */
START_TEST(weak_and_strong_comparison_both_ways)
{
    ck_assert_int_eq(sl__etag_match("W/\"v1\"", ETAG, 0), 0);
    ck_assert_int_eq(sl__etag_match("\"v1\"", "W/\"v1\"", 0), 0);
    ck_assert_int_eq(sl__etag_match("W/\"v1\"", "W/\"v1\"", 0), 0);
    ck_assert_int_eq(sl__etag_match("W/\"v1\"", ETAG, 1), 1);
    ck_assert_int_eq(sl__etag_match("\"v1\"", "W/\"v1\"", 1), 1);
    ck_assert_int_eq(sl__etag_match("W/\"v1\"", "W/\"v1\"", 1), 1);
    ck_assert_int_eq(sl__etag_match("W/\"v2\"", "W/\"v1\"", 1), 0);
    ck_assert_int_eq(sl__etag_match("W/\"x\", \"v1\"", ETAG, 0), 1); /* the strong member */
}
END_TEST

START_TEST(malformed_etag_list_matches_nothing)
{
    static const char *const bad[] = {
        "\"v1",          /* unterminated */
        "v1",            /* no quotes */
        "\"v1\" \"v2\"", /* no comma */
        "\"v1\"x",       /* junk after the tag */
        "\"v1\", v2",    /* a bad member after a matching one */
        "v2, \"v1\"",    /* a bad member before a matching one */
        "\"v1\", \"v2",  /* unterminated after a match */
        "w/\"v1\"",      /* W/ is case-sensitive */
        "W/v1",          /* W/ without quotes */
        "W/ \"v1\"",     /* space after W/ */
        "W/",            /* nothing after W/ */
        "'v1'",          /* not DQUOTE */
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(sl__etag_match(bad[i], ETAG, 0) == 0, "strong match of <%s>", bad[i]);
        ck_assert_msg(sl__etag_match(bad[i], ETAG, 1) == 0, "weak match of <%s>", bad[i]);
    }
}
END_TEST

/* --- HTTP-date ----------------------------------------------------------------------------- */

START_TEST(http_date_accepts_the_three_formats)
{
    static const char *const ok[] = {
        "Sun, 06 Nov 1994 08:49:37 GMT",  /* IMF-fixdate */
        "Sunday, 06-Nov-94 08:49:37 GMT", /* obsolete RFC 850 */
        "Sun Nov  6 08:49:37 1994",       /* obsolete asctime */
    };
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        time_t t = 42;
        ck_assert_msg(sl__http_date(ok[i], &t) == 0, "refused \"%s\"", ok[i]);
        ck_assert_msg(t == 784111777, "\"%s\" is %lld", ok[i], (long long)t);
    }
}
END_TEST

START_TEST(http_date_refuses_garbage)
{
    static const char *const bad[] = {
        "",
        "   ",
        "yesterday",
        "784111777",
        "1994-11-06T08:49:37Z",
        "Sun, 06 Nov 1994 08:49:37",                                    /* no GMT */
        "Sun, 06 Nov 1994 08:49:37 PST",                                /* another zone */
        "Sun, 06 Nov 1994 08:49:37 GMT junk",                           /* trailing junk */
        "Sun, 06 Nov 1994 25:49:37 GMT",                                /* hour out of range */
        "Sun, 32 Nov 1994 08:49:37 GMT",                                /* day out of range */
        "Sun, 06 Foo 1994 08:49:37 GMT",                                /* no such month */
        "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", /* a list */
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        time_t t = 42;
        ck_assert_msg(sl__http_date(bad[i], &t) == -1, "accepted \"%s\" as %lld", bad[i],
                      (long long)t);
    }
}
END_TEST

/* §5.6.7: "Recipients of a timestamp value in rfc850-date format, which uses a two-digit year, MUST
 * interpret a timestamp that appears to be more than 50 years in the future as representing the
 * most recent year in the past that had the same last two digits." So "94" is 1994 (2094 is more
 * than 50 years ahead), "68" is 2068, and "70" is 2070, not 1970 (true from 2020 to 2119). */
START_TEST(rfc850_two_digit_year_is_at_most_50_years_ahead)
{
    time_t t = 42;

    ck_assert_int_eq(sl__http_date("Tuesday, 06-Nov-68 08:49:37 GMT", &t), 0);
    ck_assert_int_eq(t, 3119417377); /* 2068 */
    t = 42;
    ck_assert_int_eq(sl__http_date("Wednesday, 01-Jan-70 00:00:00 GMT", &t), 0);
    ck_assert_msg(t == 3155760000, "01-Jan-70 is %lld, not 2070-01-01 (3155760000)", (long long)t);
}
END_TEST

/* --- preconditions (§13.2.2) --------------------------------------------------------------- */

static unsigned eval(const sl_cond_t *c, int safe, uint64_t size, sl_range_t *r)
{
    r->start = r->end = SENTINEL;
    return sl__cond_evaluate(c, ETAG, MTIME, size, safe, r);
}

static void expect_status(const sl_cond_t *c, int safe, unsigned want, int line)
{
    sl_range_t r;
    unsigned got = eval(c, safe, 100, &r);

    ck_assert_msg(got == want, "line %d (%s): %u, not %u", line, safe ? "GET" : "PUT", got, want);
    ck_assert_msg(r.start == SENTINEL && r.end == SENTINEL, "line %d: range written for %u", line,
                  got);
}
#define STATUS(c, safe, want) expect_status(c, safe, want, __LINE__)

START_TEST(no_conditions_is_200)
{
    sl_cond_t c = {0};

    STATUS(&c, 1, 200);
    STATUS(&c, 0, 200);
}
END_TEST

START_TEST(if_match_failing_is_412_even_when_if_none_match_would_be_304)
{
    sl_cond_t c = {.if_match = "\"other\"", .if_none_match = ETAG};

    STATUS(&c, 1, 412);
    STATUS(&c, 0, 412);
    c.if_none_match = "\"other\"";
    STATUS(&c, 1, 412);
    c = (sl_cond_t){.if_match = "\"other\"", .if_modified_since = D_AFTER, .range = "bytes=0-4"};
    STATUS(&c, 1, 412);
}
END_TEST

START_TEST(if_match_uses_the_strong_comparison)
{
    sl_cond_t c = {.if_match = ETAG};
    sl_range_t r;

    STATUS(&c, 1, 200);
    STATUS(&c, 0, 200);
    c.if_match = "*";
    STATUS(&c, 0, 200);
    c.if_match = "\"a\", " ETAG;
    STATUS(&c, 0, 200);
    c.if_match = "W/" ETAG;
    STATUS(&c, 1, 412);
    STATUS(&c, 0, 412);
    c.if_match = "\"v1";
    STATUS(&c, 0, 412);
    c.if_match = "W/\"v1\"";
    ck_assert_uint_eq(sl__cond_evaluate(&c, "W/\"v1\"", MTIME, 100, 0, &r), 412);
}
END_TEST

START_TEST(if_unmodified_since_is_ignored_when_if_match_is_present)
{
    sl_cond_t c = {.if_match = ETAG, .if_unmodified_since = D_BEFORE};

    STATUS(&c, 1, 200);
    STATUS(&c, 0, 200);
    c.if_match = "\"other\"";
    c.if_unmodified_since = D_AFTER;
    STATUS(&c, 0, 412);
}
END_TEST

START_TEST(if_unmodified_since_before_the_change_is_412)
{
    sl_cond_t c = {.if_unmodified_since = D_BEFORE};

    STATUS(&c, 1, 412);
    STATUS(&c, 0, 412);
    c.if_none_match = ETAG; /* step 2 comes before step 3's 304 */
    STATUS(&c, 1, 412);
    c = (sl_cond_t){.if_unmodified_since = D_EQ};
    STATUS(&c, 0, 200);
    c.if_unmodified_since = D_AFTER;
    STATUS(&c, 0, 200);
    c.if_unmodified_since = "Sunday, 06-Nov-94 08:49:36 GMT";
    STATUS(&c, 0, 412);
}
END_TEST

START_TEST(if_none_match_matching_is_304_when_safe_else_412)
{
    sl_cond_t c = {.if_none_match = ETAG};

    STATUS(&c, 1, 304);
    STATUS(&c, 0, 412);
    c.if_none_match = "*";
    STATUS(&c, 1, 304);
    STATUS(&c, 0, 412);
    c.if_none_match = "W/" ETAG; /* the weak comparison */
    STATUS(&c, 1, 304);
    STATUS(&c, 0, 412);
    c.if_none_match = "\"a\", W/" ETAG;
    STATUS(&c, 1, 304);
    c.if_none_match = "\"other\"";
    STATUS(&c, 1, 200);
    STATUS(&c, 0, 200);
    c.if_none_match = "\"v1"; /* malformed: matches nothing */
    STATUS(&c, 1, 200);
    c = (sl_cond_t){.if_none_match = ETAG, .range = "bytes=0-4"}; /* 304 before the range */
    STATUS(&c, 1, 304);
}
END_TEST

START_TEST(if_modified_since_is_ignored_when_if_none_match_is_present)
{
    sl_cond_t c = {.if_none_match = "\"other\"", .if_modified_since = D_AFTER};

    STATUS(&c, 1, 200);
    c.if_modified_since = D_EQ;
    STATUS(&c, 1, 200);
}
END_TEST

START_TEST(if_modified_since_not_modified_is_304)
{
    sl_cond_t c = {.if_modified_since = D_EQ};

    STATUS(&c, 1, 304);
    c.if_modified_since = D_AFTER;
    STATUS(&c, 1, 304);
    c.if_modified_since = "Sun Nov  6 08:49:37 1994";
    STATUS(&c, 1, 304);
    c.if_modified_since = D_BEFORE;
    STATUS(&c, 1, 200);
    c.if_modified_since = D_EQ; /* only for GET and HEAD (§13.1.3) */
    STATUS(&c, 0, 200);
    c = (sl_cond_t){.if_modified_since = D_EQ, .range = "bytes=0-4"};
    STATUS(&c, 1, 304);
}
END_TEST

START_TEST(invalid_dates_are_ignored)
{
    static const char *const bad[] = {"yesterday", "", "784111777",
                                      D_EQ ", " D_EQ}; /* a list is not a date (§13.1.3) */
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_cond_t c = {.if_modified_since = bad[i]};
        STATUS(&c, 1, 200);
        c = (sl_cond_t){.if_unmodified_since = bad[i]};
        STATUS(&c, 1, 200);
        STATUS(&c, 0, 200);
    }
}
END_TEST

/* --- If-Range (§13.1.5) and Range ---------------------------------------------------------- */

static void expect_206(const sl_cond_t *c, const char *etag, uint64_t start, uint64_t end, int line)
{
    sl_range_t r = {SENTINEL, SENTINEL};
    unsigned got = sl__cond_evaluate(c, etag, MTIME, 100, 1, &r);

    ck_assert_msg(got == 206, "line %d: %u, not 206", line, got);
    ck_assert_msg(r.start == start && r.end == end, "line %d: %llu-%llu", line,
                  (unsigned long long)r.start, (unsigned long long)r.end);
}
#define PARTIAL(c, start, end) expect_206(c, ETAG, start, end, __LINE__)

START_TEST(if_range_with_the_strong_etag_lets_the_range_apply)
{
    sl_cond_t c = {.if_range = ETAG, .range = "bytes=10-19"};

    PARTIAL(&c, 10, 19);
    c.if_range = " " ETAG;
    PARTIAL(&c, 10, 19);
    c = (sl_cond_t){.if_range = ETAG, .range = "bytes=200-"};
    STATUS(&c, 1, 416);
}
END_TEST

START_TEST(if_range_with_another_or_a_weak_etag_is_the_whole_file)
{
    sl_cond_t c = {.if_range = "\"other\"", .range = "bytes=10-19"};
    sl_range_t r = {SENTINEL, SENTINEL};

    STATUS(&c, 1, 200);
    c.if_range = "W/" ETAG;
    STATUS(&c, 1, 200);
    c.if_range = "\"other\", " ETAG; /* If-Range holds one validator, not a list */
    STATUS(&c, 1, 200);
    c.if_range = "\"v1";
    STATUS(&c, 1, 200);
    c.if_range = "*";
    STATUS(&c, 1, 200);
    c.if_range = "W/\"v1\""; /* the representation's own tag weak: never strong-equal */
    ck_assert_uint_eq(sl__cond_evaluate(&c, "W/\"v1\"", MTIME, 100, 1, &r), 200);
    ck_assert(r.start == SENTINEL && r.end == SENTINEL);
    c.if_range = "\"other\""; /* ignoring the Range also skips its 416 */
    c.range = "bytes=200-";
    STATUS(&c, 1, 200);
}
END_TEST

START_TEST(if_range_with_the_exact_date_lets_the_range_apply)
{
    sl_cond_t c = {.if_range = D_EQ, .range = "bytes=-10"};

    PARTIAL(&c, 90, 99);
    c.if_range = "Sunday, 06-Nov-94 08:49:37 GMT";
    PARTIAL(&c, 90, 99);
    c.if_range = D_BEFORE;
    STATUS(&c, 1, 200);
    c.if_range = D_AFTER; /* later is not "exactly matches" */
    STATUS(&c, 1, 200);
    c.if_range = "yesterday";
    STATUS(&c, 1, 200);
}
END_TEST

START_TEST(if_range_without_range_is_ignored)
{
    sl_cond_t c = {.if_range = ETAG};

    STATUS(&c, 1, 200);
    c.if_range = "\"other\"";
    STATUS(&c, 1, 200);
}
END_TEST

START_TEST(range_without_preconditions)
{
    sl_cond_t c = {.range = "bytes=0-9"};
    sl_range_t r;

    PARTIAL(&c, 0, 9);
    STATUS(&c, 0, 200); /* ranges are for GET (§14.2) */
    c.range = "bytes=-1";
    PARTIAL(&c, 99, 99);
    c.range = "bytes=100-";
    STATUS(&c, 1, 416);
    STATUS(&c, 0, 200);
    c.range = "bytes=10-4";
    STATUS(&c, 1, 200);
    c.range = "items=0-9";
    STATUS(&c, 1, 200);
    c.range = "bytes=0-4,10-14";
    STATUS(&c, 1, 200);
    c.range = "bytes=0-";
    ck_assert_uint_eq(eval(&c, 1, 0, &r), 416);
    ck_assert(r.start == SENTINEL && r.end == SENTINEL);
}
END_TEST

/* As suffix_range_on_an_empty_file_is_ignored_not_416, through the status: §14.1.2 makes it
 * satisfiable, §14.2 lets it be ignored, so 200 and the (empty) whole, not 416. */
START_TEST(suffix_range_on_an_empty_file_is_200_not_416)
{
    sl_cond_t c = {.range = "bytes=-5"};
    sl_range_t r;

    ck_assert_uint_eq(eval(&c, 1, 0, &r), 200);
    ck_assert(r.start == SENTINEL && r.end == SENTINEL);
}
END_TEST

Suite *cond_suite(void)
{
    Suite *s = suite_create("cond");
    TCase *tc;

    tc = tcase_create("range");
    tcase_add_test(tc, range_on_an_empty_file_is_never_satisfiable_by_position);
    tcase_add_test(tc, suffix_range_on_an_empty_file_is_ignored_not_416);
    tcase_add_test(tc, range_reaching_the_last_byte);
    tcase_add_test(tc, suffix_longer_than_the_file_is_the_whole_file_as_one_range);
    tcase_add_test(tc, suffix_of_zero_bytes_is_unsatisfiable);
    tcase_add_test(tc, open_range_from_zero_is_the_whole_file_as_one_range);
    tcase_add_test(tc, positions_of_20_and_30_digits_saturate_and_never_wrap);
    tcase_add_test(tc, last_below_first_stays_invalid_when_both_saturate);
    tcase_add_test(tc, last_before_first_invalidates_the_whole_field);
    tcase_add_test(tc, garbage_is_ignored);
    tcase_add_test(tc, unit_name_is_case_insensitive);
    tcase_add_test(tc, another_unit_is_ignored);
    tcase_add_test(tc, whitespace_around_the_field_and_commas_but_not_inside_a_spec);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("ranges");
    tcase_add_test(tc, several_satisfiable_ranges_are_the_whole_file);
    tcase_add_test(tc, one_satisfiable_range_among_unsatisfiable_ones_is_that_range);
    tcase_add_test(tc, all_unsatisfiable_ranges_are_416);
    tcase_add_test(tc, empty_list_elements_are_skipped);
    tcase_add_test(tc, ten_thousand_ranges_are_answered_quickly);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("etag");
    tcase_add_test(tc, etag_star_matches_anything);
    tcase_add_test(tc, etag_list_matches_when_one_member_does);
    tcase_add_test(tc, weak_and_strong_comparison_both_ways);
    tcase_add_test(tc, malformed_etag_list_matches_nothing);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("date");
    tcase_add_test(tc, http_date_accepts_the_three_formats);
    tcase_add_test(tc, http_date_refuses_garbage);
    tcase_add_test(tc, rfc850_two_digit_year_is_at_most_50_years_ahead);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("preconditions");
    tcase_add_test(tc, no_conditions_is_200);
    tcase_add_test(tc, if_match_failing_is_412_even_when_if_none_match_would_be_304);
    tcase_add_test(tc, if_match_uses_the_strong_comparison);
    tcase_add_test(tc, if_unmodified_since_is_ignored_when_if_match_is_present);
    tcase_add_test(tc, if_unmodified_since_before_the_change_is_412);
    tcase_add_test(tc, if_none_match_matching_is_304_when_safe_else_412);
    tcase_add_test(tc, if_modified_since_is_ignored_when_if_none_match_is_present);
    tcase_add_test(tc, if_modified_since_not_modified_is_304);
    tcase_add_test(tc, invalid_dates_are_ignored);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("if_range");
    tcase_add_test(tc, if_range_with_the_strong_etag_lets_the_range_apply);
    tcase_add_test(tc, if_range_with_another_or_a_weak_etag_is_the_whole_file);
    tcase_add_test(tc, if_range_with_the_exact_date_lets_the_range_apply);
    tcase_add_test(tc, if_range_without_range_is_ignored);
    tcase_add_test(tc, range_without_preconditions);
    tcase_add_test(tc, suffix_range_on_an_empty_file_is_200_not_416);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
