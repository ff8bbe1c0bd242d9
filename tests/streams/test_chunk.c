/* SPDX-License-Identifier: MIT
 *
 * Tests of streams/chunk.h: refcounted chunks, a loop's budget and its waiters.
 *
 * The budget is per loop: every test gets a fresh loop (loop_setup) whose context starts
 * unlimited and empty, and loop_teardown releases it (sl_defer_close) and checks that the loop
 * closes. Budget numbers leave room for a header counted with each chunk: a chunk of cap bytes
 * counts at least cap bytes. More than one loop: test_loops.c.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "streams/chunk.h"
#include "support/doubles.h"

Suite *chunk_suite(void);

static uv_loop_t loop;

static void loop_setup(void)
{
    open_loop(&loop);
}

static void loop_teardown(void)
{
    sl_defer_close(&loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static void on_wake(void *arg)
{
    int *count = arg;

    ++*count;
}

START_TEST(chunk_new_has_cap_len_0_and_one_reference)
{
    sl_chunk_t *c = sl_chunk_new(&loop, 100);

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(c->base);
    ck_assert_uint_eq(c->cap, 100);
    ck_assert_uint_eq(c->len, 0);
    ck_assert_uint_eq(c->refcnt, 1);
    memset(c->base, 'x', c->cap); /* all cap bytes are usable (ASan checks the bound) */
    sl_chunk_unref(c);
    ck_assert_uint_eq(sl_budget_in_use(&loop), 0);
}
END_TEST

START_TEST(chunk_copy_holds_its_own_copy)
{
    char src[] = "hello, sluice";
    sl_chunk_t *c = sl_chunk_copy(&loop, src, sizeof(src) - 1);

    ck_assert_uint_eq(c->len, sizeof(src) - 1);
    ck_assert_uint_ge(c->cap, c->len);
    ck_assert_uint_eq(c->refcnt, 1);
    src[0] = 'J'; /* the data was borrowed: changing it later must not change the chunk */
    ck_assert_mem_eq(c->base, "hello, sluice", c->len);
    sl_chunk_unref(c);
}
END_TEST

START_TEST(chunk_copy_of_zero_bytes_is_an_empty_chunk)
{
    sl_chunk_t *c = sl_chunk_copy(&loop, "", 0);

    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->len, 0);
    ck_assert_uint_eq(c->refcnt, 1);
    sl_chunk_unref(c);
    ck_assert_uint_eq(sl_budget_in_use(&loop), 0);
}
END_TEST

START_TEST(chunk_ref_returns_the_chunk_and_unref_frees_at_zero)
{
    sl_chunk_t *c = sl_chunk_new(&loop, 4096);
    size_t held = sl_budget_in_use(&loop);

    ck_assert_uint_ge(held, 4096);
    ck_assert_ptr_eq(sl_chunk_ref(c), c);
    ck_assert_uint_eq(c->refcnt, 2);
    ck_assert_uint_eq(sl_budget_in_use(&loop), held); /* a reference is not a second allocation */
    sl_chunk_unref(c);
    ck_assert_uint_eq(c->refcnt, 1);
    ck_assert_uint_eq(sl_budget_in_use(&loop), held);
    sl_chunk_unref(c);
    ck_assert_uint_eq(sl_budget_in_use(&loop), 0);
}
END_TEST

START_TEST(chunk_unref_of_null_is_ignored)
{
    sl_chunk_unref(NULL);
    ck_assert_uint_eq(sl_budget_in_use(&loop), 0);
}
END_TEST

START_TEST(budget_counts_live_chunks_and_keeps_the_peak)
{
    sl_chunk_t *a = sl_chunk_new(&loop, 3000);
    sl_chunk_t *b = sl_chunk_copy(&loop, "abc", 3);

    ck_assert_uint_ge(sl_budget_in_use(&loop), 3003);
    sl_chunk_unref(a);
    ck_assert_uint_lt(sl_budget_in_use(&loop), 3000);
    ck_assert_uint_gt(sl_budget_in_use(&loop), 0);
    sl_chunk_unref(b);
    ck_assert_uint_eq(sl_budget_in_use(&loop), 0);
    ck_assert_uint_ge(sl_budget_peak(&loop), 3003);
}
END_TEST

START_TEST(budget_reports_exhaustion_but_never_refuses)
{
    sl_chunk_t *a, *b;

    sl_budget_set(&loop, 1000);
    a = sl_chunk_new(&loop, 400);
    ck_assert_int_eq(sl_budget_exhausted(&loop), 0);
    b = sl_chunk_new(&loop, 700); /* over the budget: still allocated, only reported */
    ck_assert_ptr_nonnull(b);
    memset(b->base, 'y', b->cap);
    ck_assert_int_eq(sl_budget_exhausted(&loop), 1);
    sl_chunk_unref(b);
    ck_assert_int_eq(sl_budget_exhausted(&loop), 0);
    sl_chunk_unref(a);
    sl_budget_set(&loop, 0);
}
END_TEST

START_TEST(budget_of_0_is_unlimited)
{
    sl_chunk_t *c;

    sl_budget_set(&loop, 0);
    c = sl_chunk_new(&loop, 1 << 20);
    ck_assert_int_eq(sl_budget_exhausted(&loop), 0);
    sl_chunk_unref(c);
}
END_TEST

START_TEST(waiter_is_woken_once_usage_falls_under_half)
{
    sl_budget_waiter_t w;
    sl_chunk_t *a, *b;
    int count = 0;

    memset(&w, 0, sizeof(w));
    sl_budget_set(&loop, 1000);
    a = sl_chunk_new(&loop, 700);
    b = sl_chunk_new(&loop, 400);
    ck_assert_int_eq(sl_budget_exhausted(&loop), 1);
    sl_budget_wait(&loop, &w, on_wake, &count);
    ck_assert_uint_eq(sl_budget_waiting(&loop), 1);
    ck_assert_int_eq(sl_budget_poll(&loop), 0);
    sl_chunk_unref(b); /* about 700 in use: under the budget but not under half */
    ck_assert_int_eq(sl_budget_exhausted(&loop), 0);
    ck_assert_int_eq(sl_budget_poll(&loop), 0);
    ck_assert_int_eq(count, 0);
    sl_chunk_unref(a);
    ck_assert_int_eq(count, 0); /* woken from sl_budget_poll, never inside unref */
    ck_assert_int_eq(sl_budget_poll(&loop), 1);
    ck_assert_int_eq(count, 1);
    ck_assert_uint_eq(sl_budget_waiting(&loop), 0);
    ck_assert_int_eq(sl_budget_poll(&loop), 0); /* once */
    ck_assert_int_eq(count, 1);
    sl_budget_set(&loop, 0);
}
END_TEST

START_TEST(waiter_queued_under_half_is_woken_by_the_next_poll)
{
    sl_budget_waiter_t w;
    int count = 0;

    memset(&w, 0, sizeof(w));
    sl_budget_set(&loop, 1000);
    sl_budget_wait(&loop, &w, on_wake, &count);
    ck_assert_int_eq(sl_budget_poll(&loop), 1);
    ck_assert_int_eq(count, 1);
    sl_budget_set(&loop, 0);
}
END_TEST

START_TEST(every_queued_waiter_is_woken)
{
    sl_budget_waiter_t w[3];
    sl_chunk_t *c;
    int count = 0;
    int i;

    memset(w, 0, sizeof(w));
    sl_budget_set(&loop, 1000);
    c = sl_chunk_new(&loop, 1000);
    for (i = 0; i < 3; i++)
        sl_budget_wait(&loop, &w[i], on_wake, &count);
    ck_assert_uint_eq(sl_budget_waiting(&loop), 3);
    ck_assert_int_eq(sl_budget_poll(&loop), 0);
    sl_chunk_unref(c);
    ck_assert_int_eq(sl_budget_poll(&loop), 3);
    ck_assert_int_eq(count, 3);
    ck_assert_uint_eq(sl_budget_waiting(&loop), 0);
    sl_budget_set(&loop, 0);
}
END_TEST

START_TEST(cancelled_waiter_is_never_woken)
{
    sl_budget_waiter_t w1, w2;
    sl_chunk_t *c;
    int count1 = 0, count2 = 0;

    memset(&w1, 0, sizeof(w1));
    memset(&w2, 0, sizeof(w2));
    sl_budget_set(&loop, 1000);
    c = sl_chunk_new(&loop, 1000);
    sl_budget_wait(&loop, &w1, on_wake, &count1);
    sl_budget_wait(&loop, &w2, on_wake, &count2);
    sl_budget_cancel(&w1);
    ck_assert_uint_eq(sl_budget_waiting(&loop), 1);
    sl_chunk_unref(c);
    ck_assert_int_eq(sl_budget_poll(&loop), 1);
    ck_assert_int_eq(count1, 0);
    ck_assert_int_eq(count2, 1);
    sl_budget_cancel(&w2); /* after its wake: a source's destroy may still cancel, harmlessly */
    sl_budget_cancel(&w1); /* twice */
    ck_assert_uint_eq(sl_budget_waiting(&loop), 0);
    ck_assert_int_eq(sl_budget_poll(&loop), 0);
    ck_assert_int_eq(count1, 0);
    ck_assert_int_eq(count2, 1);
    sl_budget_set(&loop, 0);
}
END_TEST

START_TEST(waiting_again_while_queued_queues_once)
{
    sl_budget_waiter_t w;
    sl_chunk_t *c;
    int count = 0;

    memset(&w, 0, sizeof(w));
    sl_budget_set(&loop, 1000);
    c = sl_chunk_new(&loop, 1000);
    /* A source asks again on every push while the budget stays exhausted (server/http/src_http.c).
     */
    sl_budget_wait(&loop, &w, on_wake, &count);
    sl_budget_wait(&loop, &w, on_wake, &count);
    ck_assert_uint_eq(sl_budget_waiting(&loop), 1);
    sl_chunk_unref(c);
    ck_assert_int_eq(sl_budget_poll(&loop), 1);
    ck_assert_int_eq(count, 1);
    sl_budget_set(&loop, 0);
}
END_TEST

START_TEST(cancelling_a_waiter_never_queued_is_harmless)
{
    sl_budget_waiter_t w;

    memset(&w, 0, sizeof(w));
    sl_budget_cancel(&w);
    ck_assert_uint_eq(sl_budget_waiting(&loop), 0);
    ck_assert_int_eq(sl_budget_poll(&loop), 0);
}
END_TEST

START_TEST(allocation_helpers_return_usable_memory)
{
    char *p = sl_xmalloc(16);
    int *z = sl_xcalloc(8, sizeof(int));
    char *s = sl_xstrdup("sluice");
    int i;

    memcpy(p, "0123456789abcdef", 16);
    p = sl_xrealloc(p, 4096);
    ck_assert_mem_eq(p, "0123456789abcdef", 16);
    for (i = 0; i < 8; i++)
        ck_assert_int_eq(z[i], 0);
    ck_assert_str_eq(s, "sluice");
    free(p);
    free(z);
    free(s);
}
END_TEST

Suite *chunk_suite(void)
{
    Suite *s = suite_create("chunk");
    TCase *tc;

    tc = add_tcase(s, "refcount");
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, chunk_new_has_cap_len_0_and_one_reference);
    tcase_add_test(tc, chunk_copy_holds_its_own_copy);
    tcase_add_test(tc, chunk_copy_of_zero_bytes_is_an_empty_chunk);
    tcase_add_test(tc, chunk_ref_returns_the_chunk_and_unref_frees_at_zero);
    tcase_add_test(tc, chunk_unref_of_null_is_ignored);
    tcase_add_test(tc, allocation_helpers_return_usable_memory);

    tc = add_tcase(s, "budget");
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, budget_counts_live_chunks_and_keeps_the_peak);
    tcase_add_test(tc, budget_reports_exhaustion_but_never_refuses);
    tcase_add_test(tc, budget_of_0_is_unlimited);

    tc = add_tcase(s, "waiters");
    tcase_add_checked_fixture(tc, loop_setup, loop_teardown);
    tcase_add_test(tc, waiter_is_woken_once_usage_falls_under_half);
    tcase_add_test(tc, waiter_queued_under_half_is_woken_by_the_next_poll);
    tcase_add_test(tc, every_queued_waiter_is_woken);
    tcase_add_test(tc, cancelled_waiter_is_never_woken);
    tcase_add_test(tc, waiting_again_while_queued_queues_once);
    tcase_add_test(tc, cancelling_a_waiter_never_queued_is_harmless);
    return s;
}
