/* SPDX-License-Identifier: MIT
 *
 * Refcounted byte chunks and the process-wide buffer budget.
 *
 * A chunk is one allocation: header and bytes together. Passing a chunk to a write or push lends
 * it; a stream that keeps it takes a reference with sl_chunk_ref and drops it with
 * sl_chunk_unref. Every live chunk is counted against one process-wide budget. The budget never
 * refuses an allocation (MHD's upload data must always be copied out, see server/http/src_http.c);
 * it reports exhaustion so that sources suspend, and wakes them once usage falls back under half of
 * the budget.
 */
#ifndef SL_STREAMS_CHUNK_H
#define SL_STREAMS_CHUNK_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_chunk_s {
    size_t refcnt;
    size_t len; /* bytes used */
    size_t cap; /* bytes available at base */
    char *base;
} sl_chunk_t;

/* A source waiting for the budget; embedded by the caller, woken once (fn(arg), deferred). */
typedef struct sl_budget_waiter_s {
    struct sl_budget_waiter_s *next, *prev;
    void (*fn)(void *arg);
    void *arg;
    int queued;
} sl_budget_waiter_t;

/* The size of a slab: chunks of exactly this capacity are recycled (chunk.c). */
#define SL_CHUNK_SLAB (256u << 10)
/* Returns owned: a chunk with cap bytes, len 0, refcnt 1. Aborts on out-of-memory. */
sl_chunk_t *sl_chunk_new(size_t cap);
/* Returns owned: a new chunk holding a copy of data[0..len). `data` is borrowed. */
sl_chunk_t *sl_chunk_copy(const void *data, size_t len);
/* Takes one more reference; returns c. */
sl_chunk_t *sl_chunk_ref(sl_chunk_t *c);
/* Drops one reference; frees the chunk at zero. NULL is ignored. */
void sl_chunk_unref(sl_chunk_t *c);
/* Give the recycled slabs and the allocator's free memory back to the system (when idle). */
void sl_chunk_trim(void);

/* Set the process-wide budget in bytes (0 = unlimited). */
void sl_budget_set(size_t max_bytes);
/* Count n more bytes held outside chunks (a form's text fields, a listing being sent) against the
 * budget, or n fewer with sl_budget_release. Loop thread only, like every budget call. */
void sl_budget_charge(size_t n);
void sl_budget_release(size_t n);
/* Bytes held by live chunks (and charges) now, and the peak since start. */
size_t sl_budget_in_use(void);
size_t sl_budget_peak(void);
/* 1 if in-use bytes are at or above the budget. */
int sl_budget_exhausted(void);
/* Queue `w` (borrowed until woken or cancelled) to be woken when usage falls under half the
 * budget. fn runs from sl_budget_poll, which the owner of the loop calls (server/http/http.c does).
 */
void sl_budget_wait(sl_budget_waiter_t *w, void (*fn)(void *arg), void *arg);
void sl_budget_cancel(sl_budget_waiter_t *w);
/* Wake waiters if usage allows; returns how many were woken. */
int sl_budget_poll(void);
/* Number of queued waiters. */
size_t sl_budget_waiting(void);

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
