/* SPDX-License-Identifier: MIT
 *
 * pipe, destroy and pipeline rules of streams/stream.h (P1-P3, D1-D2, L1-L4). Pipelines take
 * over each stage's on_close, so the pipeline tests watch the stages through the doubles'
 * do_destroy bookkeeping and the trace, and the pipeline through its probed callback ("pl.cb").
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "streams/pipeline.h"
#include "streams/stream.h"
#include "support/doubles.h"

Suite *pipeline_suite(void);

static uv_loop_t loop;
static sl_pipeline_t pl;
static probe_t pp;
static int freed;

/* Start a pipeline over `n` stages, probed as "pl"; it must be accepted. */
static void run_pipeline(sl_stream_t **stages, size_t n)
{
    int r;

    probe_pipeline(&pp, &pl, "pl");
    IN_CALL(r = sl_pipeline_run(&pl, stages, n, probe_pipeline_cb));
    ck_assert_int_eq(r, 0);
}

START_TEST(p1_pipe_delivers_every_chunk_in_order_with_bounded_buffers)
{
    fake_src_t f;
    slow_sink_t k;
    probe_t p;

    open_loop(&loop);
    fake_src_init(&f, &loop, 4096);
    slow_sink_init(&k, &loop, 4096, 1, SINK_FINAL);
    probe_stream(&p, &k.s, "sink");
    fake_src_script_pattern(&f, 32 * 1024, 1024, 1);
    ck_assert_int_eq(sl_stream_pipe(&f.s, &k.s), 0);
    fake_src_pump(&f);
    run_loop(&loop);
    ck_assert_uint_eq(k.got.len, 32 * 1024);
    ck_assert_uint_eq(pattern_check(k.got.data, k.got.len, 0), 32 * 1024);
    ck_assert_uint_lt(k.max_length, 4096 + 1024); /* writes stop at the first 0 */
    ck_assert_uint_lt(f.max_rlength, 4096 + 1024);
    ck_assert_int_ge(f.read_calls, 1); /* the source was paused and resumed */
    ck_assert_int_eq(p.finish, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(p1_zero_from_write_pauses_the_source_until_drain)
{
    fake_src_t f;
    slow_sink_t k;

    open_loop(&loop);
    fake_src_init(&f, &loop, 1024);
    slow_sink_init(&k, &loop, 8, 5, SINK_NO_FINAL);
    ck_assert_int_eq(sl_stream_pipe(&f.s, &k.s), 0);
    run_loop(&loop);
    fake_src_push(&f, "12345678", 8); /* straight to the sink, whose write returns 0 */
    ck_assert_uint_eq(k.s.bytes_in, 8);
    fake_src_push(&f, "abcd", 4);
    ck_assert_uint_eq(k.s.bytes_in, 8); /* paused: the source keeps it */
    ck_assert_uint_eq(f.s.rlength, 4);
    run_loop(&loop);
    assert_got(&k, "12345678abcd"); /* the drain resumed the source */
    ck_assert_uint_eq(f.s.rlength, 0);
    close_loop(&loop);
}
END_TEST

START_TEST(p1_pipe_rejects_a_second_destination_and_destroyed_streams)
{
    fake_src_t f, g;
    sync_sink_t a, b, c;

    open_loop(&loop);
    fake_src_init(&f, &loop, 64);
    fake_src_init(&g, &loop, 64);
    sync_sink_init(&a, &loop, 64, SINK_NO_FINAL);
    sync_sink_init(&b, &loop, 64, SINK_NO_FINAL);
    sync_sink_init(&c, &loop, 64, SINK_NO_FINAL);
    ck_assert_int_eq(sl_stream_pipe(&f.s, &a.s), 0);
    ck_assert_int_lt(sl_stream_pipe(&f.s, &b.s), 0); /* one destination */
    sl_stream_destroy(&b.s, 0);
    ck_assert_int_lt(sl_stream_pipe(&g.s, &b.s), 0);
    sl_stream_destroy(&g.s, 0);
    ck_assert_int_lt(sl_stream_pipe(&g.s, &c.s), 0);
    run_loop(&loop);
    fake_src_push_str(&f, "x");
    run_loop(&loop);
    assert_got(&a, "x");
    ck_assert_int_eq(b.write_calls + c.write_calls, 0);
    close_loop(&loop);
}
END_TEST

START_TEST(p2_end_of_the_source_ends_the_destination)
{
    fake_src_t f;
    slow_sink_t k;
    probe_t p;

    open_loop(&loop);
    fake_src_init(&f, &loop, 1024);
    slow_sink_init(&k, &loop, 1024, 1, SINK_FINAL);
    probe_stream(&p, &k.s, "sink");
    fake_src_push_str(&f, "xyz");
    fake_src_eof(&f);
    ck_assert_int_eq(sl_stream_pipe(&f.s, &k.s), 0);
    run_loop(&loop);
    assert_got(&k, "xyz");
    ck_assert_int_eq(k.final_calls, 1);
    ck_assert_int_eq(p.finish, 1);
    ck_assert(f.s.flags & SL_STREAM_ENDED);
    close_loop(&loop);
}
END_TEST

START_TEST(p3_source_error_leaves_the_destination_alive)
{
    fake_src_t f;
    slow_sink_t k;
    probe_t pf, pk;

    open_loop(&loop);
    fake_src_init(&f, &loop, 1024);
    slow_sink_init(&k, &loop, 1024, 1, SINK_FINAL);
    probe_stream(&pf, &f.s, "src");
    probe_stream(&pk, &k.s, "sink");
    ck_assert_int_eq(sl_stream_pipe(&f.s, &k.s), 0);
    run_loop(&loop);
    fake_src_push_str(&f, "ab");
    sl_stream_destroy(&f.s, UV_ECONNRESET);
    run_loop(&loop);
    ck_assert_int_eq(pf.close, 1);
    ck_assert_int_eq(pf.close_err, UV_ECONNRESET);
    ck_assert_int_eq(k.d.destroy_calls, 0); /* not destroyed, not ended */
    ck_assert_int_eq(pk.close, 0);
    ck_assert_int_eq(k.final_calls, 0);
    ck_assert_int_eq(pk.finish, 0);
    ck_assert_int_ge(write_str(&k.s, "cd"), 0); /* and still writable */
    run_loop(&loop);
    assert_got(&k, "abcd");
    close_loop(&loop);
}
END_TEST

START_TEST(d1_destroy_is_idempotent_and_closes_once_later)
{
    slow_sink_t k, z;
    probe_t p, pz;

    open_loop(&loop);
    slow_sink_init(&k, &loop, 64, 1, SINK_NO_FINAL);
    slow_sink_init(&z, &loop, 64, 1, SINK_NO_FINAL);
    probe_stream(&p, &k.s, "sink");
    probe_stream(&pz, &z.s, "z");
    IN_CALL(sl_stream_destroy(&k.s, UV_EIO));
    IN_CALL(sl_stream_destroy(&k.s, UV_ENOSPC));
    IN_CALL(sl_stream_destroy(&z.s, 0));
    ck_assert_int_eq(p.close, 0); /* on_close comes on a later turn */
    run_loop(&loop);
    ck_assert_int_eq(k.d.destroy_calls, 1);
    ck_assert_int_eq(k.d.destroy_err, UV_EIO);
    ck_assert_int_eq(p.close, 1);
    ck_assert_int_eq(p.close_err, UV_EIO);
    ck_assert_int_eq(pz.close, 1);
    ck_assert_int_eq(pz.close_err, 0); /* a plain close */
    sl_stream_destroy(&k.s, UV_EPIPE); /* after the close as well */
    run_loop(&loop);
    ck_assert_int_eq(p.close, 1);
    ck_assert_int_eq(k.d.destroy_calls, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(d3_complete_streams_destroy_themselves)
{
    slow_sink_t k;
    fake_src_t f;
    probe_t pk, pf;

    open_loop(&loop);
    fake_src_init(&f, &loop, 64);
    slow_sink_init(&k, &loop, 64, 1, SINK_FINAL);
    probe_stream(&pf, &f.s, "src");
    probe_stream(&pk, &k.s, "sink");
    ck_assert_int_eq(sl_stream_pipe(&f.s, &k.s), 0);
    fake_src_push_str(&f, "abc");
    ck_assert_int_eq(sl_stream_push(&f.s, NULL), 0);
    run_loop(&loop);
    ck_assert_int_eq(pk.finish, 1);
    ck_assert(k.s.flags & SL_STREAM_DESTROYED); /* the writable after on_finish */
    ck_assert(f.s.flags & SL_STREAM_DESTROYED); /* the readable after its end */
    ck_assert_int_eq(pk.close, 1);
    ck_assert_int_eq(pk.close_err, 0);
    ck_assert_int_eq(pf.close, 1);
    ck_assert_int_eq(pf.close_err, 0);
    close_loop(&loop);
}
END_TEST

START_TEST(d1_on_close_waits_for_a_slow_do_destroy)
{
    slow_sink_t k;
    probe_t p;

    open_loop(&loop);
    slow_sink_init(&k, &loop, 64, 20, SINK_NO_FINAL);
    probe_stream(&p, &k.s, "sink");
    write_str(&k.s, "in flight");
    sl_stream_destroy(&k.s, 0); /* do_destroy waits for the write, as a file sink does */
    run_loop(&loop);
    ck_assert_int_eq(p.close, 1);
    assert_order("sink.destroy", "sink.write_done");
    assert_order("sink.destroyed", "sink.close");
    close_loop(&loop);
}
END_TEST

static void free_on_close(sl_stream_t *s, int err)
{
    ck_assert_int_eq(err, 0);
    sink_release((test_sink_t *)s);
    memset(s, 0x5a, sizeof(test_sink_t)); /* poison: any later use by the stream layer shows */
    free(s);
    freed++;
}

START_TEST(d1_memory_may_be_freed_in_on_close)
{
    test_sink_t *k = malloc(sizeof(*k));

    freed = 0;
    open_loop(&loop);
    ck_assert_ptr_nonnull(k);
    sync_sink_init(k, &loop, 64, SINK_FINAL);
    k->s.on_close = free_on_close;
    write_str(&k->s, "bye");
    run_loop(&loop);
    ck_assert_int_eq(k->writes_done, 1);
    ck_assert_int_eq(freed, 0);
    sl_stream_destroy(&k->s, 0);
    run_loop(&loop);
    ck_assert_int_eq(freed, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(d2_destroy_releases_queued_chunks_and_rejects_writes)
{
    slow_sink_t k;
    probe_t p;
    sl_chunk_t *c[4];
    int i;

    open_loop(&loop);
    slow_sink_init(&k, &loop, 1024, 10, SINK_FINAL);
    probe_stream(&p, &k.s, "sink");
    for (i = 0; i < 4; i++)
        c[i] = sl_chunk_copy(&loop, "chunk", 5);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(sl_stream_write(&k.s, c[i]), 1);
    sl_stream_destroy(&k.s, 0);
    ck_assert_int_eq(sl_stream_write(&k.s, c[3]), SL_EDESTROYED);
    ck_assert_uint_eq(c[3]->refcnt, 1);
    ck_assert_int_lt(sl_stream_end(&k.s), 0);
    run_loop(&loop);
    ck_assert_int_eq(k.write_calls, 1); /* the queued chunks were dropped, not written */
    for (i = 0; i < 3; i++)
        ck_assert_uint_eq(c[i]->refcnt, 1);
    ck_assert_int_eq(p.close, 1);
    ck_assert_int_eq(p.finish, 0);
    ck_assert_int_eq(k.final_calls, 0);
    for (i = 0; i < 4; i++)
        sl_chunk_unref(c[i]);
    close_loop(&loop);
}
END_TEST

START_TEST(l1_pipeline_moves_every_chunk_and_calls_back_once)
{
    fake_src_t f;
    pass_xf_t x;
    slow_sink_t k;
    sl_stream_t *st[] = {&f.s, &x.s, &k.s};

    open_loop(&loop);
    fake_src_init(&f, &loop, 1024);
    pass_xf_init(&x, &loop, 1024, 1024);
    slow_sink_init(&k, &loop, 1024, 1, SINK_FINAL);
    fake_src_script_pattern(&f, 16 * 512, 512, 1);
    run_pipeline(st, 3);
    fake_src_pump(&f);
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    ck_assert_int_eq(pp.status, 0);
    ck_assert_int_eq(pl.error, 0);
    ck_assert_uint_eq(k.got.len, 16 * 512);
    ck_assert_uint_eq(pattern_check(k.got.data, k.got.len, 0), 16 * 512);
    ck_assert_int_eq(k.final_calls, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(l1_pipeline_rejects_bad_arguments_and_never_calls_back)
{
    fake_src_t f;
    sync_sink_t k;
    sl_stream_t *st[SL_PIPELINE_MAX + 1];
    size_t i;

    open_loop(&loop);
    fake_src_init(&f, &loop, 64);
    sync_sink_init(&k, &loop, 64, SINK_NO_FINAL);
    for (i = 0; i < SL_PIPELINE_MAX + 1; i++)
        st[i] = i % 2 ? &k.s : &f.s;
    probe_pipeline(&pp, &pl, "pl");
    ck_assert_int_lt(sl_pipeline_run(&pl, st, 0, probe_pipeline_cb), 0);
    ck_assert_int_lt(sl_pipeline_run(&pl, st, SL_PIPELINE_MAX + 1, probe_pipeline_cb), 0);
    sl_stream_destroy(&k.s, 0);
    run_loop(&loop);
    ck_assert_int_lt(sl_pipeline_run(&pl, st, 2, probe_pipeline_cb), 0);
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 0);
    close_loop(&loop);
}
END_TEST

START_TEST(l1_abort_twice_calls_back_once_with_the_first_error)
{
    fake_src_t f;
    slow_sink_t k;
    sl_stream_t *st[] = {&f.s, &k.s};

    open_loop(&loop);
    fake_src_init(&f, &loop, 1024);
    slow_sink_init(&k, &loop, 1024, 5, SINK_FINAL);
    run_pipeline(st, 2);
    fake_src_push_str(&f, "partial");
    IN_CALL(sl_pipeline_abort(&pl, UV_ECONNRESET));
    IN_CALL(sl_pipeline_abort(&pl, UV_ENOSPC));
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    ck_assert_int_eq(pp.status, UV_ECONNRESET);
    ck_assert_int_eq(f.d.destroy_err, UV_ECONNRESET);
    ck_assert_int_eq(k.d.destroy_err, UV_ECONNRESET);
    ck_assert_int_eq(k.final_calls, 0);
    close_loop(&loop);
}
END_TEST

/* src -> sink, where the sink fails its first write inside the call; `src_err` closes src first. */
static void two_errors(int src_err)
{
    fake_src_t f;
    sync_sink_t k;
    sl_stream_t *st[] = {&f.s, &k.s};

    open_loop(&loop);
    fake_src_init(&f, &loop, 1024);
    sync_sink_init(&k, &loop, 1024, SINK_FINAL);
    k.fail_at = 1;
    k.fail_code = UV_EIO;
    run_pipeline(st, 2);
    run_loop(&loop);
    sl_stream_destroy(&f.s, src_err);
    write_str(&k.s, "x"); /* the second error, in the same turn */
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    ck_assert_int_eq(k.d.destroy_err, UV_EIO);
    close_loop(&loop);
}

START_TEST(l2_first_error_wins)
{
    two_errors(UV_ECONNRESET);
    ck_assert_int_eq(pp.status, UV_ECONNRESET);
    ck_assert_int_eq(pl.error, UV_ECONNRESET);
}
END_TEST

START_TEST(l2_premature_close_gives_way_to_a_later_real_error)
{
    two_errors(0);
    ck_assert_int_eq(pp.status, UV_EIO);
    ck_assert_int_eq(pl.error, UV_EIO);
}
END_TEST

/* D2 with a cause: a stage destroyed with a real error (a form part's chain that crossed the size
 * limit) refuses later writes with that error, not SL_EDESTROYED, so a writer that fails on it
 * (the multipart parser) reports the cause and the pipeline's first error is the real one. */
START_TEST(d2_writes_into_a_stream_destroyed_with_an_error_get_that_error)
{
    slow_sink_t k;
    sl_chunk_t *c;

    open_loop(&loop);
    slow_sink_init(&k, &loop, 1024, 1, SINK_FINAL);
    c = sl_chunk_copy(&loop, "late", 4);
    sl_stream_destroy(&k.s, SL_ETOOLARGE);
    ck_assert_int_eq(sl_stream_write(&k.s, c), SL_ETOOLARGE);
    ck_assert_int_eq(sl_stream_end(&k.s), SL_ETOOLARGE);
    ck_assert_uint_eq(c->refcnt, 1);
    sl_chunk_unref(c);
    run_loop(&loop);
    close_loop(&loop);
}
END_TEST

START_TEST(l2_premature_close_alone_is_sl_epremature)
{
    fake_src_t f;
    slow_sink_t k;
    sl_stream_t *st[] = {&f.s, &k.s};

    open_loop(&loop);
    fake_src_init(&f, &loop, 1024);
    slow_sink_init(&k, &loop, 1024, 1, SINK_FINAL);
    run_pipeline(st, 2);
    fake_src_push_str(&f, "half");
    sl_stream_destroy(&f.s, 0); /* closed before its end */
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    ck_assert_int_eq(pp.status, SL_EPREMATURE);
    ck_assert_int_eq(k.d.destroy_err, SL_EPREMATURE);
    ck_assert_int_eq(k.final_calls, 0); /* never committed */
    close_loop(&loop);
}
END_TEST

START_TEST(l3_error_destroys_every_stage)
{
    fake_src_t f;
    pass_xf_t x;
    failing_sink_t k;
    sl_stream_t *st[] = {&f.s, &x.s, &k.s};

    open_loop(&loop);
    fake_src_init(&f, &loop, 16);
    pass_xf_init(&x, &loop, 16, 16);
    failing_sink_init(&k, &loop, 16, 2, 2, UV_EIO);
    fake_src_script_pattern(&f, 16 * 16, 16, 1);
    run_pipeline(st, 3);
    fake_src_pump(&f);
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    ck_assert_int_eq(pp.status, UV_EIO);
    ck_assert_int_eq(f.d.destroy_calls, 1);
    ck_assert_int_eq(f.d.destroy_err, UV_EIO);
    ck_assert_int_eq(x.d.destroy_calls, 1);
    ck_assert_int_eq(x.d.destroy_err, UV_EIO);
    ck_assert_int_eq(k.d.destroy_calls, 1);
    ck_assert_int_eq(k.d.destroy_err, UV_EIO);
    ck_assert_int_eq(k.final_calls, 0);
    ck_assert_int_eq(f.eof_sent, 0); /* the failure came mid-stream */
    assert_order("src.destroy", "pl.cb");
    assert_order("xf.destroy", "pl.cb");
    assert_order("sink.destroyed", "pl.cb"); /* after every stage closed */
    close_loop(&loop);
}
END_TEST

START_TEST(l4_success_waits_for_final_and_every_close)
{
    fake_src_t f;
    pass_xf_t x;
    slow_sink_t k;
    sl_stream_t *st[] = {&f.s, &x.s, &k.s};

    open_loop(&loop);
    fake_src_init(&f, &loop, 1024);
    pass_xf_init(&x, &loop, 1024, 1024);
    slow_sink_init(&k, &loop, 1024, 2, SINK_FINAL);
    fake_src_script_pattern(&f, 4 * 100, 100, 1);
    run_pipeline(st, 3);
    fake_src_pump(&f);
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    ck_assert_int_eq(pp.status, 0);
    ck_assert_uint_eq(k.got.len, 400);
    assert_order("sink.final_done", "pl.cb"); /* the commit returned */
    assert_order("src.destroy", "pl.cb");     /* and every stage closed */
    assert_order("xf.destroy", "pl.cb");
    assert_order("sink.destroyed", "pl.cb");
    ck_assert_int_eq(f.d.destroy_err, 0);
    ck_assert_int_eq(x.d.destroy_err, 0);
    ck_assert_int_eq(k.d.destroy_err, 0);
    close_loop(&loop);
}
END_TEST

START_TEST(l4_callback_waits_for_every_stage_to_close)
{
    fake_src_t f;
    pass_xf_t x;
    sync_sink_t k;
    sl_stream_t *st[] = {&f.s, &x.s, &k.s};

    open_loop(&loop);
    fake_src_init(&f, &loop, 1024);
    pass_xf_init(&x, &loop, 1024, 1024);
    sync_sink_init(&k, &loop, 1024, SINK_FINAL);
    x.d.hold_destroy = 1; /* the middle stage closes last */
    run_pipeline(st, 3);
    fake_src_push_str(&f, "data");
    fake_src_eof(&f);
    run_loop(&loop);
    ck_assert_int_eq(k.final_done, 1);
    ck_assert_int_eq(k.d.destroy_done, 1);
    ck_assert_int_eq(x.d.destroy_calls, 1);
    ck_assert_int_eq(pp.cb, 0); /* the sink finished and closed, but xf has not closed */
    dbl_complete_destroy(&x.s, &x.d);
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    ck_assert_int_eq(pp.status, 0);
    assert_order("xf.destroyed", "pl.cb");
    close_loop(&loop);
}
END_TEST

START_TEST(l4_failed_final_is_reported_not_success)
{
    fake_src_t f;
    slow_sink_t k;
    sl_stream_t *st[] = {&f.s, &k.s};

    open_loop(&loop);
    fake_src_init(&f, &loop, 1024);
    slow_sink_init(&k, &loop, 1024, 2, SINK_FINAL);
    k.final_status = UV_ENOSPC;
    run_pipeline(st, 2);
    fake_src_push_str(&f, "data");
    fake_src_eof(&f);
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    ck_assert_int_eq(pp.status, UV_ENOSPC);
    ck_assert_int_eq(k.final_calls, 1);
    ck_assert_int_eq(k.d.destroy_calls, 1);
    ck_assert_int_eq(k.d.destroy_err, UV_ENOSPC);
    ck_assert_int_eq(f.d.destroy_calls, 1);
    assert_order("sink.final_failed", "pl.cb");
    close_loop(&loop);
}
END_TEST

Suite *pipeline_suite(void)
{
    Suite *s = suite_create("pipeline");
    TCase *tc;

    tc = add_tcase(s, "pipe");
    tcase_add_test(tc, p1_pipe_delivers_every_chunk_in_order_with_bounded_buffers);
    tcase_add_test(tc, p1_zero_from_write_pauses_the_source_until_drain);
    tcase_add_test(tc, p1_pipe_rejects_a_second_destination_and_destroyed_streams);
    tcase_add_test(tc, p2_end_of_the_source_ends_the_destination);
    tcase_add_test(tc, p3_source_error_leaves_the_destination_alive);

    tc = add_tcase(s, "destroy");
    tcase_add_test(tc, d1_destroy_is_idempotent_and_closes_once_later);
    tcase_add_test(tc, d3_complete_streams_destroy_themselves);
    tcase_add_test(tc, d1_on_close_waits_for_a_slow_do_destroy);
    tcase_add_test(tc, d1_memory_may_be_freed_in_on_close);
    tcase_add_test(tc, d2_destroy_releases_queued_chunks_and_rejects_writes);
    tcase_add_test(tc, d2_writes_into_a_stream_destroyed_with_an_error_get_that_error);

    tc = add_tcase(s, "pipeline");
    tcase_add_test(tc, l1_pipeline_moves_every_chunk_and_calls_back_once);
    tcase_add_test(tc, l1_pipeline_rejects_bad_arguments_and_never_calls_back);
    tcase_add_test(tc, l1_abort_twice_calls_back_once_with_the_first_error);
    tcase_add_test(tc, l2_first_error_wins);
    tcase_add_test(tc, l2_premature_close_gives_way_to_a_later_real_error);
    tcase_add_test(tc, l2_premature_close_alone_is_sl_epremature);
    tcase_add_test(tc, l3_error_destroys_every_stage);
    tcase_add_test(tc, l4_success_waits_for_final_and_every_close);
    tcase_add_test(tc, l4_callback_waits_for_every_stage_to_close);
    tcase_add_test(tc, l4_failed_final_is_reported_not_success);
    return s;
}
