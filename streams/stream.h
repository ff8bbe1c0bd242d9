/* SPDX-License-Identifier: MIT
 *
 * The stream contract: Node.js streams for bytes, in C, on a libuv loop.
 *
 * Streams move refcounted chunks (chunk.h). A stream has a writable side (it consumes chunks
 * through its type's do_write), a readable side (it produces chunks with sl_stream_push), or both
 * (a transform). Concrete kinds are one static const sl_stream_type_t each: src_* produce,
 * xf_* transform, sink_* consume. The rules, cited in code and named in tests:
 *
 * Writable
 *  W1  write() adds the chunk's length to `length`; the chunk goes to do_write at once unless a
 *      write is in flight or the stream is errored; otherwise it is queued.
 *  W2  write() returns 1 while length < hwm (or length == 0), 0 when the caller must wait for
 *      on_drain. A negative return means the chunk was NOT accepted (after end, after an error,
 *      after destroy) and nothing will call back.
 *  W3  0 is advice: the chunk was accepted. Ignoring it means unbounded buffering.
 *  W4  At most one do_write is in flight. Calling its done twice is SL_EMULTIPLECB (an error).
 *  W5  Chunks queued while a write is in flight are handed to the next do_write together
 *      (coalesced, up to SL_STREAM_MAX_BATCH chunks), so a sink writes them with one pwritev.
 *  W6  on_drain fires only after write() returned 0, once length has fallen to 0, and never
 *      while ending or destroyed.
 *  W7  Callbacks never run inside the call that caused them: a do_write that completes
 *      synchronously still delivers on_drain on a later loop turn.
 *  W8  hwm is per stream; 0 is legal (every write returns 0 until drained).
 *  W9  end() flushes the queue, then runs do_final (the commit), then on_finish fires.
 *  W10 write() after end() is SL_EWRITEAFTEREND; a second end() is ignored.
 *  W11 The first error is sticky: later writes are rejected, queued chunks are released, and the
 *      stream destroys itself with that error.
 *
 * Readable
 *  R1  push(chunk) returns 1 while the readable buffer is below its hwm, else 0; push(NULL) is
 *      end-of-stream; a push after EOF is SL_EPUSHAFTEREOF.
 *  R2  do_read is called (on a later loop turn) once the buffer has fallen below hwm after a
 *      push returned 0; the source then pushes again.
 *  R3  While flowing (piped) with an empty buffer a pushed chunk goes straight to the
 *      destination; the end is delivered only after EOF and an empty buffer.
 *
 * Transform
 *  T1  A transform's do_write handles the chunks given to it and forwards its output with
 *      sl_stream_push.
 *  T2  Backpressure is set by the reading side: a transform ends its do_write with
 *      sl_stream_forward_done, which holds done while its readable side is paused or at its hwm
 *      and releases it when the destination drains. A transform that calls done directly is
 *      never held.
 *  T3  At end, do_flush runs before the end of the readable side is pushed.
 *
 * Pipe
 *  P1  pipe(src, dst) writes every chunk of src into dst; a 0 from write pauses src and dst's
 *      drain resumes it.
 *  P2  src's end ends dst.
 *  P3  An error in src does not destroy dst; that is what the pipeline is for.
 *
 * Destroy
 *  D1  destroy(err) is idempotent and asynchronous: do_destroy runs (it may finish later), then
 *      on_close(s, err) fires on a later loop turn. Memory is released only in or after on_close.
 *  D2  After destroy, queued chunks are released and writes are rejected: with the error the
 *      stream was destroyed with (W11: the cause travels upstream), SL_EDESTROYED without one.
 *  D3  Auto-destroy: a stream destroys itself with 0 once it is complete (a writable after
 *      on_finish, a readable after its end was delivered, a transform after both).
 *
 * Pipeline
 *  L1  pipeline(s0 … sN-1) pipes neighbours and calls its callback exactly once.
 *  L2  The first error wins; a premature close gives way to a real error found later.
 *  L3  On error every stage is destroyed with that error (a file sink then removes its temp file),
 *      except stages that already completed and auto-destroyed (D3), as in Node.
 *  L4  On success the callback runs only after the last stage finished (its do_final, the
 *      commit, returned) and every stage has closed.
 */
#ifndef SL_STREAMS_STREAM_H
#define SL_STREAMS_STREAM_H

#include <stddef.h>
#include <uv.h>

#include "chunk.h"
#include "error.h"

#define SL_STREAM_MAX_BATCH 64 /* W5: chunks handed to one do_write at most */

typedef struct sl_stream_s sl_stream_t;
typedef struct sl_stream_type_s sl_stream_type_t;

/* Completion of a do_write / do_final / do_destroy; status 0 or a negative code. */
typedef void (*sl_done_cb)(sl_stream_t *s, int status);
typedef void (*sl_event_cb)(sl_stream_t *s);
typedef void (*sl_close_cb)(sl_stream_t *s, int err);

struct sl_stream_type_s {
    const char *name; /* "src_http", "xf_limit", "sink_file": shown in logs */
    /* Writable side: handle n >= 1 chunks (borrowed: ref what you keep), then call done once. */
    void (*do_write)(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done);
    /* Writable side, optional: after the last write (W9); the file sink commits here. */
    void (*do_final)(sl_stream_t *s, sl_done_cb done);
    /* Transform, optional: at end, before EOF is pushed (T3). */
    void (*do_flush)(sl_stream_t *s, sl_done_cb done);
    /* Readable side, optional: the buffer fell below hwm after push returned 0 (R2). */
    void (*do_read)(sl_stream_t *s);
    /* Optional: release resources; call done when finished (the sink unlinks its temp file). */
    void (*do_destroy)(sl_stream_t *s, int err, sl_done_cb done);
};

/* Flags: one word, like Node's kState. */
enum {
    SL_STREAM_WRITABLE = 1 << 0,
    SL_STREAM_READABLE = 1 << 1,
    SL_STREAM_WRITING = 1 << 2,    /* a do_write is in flight (W4) */
    SL_STREAM_NEED_DRAIN = 1 << 3, /* write() returned 0 (W6) */
    SL_STREAM_ENDING = 1 << 4,     /* end() called */
    SL_STREAM_FINALING = 1 << 5,   /* do_final in flight */
    SL_STREAM_FINISHED = 1 << 6,   /* on_finish delivered */
    SL_STREAM_EOF = 1 << 7,        /* push(NULL) seen */
    SL_STREAM_ENDED = 1 << 8,      /* readable end delivered */
    SL_STREAM_FLOWING = 1 << 9,    /* piped and not paused */
    SL_STREAM_NEED_READ = 1 << 10, /* push returned 0 (R2) */
    SL_STREAM_DESTROYED = 1 << 11,
    SL_STREAM_CLOSED = 1 << 12,
    SL_STREAM_HELD = 1 << 13, /* a transform holds its done (T2) */
};

typedef struct sl_chunkq_s {
    sl_chunk_t **items;
    size_t cap, head, count;
} sl_chunkq_t;

struct sl_stream_s {
    void *data; /* public: the owner's */
    const sl_stream_type_t *type;
    uv_loop_t *loop;
    unsigned flags;
    int error;     /* read-only: the sticky first error (W11) */
    size_t hwm;    /* writable side high-water mark, bytes */
    size_t length; /* read-only: bytes queued + in flight on the writable side */
    size_t rhwm;   /* readable side high-water mark */
    size_t rlength;
    uint64_t bytes_in;  /* read-only: bytes accepted by write() */
    uint64_t bytes_out; /* read-only: bytes pushed */
    sl_event_cb on_drain;
    sl_event_cb on_finish;
    sl_close_cb on_close;
    /* private */
    sl_chunkq_t wq;        /* queued writes */
    sl_chunk_t **inflight; /* the batch given to do_write */
    size_t inflight_n;
    sl_chunkq_t rq;        /* readable buffer */
    sl_stream_t *pipe_dst; /* P1: one destination */
    sl_stream_t *pipe_src;
    sl_done_cb held_done; /* T2 */
    int sync;             /* inside do_write (W7) */
    unsigned pending;     /* deferred events scheduled */
    void *pipeline;
};

/* Initialise a stream of `type` on `loop`; hwm/rhwm in bytes. `s` is borrowed (caller-allocated,
 * usually embedded in the concrete kind's struct); `type` must outlive it. */
void sl_stream_init(sl_stream_t *s, uv_loop_t *loop, const sl_stream_type_t *type, unsigned sides,
                    size_t hwm, size_t rhwm);

/* W1-W3: write `c` (lent: the stream takes its own reference if it keeps it). Returns 1 (go on),
 * 0 (accepted, wait for on_drain) or a negative code (not accepted, no callback). */
int sl_stream_write(sl_stream_t *s, sl_chunk_t *c);

/* W9/W10: no more writes; flush, do_final, then on_finish. Returns 0, or a negative code when
 * the stream is errored/destroyed (ignored second end returns 0). */
int sl_stream_end(sl_stream_t *s);

/* R1: push `c` (lent) out of the readable side; NULL = EOF. Returns 1, 0 or a negative code. */
int sl_stream_push(sl_stream_t *s, sl_chunk_t *c);

/* T1/T2: a transform's do_write ends with this: `last_push` is the return of its last
 * sl_stream_push. 0 holds `done` until the destination drains; 1 calls it now; a negative code
 * fails the write with it. */
void sl_stream_forward_done(sl_stream_t *s, sl_done_cb done, int last_push);

/* P1-P3: pipe src's readable side into dst's writable side (both borrowed). Returns 0 or a
 * negative code if either is destroyed or src already has a destination. */
int sl_stream_pipe(sl_stream_t *src, sl_stream_t *dst);

/* D1/D2: destroy with `err` (0 for a plain close). Idempotent; on_close fires later. */
void sl_stream_destroy(sl_stream_t *s, int err);

/* Schedule fn(arg) on a later turn of `loop` (borrowed; on its thread), never inside the caller.
 * Used for W7 and D1; available to stream kinds and their owners. Any number of loops. */
void sl_defer(uv_loop_t *loop, void (*fn)(void *arg), void *arg);

/* Release all the stream layer keeps for `loop` (borrowed; on its thread): run what is deferred,
 * drop its budget waiters and slabs, close its handles (run the loop once more for their close
 * callbacks), before uv_loop_close. A chunk still alive keeps the rest until it is released. The
 * last sl_budget_leave of a loop calls it. */
void sl_defer_close(uv_loop_t *loop);

#endif
