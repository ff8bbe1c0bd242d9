/* SPDX-License-Identifier: MIT
 *
 * The S3 store's concatenation plan (storage/s3_concat.c: sl__s3_concat_plan), which needs no
 * service: how partial uploads of given sizes become the parts of the final's multipart upload.
 * S3's rule is that every part but the last has at least 5 MiB; a partial that starts a part and
 * has that much is copied whole by the service, the rest is read and sent as data, in parts no
 * longer than the chunk plus the minimum. What the plan does against a real service is
 * tests/integration/test_s3_concat.py's.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "storage/s3_tus.h"

#define M ((uint64_t)1 << 20)
#define PMIN (5 * M)
#define CHUNK (16 * M)

static void assert_part(const sl_s3_plan_part_t *p, int copy, uint64_t off, uint64_t len)
{
    ck_assert_int_eq(p->copy, copy);
    ck_assert_uint_eq(p->off, off);
    ck_assert_uint_eq(p->len, len);
}

START_TEST(mixed_sizes_copy_the_large_and_gather_the_small)
{
    const uint64_t sizes[] = {6 * M, 1 * M, 6 * M, 1 * M};
    sl_s3_plan_part_t out[8];

    ck_assert_int_eq(sl__s3_concat_plan(sizes, 4, PMIN, CHUNK, out, 8), 3);
    assert_part(&out[0], 1, 0, 6 * M);
    ck_assert_uint_eq(out[0].src, 0);
    assert_part(&out[1], 0, 6 * M, 7 * M);  /* the small one takes the next large along */
    assert_part(&out[2], 0, 13 * M, 1 * M); /* the last part may be small */
}
END_TEST

START_TEST(large_ones_are_copied_and_the_last_small_one_stays_alone)
{
    const uint64_t sizes[] = {6 * M, 6 * M, 1 * M};
    sl_s3_plan_part_t out[8];

    ck_assert_int_eq(sl__s3_concat_plan(sizes, 3, PMIN, CHUNK, out, 8), 3);
    assert_part(&out[0], 1, 0, 6 * M);
    assert_part(&out[1], 1, 6 * M, 6 * M);
    ck_assert_uint_eq(out[1].src, 1);
    assert_part(&out[2], 0, 12 * M, 1 * M);
}
END_TEST

START_TEST(small_and_empty_ones_make_one_data_part)
{
    const uint64_t sizes[] = {M, 0, M + 5, M + 2};
    sl_s3_plan_part_t out[8];

    ck_assert_int_eq(sl__s3_concat_plan(sizes, 4, PMIN, CHUNK, out, 8), 1);
    assert_part(&out[0], 0, 0, 3 * M + 7);
}
END_TEST

START_TEST(nothing_but_empty_ones_makes_no_part)
{
    const uint64_t sizes[] = {0, 0};
    sl_s3_plan_part_t out[2];

    ck_assert_int_eq(sl__s3_concat_plan(sizes, 2, PMIN, CHUNK, out, 2), 0);
}
END_TEST

START_TEST(a_long_data_run_is_cut_in_chunks_of_at_least_the_minimum)
{
    const uint64_t sizes[] = {M, 40 * M};
    sl_s3_plan_part_t out[8];

    ck_assert_int_eq(sl__s3_concat_plan(sizes, 2, PMIN, CHUNK, out, 8), 3);
    assert_part(&out[0], 0, 0, 16 * M);
    assert_part(&out[1], 0, 16 * M, 16 * M);
    assert_part(&out[2], 0, 32 * M, 9 * M);
}
END_TEST

START_TEST(a_partial_too_large_to_copy_is_read)
{
    const uint64_t sizes[] = {SL_S3_COPY_MAX + 1};
    sl_s3_plan_part_t out[400];
    int n = sl__s3_concat_plan(sizes, 1, PMIN, CHUNK, out, 400), i;

    ck_assert_int_gt(n, 1);
    for (i = 0; i < n; i++)
        ck_assert_int_eq(out[i].copy, 0);
}
END_TEST

START_TEST(too_many_parts_for_the_room_is_an_error)
{
    const uint64_t sizes[] = {6 * M, 6 * M, 6 * M};
    sl_s3_plan_part_t out[2];

    ck_assert_int_eq(sl__s3_concat_plan(sizes, 3, PMIN, CHUNK, out, 2), SL_ETOOLONG);
}
END_TEST

/* Any sizes: the parts are contiguous and cover the sum, all but the last have the minimum, a
 * data part is at most chunk + min, a copied part is one whole partial. */
START_TEST(any_sizes_make_parts_s3_accepts)
{
    uint64_t sizes[12], starts[12];
    sl_s3_plan_part_t out[64];
    unsigned seed = 7;
    int round;

    for (round = 0; round < 2000; round++) {
        size_t n = 1 + (size_t)(rand_r(&seed) % 12), i;
        uint64_t total = 0, at = 0;
        int k, j;
        for (i = 0; i < n; i++) {
            int kind = rand_r(&seed) % 4; /* empty, small, around the minimum, large */
            sizes[i] = kind == 0   ? 0
                       : kind == 1 ? (uint64_t)(rand_r(&seed) % (int)(2 * M))
                       : kind == 2 ? PMIN - M + (uint64_t)(rand_r(&seed) % (int)(2 * M))
                                   : (uint64_t)(rand_r(&seed) % (int)(40 * M));
            starts[i] = total;
            total += sizes[i];
        }
        k = sl__s3_concat_plan(sizes, n, PMIN, CHUNK, out, 64);
        ck_assert_int_ge(k, 0);
        for (j = 0; j < k; j++) {
            ck_assert_uint_eq(out[j].off, at);
            ck_assert_uint_gt(out[j].len, 0);
            if (j + 1 < k)
                ck_assert_uint_ge(out[j].len, PMIN);
            if (out[j].copy) {
                ck_assert_uint_eq(out[j].off, starts[out[j].src]);
                ck_assert_uint_eq(out[j].len, sizes[out[j].src]);
            } else {
                ck_assert_uint_lt(out[j].len, CHUNK + PMIN);
            }
            at += out[j].len;
        }
        ck_assert_uint_eq(at, total);
    }
}
END_TEST

Suite *s3_concat_suite(void)
{
    Suite *s = suite_create("s3_concat");
    TCase *tc = tcase_create("plan");

    tcase_add_test(tc, mixed_sizes_copy_the_large_and_gather_the_small);
    tcase_add_test(tc, large_ones_are_copied_and_the_last_small_one_stays_alone);
    tcase_add_test(tc, small_and_empty_ones_make_one_data_part);
    tcase_add_test(tc, nothing_but_empty_ones_makes_no_part);
    tcase_add_test(tc, a_long_data_run_is_cut_in_chunks_of_at_least_the_minimum);
    tcase_add_test(tc, a_partial_too_large_to_copy_is_read);
    tcase_add_test(tc, too_many_parts_for_the_room_is_an_error);
    tcase_add_test(tc, any_sizes_make_parts_s3_accepts);
    suite_add_tcase(s, tc);
    return s;
}
