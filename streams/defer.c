/* SPDX-License-Identifier: MIT
 *
 * The per-loop contexts (loopctx.h) and sl_defer.
 *
 * sl_defer: run a function on a later turn of the loop, never inside its caller (Node's
 * setImmediate). Each loop's context holds a FIFO of small nodes, a uv_check_t that drains the
 * FIFO after each poll, and a uv_idle_t started while the FIFO is non-empty so the poll does not
 * block. A drain runs only the nodes queued before it began; nodes queued meanwhile wait one
 * turn, so a callback that defers again cannot starve I/O. The check handle also wakes the loop's
 * budget waiters (chunk.h), because chunks are freed from fs callbacks on this loop. The handles
 * are initialised on the first sl_defer or budget wait, so a context made only to count chunks
 * (a test, a loop never run) holds nothing of the loop's.
 *
 * Finding a loop's context. Any number of loops, each run by one thread; two threads never use
 * one loop, but two threads each with a loop must not race. A registry, a linked list of the
 * contexts keyed by their loop, guarded by a mutex, is walked only when a thread asks for a loop
 * other than the one it asked for last: each thread caches (loop, context) in a _Thread_local,
 * so the hot path (sl_chunk_new per 256 KiB slab, sl_defer per stream turn, sl_budget_exhausted
 * per push) is one acquire load and two compares. The cache is stamped with the registry's
 * generation, bumped whenever a context leaves the list, so an entry can never hand out a freed
 * context for a new loop that happens to live at the old one's address. Not thread-local state
 * throughout: a thread may run several loops (one after the other, or alternately), and each
 * loop still has one budget.
 *
 * Closing: sl_defer_close runs what is queued, takes the context out of the registry (a later
 * call for the loop makes a fresh one), dequeues the budget waiters, frees the slabs and closes
 * the handles; the memory goes once they are closed and the loop's last chunk is released.
 */
#include "loopctx.h"
#include "stream.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct sl_defer_node_s {
    struct sl_defer_node_s *next;
    void (*fn)(void *arg);
    void *arg;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static sl_loopctx_t *reg_head;   /* under reg_lock */
static atomic_ulong reg_gen = 1; /* bumped under reg_lock when a context leaves the list */
static _Thread_local struct {
    uv_loop_t *loop;
    sl_loopctx_t *ctx;
    unsigned long gen; /* 0: empty */
} cache;

static sl_loopctx_t *lookup(uv_loop_t *loop, int create)
{
    unsigned long gen = atomic_load_explicit(&reg_gen, memory_order_acquire);
    sl_loopctx_t *ctx;

    if (cache.loop == loop && cache.gen == gen)
        return cache.ctx;
    pthread_mutex_lock(&reg_lock);
    for (ctx = reg_head; ctx != NULL && ctx->loop != loop; ctx = ctx->next)
        ;
    if (ctx == NULL && create) {
        ctx = sl_xcalloc(1, sizeof(*ctx));
        ctx->loop = loop;
        ctx->next = reg_head;
        reg_head = ctx;
    }
    gen = atomic_load_explicit(&reg_gen, memory_order_relaxed);
    pthread_mutex_unlock(&reg_lock);
    if (ctx != NULL) {
        cache.loop = loop;
        cache.ctx = ctx;
        cache.gen = gen;
    }
    return ctx;
}

sl_loopctx_t *sl__loopctx(uv_loop_t *loop)
{
    return lookup(loop, 1);
}

sl_loopctx_t *sl__loopctx_find(uv_loop_t *loop)
{
    return lookup(loop, 0);
}

/* Take ctx out of the registry: later lookups of its loop make a new one. */
static void unregister(sl_loopctx_t *ctx)
{
    sl_loopctx_t **p;

    pthread_mutex_lock(&reg_lock);
    for (p = &reg_head; *p != NULL && *p != ctx; p = &(*p)->next)
        ;
    if (*p != NULL)
        *p = ctx->next;
    atomic_fetch_add_explicit(&reg_gen, 1, memory_order_release);
    pthread_mutex_unlock(&reg_lock);
    if (cache.ctx == ctx)
        cache.gen = 0;
    ctx->next = NULL;
    ctx->loop = NULL;
    ctx->detached = 1;
}

static void on_idle(uv_idle_t *h)
{
    (void)h; /* exists only to keep the poll phase from blocking */
}

static void on_check(uv_check_t *h)
{
    sl_loopctx_t *ctx = h->data;
    sl_defer_node_t *n = ctx->head;

    ctx->head = ctx->tail = NULL;
    while (n != NULL) {
        sl_defer_node_t *next = n->next;
        n->fn(n->arg);
        n->next = ctx->free;
        ctx->free = n;
        n = next;
    }
    sl__budget_poll_ctx(ctx);
    if (ctx->head == NULL)
        uv_idle_stop(&ctx->idle);
}

void sl__loopctx_start(sl_loopctx_t *ctx)
{
    if (ctx->started)
        return;
    uv_check_init(ctx->loop, &ctx->check);
    uv_idle_init(ctx->loop, &ctx->idle);
    ctx->check.data = ctx->idle.data = ctx;
    uv_check_start(&ctx->check, on_check);
    uv_unref((uv_handle_t *)&ctx->check);
    ctx->started = 1;
}

void sl_defer(uv_loop_t *loop, void (*fn)(void *arg), void *arg)
{
    sl_loopctx_t *ctx = sl__loopctx(loop);
    sl_defer_node_t *n;

    sl__loopctx_start(ctx);
    n = ctx->free;
    if (n != NULL)
        ctx->free = n->next;
    else
        n = sl_xmalloc(sizeof(*n));
    n->fn = fn;
    n->arg = arg;
    n->next = NULL;
    if (ctx->tail != NULL)
        ctx->tail->next = n;
    else
        ctx->head = n;
    ctx->tail = n;
    if (!uv_is_active((uv_handle_t *)&ctx->idle))
        uv_idle_start(&ctx->idle, on_idle);
}

static void free_nodes(sl_defer_node_t *n)
{
    while (n != NULL) {
        sl_defer_node_t *next = n->next;
        free(n);
        n = next;
    }
}

void sl__loopctx_maybe_free(sl_loopctx_t *ctx)
{
    if (!ctx->detached || ctx->closing > 0 || ctx->nchunks > 0)
        return;
    free_nodes(ctx->head);
    free_nodes(ctx->free);
    free(ctx);
}

static void on_ctx_closed(uv_handle_t *h)
{
    sl_loopctx_t *ctx = h->data;

    ctx->closing--;
    sl__loopctx_maybe_free(ctx);
}

void sl_defer_close(uv_loop_t *loop)
{
    sl_loopctx_t *ctx = sl__loopctx_find(loop);

    if (ctx == NULL)
        return;
    if (ctx->started)
        on_check(&ctx->check); /* run what is still queued */
    unregister(ctx);
    sl__budget_detach(ctx);
    if (ctx->started) {
        ctx->closing = 2;
        uv_close((uv_handle_t *)&ctx->check, on_ctx_closed);
        uv_close((uv_handle_t *)&ctx->idle, on_ctx_closed);
    } else {
        sl__loopctx_maybe_free(ctx);
    }
}
