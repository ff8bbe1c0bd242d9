/* SPDX-License-Identifier: MIT
 *
 * Seeded numbers, size distributions and body bytes.
 *
 * Everything random in sluice-bench comes from splitmix64 (Steele, Lea and Flood, "Fast
 * splittable pseudorandom number generators", 2014): a 64-bit state that advances by the golden
 * gamma 0x9e3779b97f4a7c15, and a finalizer that mixes it into the output. The same seed always
 * gives the same sizes and the same bytes, on any machine.
 *
 * Sizes (--size): "64K" is fixed; "1K-1M" is uniform over the inclusive range, drawn without
 * modulo bias; "lognormal:MEDIAN[,SIGMA[,MAX]]" is MEDIAN * exp(SIGMA * z) with z a standard
 * normal from Box-Muller, rounded and clamped to [1, MAX]. A log-normal's median is exp(mu), so
 * MEDIAN is exactly the median asked for, and SIGMA = 1 puts the 16th and 84th percentiles at
 * MEDIAN / e and MEDIAN * e. Sizes are capped at SB_DIST_LIMIT so that they stay exact in a
 * double.
 *
 * Bodies are counter-based, so any range of any body can be produced at any time and in any
 * order (a tus PATCH resumed at an arbitrary offset, a GET compared piecewise):
 *
 *     key    = splitmix64's first output from state `seed`
 *     word i = splitmix64's (i + 1)-th output from state `key`  (a pure function of key and i)
 *     byte k = byte k % 8, least significant first, of word k / 8
 *
 * sb_body_fill writes whole words with memcpy, so it runs at several GB/s; bytes before the first
 * word boundary and after the last are cut from their words.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GAMMA 0x9e3779b97f4a7c15ull
#define SB_DIST_LIMIT (1ull << 50) /* 1 PiB: any size, and 64 times it, is exact in a double */

/* splitmix64's finalizer. */
static inline uint64_t fmix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t sb_rand_next(uint64_t *state)
{
    *state += GAMMA;
    return fmix(*state);
}

double sb_rand_unit(uint64_t *state)
{
    return (double)(sb_rand_next(state) >> 11) * 0x1.0p-53;
}

/* A size of at most SB_DIST_LIMIT bytes from s[0..n). */
static int parse_part(const char *s, size_t n, uint64_t *out)
{
    char buf[32];

    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (sb_parse_size(buf, out) < 0 || *out > SB_DIST_LIMIT)
        return -1;
    return 0;
}

/* SIGMA: a plain decimal in (0, 5]. */
static int parse_sigma(const char *s, size_t n, double *out)
{
    char buf[32], *end;
    double v;

    if (n == 0 || n >= sizeof(buf) || !((*s >= '0' && *s <= '9') || *s == '.'))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (strpbrk(buf, "xX") != NULL)
        return -1;
    errno = 0;
    v = strtod(buf, &end);
    if (errno == ERANGE || *end != '\0' || !isfinite(v) || v <= 0 || v > 5)
        return -1;
    *out = v;
    return 0;
}

static int parse_lognormal(const char *s, sb_dist_t *d)
{
    const char *c1 = strchr(s, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
    sb_dist_t r = {SB_DIST_LOGNORMAL, 0, 0, 1.0};

    if (parse_part(s, c1 ? (size_t)(c1 - s) : strlen(s), &r.a) < 0 || r.a == 0)
        return -1;
    r.b = 64 * r.a;
    if (c1 != NULL &&
        parse_sigma(c1 + 1, c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1), &r.sigma) < 0)
        return -1;
    /* The clamp may not cut below the median: it would no longer be the median. */
    if (c2 != NULL && (parse_part(c2 + 1, strlen(c2 + 1), &r.b) < 0 || r.b < r.a))
        return -1;
    *d = r;
    return 0;
}

int sb_dist_parse(const char *s, sb_dist_t *d)
{
    const char *dash;
    sb_dist_t r = {SB_DIST_FIXED, 0, 0, 0};

    if (s == NULL)
        return -1;
    if (strncmp(s, "lognormal:", 10) == 0)
        return parse_lognormal(s + 10, d);
    dash = strchr(s, '-');
    if (dash == NULL) {
        if (parse_part(s, strlen(s), &r.a) < 0)
            return -1;
        r.b = r.a;
    } else {
        /* Uniform sizes are at least 1: only a fixed size may be 0 (an empty body). */
        r.kind = SB_DIST_UNIFORM;
        if (parse_part(s, (size_t)(dash - s), &r.a) < 0 ||
            parse_part(dash + 1, strlen(dash + 1), &r.b) < 0 || r.a == 0 || r.a > r.b)
            return -1;
    }
    *d = r;
    return 0;
}

/* Uniform in [0, range) without modulo bias (Lemire's threshold: reject the lowest 2^64 mod
 * range outputs, which leaves a whole number of copies of [0, range)). */
static uint64_t below(uint64_t range, uint64_t *state)
{
    uint64_t t = -range % range, x;

    do
        x = sb_rand_next(state);
    while (x < t);
    return x % range;
}

/* A standard normal by Box-Muller; 1 - u is in (0, 1], so the logarithm is finite. */
static double normal(uint64_t *state)
{
    double u1 = 1.0 - sb_rand_unit(state), u2 = sb_rand_unit(state);

    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t sb_dist_sample(const sb_dist_t *d, uint64_t *state)
{
    double v;
    uint64_t r;

    switch (d->kind) {
    case SB_DIST_FIXED:
        return d->a;
    case SB_DIST_UNIFORM:
        return d->a + below(d->b - d->a + 1, state);
    case SB_DIST_LOGNORMAL:
        v = (double)d->a * exp(d->sigma * normal(state));
        if (!(v < (double)d->b)) /* also catches an infinite exp */
            return d->b;
        if (v < 1.0)
            return 1;
        r = (uint64_t)(v + 0.5);
        return r > d->b ? d->b : r;
    }
    return d->a;
}

/* Word i of the body stream of key: splitmix64's (i + 1)-th output from state key. */
static inline uint64_t word(uint64_t key, uint64_t i)
{
    uint64_t w = fmix(key + (i + 1) * GAMMA);

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w); /* byte k % 8 is the least significant first */
#endif
    return w;
}

void sb_body_fill(uint64_t seed, uint64_t offset, unsigned char *buf, size_t len)
{
    uint64_t key = seed, i = offset / 8, w;
    size_t skip = (size_t)(offset % 8);

    key = sb_rand_next(&key);
    if (skip != 0 && len > 0) {
        size_t n = 8 - skip < len ? 8 - skip : len;

        w = word(key, i++);
        memcpy(buf, (unsigned char *)&w + skip, n);
        buf += n;
        len -= n;
    }
    /* Four words a round: the multiplications of neighbouring words overlap. */
    for (; len >= 32; len -= 32, buf += 32, i += 4) {
        uint64_t w4[4] = {word(key, i), word(key, i + 1), word(key, i + 2), word(key, i + 3)};

        memcpy(buf, w4, 32);
    }
    for (; len >= 8; len -= 8, buf += 8) {
        w = word(key, i++);
        memcpy(buf, &w, 8);
    }
    if (len > 0) {
        w = word(key, i);
        memcpy(buf, &w, len);
    }
}
