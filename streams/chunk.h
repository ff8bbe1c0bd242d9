/* SPDX-License-Identifier: MIT
 *
 * Refcounted byte chunks and the per-loop buffer budget.
 *
 * A chunk is one allocation: header and bytes together. Passing a chunk to a write or push lends
 * it; a stream that keeps it takes a reference with sl_chunk_ref and drops it with
 * sl_chunk_unref. Every live chunk is counted against the budget of the loop it was allocated
 * for. The budget never refuses an allocation (MHD's upload data must always be copied out, see
 * server/http/src_http.c); it reports exhaustion so that sources suspend, and wakes them once usage
 * falls back under half of the budget.
 *
 * Threads: every call below is made on the thread that runs `loop` (for ref and unref: the loop
 * the chunk was allocated for). A thread-pool worker may read a chunk's bytes while the loop
 * holds a reference for it (xf_digest, sink_file), never take or drop one. Two loops on two
 * threads share nothing here but a registry (streams/defer.c) looked up through a per-thread
 * cache.
 */
#ifndef SL_STREAMS_CHUNK_H
#define SL_STREAMS_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct sl_loopctx_s sl_loopctx_t; /* per loop, streams/loopctx.h */
typedef struct sl_pipe_s sl_pipe_t;       /* a kernel pipe that carries bytes (pipe.c) */

typedef struct sl_chunk_s {
    size_t refcnt;
    size_t len;        /* bytes used */
    size_t cap;        /* bytes available at base */
    char *base;        /* NULL for a piped chunk */
    sl_loopctx_t *ctx; /* the loop whose budget counts it */
    /* NULL, or (a piped chunk) the pipe whose next len bytes are this chunk's: they never pass
     * through user memory, and only a stage that says it takes piped chunks may see one */
    sl_pipe_t *pipe;
} sl_chunk_t;

/* A source waiting for the budget; embedded by the caller, woken once (fn(arg), deferred). */
typedef struct sl_budget_waiter_s {
    struct sl_budget_waiter_s *next, *prev;
    void (*fn)(void *arg);
    void *arg;
    int queued;
    sl_loopctx_t *ctx; /* the loop it waits on, while queued */
} sl_budget_waiter_t;

/* The size of a slab: chunks of exactly this capacity are recycled (chunk.c). */
#define SL_CHUNK_SLAB (256u << 10)
/* Returns owned: a chunk with cap bytes, len 0, refcnt 1, counted against the budget of `loop`
 * (borrowed). Aborts on out-of-memory. */
sl_chunk_t *sl_chunk_new(uv_loop_t *loop, size_t cap);
/* Returns owned: a new chunk of `loop` holding a copy of data[0..len). `data` is borrowed. */
sl_chunk_t *sl_chunk_copy(uv_loop_t *loop, const void *data, size_t len);
/* Takes one more reference; returns c (borrowed by the caller, who now owns one more). */
sl_chunk_t *sl_chunk_ref(sl_chunk_t *c);
/* Drops one reference (taken); frees the chunk at zero. NULL is ignored. */
void sl_chunk_unref(sl_chunk_t *c);
/* Give the recycled slabs of `loop` (borrowed) and the allocator's free memory back to the
 * system (when idle). */
void sl_chunk_trim(uv_loop_t *loop);

/* The budget of a loop (every `loop` below is borrowed). Each server on a loop joins it with its
 * --buffer-budget and leaves it when freed: the loop's budget is the SUM of its servers' budgets
 * (0 from any of them: unlimited), since their uploads share one pool of chunks; the last one to
 * leave releases the loop's context (sl_defer_close). sl_budget_set overrides the value until
 * the next join or leave (tests, programs without a server). */
void sl_budget_join(uv_loop_t *loop, size_t max_bytes);
void sl_budget_leave(uv_loop_t *loop, size_t max_bytes);
void sl_budget_set(uv_loop_t *loop, size_t max_bytes);
/* The loop's budget in bytes (0 = unlimited). */
size_t sl_budget_max(uv_loop_t *loop);
/* Count n more bytes held outside chunks (a form's text fields, a listing being sent) against the
 * budget, or n fewer with sl_budget_release. */
void sl_budget_charge(uv_loop_t *loop, size_t n);
void sl_budget_release(uv_loop_t *loop, size_t n);
/* Bytes held by the loop's live chunks (and charges) now, and the peak since its context was
 * created. 0 for a loop without one. */
size_t sl_budget_in_use(uv_loop_t *loop);
size_t sl_budget_peak(uv_loop_t *loop);
/* 1 if in-use bytes are at or above the budget. */
int sl_budget_exhausted(uv_loop_t *loop);
/* Queue `w` (borrowed until woken or cancelled) to be woken when usage of `loop` falls under
 * half its budget. fn runs from sl_budget_poll, which the loop's check handle calls
 * (streams/defer.c). */
void sl_budget_wait(uv_loop_t *loop, sl_budget_waiter_t *w, void (*fn)(void *arg), void *arg);
/* Dequeue `w` (borrowed) if queued; a no-op otherwise (woken, never queued, its loop closed). */
void sl_budget_cancel(sl_budget_waiter_t *w);
/* Wake waiters if usage allows; returns how many were woken. */
int sl_budget_poll(uv_loop_t *loop);
/* Number of queued waiters. */
size_t sl_budget_waiting(uv_loop_t *loop);

/* --- piped chunks (pipe.c): bytes moved socket → pipe → file with splice(2), no user copy --- */

struct sl_pipe_s {
    int rd, wr;    /* the read end (a sink splices out of it), the write end (a source fills it) */
    size_t cap;    /* its capacity in bytes */
    size_t queued; /* bytes of live piped chunks: in the pipe, not yet taken out */
    size_t refcnt; /* the owner's reference and one per live piped chunk */
    /* the owner's: called on the loop thread each time a piped chunk goes (room again) */
    void (*drained)(void *arg);
    void *arg;
};

/* Returns owned (refcnt 1): a non-blocking pipe of at least `min_cap` bytes (F_SETPIPE_SZ asks
 * for `cap`), or NULL with *err set (no descriptors; the system's pipe memory is used up, so the
 * pipe would be too small). */
sl_pipe_t *sl_pipe_new(size_t cap, size_t min_cap, int *err);
/* Drops one reference (taken); the last closes both ends (bytes left in it are discarded). The
 * owner clears `drained` before it lets go. */
void sl_pipe_release(sl_pipe_t *p);
/* Splice up to `max` bytes from socket `fd` into p, never blocking: the bytes moved, 0 at the
 * socket's end, or a negative errno (UV_EAGAIN: nothing to read, or the pipe is full). */
ssize_t sl_pipe_fill(sl_pipe_t *p, int fd, size_t max);
/* Returns owned: a chunk standing for the `len` bytes just put into `p` (borrowed; the chunk
 * takes a reference), counted against the budget of `loop` like a chunk of len bytes. */
sl_chunk_t *sl_chunk_piped(uv_loop_t *loop, sl_pipe_t *p, size_t len);
/* Thread-pool side: move piped chunk c's bytes (borrowed; the loop holds it) out of its pipe
 * into file `fd` at `off`. 0 or a negative errno. */
int sl_pipe_drain(const sl_chunk_t *c, int fd, uint64_t off);

/* Allocation helpers that abort on out-of-memory. */
void *sl_xmalloc(size_t n);
void *sl_xcalloc(size_t n, size_t size);
void *sl_xrealloc(void *p, size_t n);
char *sl_xstrdup(const char *s);
/* Parse "512", "64K", "10M", "2G", "1T" (powers of 1024; "KiB", "MB" spellings too) into *out.
 * Returns 0 or -1 (not a number, a bad suffix, an overflow). Shared by sluice's flags and
 * sluice-bench's. */
int sl_parse_size(const char *s, uint64_t *out);

#endif
