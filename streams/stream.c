/* SPDX-License-Identifier: MIT
 *
 * The stream base: writable, readable and transform behaviour shared by every kind (rules in
 * stream.h). A stream is a flag word, a write queue, a readable buffer and a type table.
 *
 * Writable path: write() queues the chunk and, when no write is in flight, hands the whole queue
 * (up to SL_STREAM_MAX_BATCH chunks) to do_write (W1, W4, W5). The done callback releases the
 * batch; if it ran synchronously the rest of the work waits for a later turn (W7). When the
 * queue is empty and length reaches 0, on_drain fires if a write had returned 0 (W6). end() runs
 * do_flush/do_final once the queue is empty, then on_finish (W9).
 *
 * Readable path: push() sends a chunk straight to the piped destination while flowing with an
 * empty buffer (R3), otherwise buffers it. A 0 from the destination's write pauses the flow; the
 * destination's drain resumes it (P1), and once the buffer is below its mark the source is asked
 * for more with do_read (R2). A transform holds its done until then (T2).
 *
 * Events that must not run inside their cause are collected in `pending` and run by one deferred
 * tick per stream. Close is always the last event: after on_close nothing touches the stream.
 */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

enum {
    EV_AFTER_WRITE = 1 << 0,
    EV_READ = 1 << 1,
    EV_FINISH = 1 << 2,
    EV_FLOW = 1 << 3,
    EV_CLOSE = 1 << 4,
};

#define F_SCHEDULED (1u << 20)
#define F_DESTROY_DONE (1u << 21)
#define F_FINAL_STARTED (1u << 22) /* do_flush/do_final runs once, whatever the event order */

static void start_write(sl_stream_t *s);
static void maybe_final(sl_stream_t *s);
static void flow(sl_stream_t *s);
static void maybe_close(sl_stream_t *s);

/* --- chunk queue ------------------------------------------------------------------------- */

static void q_push(sl_chunkq_t *q, sl_chunk_t *c)
{
    if (q->count == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 8, i;
        sl_chunk_t **items = sl_xmalloc(ncap * sizeof(*items));
        for (i = 0; i < q->count; i++)
            items[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = items;
        q->cap = ncap;
        q->head = 0;
    }
    q->items[(q->head + q->count) % q->cap] = c;
    q->count++;
}

static sl_chunk_t *q_shift(sl_chunkq_t *q)
{
    sl_chunk_t *c;

    if (q->count == 0)
        return NULL;
    c = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return c;
}

/* Releases every queued chunk; returns the bytes released. */
static size_t q_clear(sl_chunkq_t *q)
{
    size_t bytes = 0;
    sl_chunk_t *c;

    while ((c = q_shift(q)) != NULL) {
        bytes += c->len;
        sl_chunk_unref(c);
    }
    return bytes;
}

/* --- deferred events --------------------------------------------------------------------- */

static void tick(void *arg)
{
    sl_stream_t *s = arg;
    unsigned ev = s->pending;

    s->flags &= ~F_SCHEDULED;
    s->pending = 0;
    if (ev & EV_AFTER_WRITE) {
        if (!(s->flags & SL_STREAM_DESTROYED))
            start_write(s); /* also emits drain and starts the final (W5, W6, W9) */
        else
            maybe_close(s);
    }
    if ((ev & EV_FLOW) && !(s->flags & SL_STREAM_DESTROYED))
        flow(s);
    if ((ev & EV_READ) && !(s->flags & SL_STREAM_DESTROYED)) {
        if (s->flags & SL_STREAM_HELD) {
            sl_done_cb d = s->held_done;
            s->flags &= ~SL_STREAM_HELD;
            s->held_done = NULL;
            d(s, 0);
        }
        if (s->type->do_read != NULL && !(s->flags & SL_STREAM_DESTROYED))
            s->type->do_read(s);
    }
    if ((ev & EV_FINISH) && !(s->flags & SL_STREAM_DESTROYED)) {
        s->flags |= SL_STREAM_FINISHED;
        if (s->on_finish != NULL)
            s->on_finish(s);
        if (!(s->flags & SL_STREAM_READABLE) || (s->flags & SL_STREAM_ENDED))
            sl_stream_destroy(s, 0); /* auto-destroy after finish */
    }
    if (ev & EV_CLOSE) {
        if (!(s->flags & F_SCHEDULED)) {
            s->flags |= SL_STREAM_CLOSED;
            free(s->wq.items);
            free(s->rq.items);
            free(s->inflight);
            s->wq.items = s->rq.items = s->inflight = NULL;
            if (s->on_close != NULL)
                s->on_close(s, s->error);
            return; /* s may be freed now */
        }
        s->pending |= EV_CLOSE; /* other events came first: close on the next tick */
    }
}

static void schedule(sl_stream_t *s, unsigned ev)
{
    if (s->flags & SL_STREAM_CLOSED)
        return;
    s->pending |= ev;
    if (!(s->flags & F_SCHEDULED)) {
        s->flags |= F_SCHEDULED;
        sl_defer(s->loop, tick, s);
    }
}

/* --- init -------------------------------------------------------------------------------- */

void sl_stream_init(sl_stream_t *s, uv_loop_t *loop, const sl_stream_type_t *type, unsigned sides,
                    size_t hwm, size_t rhwm)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->type = type;
    s->flags = sides & (SL_STREAM_WRITABLE | SL_STREAM_READABLE);
    s->hwm = hwm;
    s->rhwm = rhwm;
}

/* --- writable ---------------------------------------------------------------------------- */

static void fail(sl_stream_t *s, int err)
{
    if (s->error == 0)
        s->error = err; /* W11: the first error is sticky */
    sl_stream_destroy(s, err);
}

/* After an operation completes: 1 if the stream failed (W11) or was destroyed meanwhile, in
 * which case the close may now proceed (D1) and the caller stops. */
static int stopped_by(sl_stream_t *s, int status)
{
    if (status < 0)
        fail(s, status);
    if (status < 0 || (s->flags & SL_STREAM_DESTROYED)) {
        maybe_close(s);
        return 1;
    }
    return 0;
}

static void on_write_done(sl_stream_t *s, int status)
{
    size_t i, bytes = 0;

    if (!(s->flags & SL_STREAM_WRITING)) {
        fail(s, SL_EMULTIPLECB); /* W4 */
        return;
    }
    s->flags &= ~SL_STREAM_WRITING;
    for (i = 0; i < s->inflight_n; i++) {
        bytes += s->inflight[i]->len;
        sl_chunk_unref(s->inflight[i]);
    }
    s->inflight_n = 0;
    s->length -= bytes;
    if (stopped_by(s, status))
        return;
    if (s->sync) {
        schedule(s, EV_AFTER_WRITE); /* W7 */
        return;
    }
    start_write(s);
}

/* Hands the queue to do_write, or, with nothing queued, emits drain and maybe the final. */
static void start_write(sl_stream_t *s)
{
    size_t n = 0;

    if (s->flags & (SL_STREAM_WRITING | SL_STREAM_DESTROYED))
        return;
    if (s->wq.count == 0) {
        if ((s->flags & SL_STREAM_NEED_DRAIN) && s->length == 0 && !(s->flags & SL_STREAM_ENDING)) {
            s->flags &= ~SL_STREAM_NEED_DRAIN; /* W6 */
            if (s->on_drain != NULL)
                s->on_drain(s);
            if (s->pipe_src != NULL && !(s->flags & SL_STREAM_DESTROYED)) {
                s->pipe_src->flags |= SL_STREAM_FLOWING; /* P1 */
                flow(s->pipe_src);
            }
        }
        maybe_final(s);
        return;
    }
    if (s->inflight == NULL)
        s->inflight = sl_xmalloc(SL_STREAM_MAX_BATCH * sizeof(*s->inflight));
    while (n < SL_STREAM_MAX_BATCH && s->wq.count > 0)
        s->inflight[n++] = q_shift(&s->wq);
    s->inflight_n = n;
    s->flags |= SL_STREAM_WRITING;
    s->sync++;
    s->type->do_write(s, s->inflight, n, on_write_done);
    s->sync--;
}

int sl_stream_write(sl_stream_t *s, sl_chunk_t *c)
{
    int ret;

    if (!(s->flags & SL_STREAM_WRITABLE))
        return UV_EINVAL;
    if (s->flags & SL_STREAM_DESTROYED)
        return s->error ? s->error : SL_EDESTROYED; /* D2 */
    if (s->error != 0)
        return s->error;
    if (s->flags & SL_STREAM_ENDING)
        return SL_EWRITEAFTEREND; /* W10 */
    s->length += c->len;          /* W1 */
    s->bytes_in += c->len;
    ret = s->length < s->hwm || s->length == 0; /* W2 */
    if (!ret)
        s->flags |= SL_STREAM_NEED_DRAIN;
    q_push(&s->wq, sl_chunk_ref(c));
    if (!(s->flags & SL_STREAM_WRITING) && !(s->pending & EV_AFTER_WRITE))
        start_write(s);
    return ret;
}

static void on_final_done(sl_stream_t *s, int status)
{
    s->flags &= ~SL_STREAM_FINALING;
    if (stopped_by(s, status))
        return;
    if ((s->flags & SL_STREAM_READABLE) && !(s->flags & SL_STREAM_EOF))
        sl_stream_push(s, NULL); /* T3: flush ran, now end the readable side */
    schedule(s, EV_FINISH);
}

static void maybe_final(sl_stream_t *s)
{
    if (!(s->flags & SL_STREAM_ENDING) ||
        (s->flags & (SL_STREAM_WRITING | SL_STREAM_DESTROYED | F_FINAL_STARTED)) || s->wq.count > 0)
        return;
    s->flags |= F_FINAL_STARTED;
    s->flags |= SL_STREAM_FINALING;
    s->sync++;
    if ((s->flags & SL_STREAM_READABLE) && s->type->do_flush != NULL)
        s->type->do_flush(s, on_final_done); /* T3 */
    else if (s->type->do_final != NULL)
        s->type->do_final(s, on_final_done); /* W9 */
    else
        on_final_done(s, 0);
    s->sync--;
}

int sl_stream_end(sl_stream_t *s)
{
    if (!(s->flags & SL_STREAM_WRITABLE))
        return UV_EINVAL;
    if (s->flags & SL_STREAM_DESTROYED)
        return s->error ? s->error : SL_EDESTROYED; /* D2 */
    if (s->error != 0)
        return s->error;
    if (s->flags & SL_STREAM_ENDING)
        return 0; /* W10: a second end is ignored */
    s->flags |= SL_STREAM_ENDING;
    s->flags &= ~SL_STREAM_NEED_DRAIN;
    if (!(s->flags & SL_STREAM_WRITING))
        schedule(s, EV_AFTER_WRITE); /* the final never runs inside end() */
    return 0;
}

/* --- readable ---------------------------------------------------------------------------- */

static void deliver_end(sl_stream_t *s)
{
    s->flags |= SL_STREAM_ENDED;
    if (s->pipe_dst != NULL)
        sl_stream_end(s->pipe_dst); /* P2 */
    if (!(s->flags & SL_STREAM_WRITABLE) || (s->flags & SL_STREAM_FINISHED))
        sl_stream_destroy(s, 0); /* auto-destroy after end */
}

static void maybe_read(sl_stream_t *s)
{
    if ((s->flags & SL_STREAM_NEED_READ) && (s->flags & SL_STREAM_FLOWING) &&
        (s->rlength < s->rhwm || s->rlength == 0)) {
        s->flags &= ~SL_STREAM_NEED_READ;
        schedule(s, EV_READ); /* R2, T2 */
    }
}

/* P1: move buffered chunks to the destination while it accepts them. */
static void flow(sl_stream_t *s)
{
    sl_chunk_t *c;

    while ((s->flags & SL_STREAM_FLOWING) && s->pipe_dst != NULL && s->rq.count > 0) {
        int r;
        c = q_shift(&s->rq);
        s->rlength -= c->len;
        r = sl_stream_write(s->pipe_dst, c);
        sl_chunk_unref(c);
        if (r <= 0)
            s->flags &= ~SL_STREAM_FLOWING;
    }
    if (s->rq.count == 0 && (s->flags & SL_STREAM_EOF) && !(s->flags & SL_STREAM_ENDED) &&
        s->pipe_dst != NULL) {
        deliver_end(s); /* R3: end only after EOF and an empty buffer */
        return;
    }
    maybe_read(s);
}

int sl_stream_push(sl_stream_t *s, sl_chunk_t *c)
{
    int ret;

    if (!(s->flags & SL_STREAM_READABLE))
        return UV_EINVAL;
    if (s->flags & SL_STREAM_DESTROYED)
        return SL_EDESTROYED;
    if (s->flags & SL_STREAM_EOF)
        return SL_EPUSHAFTEREOF; /* R1 */
    if (c == NULL) {
        s->flags |= SL_STREAM_EOF;
        if (s->rq.count == 0 && s->pipe_dst != NULL)
            schedule(s, EV_FLOW); /* delivers the end on a later turn */
        return 0;
    }
    s->bytes_out += c->len;
    if ((s->flags & SL_STREAM_FLOWING) && s->rq.count == 0 && s->pipe_dst != NULL) {
        int r = sl_stream_write(s->pipe_dst, c); /* R3 */
        if (r <= 0)
            s->flags &= ~SL_STREAM_FLOWING;
    } else {
        q_push(&s->rq, sl_chunk_ref(c));
        s->rlength += c->len;
    }
    ret = s->rlength < s->rhwm || s->rlength == 0; /* R1 */
    if ((s->flags & SL_STREAM_WRITABLE) && !(s->flags & SL_STREAM_FLOWING) && s->pipe_dst != NULL)
        ret = 0; /* a transform whose destination waits holds its input (T2) */
    if (!ret)
        s->flags |= SL_STREAM_NEED_READ;
    return ret;
}

void sl_stream_forward_done(sl_stream_t *s, sl_done_cb done, int last_push)
{
    if (last_push == 0 && !(s->flags & SL_STREAM_DESTROYED)) {
        s->flags |= SL_STREAM_HELD; /* T2: released by the read event */
        s->held_done = done;
        maybe_read(s);
        return;
    }
    done(s, last_push < 0 ? last_push : 0);
}

int sl_stream_pipe(sl_stream_t *src, sl_stream_t *dst)
{
    if (!(src->flags & SL_STREAM_READABLE) || !(dst->flags & SL_STREAM_WRITABLE))
        return UV_EINVAL;
    if ((src->flags | dst->flags) & SL_STREAM_DESTROYED)
        return SL_EDESTROYED;
    if (src->pipe_dst != NULL || dst->pipe_src != NULL)
        return UV_EBUSY;
    src->pipe_dst = dst;
    dst->pipe_src = src;
    if (!(dst->flags & SL_STREAM_NEED_DRAIN))
        src->flags |= SL_STREAM_FLOWING; /* P1: a destination that waits starts us paused */
    schedule(src, EV_FLOW);
    return 0;
}

/* --- destroy ----------------------------------------------------------------------------- */

static void on_destroy_done(sl_stream_t *s, int status)
{
    if (status < 0 && s->error == 0)
        s->error = status;
    s->flags |= F_DESTROY_DONE;
    maybe_close(s);
}

static void maybe_close(sl_stream_t *s)
{
    if ((s->flags & SL_STREAM_DESTROYED) && (s->flags & F_DESTROY_DONE) &&
        !(s->flags & (SL_STREAM_WRITING | SL_STREAM_FINALING)))
        schedule(s, EV_CLOSE); /* D1 */
}

void sl_stream_destroy(sl_stream_t *s, int err)
{
    if (s->flags & SL_STREAM_DESTROYED)
        return; /* D1: idempotent */
    s->flags |= SL_STREAM_DESTROYED;
    s->flags &= ~(SL_STREAM_FLOWING | SL_STREAM_NEED_DRAIN);
    if (err < 0 && s->error == 0)
        s->error = err;
    s->length -= q_clear(&s->wq); /* D2 */
    s->rlength -= q_clear(&s->rq);
    if (s->flags & SL_STREAM_HELD) {
        sl_done_cb d = s->held_done;
        s->flags &= ~SL_STREAM_HELD;
        s->held_done = NULL;
        d(s, SL_EDESTROYED);
    }
    if (s->type->do_destroy != NULL)
        s->type->do_destroy(s, s->error, on_destroy_done);
    else
        on_destroy_done(s, 0);
}
