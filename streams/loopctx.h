/* SPDX-License-Identifier: MIT
 *
 * The per-loop context of the stream layer (internal to streams/: chunk.c and defer.c).
 *
 * Everything libsluice keeps per uv_loop_t lives in one sl_loopctx_t: the buffer budget and its
 * waiters, the free slabs (chunk.c), the sl_defer FIFO and its two handles (defer.c). Contexts are
 * found from their loop through a registry in defer.c (design there); the fields below are only
 * ever touched on the thread that runs the loop, so they need no lock.
 */
#ifndef SL_STREAMS_LOOPCTX_H
#define SL_STREAMS_LOOPCTX_H

#include <uv.h>

#include "chunk.h"

typedef struct sl_defer_node_s sl_defer_node_t;

struct sl_loopctx_s {
    struct sl_loopctx_s *next; /* the registry's list (defer.c, under its lock) */
    uv_loop_t *loop;           /* borrowed: the key; NULL once detached */

    /* the budget (chunk.c) */
    size_t budget_max; /* 0 = unlimited */
    size_t in_use, peak;
    size_t nchunks; /* live chunks: a detached context lives until they are all gone */
    sl_budget_waiter_t *wait_head, *wait_tail;
    size_t waiting;
    sl_chunk_t *slabs; /* free slabs, linked through base */
    size_t nslabs;
    /* the servers on this loop (sl_budget_join): the budget is the sum of theirs */
    size_t users, budget_sum, unlimited;

    /* sl_defer (defer.c) */
    uv_check_t check;
    uv_idle_t idle;
    sl_defer_node_t *head, *tail, *free;
    int started; /* check and idle initialised */
    int closing; /* handles still closing */
    int detached;
};

/* Returns borrowed: the context of `loop`, created (without handles) if it has none yet; on the
 * loop's thread. Cheap when the same thread asked for the same loop last time. */
sl_loopctx_t *sl__loopctx(uv_loop_t *loop);
/* Returns borrowed: the context of `loop`, or NULL if it has none (nothing is created). */
sl_loopctx_t *sl__loopctx_find(uv_loop_t *loop);
/* Initialise and start the context's check and idle handles if not done yet (sl_defer and the
 * budget waiters need them). */
void sl__loopctx_start(sl_loopctx_t *ctx);
/* Free a detached context once its handles are closed and its last chunk is gone. */
void sl__loopctx_maybe_free(sl_loopctx_t *ctx);
/* pipe.c: a piped chunk of `len` bytes of p (borrowed; its reference is dropped here) went. */
void sl__pipe_chunk_gone(sl_pipe_t *p, size_t len);

/* chunk.c: wake the context's budget waiters if usage allows (the check handle calls it); and
 * at detach, dequeue every waiter and free the slabs. */
int sl__budget_poll_ctx(sl_loopctx_t *ctx);
void sl__budget_detach(sl_loopctx_t *ctx);

#endif
