/* SPDX-License-Identifier: MIT
 *
 * Chunks and the per-loop buffer budget (see chunk.h). A chunk is a header followed by its bytes
 * in one malloc; the header names the loop context (loopctx.h) whose budget counts it, so an
 * unref needs no lookup. The budget counts the capacity of every live chunk; it is a soft limit:
 * allocation always succeeds, sources ask sl_budget_exhausted() after each push and park a
 * waiter, and the loop's check handle (streams/defer.c) wakes waiters in FIFO order once usage is
 * under half the budget, so a woken source has room to make progress.
 *
 * Per loop, not per process: two servers on two loops (two threads) each have their own budget,
 * counters, waiters and slabs. All of a context's fields are touched only on its loop's thread:
 * chunks are allocated, referenced and released there (thread-pool workers only read their bytes,
 * while the loop holds a reference), so the counters need no lock and no atomics. The one shared
 * structure is the registry that finds a loop's context (defer.c), and sl_chunk_new goes through
 * its per-thread cache, one compare when the thread asks for the loop it asked for last.
 * Servers sharing one loop share its budget: the sum of theirs (sl_budget_join).
 *
 * Lifetime: sl_defer_close (or the last sl_budget_leave) detaches the context from its loop; a
 * chunk still alive then (a response MHD frees late) keeps the detached context until it goes.
 *
 * Slabs: chunks of exactly SL_CHUNK_SLAB bytes (what a fast upload reads at a time) are kept on a
 * per-loop free list when released, at most SLAB_KEEP of them, and handed out again: a large
 * allocation would otherwise be an mmap, 64 page faults (the kernel zeroing every page) and a
 * munmap each time. sl_chunk_trim gives them back to the system with malloc_trim once the server
 * is idle, so memory returns after a burst.
 */
#include "loopctx.h"
#include "stream.h" /* sl_defer_close */

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>

#define SLAB_KEEP 64 /* 16 MiB of free slabs per loop at most */

void *sl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fputs("sluice: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *sl_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        fputs("sluice: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *sl_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL) {
        fputs("sluice: out of memory\n", stderr);
        abort();
    }
    return p;
}

char *sl_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(sl_xmalloc(n), s, n);
}

sl_chunk_t *sl_chunk_new(uv_loop_t *loop, size_t cap)
{
    sl_loopctx_t *ctx = sl__loopctx(loop);
    sl_chunk_t *c;

    if (cap == SL_CHUNK_SLAB && ctx->slabs != NULL) {
        c = ctx->slabs;
        ctx->slabs = *(sl_chunk_t **)c->base;
        ctx->nslabs--;
    } else {
        c = sl_xmalloc(sizeof(*c) + cap);
    }

    c->refcnt = 1;
    c->len = 0;
    c->cap = cap;
    c->base = (char *)(c + 1);
    c->ctx = ctx;
    c->pipe = NULL;
    ctx->nchunks++;
    ctx->in_use += cap;
    if (ctx->in_use > ctx->peak)
        ctx->peak = ctx->in_use;
    return c;
}

sl_chunk_t *sl_chunk_piped(uv_loop_t *loop, sl_pipe_t *p, size_t len)
{
    sl_chunk_t *c = sl_chunk_new(loop, 0);
    sl_loopctx_t *ctx = c->ctx;

    c->len = c->cap = len; /* the budget counts the bytes the kernel holds for us */
    c->base = NULL;
    c->pipe = p;
    p->refcnt++;
    p->queued += len;
    ctx->in_use += len;
    if (ctx->in_use > ctx->peak)
        ctx->peak = ctx->in_use;
    return c;
}

sl_chunk_t *sl_chunk_copy(uv_loop_t *loop, const void *data, size_t len)
{
    sl_chunk_t *c = sl_chunk_new(loop, len);

    memcpy(c->base, data, len);
    c->len = len;
    return c;
}

sl_chunk_t *sl_chunk_ref(sl_chunk_t *c)
{
    c->refcnt++;
    return c;
}

void sl_chunk_unref(sl_chunk_t *c)
{
    sl_loopctx_t *ctx;

    if (c == NULL || --c->refcnt > 0)
        return;
    ctx = c->ctx;
    ctx->in_use -= c->cap < ctx->in_use ? c->cap : ctx->in_use;
    ctx->nchunks--;
    if (c->pipe != NULL) {
        sl__pipe_chunk_gone(c->pipe, c->len);
        c->pipe = NULL;
        free(c);
        if (ctx->detached)
            sl__loopctx_maybe_free(ctx);
        return;
    }
    if (__builtin_expect(ctx->detached, 0)) {
        free(c);
        sl__loopctx_maybe_free(ctx); /* the last chunk of a closed loop */
        return;
    }
    if (c->cap == SL_CHUNK_SLAB && ctx->nslabs < SLAB_KEEP) {
        *(sl_chunk_t **)c->base = ctx->slabs;
        ctx->slabs = c;
        ctx->nslabs++;
        return;
    }
    free(c);
}

static void free_slabs(sl_loopctx_t *ctx)
{
    while (ctx->slabs != NULL) {
        sl_chunk_t *c = ctx->slabs;
        ctx->slabs = *(sl_chunk_t **)c->base;
        free(c);
    }
    ctx->nslabs = 0;
}

void sl_chunk_trim(uv_loop_t *loop)
{
    sl_loopctx_t *ctx = sl__loopctx_find(loop);

    if (ctx != NULL)
        free_slabs(ctx);
    malloc_trim(0);
}

void sl_budget_charge(uv_loop_t *loop, size_t n)
{
    sl_loopctx_t *ctx = sl__loopctx(loop);

    ctx->in_use += n;
    if (ctx->in_use > ctx->peak)
        ctx->peak = ctx->in_use;
}

void sl_budget_release(uv_loop_t *loop, size_t n)
{
    sl_loopctx_t *ctx = sl__loopctx_find(loop);

    if (ctx != NULL)
        ctx->in_use -= n < ctx->in_use ? n : ctx->in_use;
}

static void budget_recompute(sl_loopctx_t *ctx)
{
    ctx->budget_max = ctx->unlimited ? 0 : ctx->budget_sum;
}

void sl_budget_join(uv_loop_t *loop, size_t max_bytes)
{
    sl_loopctx_t *ctx = sl__loopctx(loop);

    ctx->users++;
    if (max_bytes == 0)
        ctx->unlimited++;
    else
        ctx->budget_sum += max_bytes;
    budget_recompute(ctx);
}

void sl_budget_leave(uv_loop_t *loop, size_t max_bytes)
{
    sl_loopctx_t *ctx = sl__loopctx_find(loop);

    if (ctx == NULL || ctx->users == 0)
        return;
    if (max_bytes == 0)
        ctx->unlimited--;
    else
        ctx->budget_sum -= max_bytes;
    budget_recompute(ctx);
    if (--ctx->users == 0)
        sl_defer_close(loop); /* the last server: release what this loop held */
}

void sl_budget_set(uv_loop_t *loop, size_t max_bytes)
{
    sl__loopctx(loop)->budget_max = max_bytes;
}

size_t sl_budget_max(uv_loop_t *loop)
{
    sl_loopctx_t *ctx = sl__loopctx_find(loop);

    return ctx != NULL ? ctx->budget_max : 0;
}

size_t sl_budget_in_use(uv_loop_t *loop)
{
    sl_loopctx_t *ctx = sl__loopctx_find(loop);

    return ctx != NULL ? ctx->in_use : 0;
}

size_t sl_budget_peak(uv_loop_t *loop)
{
    sl_loopctx_t *ctx = sl__loopctx_find(loop);

    return ctx != NULL ? ctx->peak : 0;
}

int sl_budget_exhausted(uv_loop_t *loop)
{
    sl_loopctx_t *ctx = sl__loopctx_find(loop);

    return ctx != NULL && ctx->budget_max != 0 && ctx->in_use >= ctx->budget_max;
}

size_t sl_budget_waiting(uv_loop_t *loop)
{
    sl_loopctx_t *ctx = sl__loopctx_find(loop);

    return ctx != NULL ? ctx->waiting : 0;
}

void sl_budget_wait(uv_loop_t *loop, sl_budget_waiter_t *w, void (*fn)(void *arg), void *arg)
{
    sl_loopctx_t *ctx;

    if (w->queued)
        return;
    ctx = sl__loopctx(loop);
    sl__loopctx_start(ctx); /* its check handle polls the waiters */
    w->fn = fn;
    w->arg = arg;
    w->ctx = ctx;
    w->next = NULL;
    w->prev = ctx->wait_tail;
    if (ctx->wait_tail != NULL)
        ctx->wait_tail->next = w;
    else
        ctx->wait_head = w;
    ctx->wait_tail = w;
    w->queued = 1;
    ctx->waiting++;
}

void sl_budget_cancel(sl_budget_waiter_t *w)
{
    sl_loopctx_t *ctx = w->ctx;

    if (!w->queued)
        return;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        ctx->wait_head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        ctx->wait_tail = w->prev;
    w->queued = 0;
    w->ctx = NULL;
    ctx->waiting--;
}

int sl__budget_poll_ctx(sl_loopctx_t *ctx)
{
    int woken = 0;

    while (ctx->wait_head != NULL && (ctx->budget_max == 0 || ctx->in_use < ctx->budget_max / 2)) {
        sl_budget_waiter_t *w = ctx->wait_head;
        sl_budget_cancel(w);
        w->fn(w->arg);
        woken++;
    }
    return woken;
}

int sl_budget_poll(uv_loop_t *loop)
{
    sl_loopctx_t *ctx = sl__loopctx_find(loop);

    return ctx != NULL ? sl__budget_poll_ctx(ctx) : 0;
}

void sl__budget_detach(sl_loopctx_t *ctx)
{
    /* Nobody will poll them any more: they are dequeued (a later cancel is a no-op). */
    while (ctx->wait_head != NULL)
        sl_budget_cancel(ctx->wait_head);
    free_slabs(ctx);
}

int sl_parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    int shift = 0;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -1;
    if (*end != '\0') {
        switch (*end) {
        case 'k':
        case 'K':
            shift = 10;
            break;
        case 'm':
        case 'M':
            shift = 20;
            break;
        case 'g':
        case 'G':
            shift = 30;
            break;
        case 't':
        case 'T':
            shift = 40;
            break;
        default:
            return -1;
        }
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end != '\0')
            return -1;
    }
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}
