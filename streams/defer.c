/* SPDX-License-Identifier: MIT
 *
 * sl_defer: run a function on a later turn of the loop, never inside its caller (Node's
 * setImmediate). One context per loop: a FIFO of small nodes, a uv_check_t that drains the FIFO
 * after each poll, and a uv_idle_t started while the FIFO is non-empty so the poll does not block.
 * A drain runs only the nodes queued before it began; nodes queued meanwhile wait one turn, so a
 * callback that defers again cannot starve I/O. The check handle also wakes budget waiters
 * (chunk.h), because chunks are freed from fs callbacks on this loop.
 */
#include "stream.h"

#include <stdlib.h>

typedef struct defer_node_s {
    struct defer_node_s *next;
    void (*fn)(void *arg);
    void *arg;
} defer_node_t;

typedef struct defer_ctx_s {
    uv_loop_t *loop;
    uv_check_t check;
    uv_idle_t idle;
    defer_node_t *head, *tail, *free;
    int closing;
} defer_ctx_t;

#define MAX_LOOPS 16
static defer_ctx_t *ctxs[MAX_LOOPS];

static void on_idle(uv_idle_t *h)
{
    (void)h; /* exists only to keep the poll phase from blocking */
}

static void on_check(uv_check_t *h)
{
    defer_ctx_t *ctx = h->data;
    defer_node_t *n = ctx->head;

    ctx->head = ctx->tail = NULL;
    while (n != NULL) {
        defer_node_t *next = n->next;
        n->fn(n->arg);
        n->next = ctx->free;
        ctx->free = n;
        n = next;
    }
    sl_budget_poll();
    if (ctx->head == NULL)
        uv_idle_stop(&ctx->idle);
}

static defer_ctx_t *ctx_for(uv_loop_t *loop)
{
    int i, slot = -1;

    for (i = 0; i < MAX_LOOPS; i++) {
        if (ctxs[i] != NULL && ctxs[i]->loop == loop)
            return ctxs[i];
        if (ctxs[i] == NULL && slot < 0)
            slot = i;
    }
    if (slot < 0)
        abort(); /* more live loops than any sluice process uses */
    defer_ctx_t *ctx = sl_xcalloc(1, sizeof(*ctx));
    ctx->loop = loop;
    uv_check_init(loop, &ctx->check);
    uv_idle_init(loop, &ctx->idle);
    ctx->check.data = ctx;
    uv_check_start(&ctx->check, on_check);
    uv_unref((uv_handle_t *)&ctx->check);
    ctxs[slot] = ctx;
    return ctx;
}

void sl_defer(uv_loop_t *loop, void (*fn)(void *arg), void *arg)
{
    defer_ctx_t *ctx = ctx_for(loop);
    defer_node_t *n = ctx->free;

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

static void free_nodes(defer_node_t *n)
{
    while (n != NULL) {
        defer_node_t *next = n->next;
        free(n);
        n = next;
    }
}

static void on_ctx_closed(uv_handle_t *h)
{
    defer_ctx_t *ctx = h->data;

    if (--ctx->closing > 0)
        return;
    free_nodes(ctx->head);
    free_nodes(ctx->free);
    free(ctx);
}

void sl_defer_close(uv_loop_t *loop)
{
    int i;

    for (i = 0; i < MAX_LOOPS; i++) {
        defer_ctx_t *ctx = ctxs[i];
        if (ctx == NULL || ctx->loop != loop)
            continue;
        /* Run what is still queued, then close both handles. */
        on_check(&ctx->check);
        ctxs[i] = NULL;
        ctx->closing = 2;
        ctx->idle.data = ctx;
        uv_close((uv_handle_t *)&ctx->check, on_ctx_closed);
        uv_close((uv_handle_t *)&ctx->idle, on_ctx_closed);
    }
}
