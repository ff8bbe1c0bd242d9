/* SPDX-License-Identifier: MIT
 *
 * The writable, readable and transform rules of streams/stream.h (W1-W11, R1-R3, T1-T3). Each
 * test is named after its rule, builds streams from the doubles in tests/support on its own loop,
 * runs it, then asserts counters, bytes received, return codes and the order of the trace.
 */
#include <string.h>

#include <check.h>

#include "streams/stream.h"
#include "support/doubles.h"

Suite *stream_suite(void);

/* Most tests use one loop and one sink watched by a probe; each test opens them afresh. */
static uv_loop_t loop;
static test_sink_t k;
static probe_t p;

enum { SLOW, SYNC };

static void open_sink(int kind, size_t hwm, unsigned delay_ms, int final)
{
    open_loop(&loop);
    if (kind == SYNC)
        sync_sink_init(&k, &loop, hwm, final);
    else
        slow_sink_init(&k, &loop, hwm, delay_ms, final);
    probe_stream(&p, &k.s, "sink");
}

START_TEST(w1_write_hands_the_first_chunk_to_do_write_and_queues_the_rest)
{
    sl_chunk_t *c1 = sl_chunk_copy(&loop, "abc", 3), *c2 = sl_chunk_copy(&loop, "defgh", 5);

    open_sink(SLOW, 1024, 5, SINK_NO_FINAL);
    ck_assert_int_eq(sl_stream_write(&k.s, c1), 1);
    ck_assert_int_eq(k.write_calls, 1); /* at once */
    ck_assert_uint_eq(k.s.length, 3);
    ck_assert_int_eq(sl_stream_write(&k.s, c2), 1);
    ck_assert_int_eq(k.write_calls, 1); /* a write is in flight: queued */
    ck_assert_uint_eq(k.s.length, 8);   /* queued + in flight */
    ck_assert_uint_eq(k.s.bytes_in, 8);
    ck_assert_uint_eq(c1->refcnt, 2); /* lent: the stream took its own reference */
    ck_assert_uint_eq(c2->refcnt, 2);
    run_loop(&loop);
    ck_assert_int_eq(k.write_calls, 2);
    assert_got(&k, "abcdefgh");
    ck_assert_uint_eq(k.s.length, 0);
    ck_assert_uint_eq(c1->refcnt, 1); /* released after its write completed */
    ck_assert_uint_eq(c2->refcnt, 1);
    ck_assert_int_eq(p.drain, 0); /* W6: no write returned 0 */
    sl_chunk_unref(c1);
    sl_chunk_unref(c2);
    close_loop(&loop);
}
END_TEST

START_TEST(w2_write_returns_0_at_high_water_mark)
{
    open_sink(SLOW, 10, 2, SINK_NO_FINAL);
    ck_assert_int_eq(write_str(&k.s, "1234"), 1); /* length 4 < 10 */
    ck_assert_int_eq(write_str(&k.s, "5678"), 1); /* 8 < 10 */
    ck_assert_int_eq(write_str(&k.s, "9abc"), 0); /* 12 >= 10: wait for on_drain */
    ck_assert_uint_eq(k.s.length, 12);
    run_loop(&loop);
    assert_got(&k, "123456789abc");
    close_loop(&loop);
}
END_TEST

START_TEST(w3_zero_is_advice_and_the_chunk_is_accepted)
{
    char buf[100 * 10];
    int i;

    open_sink(SLOW, 10, 1, SINK_NO_FINAL);
    pattern_fill(buf, sizeof(buf), 0);
    for (i = 0; i < 100; i++) {
        sl_chunk_t *c = sl_chunk_copy(&loop, buf + i * 10, 10);

        ck_assert_int_eq(sl_stream_write(&k.s, c), 0); /* ignored on purpose */
        sl_chunk_unref(c);
    }
    ck_assert_uint_eq(k.s.length, sizeof(buf)); /* unbounded buffering, as W3 warns */
    ck_assert_uint_eq(k.s.bytes_in, sizeof(buf));
    run_loop(&loop);
    ck_assert_uint_eq(k.got.len, sizeof(buf));
    ck_assert_uint_eq(pattern_check(k.got.data, k.got.len, 0), sizeof(buf));
    close_loop(&loop);
}
END_TEST

START_TEST(w4_one_do_write_in_flight_at_a_time)
{
    int i;

    open_sink(SLOW, 8, 1, SINK_NO_FINAL);
    for (i = 0; i < 20; i++)
        write_str(&k.s, "wxyz");
    run_loop(&loop);
    ck_assert_int_eq(k.max_inflight, 1);
    ck_assert_uint_eq(k.got.len, 80);
    ck_assert_int_eq(k.writes_done, k.write_calls);
    close_loop(&loop);
}
END_TEST

START_TEST(w4_calling_done_twice_is_sl_emultiplecb)
{
    open_sink(SLOW, 1024, 1, SINK_NO_FINAL);
    k.done_twice = 1;
    ck_assert_int_ge(write_str(&k.s, "once"), 0);
    run_loop(&loop);
    ck_assert_int_eq(k.s.error, SL_EMULTIPLECB);
    ck_assert_int_eq(p.close, 1);
    ck_assert_int_eq(p.close_err, SL_EMULTIPLECB);
    ck_assert_int_eq(k.d.destroy_err, SL_EMULTIPLECB);
    close_loop(&loop);
}
END_TEST

START_TEST(w5_queued_chunks_are_coalesced_up_to_sl_stream_max_batch)
{
    char buf[101 * 16];
    int i;

    open_sink(SLOW, 1 << 20, 5, SINK_NO_FINAL);
    pattern_fill(buf, sizeof(buf), 0);
    for (i = 0; i < 101; i++) {
        sl_chunk_t *c = sl_chunk_copy(&loop, buf + i * 16, 16);

        sl_stream_write(&k.s, c);
        sl_chunk_unref(c);
    }
    run_loop(&loop);
    ck_assert_int_eq(k.write_calls, 3);
    ck_assert_uint_eq(k.batches[0], 1);
    ck_assert_uint_eq(k.batches[1], SL_STREAM_MAX_BATCH); /* everything queued, at most 64 */
    ck_assert_uint_eq(k.batches[2], 100 - SL_STREAM_MAX_BATCH);
    ck_assert_uint_eq(pattern_check(k.got.data, k.got.len, 0), sizeof(buf));
    close_loop(&loop);
}
END_TEST

START_TEST(w6_drain_fires_once_after_a_full_drain)
{
    open_sink(SLOW, 10, 2, SINK_NO_FINAL);
    ck_assert_int_eq(write_str(&k.s, "aaaa"), 1);
    ck_assert_int_eq(write_str(&k.s, "bbbb"), 1);
    ck_assert_int_eq(write_str(&k.s, "cccc"), 0);
    run_loop(&loop);
    /* After the first write length is 8, below the mark: no drain until it reaches 0. */
    ck_assert_int_eq(p.drain, 1);
    ck_assert_uint_eq(p.length_at_drain, 0);
    assert_order("sink.write_done", "sink.drain");
    close_loop(&loop);
}
END_TEST

START_TEST(w6_no_drain_while_ending_or_after_destroy)
{
    slow_sink_t k2;
    probe_t p2;

    open_sink(SLOW, 1, 1, SINK_NO_FINAL);
    slow_sink_init(&k2, &loop, 1, 1, SINK_NO_FINAL);
    probe_stream(&p2, &k2.s, "k2");
    ck_assert_int_eq(write_str(&k.s, "ab"), 0);
    ck_assert_int_eq(sl_stream_end(&k.s), 0);
    ck_assert_int_eq(write_str(&k2.s, "ab"), 0);
    sl_stream_destroy(&k2.s, 0);
    run_loop(&loop);
    ck_assert_int_eq(p.drain, 0);
    ck_assert_int_eq(p.finish, 1); /* W9: without a do_final too */
    assert_got(&k, "ab");
    ck_assert_int_eq(p2.drain, 0);
    ck_assert_int_eq(p2.close, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(w7_drain_never_fires_inside_write)
{
    int r;

    open_sink(SYNC, 4, 0, SINK_NO_FINAL);
    IN_CALL(r = write_str(&k.s, "12345678"));
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(k.writes_done, 1); /* the sink completed inside do_write ... */
    ck_assert_int_eq(p.drain, 0);       /* ... but on_drain waits for a later turn */
    run_loop(&loop);
    ck_assert_int_eq(p.drain, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(w7_finish_never_fires_inside_end)
{
    int r;

    open_sink(SYNC, 1024, 0, SINK_FINAL);
    IN_CALL(r = sl_stream_end(&k.s));
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(p.finish, 0);
    run_loop(&loop);
    ck_assert_int_eq(k.final_calls, 1);
    ck_assert_int_eq(p.finish, 1);
    close_loop(&loop);
}
END_TEST

static void count_deferred(void *arg)
{
    ++*(int *)arg;
}

START_TEST(w7_sl_defer_never_runs_inside_the_caller)
{
    int n = 0;

    open_loop(&loop);
    sl_defer(&loop, count_deferred, &n);
    sl_defer(&loop, count_deferred, &n);
    ck_assert_int_eq(n, 0);
    run_loop(&loop);
    ck_assert_int_eq(n, 2);
    close_loop(&loop);
}
END_TEST

START_TEST(w8_hwm_0_is_legal)
{
    open_sink(SLOW, 0, 1, SINK_NO_FINAL);
    ck_assert_int_eq(write_str(&k.s, "a"), 0);
    ck_assert_int_eq(write_str(&k.s, "b"), 0);
    run_loop(&loop);
    ck_assert_int_eq(p.drain, 1);
    ck_assert_int_eq(write_str(&k.s, "c"), 0); /* every write, again after the drain */
    run_loop(&loop);
    ck_assert_int_eq(p.drain, 2);
    assert_got(&k, "abc");
    close_loop(&loop);
}
END_TEST

START_TEST(w8_hwm_is_per_stream)
{
    slow_sink_t b;
    probe_t pb;

    open_sink(SLOW, 0, 1, SINK_NO_FINAL);
    slow_sink_init(&b, &loop, 1024, 1, SINK_NO_FINAL);
    probe_stream(&pb, &b.s, "b");
    ck_assert_int_eq(write_str(&k.s, "same"), 0);
    ck_assert_int_eq(write_str(&b.s, "same"), 1);
    run_loop(&loop);
    ck_assert_int_eq(p.drain, 1);
    ck_assert_int_eq(pb.drain, 0);
    close_loop(&loop);
}
END_TEST

START_TEST(w9_end_flushes_then_finals_then_finishes)
{
    open_sink(SLOW, 1024, 3, SINK_FINAL);
    write_str(&k.s, "aa");
    write_str(&k.s, "bb");
    write_str(&k.s, "cc");
    ck_assert_int_eq(sl_stream_end(&k.s), 0);
    ck_assert_int_eq(p.finish, 0);
    run_loop(&loop);
    ck_assert_int_eq(k.final_calls, 1);
    ck_assert_uint_eq(k.bytes_at_final, 6); /* the queue was flushed before the commit */
    ck_assert_int_eq(p.finish, 1);
    ck_assert(k.s.flags & SL_STREAM_FINISHED);
    assert_order("sink.write_done", "sink.final");
    assert_order("sink.final_done", "sink.finish");
    close_loop(&loop);
}
END_TEST

START_TEST(w9_final_runs_once_when_the_end_arrives_inside_a_drain)
{
    fake_src_t f;

    open_sink(SYNC, 4, 0, SINK_FINAL);
    fake_src_init(&f, &loop, 1024);
    ck_assert_int_eq(sl_stream_pipe(&f.s, &k.s), 0);
    run_loop(&loop);
    fake_src_push_str(&f, "12345678"); /* the sink's write returns 0: the source pauses */
    fake_src_push_str(&f, "abcd");     /* buffered, with the EOF behind it; the sink's drain */
    fake_src_eof(&f);                  /* delivers both from inside the sink's write path */
    run_loop(&loop);
    assert_got(&k, "12345678abcd");
    ck_assert_int_eq(k.final_calls, 1); /* the commit runs once */
    ck_assert_int_eq(p.finish, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(w10_write_after_end_is_sl_ewriteafterend)
{
    sl_chunk_t *c = sl_chunk_copy(&loop, "b", 1);

    open_sink(SLOW, 1024, 1, SINK_FINAL);
    write_str(&k.s, "a");
    ck_assert_int_eq(sl_stream_end(&k.s), 0);
    ck_assert_int_eq(sl_stream_write(&k.s, c), SL_EWRITEAFTEREND);
    ck_assert_uint_eq(c->refcnt, 1); /* W2: not accepted, not kept */
    ck_assert_uint_eq(k.s.bytes_in, 1);
    run_loop(&loop);
    assert_got(&k, "a");
    ck_assert_int_eq(p.drain, 0);                  /* W2: nothing calls back for it */
    ck_assert_int_lt(sl_stream_write(&k.s, c), 0); /* and after finish */
    ck_assert_uint_eq(c->refcnt, 1);
    sl_chunk_unref(c);
    close_loop(&loop);
}
END_TEST

START_TEST(w10_second_end_is_ignored)
{
    open_sink(SLOW, 1024, 1, SINK_FINAL);
    write_str(&k.s, "a");
    ck_assert_int_eq(sl_stream_end(&k.s), 0);
    ck_assert_int_eq(sl_stream_end(&k.s), 0);
    run_loop(&loop);
    ck_assert_int_eq(k.final_calls, 1);
    ck_assert_int_eq(p.finish, 1);
    ck_assert_int_eq(k.s.error, 0);
    close_loop(&loop);
}
END_TEST

START_TEST(w11_first_error_is_sticky_and_releases_queued_chunks)
{
    sl_chunk_t *c[4];
    int i;

    open_loop(&loop);
    failing_sink_init(&k, &loop, 4, 5, 1, UV_EIO);
    probe_stream(&p, &k.s, "sink");
    for (i = 0; i < 4; i++)
        c[i] = sl_chunk_copy(&loop, "abcd", 4);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(sl_stream_write(&k.s, c[i]), 0);
    run_loop(&loop);
    ck_assert_int_eq(k.write_calls, 1); /* the queued chunks never reached do_write */
    ck_assert_int_eq(k.s.error, UV_EIO);
    ck_assert_int_eq(p.close, 1);
    ck_assert_int_eq(p.close_err, UV_EIO);
    ck_assert_int_eq(p.drain, 0);
    for (i = 0; i < 3; i++)
        ck_assert_uint_eq(c[i]->refcnt, 1); /* in flight and queued chunks released */
    ck_assert_int_lt(sl_stream_write(&k.s, c[3]), 0);
    ck_assert_uint_eq(c[3]->refcnt, 1);
    ck_assert_int_lt(sl_stream_end(&k.s), 0);
    sl_stream_destroy(&k.s, UV_ENOSPC); /* a later error does not replace the first */
    run_loop(&loop);
    ck_assert_int_eq(k.s.error, UV_EIO);
    ck_assert_int_eq(p.close, 1);
    ck_assert_int_eq(p.close_err, UV_EIO);
    ck_assert_int_eq(k.final_calls, 0);
    for (i = 0; i < 4; i++)
        sl_chunk_unref(c[i]);
    close_loop(&loop);
}
END_TEST

START_TEST(w11_failed_final_destroys_instead_of_finishing)
{
    open_sink(SLOW, 1024, 1, SINK_FINAL);
    k.final_status = UV_ENOSPC;
    write_str(&k.s, "data");
    sl_stream_end(&k.s);
    run_loop(&loop);
    ck_assert_int_eq(k.final_calls, 1);
    ck_assert_int_eq(p.finish, 0);
    ck_assert_int_eq(p.close, 1);
    ck_assert_int_eq(p.close_err, UV_ENOSPC);
    ck_assert_int_eq(k.s.error, UV_ENOSPC);
    close_loop(&loop);
}
END_TEST

START_TEST(r1_push_returns_0_at_readable_hwm)
{
    fake_src_t f;
    sl_chunk_t *c = sl_chunk_copy(&loop, "late", 4);

    open_loop(&loop);
    fake_src_init(&f, &loop, 16);
    ck_assert_int_eq(fake_src_push(&f, "12345678", 8), 1); /* 8 < 16 */
    ck_assert_int_eq(fake_src_push(&f, "abcdefgh", 8), 0); /* 16: at the mark */
    ck_assert_int_eq(fake_src_push(&f, "ABCDEFGH", 8), 0); /* accepted all the same */
    ck_assert_uint_eq(f.s.rlength, 24);
    ck_assert_int_ge(fake_src_eof(&f), 0);
    ck_assert_int_eq(fake_src_push_chunk(&f, c), SL_EPUSHAFTEREOF);
    ck_assert_uint_eq(c->refcnt, 1);
    ck_assert_uint_eq(f.s.rlength, 24);
    run_loop(&loop);
    ck_assert_int_eq(f.read_calls, 0); /* nothing consumed: no reason to read */
    sl_chunk_unref(c);
    close_loop(&loop);
}
END_TEST

START_TEST(r2_do_read_comes_on_a_later_turn_after_a_zero_push)
{
    fake_src_t f;

    open_sink(SYNC, 1024, 0, SINK_FINAL);
    fake_src_init(&f, &loop, 16);
    fake_src_script_pattern(&f, 6 * 8, 8, 1);
    ck_assert_uint_eq(fake_src_pump(&f), 2); /* the second push returned 0 */
    ck_assert_int_eq(f.zero_pushes, 1);
    ck_assert_int_eq(sl_stream_pipe(&f.s, &k.s), 0);
    ck_assert_int_eq(f.read_calls, 0); /* not inside pipe */
    run_loop(&loop);
    ck_assert_int_ge(f.read_calls, 1);
    ck_assert_int_le(f.read_calls, f.zero_pushes); /* only after a 0 (checked in do_read too) */
    ck_assert_uint_eq(k.got.len, 48);
    ck_assert_uint_eq(pattern_check(k.got.data, k.got.len, 0), 48);
    ck_assert_int_eq(p.finish, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(r3_flowing_push_goes_straight_to_the_destination)
{
    fake_src_t f;

    open_sink(SLOW, 1024, 1, SINK_NO_FINAL);
    fake_src_init(&f, &loop, 1024);
    ck_assert_int_eq(sl_stream_pipe(&f.s, &k.s), 0);
    run_loop(&loop);
    ck_assert_int_eq(fake_src_push_str(&f, "hello"), 1);
    ck_assert_uint_eq(f.s.rlength, 0);
    ck_assert_uint_eq(k.s.bytes_in, 5);
    ck_assert_int_eq(k.write_calls, 1);
    ck_assert_int_eq(fake_src_push_str(&f, "world"), 1); /* dst is busy but not full */
    ck_assert_uint_eq(f.s.rlength, 0);
    ck_assert_uint_eq(k.s.bytes_in, 10);
    run_loop(&loop);
    assert_got(&k, "helloworld");
    close_loop(&loop);
}
END_TEST

START_TEST(r3_end_waits_for_an_empty_buffer)
{
    fake_src_t f;

    open_sink(SLOW, 4, 2, SINK_FINAL);
    fake_src_init(&f, &loop, 4);
    fake_src_push_str(&f, "one");
    fake_src_push_str(&f, "two");
    fake_src_push_str(&f, "three");
    fake_src_eof(&f); /* EOF while three chunks are still buffered */
    ck_assert_int_eq(sl_stream_pipe(&f.s, &k.s), 0);
    run_loop(&loop);
    assert_got(&k, "onetwothree");
    ck_assert_uint_eq(k.bytes_at_final, 11);
    ck_assert_int_eq(p.finish, 1);
    assert_order("sink.write_done", "sink.final");
    close_loop(&loop);
}
END_TEST

START_TEST(t1_transform_forwards_its_output_with_push)
{
    fake_src_t f;
    pass_xf_t x;

    open_sink(SYNC, 1024, 0, SINK_FINAL);
    fake_src_init(&f, &loop, 1024);
    pass_xf_init(&x, &loop, 1024, 1024);
    x.upper = 1;
    ck_assert_int_eq(sl_stream_pipe(&f.s, &x.s), 0);
    ck_assert_int_eq(sl_stream_pipe(&x.s, &k.s), 0);
    fake_src_push_str(&f, "hello ");
    fake_src_push_str(&f, "world");
    fake_src_eof(&f);
    run_loop(&loop);
    assert_got(&k, "HELLO WORLD");
    ck_assert_uint_eq(x.chunks_in, 2);
    ck_assert_int_eq(p.finish, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(t2_transform_done_is_held_while_its_readable_side_is_full)
{
    pass_xf_t x;

    open_sink(SYNC, 1024, 0, SINK_NO_FINAL);
    pass_xf_init(&x, &loop, 1024, 8);
    ck_assert_int_ge(write_str(&x.s, "aaaaaaaaaaaaaaaa"), 0); /* 16 bytes out >= rhwm 8 */
    ck_assert_int_ge(write_str(&x.s, "bbbbbbbbbbbbbbbb"), 0);
    run_loop(&loop);
    ck_assert_int_eq(x.write_calls, 1); /* done held: the second chunk waits */
    ck_assert_uint_eq(x.s.rlength, 16);
    ck_assert(x.s.flags & SL_STREAM_HELD);
    ck_assert_int_eq(sl_stream_pipe(&x.s, &k.s), 0); /* the destination drains the buffer */
    run_loop(&loop);
    ck_assert_int_eq(x.write_calls, 2);
    assert_got(&k, "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb");
    close_loop(&loop);
}
END_TEST

START_TEST(t2_transform_buffers_stay_bounded_behind_a_slow_sink)
{
    fake_src_t f;
    pass_xf_t x;

    open_sink(SLOW, 64, 1, SINK_FINAL);
    fake_src_init(&f, &loop, 64);
    pass_xf_init(&x, &loop, 64, 64);
    fake_src_script_pattern(&f, 64 * 32, 32, 1);
    ck_assert_int_eq(sl_stream_pipe(&f.s, &x.s), 0);
    ck_assert_int_eq(sl_stream_pipe(&x.s, &k.s), 0);
    fake_src_pump(&f);
    run_loop(&loop);
    ck_assert_int_eq(p.finish, 1);
    ck_assert_uint_eq(k.got.len, 64 * 32);
    ck_assert_uint_eq(pattern_check(k.got.data, k.got.len, 0), 64 * 32);
    /* Without T2 the transform would buffer all 2048 bytes on its readable side. */
    ck_assert_uint_le(x.max_rlength, 64 + 64 + 32);
    ck_assert_uint_lt(k.max_length, 64 + 32);
    ck_assert_int_ge(f.read_calls, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(t3_flush_runs_before_the_end_of_the_readable_side)
{
    pass_xf_t x;

    open_sink(SLOW, 1024, 1, SINK_FINAL);
    pass_xf_init(&x, &loop, 1024, 1024);
    x.trailer = "!";
    ck_assert_int_eq(sl_stream_pipe(&x.s, &k.s), 0);
    write_str(&x.s, "ab");
    ck_assert_int_eq(sl_stream_end(&x.s), 0);
    run_loop(&loop);
    ck_assert_int_eq(x.flush_calls, 1);
    assert_got(&k, "ab!"); /* the flush output arrived before the end */
    ck_assert_int_eq(p.finish, 1);
    assert_order("xf.write", "xf.flush");
    assert_order("xf.flush", "sink.final");
    close_loop(&loop);
}
END_TEST

Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc;

    tc = add_tcase(s, "write");
    tcase_add_test(tc, w1_write_hands_the_first_chunk_to_do_write_and_queues_the_rest);
    tcase_add_test(tc, w2_write_returns_0_at_high_water_mark);
    tcase_add_test(tc, w3_zero_is_advice_and_the_chunk_is_accepted);
    tcase_add_test(tc, w4_one_do_write_in_flight_at_a_time);
    tcase_add_test(tc, w4_calling_done_twice_is_sl_emultiplecb);
    tcase_add_test(tc, w5_queued_chunks_are_coalesced_up_to_sl_stream_max_batch);

    tc = add_tcase(s, "drain");
    tcase_add_test(tc, w6_drain_fires_once_after_a_full_drain);
    tcase_add_test(tc, w6_no_drain_while_ending_or_after_destroy);
    tcase_add_test(tc, w7_drain_never_fires_inside_write);
    tcase_add_test(tc, w7_finish_never_fires_inside_end);
    tcase_add_test(tc, w7_sl_defer_never_runs_inside_the_caller);
    tcase_add_test(tc, w8_hwm_0_is_legal);
    tcase_add_test(tc, w8_hwm_is_per_stream);

    tc = add_tcase(s, "end");
    tcase_add_test(tc, w9_end_flushes_then_finals_then_finishes);
    tcase_add_test(tc, w9_final_runs_once_when_the_end_arrives_inside_a_drain);
    tcase_add_test(tc, w10_write_after_end_is_sl_ewriteafterend);
    tcase_add_test(tc, w10_second_end_is_ignored);
    tcase_add_test(tc, w11_first_error_is_sticky_and_releases_queued_chunks);
    tcase_add_test(tc, w11_failed_final_destroys_instead_of_finishing);

    tc = add_tcase(s, "readable");
    tcase_add_test(tc, r1_push_returns_0_at_readable_hwm);
    tcase_add_test(tc, r2_do_read_comes_on_a_later_turn_after_a_zero_push);
    tcase_add_test(tc, r3_flowing_push_goes_straight_to_the_destination);
    tcase_add_test(tc, r3_end_waits_for_an_empty_buffer);

    tc = add_tcase(s, "transform");
    tcase_add_test(tc, t1_transform_forwards_its_output_with_push);
    tcase_add_test(tc, t2_transform_done_is_held_while_its_readable_side_is_full);
    tcase_add_test(tc, t2_transform_buffers_stay_bounded_behind_a_slow_sink);
    tcase_add_test(tc, t3_flush_runs_before_the_end_of_the_readable_side);
    return s;
}
