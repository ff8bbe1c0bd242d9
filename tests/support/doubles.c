/* SPDX-License-Identifier: MIT
 *
 * Test doubles for the stream contract; see doubles.h for what each one does.
 *
 * Every double is enlisted in a registry; close_loop uses it to report violations, to tell the
 * doubles' handles from handles the stream layer forgot, and to free the doubles' buffers. A sink
 * has at most one operation pending on its timer; do_destroy waits for it, then closes the timer.
 */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp */
#endif

#include "support/doubles.h"

#include <ctype.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_DOUBLES 32
enum { OP_NONE, OP_WRITE, OP_FINAL };

int dbl_in_call;
static dbl_t *registry[MAX_DOUBLES];
static size_t registry_n;
static dbl_t harness = {.tag = "harness"}; /* violations seen by probes */
char trace_buf[TRACE_SIZE];
static size_t trace_len;

#define NOTE_MAX(max, v) ((max) = (v) > (max) ? (v) : (max))
/* Every double starts with its stream, then its dbl_t. */
#define DBL(stream) ((dbl_t *)((char *)(stream) + offsetof(fake_src_t, d)))
#define STREAM(dbl) ((sl_stream_t *)((char *)(dbl)-offsetof(fake_src_t, d)))
_Static_assert(offsetof(test_sink_t, d) == offsetof(fake_src_t, d) &&
                   offsetof(pass_xf_t, d) == offsetof(fake_src_t, d),
               "doubles must start with sl_stream_t s, dbl_t d");

/* Record a violation of the contract unless `ok`; the first one is kept for close_loop. */
static void __attribute__((format(printf, 3, 4))) expect(dbl_t *d, int ok, const char *fmt, ...)
{
    va_list ap;

    if (ok || d->violations++ > 0)
        return;
    va_start(ap, fmt);
    vsnprintf(d->violation, sizeof(d->violation), fmt, ap);
    va_end(ap);
}

static void enlist(dbl_t *d, const char *tag, uv_handle_t *handle, char **owned)
{
    ck_assert_msg(registry_n < MAX_DOUBLES, "more than %d doubles in one test", MAX_DOUBLES);
    d->tag = tag;
    d->handle = handle;
    d->owned = owned;
    registry[registry_n++] = d;
}

static void bytes_append(bytes_t *b, const char *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;

        while (cap < b->len + n)
            cap *= 2;
        b->data = realloc(b->data, cap);
        ck_assert_ptr_nonnull(b->data);
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

/* Records a do_destroy; returns 0 (a D1 violation) when it is not the first. */
static int dbl_destroy(dbl_t *d, int err)
{
    expect(d, d->destroy_calls++ == 0, "D1: %s do_destroy called twice", d->tag);
    if (d->destroy_calls > 1)
        return 0;
    d->destroy_err = err;
    trace_add(d->tag, "destroy");
    return 1;
}

/* fake_src */

static void fake_src_do_read(sl_stream_t *s)
{
    fake_src_t *f = (fake_src_t *)s;

    f->read_calls++;
    trace_add(f->d.tag, "read");
    expect(&f->d, f->d.destroy_calls == 0 && !f->in_push && f->need_read, "R2: %s do_read %s",
           f->d.tag,
           f->d.destroy_calls > 0 ? "after destroy"
           : f->in_push           ? "inside push, not on a later turn"
                                  : "without a push that returned 0");
    f->need_read = 0;
    fake_src_pump(f);
}

/* do_destroy of fake_src and pass_xf: completes at once, or when the test calls
 * dbl_complete_destroy if it set hold_destroy. */
static void plain_do_destroy(sl_stream_t *s, int err, sl_done_cb done)
{
    dbl_t *d = DBL(s);

    if (!dbl_destroy(d, err))
        return;
    d->held_destroy = done;
    if (!d->hold_destroy)
        dbl_complete_destroy(s, d);
}

static const sl_stream_type_t fake_src_type = {
    .name = "fake_src", .do_read = fake_src_do_read, .do_destroy = plain_do_destroy};

void fake_src_init(fake_src_t *f, uv_loop_t *loop, size_t rhwm)
{
    memset(f, 0, sizeof(*f));
    sl_stream_init(&f->s, loop, &fake_src_type, SL_STREAM_READABLE, 0, rhwm);
    enlist(&f->d, "src", NULL, &f->script);
}

int fake_src_push_chunk(fake_src_t *f, sl_chunk_t *c)
{
    int r;

    f->in_push++;
    r = sl_stream_push(&f->s, c);
    f->in_push--;
    if (c == NULL) {
        f->eof_sent = 1;
        trace_add(f->d.tag, "eof");
        return r;
    }
    f->pushes++;
    f->last_push = r;
    f->zero_pushes += r == 0;
    f->need_read |= r == 0;
    f->push_errors += r < 0;
    NOTE_MAX(f->max_rlength, f->s.rlength);
    return r;
}

int fake_src_push(fake_src_t *f, const void *data, size_t len)
{
    sl_chunk_t *c = sl_chunk_copy(f->s.loop, data, len);
    int r = fake_src_push_chunk(f, c);

    sl_chunk_unref(c);
    return r;
}

void fake_src_script_pattern(fake_src_t *f, size_t len, size_t split, int eof)
{
    ck_assert_uint_gt(split, 0);
    free(f->script);
    f->script = malloc(len > 0 ? len : 1);
    ck_assert_ptr_nonnull(f->script);
    pattern_fill(f->script, len, 0);
    f->script_len = len;
    f->script_off = 0;
    f->split = split;
    f->script_eof = eof;
}

size_t fake_src_pump(fake_src_t *f)
{
    size_t pushed = 0;

    while (f->script != NULL && f->script_off < f->script_len) {
        size_t len =
            f->script_len - f->script_off < f->split ? f->script_len - f->script_off : f->split;
        int r = fake_src_push(f, f->script + f->script_off, len);

        f->script_off += len;
        pushed++;
        if (r <= 0)
            return pushed; /* R2: wait for do_read */
    }
    if (f->script != NULL && f->script_eof && !f->eof_sent)
        fake_src_eof(f);
    return pushed;
}

/* Sinks */

static void sink_on_timer(uv_timer_t *t);

static void sink_complete(test_sink_t *k, int op, sl_done_cb done, int status)
{
    if (op == OP_WRITE) {
        k->inflight--;
        k->writes_done++;
        trace_add(k->d.tag, status == 0 ? "write_done" : "write_failed");
        done(&k->s, status);
        if (k->done_twice)
            done(&k->s, status);
    } else {
        k->final_done++;
        trace_add(k->d.tag, status == 0 ? "final_done" : "final_failed");
        done(&k->s, status);
    }
}

/* Complete inside the call (sync_sink) or from the timer (slow_sink, failing_sink). */
static void sink_start(test_sink_t *k, int op, sl_done_cb done, int status)
{
    if (k->sync || k->d.destroy_calls > 0) {
        sink_complete(k, op, done, status);
        return;
    }
    k->op = op;
    k->op_done = done;
    k->op_status = status;
    uv_timer_start(&k->timer, sink_on_timer, k->delay_ms, 0);
}

static void sink_do_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    test_sink_t *k = (test_sink_t *)s;
    size_t i;

    expect(&k->d, k->d.destroy_calls == 0, "D2: %s do_write after destroy", k->d.tag);
    expect(&k->d, k->inflight == 0, "W4: %s do_write while another is in flight", k->d.tag);
    expect(&k->d, n > 0 && n <= SL_STREAM_MAX_BATCH, "W5: %s do_write of %zu", k->d.tag, n);
    expect(&k->d, k->final_calls == 0, "W9: %s do_write after do_final", k->d.tag);
    if ((size_t)k->write_calls < DBL_MAX_BATCHES)
        k->batches[k->write_calls] = n;
    k->write_calls++;
    NOTE_MAX(k->max_batch, n);
    NOTE_MAX(k->max_length, s->length);
    k->inflight++;
    NOTE_MAX(k->max_inflight, k->inflight);
    trace_add(k->d.tag, "write");
    if (k->write_calls == k->fail_at) {
        sink_start(k, OP_WRITE, done, k->fail_code);
        return;
    }
    for (i = 0; i < n; i++) {
        bytes_append(&k->got, chunks[i]->base, chunks[i]->len);
        if (k->nchunks < DBL_MAX_CHUNKS)
            k->chunks[k->nchunks++] = chunks[i];
    }
    sink_start(k, OP_WRITE, done, 0);
}

static void sink_do_final(sl_stream_t *s, sl_done_cb done)
{
    test_sink_t *k = (test_sink_t *)s;

    expect(&k->d, k->d.destroy_calls == 0 && k->final_calls == 0, "W9: %s do_final %s", k->d.tag,
           k->final_calls > 0 ? "called twice" : "after destroy");
    expect(&k->d, k->inflight == 0 && s->length == 0,
           "W9: %s do_final before the queue was flushed (length %zu)", k->d.tag, s->length);
    k->final_calls++;
    k->bytes_at_final = k->got.len;
    trace_add(k->d.tag, "final");
    sink_start(k, OP_FINAL, done, k->final_status);
}

static void sink_on_closed(uv_handle_t *h)
{
    test_sink_t *k = h->data;

    k->d.handle = NULL;
    k->d.destroy_done++;
    trace_add(k->d.tag, "destroyed");
    k->destroy_cb(&k->s, 0);
}

static void sink_on_timer(uv_timer_t *t)
{
    test_sink_t *k = t->data;
    int op = k->op;

    /* Clear the operation first: its completion may start the next one or destroy the sink. */
    k->op = OP_NONE;
    NOTE_MAX(k->max_length, k->s.length);
    sink_complete(k, op, k->op_done, k->op_status);
    if (k->destroy_waiting && k->op == OP_NONE) {
        k->destroy_waiting = 0;
        uv_close((uv_handle_t *)&k->timer, sink_on_closed);
    }
}

static void sink_do_destroy(sl_stream_t *s, int err, sl_done_cb done)
{
    test_sink_t *k = (test_sink_t *)s;

    if (!dbl_destroy(&k->d, err))
        return;
    k->destroy_cb = done;
    if (k->op != OP_NONE)
        k->destroy_waiting = 1; /* like a file sink: wait for the request in flight */
    else
        uv_close((uv_handle_t *)&k->timer, sink_on_closed);
}

#define SINK_TYPE(kind, final)                                                                     \
    {                                                                                              \
        .name = kind, .do_write = sink_do_write, .do_final = final, .do_destroy = sink_do_destroy  \
    }

static const sl_stream_type_t sink_types[3][2] = {
    {SINK_TYPE("slow_sink", NULL), SINK_TYPE("slow_sink", sink_do_final)},
    {SINK_TYPE("sync_sink", NULL), SINK_TYPE("sync_sink", sink_do_final)},
    {SINK_TYPE("failing_sink", NULL), SINK_TYPE("failing_sink", sink_do_final)},
};

static void sink_init(test_sink_t *k, uv_loop_t *loop, int kind, size_t hwm, int final)
{
    memset(k, 0, sizeof(*k));
    sl_stream_init(&k->s, loop, &sink_types[kind][final ? 1 : 0], SL_STREAM_WRITABLE, hwm, 0);
    ck_assert_int_eq(uv_timer_init(loop, &k->timer), 0);
    k->timer.data = k;
    enlist(&k->d, "sink", (uv_handle_t *)&k->timer, &k->got.data);
}

void slow_sink_init(slow_sink_t *k, uv_loop_t *loop, size_t hwm, unsigned delay_ms, int final)
{
    sink_init(k, loop, 0, hwm, final);
    k->delay_ms = delay_ms;
}

void sync_sink_init(sync_sink_t *k, uv_loop_t *loop, size_t hwm, int final)
{
    sink_init(k, loop, 1, hwm, final);
    k->sync = 1;
}

void failing_sink_init(failing_sink_t *k, uv_loop_t *loop, size_t hwm, unsigned delay_ms,
                       int fail_at, int fail_code)
{
    sink_init(k, loop, 2, hwm, SINK_FINAL);
    k->delay_ms = delay_ms;
    k->fail_at = fail_at;
    k->fail_code = fail_code;
}

void sink_release(test_sink_t *k)
{
    size_t i;

    ck_assert_msg(k->d.violations == 0, "%s", k->d.violation);
    ck_assert_msg(k->d.handle == NULL, "%s released with its timer open", k->d.tag);
    free(k->got.data);
    memset(&k->got, 0, sizeof(k->got));
    for (i = 0; i < registry_n && registry[i] != &k->d; i++)
        ;
    ck_assert_uint_lt(i, registry_n);
    registry[i] = registry[--registry_n];
}

/* pass_xf */

static void pass_xf_do_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    pass_xf_t *x = (pass_xf_t *)s;
    int last = 1;
    size_t i, j;

    expect(&x->d, x->d.destroy_calls == 0, "D2: %s do_write after destroy", x->d.tag);
    expect(&x->d, n > 0 && n <= SL_STREAM_MAX_BATCH, "W5: %s do_write of %zu", x->d.tag, n);
    x->write_calls++;
    x->chunks_in += n;
    trace_add(x->d.tag, "write");
    for (i = 0; i < n && last >= 0; i++) {
        sl_chunk_t *c =
            x->upper ? sl_chunk_copy(s->loop, chunks[i]->base, chunks[i]->len) : chunks[i];

        for (j = 0; x->upper && j < c->len; j++)
            c->base[j] = (char)toupper((unsigned char)c->base[j]);
        last = sl_stream_push(s, c); /* T1: forward by reference unless upper-casing */
        NOTE_MAX(x->max_rlength, s->rlength);
        if (x->upper)
            sl_chunk_unref(c);
    }
    sl_stream_forward_done(s, done, last); /* T2: a 0 holds done until the destination drains */
}

static void pass_xf_do_flush(sl_stream_t *s, sl_done_cb done)
{
    pass_xf_t *x = (pass_xf_t *)s;

    x->flush_calls++;
    trace_add(x->d.tag, "flush");
    if (x->trailer != NULL) {
        sl_chunk_t *c = sl_chunk_copy(s->loop, x->trailer, strlen(x->trailer));

        sl_stream_push(s, c);
        NOTE_MAX(x->max_rlength, s->rlength);
        sl_chunk_unref(c);
    }
    done(s, 0);
}

static const sl_stream_type_t pass_xf_type = {.name = "pass_xf",
                                              .do_write = pass_xf_do_write,
                                              .do_flush = pass_xf_do_flush,
                                              .do_destroy = plain_do_destroy};

void pass_xf_init(pass_xf_t *x, uv_loop_t *loop, size_t hwm, size_t rhwm)
{
    memset(x, 0, sizeof(*x));
    sl_stream_init(&x->s, loop, &pass_xf_type, SL_STREAM_WRITABLE | SL_STREAM_READABLE, hwm, rhwm);
    enlist(&x->d, "xf", NULL, NULL);
}

/* Probes */

static void probe_hit(probe_t *p, int *count, const char *event)
{
    ++*count;
    trace_add(p->tag, event);
    expect(&harness, dbl_in_call == 0, "W7: %s.%s ran inside the call that caused it", p->tag,
           event);
    expect(&harness, *count == 1 || strcmp(event, "drain") == 0, "%s: %s.%s fired twice",
           event[0] == 'f' ? "W9" : "D1/L1", p->tag, event);
}

static void probe_on_drain(sl_stream_t *s)
{
    probe_t *p = s->data;

    p->length_at_drain = s->length;
    probe_hit(p, &p->drain, "drain");
    expect(&harness, s->length == 0 && !(s->flags & (SL_STREAM_ENDING | SL_STREAM_DESTROYED)),
           "W6: %s on_drain with length %zu, flags %#x", p->tag, s->length, s->flags);
}

static void probe_on_finish(sl_stream_t *s)
{
    probe_hit(s->data, &((probe_t *)s->data)->finish, "finish");
}

static void probe_on_close(sl_stream_t *s, int err)
{
    probe_t *p = s->data;

    p->close_err = err;
    probe_hit(p, &p->close, "close");
}

void probe_stream(probe_t *p, sl_stream_t *s, const char *tag)
{
    memset(p, 0, sizeof(*p));
    p->tag = tag;
    s->data = p;
    s->on_drain = probe_on_drain;
    s->on_finish = probe_on_finish;
    s->on_close = probe_on_close;
}

void probe_pipeline_cb(sl_pipeline_t *pl, int status)
{
    probe_t *p = pl->data;

    p->status = status;
    probe_hit(p, &p->cb, "cb");
}

/* Trace */

void trace_add(const char *tag, const char *event)
{
    size_t room = sizeof(trace_buf) - trace_len;
    int n = snprintf(trace_buf + trace_len, room, " %s.%s", tag, event);

    if (n < 0 || (size_t)n >= room)
        trace_buf[trace_len] = '\0'; /* full: long tests only count bytes */
    else
        trace_len += (size_t)n;
}

int trace_find(const char *token, int nth, int *count)
{
    size_t tl = strlen(token);
    const char *p = trace_buf;
    int found = -1, seen = 0;

    while ((p = strstr(p, token)) != NULL) {
        if (p > trace_buf && p[-1] == ' ' && (p[tl] == ' ' || p[tl] == '\0')) {
            found = (int)(p - trace_buf);
            if (seen++ == nth)
                break;
        }
        p += tl;
    }
    if (count != NULL)
        *count = seen;
    return found;
}

/* Loops */

void doubles_setup(void)
{
    registry_n = 0;
    harness = (dbl_t){.tag = "harness"};
    trace_len = 0;
    trace_buf[0] = '\0';
    dbl_in_call = 0;
}

void open_loop(uv_loop_t *loop)
{
    ck_assert_int_eq(uv_loop_init(loop), 0);
}

void run_loop(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
}

/* Close what is left; count the handles that no double owns. */
static void close_walk_cb(uv_handle_t *h, void *arg)
{
    size_t i;

    if (uv_is_closing(h))
        return;
    for (i = 0; i < registry_n && registry[i]->handle != h; i++)
        ;
    *(int *)arg += i == registry_n;
    uv_close(h, NULL);
}

static void check_violations(void)
{
    size_t i;

    ck_assert_msg(harness.violations == 0, "%s", harness.violation);
    for (i = 0; i < registry_n; i++)
        ck_assert_msg(registry[i]->violations == 0, "%s", registry[i]->violation);
}

void close_loop(uv_loop_t *loop)
{
    int foreign = 0;
    size_t i;

    uv_run(loop, UV_RUN_DEFAULT);
    check_violations();
    for (i = 0; i < registry_n; i++) /* the owner's duty; D1: a no-op when already destroyed */
        sl_stream_destroy(STREAM(registry[i]), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    check_violations();
    /* The run drained the deferred callbacks: what is still counted now stays alive. */
    ck_assert_msg(sl_budget_in_use(loop) == 0, "%zu bytes of chunks still alive after close_loop",
                  sl_budget_in_use(loop));
    sl_defer_close(loop);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_walk(loop, close_walk_cb, &foreign);
    uv_run(loop, UV_RUN_DEFAULT);
    ck_assert_msg(foreign == 0, "%d handle(s) of the stream layer left open after sl_defer_close",
                  foreign);
    ck_assert_int_eq(uv_loop_close(loop), 0);
    for (i = 0; i < registry_n; i++) {
        if (registry[i]->owned != NULL) {
            free(*registry[i]->owned);
            *registry[i]->owned = NULL;
        }
    }
    registry_n = 0;
}

/* Temporary directories */

char *tmpdir_new(void)
{
    char tmpl[] = "/tmp/sluice-test-XXXXXX";
    char *path;

    ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp failed");
    path = strdup(tmpl);
    ck_assert_ptr_nonnull(path);
    return path;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *fw)
{
    (void)sb;
    (void)flag;
    (void)fw;
    return remove(path);
}

void tmpdir_remove(char *path)
{
    if (path == NULL)
        return;
    ck_assert_msg(nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0, "cannot remove %s",
                  path);
    free(path);
}
