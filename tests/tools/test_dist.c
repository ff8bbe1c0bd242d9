/* SPDX-License-Identifier: MIT
 *
 * Seeded numbers, sizes and body bytes (tools/bench/dist.c): splitmix64 against its published
 * outputs; --size parsing and its refusals; the three distributions over 10^5 draws with a fixed
 * seed (fixed is exact, uniform stays in range and reaches both ends, the log-normal's median
 * and spread are the ones asked for and its clamp holds); determinism; and sb_body_fill, whose
 * bytes are pinned against a reference computed independently, so that a body can be verified
 * by any later version.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define DRAWS 100000

/* --- splitmix64 -------------------------------------------------------------------------- */

START_TEST(splitmix64_gives_the_reference_outputs)
{
    uint64_t s = 0;

    /* The first outputs from state 0 (Vigna's splitmix64.c). */
    ck_assert_uint_eq(sb_rand_next(&s), 0xe220a8397b1dcdafull);
    ck_assert_uint_eq(sb_rand_next(&s), 0x6e789e6aa1b965f4ull);
    ck_assert_uint_eq(sb_rand_next(&s), 0x06c45d188009454full);
}
END_TEST

START_TEST(rand_unit_is_in_0_1_with_mean_one_half)
{
    uint64_t s = 7;
    double sum = 0, lo = 1, hi = 0;
    int i;

    for (i = 0; i < DRAWS; i++) {
        double u = sb_rand_unit(&s);

        ck_assert(u >= 0 && u < 1);
        sum += u;
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    ck_assert_double_eq_tol(sum / DRAWS, 0.5, 0.01);
    ck_assert(lo < 0.001 && hi > 0.999);
}
END_TEST

/* --- parsing ----------------------------------------------------------------------------- */

static sb_dist_t dist_of(const char *s)
{
    sb_dist_t d;

    memset(&d, 0xa5, sizeof(d));
    ck_assert_msg(sb_dist_parse(s, &d) == 0, "'%s' refused", s);
    return d;
}

START_TEST(fixed_sizes_parse)
{
    sb_dist_t d = dist_of("64K");

    ck_assert_int_eq(d.kind, SB_DIST_FIXED);
    ck_assert_uint_eq(d.a, 64 << 10);
    d = dist_of("0");
    ck_assert_int_eq(d.kind, SB_DIST_FIXED);
    ck_assert_uint_eq(d.a, 0);
    d = dist_of("1024T");
    ck_assert_uint_eq(d.a, 1ull << 50);
}
END_TEST

START_TEST(uniform_ranges_parse)
{
    sb_dist_t d = dist_of("1K-1M");

    ck_assert_int_eq(d.kind, SB_DIST_UNIFORM);
    ck_assert_uint_eq(d.a, 1 << 10);
    ck_assert_uint_eq(d.b, 1 << 20);
    d = dist_of("5-5");
    ck_assert_uint_eq(d.a, 5);
    ck_assert_uint_eq(d.b, 5);
}
END_TEST

START_TEST(lognormal_takes_defaults_for_sigma_and_max)
{
    sb_dist_t d = dist_of("lognormal:1M");

    ck_assert_int_eq(d.kind, SB_DIST_LOGNORMAL);
    ck_assert_uint_eq(d.a, 1 << 20);
    ck_assert(d.sigma == 1.0);
    ck_assert_uint_eq(d.b, 64ull << 20);
    d = dist_of("lognormal:1M,1.5");
    ck_assert(d.sigma == 1.5);
    ck_assert_uint_eq(d.b, 64ull << 20);
    d = dist_of("lognormal:1M,1.5,100M");
    ck_assert(d.sigma == 1.5);
    ck_assert_uint_eq(d.b, 100ull << 20);
    d = dist_of("lognormal:4K,5,4K");
    ck_assert(d.sigma == 5);
    ck_assert_uint_eq(d.b, 4096);
}
END_TEST

START_TEST(bad_distributions_are_refused)
{
    static const char *const bad[] = {
        "",
        "K",
        "1Q",
        "-1M",
        "1M-",
        "2M-1M",
        "0-1M",
        "1K-2M-3M",
        "1025T",
        "1K-1025T",
        "lognormal",
        "lognormal:",
        "lognormal:0",
        "lognormal:1M,",
        "lognormal:1M,0",
        "lognormal:1M,-1",
        "lognormal:1M,5.01",
        "lognormal:1M,nan",
        "lognormal:1M,inf",
        "lognormal:1M,0x1",
        "lognormal:1M,1,",
        "lognormal:1M,1,512K",
        "lognormal:1M,1,2M,3",
        "lognormal:1M,,2M",
        "Lognormal:1M",
        "normal:1M",
    };
    sb_dist_t d = {SB_DIST_FIXED, 7, 7, 0};
    size_t i;

    ck_assert_int_eq(sb_dist_parse(NULL, &d), -1);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(sb_dist_parse(bad[i], &d) == -1, "'%s' accepted", bad[i]);
    ck_assert_uint_eq(d.a, 7); /* untouched by the refusals */
}
END_TEST

/* --- sampling ---------------------------------------------------------------------------- */

START_TEST(fixed_is_exact)
{
    sb_dist_t d = dist_of("64K"), z = dist_of("0");
    uint64_t s = 1, before;
    int i;

    for (i = 0; i < 1000; i++)
        ck_assert_uint_eq(sb_dist_sample(&d, &s), 64 << 10);
    before = s;
    ck_assert_uint_eq(sb_dist_sample(&z, &s), 0);
    ck_assert_uint_eq(s, before); /* a fixed size draws nothing */
}
END_TEST

START_TEST(uniform_stays_in_range_and_reaches_both_ends)
{
    sb_dist_t d = dist_of("1-10");
    uint64_t s = 1, seen[11] = {0};
    int i, v;

    for (i = 0; i < DRAWS; i++) {
        uint64_t x = sb_dist_sample(&d, &s);

        ck_assert(x >= 1 && x <= 10);
        seen[x]++;
    }
    for (v = 1; v <= 10; v++) /* each about 10^4; a biased or off-by-one draw shows */
        ck_assert_msg(seen[v] > 9000 && seen[v] < 11000, "%d drawn %llu times", v,
                      (unsigned long long)seen[v]);
}
END_TEST

START_TEST(wide_uniform_covers_the_range)
{
    sb_dist_t d = dist_of("1K-1M");
    uint64_t s = 99, lo = UINT64_MAX, hi = 0;
    double sum = 0;
    int i;

    for (i = 0; i < DRAWS; i++) {
        uint64_t x = sb_dist_sample(&d, &s);

        ck_assert(x >= 1024 && x <= 1048576);
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        sum += (double)x;
    }
    ck_assert_uint_lt(lo, 1024 + 100);
    ck_assert_uint_gt(hi, 1048576 - 100);
    ck_assert_double_eq_tol(sum / DRAWS, (1024.0 + 1048576.0) / 2, 1048576 * 0.01);
    d = dist_of("7-7");
    ck_assert_uint_eq(sb_dist_sample(&d, &s), 7);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* DRAWS sizes of d from seed, sorted; the caller frees them. */
static uint64_t *sorted_draws(const char *spec, uint64_t seed)
{
    sb_dist_t d = dist_of(spec);
    uint64_t *v = malloc(DRAWS * sizeof(*v));
    int i;

    ck_assert_ptr_nonnull(v);
    for (i = 0; i < DRAWS; i++)
        v[i] = sb_dist_sample(&d, &seed);
    qsort(v, DRAWS, sizeof(*v), cmp_u64);
    return v;
}

START_TEST(lognormal_median_and_spread_are_the_ones_asked_for)
{
    uint64_t *v = sorted_draws("lognormal:1M", 1);
    double m = 1048576;

    ck_assert_double_eq_tol((double)v[DRAWS / 2], m, m * 0.05);
    /* sigma 1: the 15.87th and 84.13th percentiles are at median / e and median * e. */
    ck_assert_double_eq_tol((double)v[(int)(DRAWS * 0.1587)], m / M_E, m / M_E * 0.05);
    ck_assert_double_eq_tol((double)v[(int)(DRAWS * 0.8413)], m * M_E, m * M_E * 0.05);
    free(v);
    v = sorted_draws("lognormal:64K,0.5", 2);
    ck_assert_double_eq_tol((double)v[DRAWS / 2], 65536, 65536 * 0.05);
    ck_assert_double_eq_tol((double)v[(int)(DRAWS * 0.8413)], 65536 * exp(0.5),
                            65536 * exp(0.5) * 0.05);
    free(v);
}
END_TEST

START_TEST(lognormal_is_clamped_to_1_and_max)
{
    uint64_t *v = sorted_draws("lognormal:1M,2,4M", 3);
    int at_max = 0, i;

    ck_assert_uint_ge(v[0], 1);
    ck_assert_uint_le(v[DRAWS - 1], 4 << 20);
    for (i = 0; i < DRAWS; i++)
        at_max += v[i] == 4 << 20;
    /* P(z > ln 4 / 2) is about 24%: the clamp is reached, and only there. */
    ck_assert_int_gt(at_max, DRAWS / 5);
    ck_assert_int_lt(at_max, DRAWS * 3 / 10);
    free(v);
    v = sorted_draws("lognormal:2,5", 4); /* half the draws fall below 2, many below 1 */
    ck_assert_uint_eq(v[0], 1);
    ck_assert_uint_le(v[DRAWS - 1], 128);
    free(v);
    v = sorted_draws("lognormal:1024T,5", 5); /* the largest sizes and spread stay finite */
    ck_assert_uint_ge(v[0], 1);
    ck_assert_uint_le(v[DRAWS - 1], 64ull << 50);
    ck_assert_uint_eq(v[DRAWS - 1], 64ull << 50);
    free(v);
}
END_TEST

START_TEST(the_same_seed_gives_the_same_sizes)
{
    static const char *const specs[] = {"1-1000000", "lognormal:1M,1.5"};
    size_t k;

    for (k = 0; k < 2; k++) {
        sb_dist_t d = dist_of(specs[k]);
        uint64_t s1 = 42, s2 = 42, s3 = 43;
        int i, differ = 0;

        for (i = 0; i < 1000; i++) {
            uint64_t x = sb_dist_sample(&d, &s1);

            ck_assert_uint_eq(x, sb_dist_sample(&d, &s2));
            differ += x != sb_dist_sample(&d, &s3);
        }
        ck_assert_int_gt(differ, 900);
    }
}
END_TEST

/* --- body bytes -------------------------------------------------------------------------- */

START_TEST(body_bytes_match_the_reference)
{
    /* Computed independently (Python) from the layout described in dist.c. */
    static const unsigned char seed1[16] = {0x1e, 0x61, 0x39, 0x74, 0x08, 0xab, 0x41, 0x5e,
                                            0xee, 0xf1, 0x6c, 0x3d, 0xe9, 0x6c, 0x8d, 0xf1};
    static const unsigned char seed42_at5[11] = {0xfa, 0xe1, 0x57, 0x55, 0x40, 0xb2,
                                                 0xfe, 0x43, 0xd1, 0xab, 0xf4};
    unsigned char buf[16];

    sb_body_fill(1, 0, buf, 16);
    ck_assert_mem_eq(buf, seed1, 16);
    sb_body_fill(42, 5, buf, 11);
    ck_assert_mem_eq(buf, seed42_at5, 11);
}
END_TEST

START_TEST(any_split_of_a_range_gives_the_same_bytes)
{
    enum { N = 4099 };
    unsigned char *whole = malloc(N), *parts = malloc(N);
    uint64_t s = 5;
    int round;

    ck_assert_ptr_nonnull(whole);
    ck_assert_ptr_nonnull(parts);
    sb_body_fill(77, 0, whole, N);
    for (round = 0; round < 200; round++) {
        size_t at = 0;

        memset(parts, 0, N);
        while (at < N) { /* pieces of 0..70 bytes at every alignment */
            size_t n = (size_t)(sb_rand_next(&s) % 71);

            if (n > N - at)
                n = N - at;
            sb_body_fill(77, at, parts + at, n);
            at += n;
        }
        ck_assert_mem_eq(parts, whole, N);
    }
    free(whole);
    free(parts);
}
END_TEST

START_TEST(offset_ranges_are_slices_of_the_stream)
{
    enum { N = 1000 };
    unsigned char whole[N], piece[N];
    size_t off, len;

    sb_body_fill(3, 0, whole, N);
    for (off = 0; off < 40; off++)
        for (len = 0; len + off <= 100; len += 7) {
            memset(piece, 0xee, sizeof(piece));
            sb_body_fill(3, off, piece, len);
            ck_assert_mem_eq(piece, whole + off, len);
            ck_assert_uint_eq(piece[len], 0xee); /* nothing past len */
        }
    /* Far offsets too: the bytes at 2^40 + 3 are the same however they are reached. */
    sb_body_fill(3, (1ull << 40) + 3, piece, 64);
    sb_body_fill(3, (1ull << 40), whole, 67);
    ck_assert_mem_eq(piece, whole + 3, 64);
}
END_TEST

START_TEST(different_seeds_give_different_bytes)
{
    unsigned char a[256], b[256];
    int same = 0, i;

    sb_body_fill(1, 0, a, sizeof(a));
    sb_body_fill(2, 0, b, sizeof(b));
    for (i = 0; i < 256; i++)
        same += a[i] == b[i];
    ck_assert_int_lt(same, 16); /* about 1 in 256 by chance */
    sb_body_fill(0, 0, a, sizeof(a));
    for (i = 0, same = 0; i < 256; i++)
        same += a[i] == 0;
    ck_assert_int_lt(same, 16); /* seed 0 is not all zeros */
}
END_TEST

START_TEST(body_bytes_look_uniform)
{
    enum { N = 1 << 20 };
    unsigned char *buf = malloc(N);
    uint64_t counts[256] = {0};
    int i;

    ck_assert_ptr_nonnull(buf);
    sb_body_fill(9, 0, buf, N);
    for (i = 0; i < N; i++)
        counts[buf[i]]++;
    for (i = 0; i < 256; i++) /* expected 4096 each, sd 64 */
        ck_assert_msg(counts[i] > 3700 && counts[i] < 4500, "byte %d seen %llu times", i,
                      (unsigned long long)counts[i]);
    free(buf);
}
END_TEST

Suite *dist_suite(void)
{
    Suite *s = suite_create("dist");
    TCase *tc;

    tc = tcase_create("random");
    tcase_add_test(tc, splitmix64_gives_the_reference_outputs);
    tcase_add_test(tc, rand_unit_is_in_0_1_with_mean_one_half);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_test(tc, fixed_sizes_parse);
    tcase_add_test(tc, uniform_ranges_parse);
    tcase_add_test(tc, lognormal_takes_defaults_for_sigma_and_max);
    tcase_add_test(tc, bad_distributions_are_refused);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("sample");
    tcase_add_test(tc, fixed_is_exact);
    tcase_add_test(tc, uniform_stays_in_range_and_reaches_both_ends);
    tcase_add_test(tc, wide_uniform_covers_the_range);
    tcase_add_test(tc, lognormal_median_and_spread_are_the_ones_asked_for);
    tcase_add_test(tc, lognormal_is_clamped_to_1_and_max);
    tcase_add_test(tc, the_same_seed_gives_the_same_sizes);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("body");
    tcase_add_test(tc, body_bytes_match_the_reference);
    tcase_add_test(tc, any_split_of_a_range_gives_the_same_bytes);
    tcase_add_test(tc, offset_ranges_are_slices_of_the_stream);
    tcase_add_test(tc, different_seeds_give_different_bytes);
    tcase_add_test(tc, body_bytes_look_uniform);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
