/* SPDX-License-Identifier: MIT
 *
 * Tests of the per-loop state of the stream layer (streams/loopctx.h): sl_defer, the budget, its
 * waiters and slabs belong to a loop, not to the process.
 *
 * Many loops: more than the 16 the old fixed tables held (the 17th aborted), all alive at once,
 * each with deferred calls, chunks, a budget and a waiter of its own, then closed clean. One
 * loop's budget is not another's. Servers joining a loop add up their budgets; the last to leave
 * releases the loop. A chunk may outlive its loop's context. A loop re-initialised at the same
 * address gets a fresh context (the per-thread cache does not hand out the old one). Two threads
 * with a loop each allocate and free at once (run under TSan or helgrind for the races).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "streams/stream.h"
#include "support/doubles.h"

Suite *loops_suite(void);

#define NLOOPS 40 /* well past the old 16 */

static void count_call(void *arg)
{
    ++*(int *)arg;
}

static void close_clean(uv_loop_t *loop)
{
    sl_defer_close(loop);
    uv_run(loop, UV_RUN_DEFAULT); /* the context's close callbacks */
    ck_assert_int_eq(uv_loop_close(loop), 0);
}

START_TEST(more_than_16_loops_each_defer_and_count_their_own_chunks)
{
    uv_loop_t *loops = calloc(NLOOPS, sizeof(*loops));
    sl_chunk_t *c[NLOOPS];
    int calls[NLOOPS] = {0};
    int i;

    ck_assert_ptr_nonnull(loops);
    for (i = 0; i < NLOOPS; i++) {
        open_loop(&loops[i]);
        sl_defer(&loops[i], count_call, &calls[i]);
        sl_defer(&loops[i], count_call, &calls[i]);
        sl_budget_set(&loops[i], 1000 + (size_t)i);
        c[i] = sl_chunk_new(&loops[i], 100 + (size_t)i);
    }
    for (i = 0; i < NLOOPS; i++) { /* every loop alive at once, each with its own numbers */
        ck_assert_uint_eq(sl_budget_max(&loops[i]), 1000 + (size_t)i);
        ck_assert_uint_eq(sl_budget_in_use(&loops[i]), 100 + (size_t)i);
        ck_assert_int_eq(calls[i], 0); /* never inside the caller */
    }
    for (i = 0; i < NLOOPS; i++) {
        uv_run(&loops[i], UV_RUN_DEFAULT);
        ck_assert_int_eq(calls[i], 2);
        sl_chunk_unref(c[i]);
        ck_assert_uint_eq(sl_budget_in_use(&loops[i]), 0);
        ck_assert_uint_eq(sl_budget_peak(&loops[i]), 100 + (size_t)i);
    }
    for (i = 0; i < NLOOPS; i++)
        close_clean(&loops[i]);
    free(loops);
}
END_TEST

START_TEST(loops_opened_and_closed_again_and_again)
{
    uv_loop_t loop;
    int i, calls = 0;

    for (i = 0; i < 3 * NLOOPS; i++) { /* the old tables also had to be freed in time */
        open_loop(&loop);
        sl_defer(&loop, count_call, &calls);
        sl_chunk_unref(sl_chunk_new(&loop, SL_CHUNK_SLAB)); /* a slab kept on the free list */
        uv_run(&loop, UV_RUN_DEFAULT);
        close_clean(&loop);
    }
    ck_assert_int_eq(calls, 3 * NLOOPS);
}
END_TEST

/* Run one turn of `loop` through its check handle (unreferenced: a deferred call keeps the loop
 * alive for that turn). */
static void turn(uv_loop_t *loop)
{
    int calls = 0;

    sl_defer(loop, count_call, &calls);
    uv_run(loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(calls, 1);
}

START_TEST(one_loops_budget_and_waiters_are_not_anothers)
{
    uv_loop_t a, b;
    sl_budget_waiter_t wa, wb;
    sl_chunk_t *c;
    int woken_a = 0, woken_b = 0;

    memset(&wa, 0, sizeof(wa));
    memset(&wb, 0, sizeof(wb));
    open_loop(&a);
    open_loop(&b);
    sl_budget_set(&a, 1000);
    sl_budget_set(&b, 1 << 20);
    c = sl_chunk_new(&a, 1000);
    ck_assert_int_eq(sl_budget_exhausted(&a), 1);
    ck_assert_int_eq(sl_budget_exhausted(&b), 0); /* a's chunks do not count against b */
    ck_assert_uint_eq(sl_budget_in_use(&b), 0);
    ck_assert_uint_eq(sl_budget_peak(&b), 0);
    sl_budget_wait(&a, &wa, count_call, &woken_a);
    sl_budget_wait(&b, &wb, count_call, &woken_b);
    ck_assert_uint_eq(sl_budget_waiting(&a), 1);
    ck_assert_uint_eq(sl_budget_waiting(&b), 1);
    turn(&b); /* b's check handle wakes b's waiter only */
    ck_assert_int_eq(woken_b, 1);
    turn(&a);
    ck_assert_int_eq(woken_a, 0); /* a is still exhausted */
    sl_chunk_unref(c);
    turn(&a);
    ck_assert_int_eq(woken_a, 1);
    close_clean(&a);
    close_clean(&b);
}
END_TEST

START_TEST(servers_on_one_loop_share_the_sum_of_their_budgets)
{
    uv_loop_t loop;

    open_loop(&loop);
    sl_budget_join(&loop, 1000);
    ck_assert_uint_eq(sl_budget_max(&loop), 1000);
    sl_budget_join(&loop, 3000);
    ck_assert_uint_eq(sl_budget_max(&loop), 4000);
    sl_budget_join(&loop, 0); /* one without a limit: the loop has none */
    ck_assert_uint_eq(sl_budget_max(&loop), 0);
    sl_budget_leave(&loop, 0);
    ck_assert_uint_eq(sl_budget_max(&loop), 4000);
    sl_budget_leave(&loop, 1000);
    ck_assert_uint_eq(sl_budget_max(&loop), 3000);
    sl_defer(&loop, count_call, &(int){0}); /* handles to release */
    uv_run(&loop, UV_RUN_DEFAULT);
    sl_budget_leave(&loop, 3000); /* the last one releases the loop's context */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(a_chunk_may_outlive_its_loops_context)
{
    uv_loop_t loop;
    sl_budget_waiter_t w;
    sl_chunk_t *c;
    int woken = 0;

    memset(&w, 0, sizeof(w));
    open_loop(&loop);
    sl_budget_set(&loop, 100);
    c = sl_chunk_new(&loop, SL_CHUNK_SLAB);
    sl_budget_wait(&loop, &w, count_call, &woken);
    close_clean(&loop);
    ck_assert_int_eq(w.queued, 0); /* dequeued by the close, never woken */
    sl_budget_cancel(&w);          /* harmless */
    memset(c->base, 'z', c->cap);  /* still the caller's (ASan checks) */
    sl_chunk_unref(c);             /* frees the detached context too */
    ck_assert_int_eq(woken, 0);
}
END_TEST

START_TEST(a_loop_at_the_address_of_a_closed_one_starts_afresh)
{
    uv_loop_t loop;

    open_loop(&loop);
    sl_budget_set(&loop, 5000);
    sl_chunk_unref(sl_chunk_new(&loop, 4000));
    ck_assert_uint_eq(sl_budget_peak(&loop), 4000); /* cached for this thread now */
    close_clean(&loop);
    open_loop(&loop); /* same address: the cached entry must not be used */
    ck_assert_uint_eq(sl_budget_peak(&loop), 0);
    ck_assert_uint_eq(sl_budget_max(&loop), 0);
    sl_chunk_unref(sl_chunk_new(&loop, 10));
    ck_assert_uint_eq(sl_budget_peak(&loop), 10);
    close_clean(&loop);
}
END_TEST

#define ROUNDS 20000

typedef struct worker_s {
    pthread_t tid;
    size_t budget;
    size_t max_seen, peak, in_use_after;
    int deferred, exhausted_seen;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    uv_loop_t loop;
    sl_chunk_t *held[4] = {NULL};
    int i;

    uv_loop_init(&loop);
    sl_budget_set(&loop, w->budget);
    for (i = 0; i < ROUNDS; i++) {
        size_t cap = i % 3 == 0 ? SL_CHUNK_SLAB : (size_t)(1 + i % 5000);
        sl_chunk_unref(held[i % 4]);
        held[i % 4] = sl_chunk_new(&loop, cap);
        held[i % 4]->base[0] = (char)i;
        w->exhausted_seen += sl_budget_exhausted(&loop);
        if (i % 1000 == 0) {
            sl_defer(&loop, count_call, &w->deferred);
            uv_run(&loop, UV_RUN_NOWAIT);
        }
    }
    for (i = 0; i < 4; i++)
        sl_chunk_unref(held[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    w->max_seen = sl_budget_max(&loop);
    w->peak = sl_budget_peak(&loop);
    w->in_use_after = sl_budget_in_use(&loop);
    sl_chunk_trim(&loop);
    sl_defer_close(&loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        w->in_use_after = (size_t)-1;
    return NULL;
}

START_TEST(two_threads_with_a_loop_each_keep_exact_counts)
{
    worker_t w[2];
    int i;

    memset(w, 0, sizeof(w));
    w[0].budget = 512u << 10; /* exhausted now and then: 4 chunks up to a slab each */
    w[1].budget = 64u << 20;  /* never */
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(w[i].tid, NULL), 0);
    for (i = 0; i < 2; i++) {
        ck_assert_uint_eq(w[i].max_seen, w[i].budget);
        ck_assert_uint_eq(w[i].in_use_after, 0); /* a lost update would leave a residue */
        ck_assert_int_eq(w[i].deferred, ROUNDS / 1000);
        ck_assert_uint_le(w[i].peak, 4 * (size_t)SL_CHUNK_SLAB);
        ck_assert_uint_ge(w[i].peak, 2 * (size_t)SL_CHUNK_SLAB);
    }
    ck_assert_int_gt(w[0].exhausted_seen, 0);
    ck_assert_int_eq(w[1].exhausted_seen, 0);
}
END_TEST

Suite *loops_suite(void)
{
    Suite *s = suite_create("loops");
    TCase *tc;

    tc = add_tcase(s, "many");
    tcase_add_test(tc, more_than_16_loops_each_defer_and_count_their_own_chunks);
    tcase_add_test(tc, loops_opened_and_closed_again_and_again);

    tc = add_tcase(s, "separate");
    tcase_add_test(tc, one_loops_budget_and_waiters_are_not_anothers);
    tcase_add_test(tc, servers_on_one_loop_share_the_sum_of_their_budgets);
    tcase_add_test(tc, a_chunk_may_outlive_its_loops_context);
    tcase_add_test(tc, a_loop_at_the_address_of_a_closed_one_starts_afresh);

    tc = add_tcase(s, "threads");
    tcase_add_test(tc, two_threads_with_a_loop_each_keep_exact_counts);
    return s;
}
