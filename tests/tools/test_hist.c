/* SPDX-License-Identifier: MIT
 *
 * The latency histogram (tools/bench/hist.c): the bucket layout bench.h describes, exact values
 * below 32, a relative error of at most 1/32 above, percentiles on known sets, min, max, mean,
 * huge values, and the empty histogram.
 */
#include <check.h>
#include <math.h>

#include "bench.h"

#define NBUCKETS (SB_HIST_MAGS * SB_HIST_SUB)

static sb_hist_t h;

static void hist_setup(void)
{
    sb_hist_init(&h);
}

/* The index of the one bucket that holds a count. */
static int only_bucket(void)
{
    int i, found = -1;

    for (i = 0; i < NBUCKETS; i++)
        if (h.counts[i] != 0) {
            ck_assert_int_eq(found, -1);
            found = i;
        }
    return found;
}

static int bucket_of(uint64_t v)
{
    sb_hist_init(&h);
    sb_hist_record(&h, v);
    return only_bucket();
}

START_TEST(buckets_follow_the_documented_layout)
{
    ck_assert_int_eq(bucket_of(0), 0);
    ck_assert_int_eq(bucket_of(31), 31);
    ck_assert_int_eq(bucket_of(32), 32); /* magnitude 1: [32, 64), width 1 */
    ck_assert_int_eq(bucket_of(63), 63);
    ck_assert_int_eq(bucket_of(64), 64); /* magnitude 2: [64, 128), width 2 */
    ck_assert_int_eq(bucket_of(65), 64);
    ck_assert_int_eq(bucket_of(66), 65);
    ck_assert_int_eq(bucket_of(127), 95);
    ck_assert_int_eq(bucket_of(1000), 5 * 32 + (1000 >> 4) - 32); /* log2: 9, so m = 5 */
    ck_assert_int_eq(bucket_of(1ull << 44), 40 * 32);
    ck_assert_int_eq(bucket_of((1ull << 45) - 1), NBUCKETS - 1);
    ck_assert_int_eq(bucket_of(1ull << 45), NBUCKETS - 1); /* past the range: the last one */
    ck_assert_int_eq(bucket_of(UINT64_MAX), NBUCKETS - 1);
}
END_TEST

START_TEST(empty_histogram_reads_zero)
{
    ck_assert_uint_eq(h.n, 0);
    ck_assert_uint_eq(sb_hist_percentile(&h, 50), 0);
    ck_assert_uint_eq(sb_hist_percentile(&h, 100), 0);
    ck_assert(sb_hist_mean(&h) == 0);
}
END_TEST

START_TEST(small_values_are_exact)
{
    uint64_t v;

    for (v = 1; v <= 20; v++)
        sb_hist_record(&h, v);
    ck_assert_uint_eq(sb_hist_percentile(&h, 50), 10);
    ck_assert_uint_eq(sb_hist_percentile(&h, 5), 1);
    ck_assert_uint_eq(sb_hist_percentile(&h, 5.01), 2);
    ck_assert_uint_eq(sb_hist_percentile(&h, 90), 18);
    ck_assert_uint_eq(sb_hist_percentile(&h, 99), 20);
    ck_assert_uint_eq(sb_hist_percentile(&h, 100), 20);
    ck_assert_uint_eq(sb_hist_percentile(&h, 0), 1);
    ck_assert_uint_eq(h.min, 1);
    ck_assert_uint_eq(h.max, 20);
    ck_assert_double_eq_tol(sb_hist_mean(&h), 10.5, 1e-9);
}
END_TEST

START_TEST(one_value_is_every_percentile)
{
    sb_hist_record(&h, 123456);
    ck_assert_uint_eq(sb_hist_percentile(&h, 1), 123456);
    ck_assert_uint_eq(sb_hist_percentile(&h, 50), 123456); /* capped at max */
    ck_assert_uint_eq(sb_hist_percentile(&h, 100), 123456);
    ck_assert_uint_eq(h.min, 123456);
    ck_assert_uint_eq(h.max, 123456);
}
END_TEST

START_TEST(large_values_are_within_one_32nd)
{
    uint64_t s = 11;
    int i;

    for (i = 0; i < 20000; i++) {
        /* Values spread over every magnitude, 32 .. 2^45. */
        uint64_t v = (sb_rand_next(&s) >> (19 + sb_rand_next(&s) % 40)) | 32, got;

        if (v >= 1ull << 45)
            v >>= 1;
        sb_hist_init(&h);
        sb_hist_record(&h, v);
        sb_hist_record(&h, UINT64_MAX); /* so that max does not cap the answer */
        got = sb_hist_percentile(&h, 50);
        ck_assert_msg(got >= v && (double)(got - v) <= (double)v / 32, "%llu read as %llu",
                      (unsigned long long)v, (unsigned long long)got);
    }
}
END_TEST

START_TEST(percentiles_of_1_to_10000)
{
    static const double ps[] = {1, 10, 50, 90, 99, 99.9};
    uint64_t v;
    size_t i;

    for (v = 1; v <= 10000; v++)
        sb_hist_record(&h, v);
    for (i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        double want = ps[i] * 100; /* the exact value at rank p / 100 * 10000 */
        uint64_t got = sb_hist_percentile(&h, ps[i]);

        ck_assert_msg((double)got >= want && (double)got <= want * (1 + 1.0 / 32),
                      "p%g: %llu, want %g", ps[i], (unsigned long long)got, want);
    }
    ck_assert_uint_eq(sb_hist_percentile(&h, 100), 10000);
    ck_assert_uint_eq(h.min, 1);
    ck_assert_uint_eq(h.max, 10000);
    ck_assert_uint_eq(h.n, 10000);
    ck_assert_double_eq_tol(sb_hist_mean(&h), 5000.5, 1e-9);
}
END_TEST

START_TEST(ranks_round_up_exactly)
{
    int i;

    /* 999 sevens and a nine: p99.9 is rank 999, although 99.9 / 100 * 1000 is 999.0000000000001
     * in floating point. */
    for (i = 0; i < 999; i++)
        sb_hist_record(&h, 7);
    sb_hist_record(&h, 9);
    ck_assert_uint_eq(sb_hist_percentile(&h, 99.9), 7);
    ck_assert_uint_eq(sb_hist_percentile(&h, 99.91), 9);
    ck_assert_uint_eq(sb_hist_percentile(&h, 100), 9);
}
END_TEST

START_TEST(percentiles_never_decrease_nor_pass_max)
{
    uint64_t s = 3, prev = 0;
    double p;
    int i;

    for (i = 0; i < 5000; i++)
        sb_hist_record(&h, sb_rand_next(&s) % 5000000);
    for (p = 0.5; p <= 100; p += 0.5) {
        uint64_t x = sb_hist_percentile(&h, p);

        ck_assert_uint_ge(x, prev);
        ck_assert_uint_le(x, h.max);
        ck_assert_uint_ge(x, h.min);
        prev = x;
    }
}
END_TEST

START_TEST(huge_values_keep_an_exact_max)
{
    sb_hist_record(&h, 1ull << 50);
    sb_hist_record(&h, UINT64_MAX);
    ck_assert_uint_eq(h.max, UINT64_MAX);
    ck_assert_uint_eq(h.min, 1ull << 50);
    ck_assert_uint_eq(sb_hist_percentile(&h, 100), UINT64_MAX);
    ck_assert_uint_eq(h.counts[NBUCKETS - 1], 2);
    ck_assert(sb_hist_mean(&h) > 9e18);
}
END_TEST

START_TEST(zero_is_a_value)
{
    sb_hist_record(&h, 0);
    sb_hist_record(&h, 0);
    sb_hist_record(&h, 4);
    ck_assert_uint_eq(h.min, 0);
    ck_assert_uint_eq(sb_hist_percentile(&h, 50), 0);
    ck_assert_uint_eq(sb_hist_percentile(&h, 67), 4);
}
END_TEST

Suite *hist_suite(void)
{
    Suite *s = suite_create("hist");
    TCase *tc = tcase_create("hist");

    tcase_add_checked_fixture(tc, hist_setup, NULL);
    tcase_add_test(tc, buckets_follow_the_documented_layout);
    tcase_add_test(tc, empty_histogram_reads_zero);
    tcase_add_test(tc, small_values_are_exact);
    tcase_add_test(tc, one_value_is_every_percentile);
    tcase_add_test(tc, large_values_are_within_one_32nd);
    tcase_add_test(tc, percentiles_of_1_to_10000);
    tcase_add_test(tc, ranks_round_up_exactly);
    tcase_add_test(tc, percentiles_never_decrease_nor_pass_max);
    tcase_add_test(tc, huge_values_keep_an_exact_max);
    tcase_add_test(tc, zero_is_a_value);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
