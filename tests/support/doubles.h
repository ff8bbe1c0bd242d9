/* SPDX-License-Identifier: MIT
 *
 * Test doubles for the stream contract (streams/stream.h), shared by every Check runner.
 *
 * Each double embeds its sl_stream_t first and its dbl_t second, so the double is found from the
 * stream pointer by a cast, and leaves s->data to the test. Doubles watch the contract from the
 * inside: a call the rules forbid (a second do_write in flight, do_write after destroy, do_read
 * without a preceding 0 from push, a user callback inside the call that caused it) is recorded as a
 * violation, and close_loop fails the test on the first one, naming the rule. Every double and
 * probe appends its events to one trace (" sink.write sink.write_done sink.final ..."), so tests
 * can assert order.
 *
 *   fake_src      readable only; the test pushes chunks, or scripts bytes that fake_src_pump and
 *                 do_read push until push returns 0 (R2), then EOF.
 *   slow_sink     writable; do_write and do_final complete on a uv_timer after delay_ms.
 *   sync_sink     writable; do_write and do_final complete inside the call (W7).
 *   failing_sink  a slow_sink whose fail_at-th do_write completes with fail_code (W11, L2, L3).
 *   pass_xf       a transform that pushes what it gets (optionally upper-cased), ends do_write
 *                 with sl_stream_forward_done (T2) and pushes a trailer at flush (T1-T3).
 *   probe_t       counts on_drain/on_finish/on_close of a stream, or a pipeline's callback.
 *
 * The three sinks are one struct (test_sink_t). Their do_destroy closes the sink's timer and
 * completes from the close callback, after any write or final still in flight has completed, as
 * a file sink waits for its uv_fs request; so a sink may be freed from its on_close.
 */
#ifndef SL_TESTS_SUPPORT_DOUBLES_H
#define SL_TESTS_SUPPORT_DOUBLES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <check.h>
#include <uv.h>

#include "streams/chunk.h"
#include "streams/pipeline.h"
#include "streams/stream.h"

#define DBL_MAX_BATCHES 512 /* batch sizes remembered per sink */
#define DBL_MAX_CHUNKS 64   /* chunk pointers remembered per sink */

/* What every double shares. */
typedef struct dbl_s {
    const char *tag; /* trace prefix, "src", "sink", "xf" unless the test sets another */
    int destroy_calls;
    int destroy_err; /* err given to do_destroy */
    int destroy_done;
    int hold_destroy; /* fake_src, pass_xf: do_destroy waits for dbl_complete_destroy */
    sl_done_cb held_destroy;
    int violations;
    char violation[192]; /* the first violation, with its rule */
    /* private */
    uv_handle_t *handle; /* a handle the double owns, closed by close_loop if still open */
    char **owned;        /* a buffer freed by close_loop */
} dbl_t;

typedef struct bytes_s {
    char *data;
    size_t len, cap;
} bytes_t;

typedef struct fake_src_s {
    sl_stream_t s;
    dbl_t d;
    int read_calls;
    int pushes, zero_pushes, push_errors;
    int last_push;
    size_t max_rlength; /* largest s.rlength right after a push */
    int eof_sent;
    /* private */
    int need_read; /* a push returned 0 since the last do_read (R2) */
    int in_push;
    char *script;
    size_t script_len, script_off, split;
    int script_eof;
} fake_src_t;

typedef struct test_sink_s {
    sl_stream_t s;
    dbl_t d;
    /* behaviour: set by the init functions, may be changed before the first write */
    unsigned delay_ms; /* completion delay of do_write and do_final (timer) */
    int sync;          /* complete inside do_write / do_final instead */
    int fail_at;       /* the 1-based do_write that fails with fail_code; 0 = never */
    int fail_code;
    int final_status; /* status do_final completes with */
    int done_twice;   /* call each write's done twice (W4) */
    /* observations */
    int write_calls, writes_done;
    int final_calls, final_done;
    size_t batches[DBL_MAX_BATCHES]; /* n of each do_write */
    size_t max_batch;
    size_t max_length; /* largest s.length seen in do_write or before a completion */
    int inflight, max_inflight;
    size_t bytes_at_final; /* got.len when do_final was called */
    const sl_chunk_t *chunks[DBL_MAX_CHUNKS];
    size_t nchunks;
    bytes_t got; /* every byte of every successful do_write, in order */
    /* private */
    uv_timer_t timer;
    int op;
    sl_done_cb op_done;
    int op_status;
    sl_done_cb destroy_cb;
    int destroy_waiting;
} test_sink_t;

typedef test_sink_t slow_sink_t;
typedef test_sink_t sync_sink_t;
typedef test_sink_t failing_sink_t;

enum { SINK_NO_FINAL = 0, SINK_FINAL = 1 };

typedef struct pass_xf_s {
    sl_stream_t s;
    dbl_t d;
    int upper;           /* forward upper-cased copies instead of the chunks themselves */
    const char *trailer; /* pushed by do_flush when set */
    int write_calls, flush_calls;
    size_t chunks_in;
    size_t max_rlength; /* largest s.rlength right after a push */
} pass_xf_t;

typedef struct probe_s {
    const char *tag;
    int drain, finish, close;
    int close_err;
    size_t length_at_drain;
    int cb, status; /* pipeline callback */
} probe_t;

/* fake_src: `f` is borrowed until close_loop. Pushes copy `data`; push_chunk lends `c`. */
void fake_src_init(fake_src_t *f, uv_loop_t *loop, size_t rhwm);
int fake_src_push(fake_src_t *f, const void *data, size_t len);
int fake_src_push_chunk(fake_src_t *f, sl_chunk_t *c);
#define fake_src_eof(f) fake_src_push_chunk((f), NULL)
#define fake_src_push_str(f, str) fake_src_push((f), (str), strlen(str))
/* Script `len` pattern bytes (pattern_byte(0) ...) in chunks of `split`, then EOF if eof. */
void fake_src_script_pattern(fake_src_t *f, size_t len, size_t split, int eof);
/* Push scripted chunks until a push returns 0 or fails; then EOF if the script is done.
 * Returns the number of chunks pushed. do_read calls this. */
size_t fake_src_pump(fake_src_t *f);

/* Write a copy of `str` to `s` (which takes its own reference if it keeps it); returns write's. */
static inline int write_str(sl_stream_t *s, const char *str)
{
    sl_chunk_t *c = sl_chunk_copy(s->loop, str, strlen(str));
    int r = sl_stream_write(s, c);

    sl_chunk_unref(c);
    return r;
}

/* Sinks: `k` is borrowed until close_loop, or until sink_release when the test frees it. */
void slow_sink_init(slow_sink_t *k, uv_loop_t *loop, size_t hwm, unsigned delay_ms, int final);
void sync_sink_init(sync_sink_t *k, uv_loop_t *loop, size_t hwm, int final);
void failing_sink_init(failing_sink_t *k, uv_loop_t *loop, size_t hwm, unsigned delay_ms,
                       int fail_at, int fail_code);
/* Check its violations, free its buffer and forget it: call before freeing a heap sink. */
void sink_release(test_sink_t *k);

void pass_xf_init(pass_xf_t *x, uv_loop_t *loop, size_t hwm, size_t rhwm);

/* Take over s->data, on_drain, on_finish and on_close (before pipe/pipeline, which may replace
 * some of them). `p` is borrowed until close_loop. */
void probe_stream(probe_t *p, sl_stream_t *s, const char *tag);
/* Set pl->data; pass probe_pipeline_cb to sl_pipeline_run. */
static inline void probe_pipeline(probe_t *p, sl_pipeline_t *pl, const char *tag)
{
    memset(p, 0, sizeof(*p));
    p->tag = tag;
    pl->data = p;
}
void probe_pipeline_cb(sl_pipeline_t *pl, int status);

/* W7: user callbacks that run while dbl_in_call > 0 are violations. */
extern int dbl_in_call;
#define IN_CALL(stmt)                                                                              \
    do {                                                                                           \
        dbl_in_call++;                                                                             \
        stmt;                                                                                      \
        dbl_in_call--;                                                                             \
    } while (0)

/* The trace: " tag.event" tokens. Positions are token offsets, -1 when absent. */
void trace_add(const char *tag, const char *event);
#define TRACE_SIZE 16384
extern char trace_buf[TRACE_SIZE];
#define trace_str() ((const char *)trace_buf)
/* Offset of the nth (0-based) whole token, or of the last one when nth < 0; stores the number of
 * occurrences in *count when count is not NULL. */
int trace_find(const char *token, int nth, int *count);
#define trace_first(token) trace_find((token), 0, NULL)
#define trace_last(token) trace_find((token), -1, NULL)
static inline int trace_count(const char *token)
{
    int n = 0;

    trace_find(token, -1, &n);
    return n;
}

/* Complete the do_destroy of `s` that its double `d` held (hold_destroy): D1's "it may finish
 * later", under the test's control. */
static inline void dbl_complete_destroy(sl_stream_t *s, dbl_t *d)
{
    sl_done_cb done = d->held_destroy;

    d->held_destroy = NULL;
    d->destroy_done++;
    trace_add(d->tag, "destroyed");
    done(s, 0);
}

/* Every `a` happened before any `b`, and both happened. */
#define assert_order(a, b)                                                                         \
    do {                                                                                           \
        int a_ = trace_last(a), b_ = trace_first(b);                                               \
        ck_assert_msg(a_ >= 0 && b_ >= 0 && a_ < b_, "expected every %s before %s; trace:%s", a,   \
                      b, trace_str());                                                             \
    } while (0)

/* The sink received exactly the C string `str`. */
#define assert_got(k, str)                                                                         \
    do {                                                                                           \
        size_t n_ = strlen(str);                                                                   \
        ck_assert_uint_eq((k)->got.len, n_);                                                       \
        if (n_ > 0)                                                                                \
            ck_assert_mem_eq((k)->got.data, (str), n_);                                            \
    } while (0)

/* A byte sequence without short periods, so lost, doubled or reordered chunks show. */
static inline unsigned char pattern_byte(uint64_t i)
{
    return (unsigned char)(((i + 1) * 0x9E3779B97F4A7C15ull) >> 56);
}

static inline void pattern_fill(char *buf, size_t len, uint64_t offset)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)pattern_byte(offset + i);
}

/* Returns the index of the first byte of buf that differs from the pattern, or len. */
static inline size_t pattern_check(const char *buf, size_t len, uint64_t offset)
{
    size_t i = 0;

    while (i < len && (unsigned char)buf[i] == pattern_byte(offset + i))
        i++;
    return i;
}

/* Checked fixture: reset the trace, the registry of doubles and the budget (unlimited). */
void doubles_setup(void);

/* A TCase with the doubles_setup fixture and a 10 s timeout, added to `s`. */
static inline TCase *add_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, doubles_setup, NULL);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return tc;
}

/* uv_loop_init that asserts. */
void open_loop(uv_loop_t *loop);
/* uv_run(UV_RUN_DEFAULT) to completion. */
void run_loop(uv_loop_t *loop);
/* Run the loop dry, fail on any recorded violation, destroy every double's stream (D1: a no-op
 * for those already destroyed) and run again, assert that no chunk of the loop is still alive,
 * sl_defer_close, close the doubles' own handles (any other handle left open is a failure),
 * assert uv_loop_close(loop) == 0, then free the doubles' buffers. Streams that are not doubles are
 * the test's. */
void close_loop(uv_loop_t *loop);

/* Returns owned: a new directory /tmp/sluice-test-XXXXXX. */
char *tmpdir_new(void);
/* Remove `path` recursively and free it (taken). NULL is ignored. */
void tmpdir_remove(char *path);

#endif
