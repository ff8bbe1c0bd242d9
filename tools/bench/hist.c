/* SPDX-License-Identifier: MIT
 *
 * The latency histogram: HdrHistogram's log-linear layout with 32 sub-buckets per power of two,
 * in a fixed array (no allocation, records in O(1), merges by adding counts).
 *
 * Bucket index = magnitude * SB_HIST_SUB + sub-bucket:
 *
 *     v < 32             magnitude 0, sub-bucket v: one value per bucket, exact
 *     v >= 32            magnitude m = floor(log2 v) - 5 + 1 (so 1 for [32, 64), 2 for [64, 128)),
 *                        sub-bucket (v >> (m - 1)) - 32: the five bits below the leading one
 *
 * Magnitude m >= 1 covers [2^(m+4), 2^(m+5)) in 32 buckets of width 2^(m-1), so a bucket is never
 * wider than 1/32 of its lower bound and a value read back from it (its upper bound) is within
 * 1/32 (3.1%) of any value recorded in it. With 41 magnitudes the last bucket ends at 2^45 - 1
 * microseconds (about a year); larger values are counted there. min, max, the sum and the count
 * are kept exactly beside the buckets, so max and the mean are exact, and a percentile is never
 * reported above max.
 */
#include "bench.h"

#include <math.h>
#include <string.h>

#define SUB_BITS 5 /* log2(SB_HIST_SUB) */
#define NBUCKETS (SB_HIST_MAGS * SB_HIST_SUB)

_Static_assert(SB_HIST_SUB == 1 << SUB_BITS, "SUB_BITS must be log2(SB_HIST_SUB)");

void sb_hist_init(sb_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

/* The bucket of v, the last one for values past the range. */
static size_t bucket_of(uint64_t v)
{
    unsigned m;
    size_t i;

    if (v < SB_HIST_SUB)
        return (size_t)v;
    m = (unsigned)(63 - __builtin_clzll(v)) - SUB_BITS + 1;
    if (m >= SB_HIST_MAGS)
        return NBUCKETS - 1;
    i = (size_t)m * SB_HIST_SUB + (size_t)((v >> (m - 1)) - SB_HIST_SUB);
    return i;
}

/* The largest value bucket i holds. */
static uint64_t upper_of(size_t i)
{
    unsigned m = (unsigned)(i / SB_HIST_SUB);
    uint64_t s = i % SB_HIST_SUB;

    if (m == 0)
        return s;
    return ((SB_HIST_SUB + s + 1) << (m - 1)) - 1;
}

void sb_hist_record(sb_hist_t *h, uint64_t usec)
{
    h->counts[bucket_of(usec)]++;
    if (h->n == 0 || usec < h->min)
        h->min = usec;
    if (usec > h->max)
        h->max = usec;
    h->n++;
    h->sum += (double)usec;
}

uint64_t sb_hist_percentile(const sb_hist_t *h, double p)
{
    uint64_t rank, seen = 0;
    double x;
    size_t i;

    if (h->n == 0)
        return 0;
    if (!(p < 100)) /* also NaN */
        return h->max;
    if (p <= 0)
        return h->min;
    /* rank = ceil(p / 100 * n), the 1-based position of the value; the small shave keeps a
     * product like 99.9 * 1000 / 100 = 999.0000000000001 from rounding up to 1000. */
    x = p * (double)h->n / 100.0;
    rank = (uint64_t)ceil(x - x * 1e-12);
    if (rank < 1)
        rank = 1;
    if (rank > h->n)
        rank = h->n;
    for (i = 0; i < NBUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t u = upper_of(i);
            return u < h->max ? u : h->max;
        }
    }
    return h->max;
}

double sb_hist_mean(const sb_hist_t *h)
{
    return h->n == 0 ? 0.0 : h->sum / (double)h->n;
}
