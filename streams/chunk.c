/* SPDX-License-Identifier: MIT
 *
 * Chunks and the process-wide buffer budget (see chunk.h). A chunk is a header followed by its
 * bytes in one malloc. The budget counts the capacity of every live chunk; it is a soft limit:
 * allocation always succeeds, sources ask sl_budget_exhausted() after each push and park a
 * waiter, and sl_budget_poll() (run by the loop's check handle, streams/defer.c) wakes waiters
 * in FIFO order once usage is under half the budget, so a woken source has room to make progress.
 * One process runs one loop (DESIGN.md §3), so the counters need no lock.
 *
 * Slabs: chunks of exactly SL_CHUNK_SLAB bytes (what a fast upload reads at a time) are kept on a
 * free list when released, at most SLAB_KEEP of them, and handed out again: a large allocation
 * would otherwise be an mmap, 64 page faults (the kernel zeroing every page) and a munmap each
 * time. sl_chunk_trim gives them back to the system with malloc_trim once the server is idle, so
 * memory returns after a burst.
 */
#include "chunk.h"

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <malloc.h>
#include <string.h>

#define SLAB_KEEP 64 /* 16 MiB of free slabs at most */

static sl_chunk_t *slabs; /* free slabs, linked through base */
static size_t nslabs;
static size_t budget_max;
static size_t in_use;
static size_t peak;
static sl_budget_waiter_t *wait_head, *wait_tail;
static size_t waiting;

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

sl_chunk_t *sl_chunk_new(size_t cap)
{
    sl_chunk_t *c;

    if (cap == SL_CHUNK_SLAB && slabs != NULL) {
        c = slabs;
        slabs = *(sl_chunk_t **)c->base;
        nslabs--;
    } else {
        c = sl_xmalloc(sizeof(*c) + cap);
    }

    c->refcnt = 1;
    c->len = 0;
    c->cap = cap;
    c->base = (char *)(c + 1);
    in_use += cap;
    if (in_use > peak)
        peak = in_use;
    return c;
}

sl_chunk_t *sl_chunk_copy(const void *data, size_t len)
{
    sl_chunk_t *c = sl_chunk_new(len);

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
    if (c == NULL || --c->refcnt > 0)
        return;
    in_use -= c->cap;
    if (c->cap == SL_CHUNK_SLAB && nslabs < SLAB_KEEP) {
        *(sl_chunk_t **)c->base = slabs;
        slabs = c;
        nslabs++;
        return;
    }
    free(c);
}

void sl_chunk_trim(void)
{
    while (slabs != NULL) {
        sl_chunk_t *c = slabs;
        slabs = *(sl_chunk_t **)c->base;
        free(c);
    }
    nslabs = 0;
    malloc_trim(0);
}

void sl_budget_charge(size_t n)
{
    in_use += n;
    if (in_use > peak)
        peak = in_use;
}

void sl_budget_release(size_t n)
{
    in_use -= n < in_use ? n : in_use;
}

void sl_budget_set(size_t max_bytes)
{
    budget_max = max_bytes;
}

size_t sl_budget_in_use(void)
{
    return in_use;
}

size_t sl_budget_peak(void)
{
    return peak;
}

int sl_budget_exhausted(void)
{
    return budget_max != 0 && in_use >= budget_max;
}

size_t sl_budget_waiting(void)
{
    return waiting;
}

void sl_budget_wait(sl_budget_waiter_t *w, void (*fn)(void *arg), void *arg)
{
    if (w->queued)
        return;
    w->fn = fn;
    w->arg = arg;
    w->next = NULL;
    w->prev = wait_tail;
    if (wait_tail != NULL)
        wait_tail->next = w;
    else
        wait_head = w;
    wait_tail = w;
    w->queued = 1;
    waiting++;
}

void sl_budget_cancel(sl_budget_waiter_t *w)
{
    if (!w->queued)
        return;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        wait_head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        wait_tail = w->prev;
    w->queued = 0;
    waiting--;
}

int sl_budget_poll(void)
{
    int woken = 0;

    while (wait_head != NULL && (budget_max == 0 || in_use < budget_max / 2)) {
        sl_budget_waiter_t *w = wait_head;
        sl_budget_cancel(w);
        w->fn(w->arg);
        woken++;
    }
    return woken;
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
