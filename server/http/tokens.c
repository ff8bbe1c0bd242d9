/* SPDX-License-Identifier: MIT
 *
 * The token file (--token-file): who may do what, under which names.
 *
 *   # TOKEN                            RIGHTS              PREFIX        LIMITS
 *   4f9c0d6e2b7a8e1f3c5d7a9b0e2c4f6a   read,write,list     alice         uploads=4 quota=10G
 *   sha256:9f86d081884c7d65…(64 hex)   all
 *
 * Only SHA-256 hashes of the tokens are kept in memory (a file may already hold hashes, so that
 * the file itself does not hold a usable secret). A presented token is hashed and looked up in
 * the hashes sorted once at load: a binary search of fixed length (log2 of the entries, whatever
 * the hash), whose comparisons run through all 32 bytes without a branch on their contents, and
 * one last comparison of the whole hash. So the time taken depends on the number of entries,
 * never on which entry matched or how many bytes of which hash did, and a file of 10,000 tokens
 * costs a request 14 comparisons, not 10,000. A parse error names the line, never its token. The
 * parser takes text and nothing else (tests/fuzz/fuzz_auth.c feeds it).
 */
/* OpenSSL's low-level SHA-256 functions (deprecated in OpenSSL 3, built by Debian's and every
 * default build): no provider lookup or context allocation per hash (sl__sha256 below). */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "http/auth.h"
#include "streams/error.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

static const struct {
    const char *name;
    unsigned bits;
} right_names[] = {
    {"read", SL_RIGHT_READ}, {"write", SL_RIGHT_WRITE},     {"delete", SL_RIGHT_DELETE},
    {"list", SL_RIGHT_LIST}, {"metrics", SL_RIGHT_METRICS}, {"all", SL_RIGHT_ALL},
};

/* The next blank-separated word of [*p, end): its start and length, *p moved past it. */
static size_t word(const char **p, const char *end, const char **start)
{
    const char *s = *p;

    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    *start = s;
    while (s < end && *s != ' ' && *s != '\t')
        s++;
    *p = s;
    return (size_t)(s - *start);
}

static int parse_token(const char *w, size_t n, unsigned char hash[32])
{
    size_t i;

    if (n == 7 + 64 && memcmp(w, "sha256:", 7) == 0) {
        for (i = 0; i < 32; i++) {
            int hi = sl_hexval(w[7 + 2 * i]), lo = sl_hexval(w[8 + 2 * i]);
            if (hi < 0 || lo < 0)
                return -1;
            hash[i] = (unsigned char)(hi << 4 | lo);
        }
        return 0;
    }
    if (n < SL_TOKEN_MIN)
        return -1;
    for (i = 0; i < n; i++)
        if ((unsigned char)w[i] <= 0x20 || (unsigned char)w[i] >= 0x7f)
            return -1;
    return sl__sha256(w, n, hash); /* no hash: the file is refused, never matched by zeros */
}

static int parse_rights(const char *w, size_t n, unsigned *out)
{
    const char *e = w + n;
    unsigned set = 0;
    size_t k;

    while (w < e) {
        const char *c = memchr(w, ',', (size_t)(e - w));
        size_t len = (size_t)((c != NULL ? c : e) - w);
        for (k = 0; k < sizeof(right_names) / sizeof(right_names[0]); k++)
            if (strlen(right_names[k].name) == len && memcmp(w, right_names[k].name, len) == 0)
                break;
        if (k == sizeof(right_names) / sizeof(right_names[0]))
            return -1;
        set |= right_names[k].bits;
        w += len + (c != NULL);
        if (c != NULL && w == e)
            return -1; /* a trailing comma */
    }
    *out = set;
    return set != 0 ? 0 : -1;
}

/* A prefix: a valid name, stored without a trailing '/'. */
static int parse_prefix(const char *w, size_t n, char out[SL_NAME_MAX + 1])
{
    while (n > 0 && w[n - 1] == '/')
        n--;
    if (n == 0 || n > SL_NAME_MAX)
        return -1;
    memcpy(out, w, n);
    out[n] = '\0';
    return strlen(out) == n && sl_name_check(out) == 0 ? 0 : -1;
}

/* "N" or "N" with K, M, G or T (powers of 1024), not 0, no overflow: 0 or -1. */
static int parse_quota(const char *w, size_t n, uint64_t *out)
{
    static const char units[] = "KMGT";
    uint64_t v = 0;
    size_t i;
    int shift = 0;
    const char *u;

    if (n > 0 && (u = memchr(units, w[n - 1], 4)) != NULL) {
        shift = 10 * (int)(u - units + 1);
        n--;
    }
    if (n == 0 || n > 15)
        return -1;
    for (i = 0; i < n; i++) {
        if (w[i] < '0' || w[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(w[i] - '0');
    }
    if (v == 0 || v > (UINT64_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

static int parse_line(const char *p, const char *end, sl_token_t *t)
{
    const char *w;
    size_t n;
    uint64_t v;
    char num[16];

    memset(t, 0, sizeof(*t));
    if ((n = word(&p, end, &w)) == 0 || parse_token(w, n, t->hash) < 0)
        return -1;
    if ((n = word(&p, end, &w)) == 0 || parse_rights(w, n, &t->rights) < 0)
        return -2;
    while ((n = word(&p, end, &w)) > 0) {
        if (n > 8 && memcmp(w, "uploads=", 8) == 0) {
            char *stop;
            if (n - 8 >= sizeof(num) || w[8] < '0' || w[8] > '9')
                return -3;
            memcpy(num, w + 8, n - 8);
            num[n - 8] = '\0';
            v = strtoull(num, &stop, 10);
            if (*stop != '\0' || v > 1000000)
                return -3;
            t->max_uploads = (unsigned)v;
        } else if (n > 6 && memcmp(w, "quota=", 6) == 0) {
            if (parse_quota(w + 6, n - 6, &t->quota) < 0)
                return -6;
        } else if (t->prefix[0] == '\0' && memchr(w, '=', n) == NULL) {
            if (parse_prefix(w, n, t->prefix) < 0)
                return -4;
        } else {
            return -5;
        }
    }
    return 0;
}

static int sort_hashes(sl_tokens_t *ts);

int sl__tokens_parse(const char *text, size_t len, sl_tokens_t **out, char *err, size_t errlen)
{
    static const char *const why[] = {"",
                                      "a token of at least 16 visible characters or "
                                      "sha256:<64 hex digits> expected",
                                      "rights expected (read,write,delete,list,metrics or all)",
                                      "bad uploads=N",
                                      "bad prefix (a valid name expected)",
                                      "unexpected word",
                                      "bad quota=N[K|M|G|T]"};
    const char *p = text, *end = text + len;
    size_t cap = 8, line = 0;
    sl_tokens_t *ts = malloc(sizeof(*ts) + cap * sizeof(sl_token_t));

    if (ts == NULL)
        return -ENOMEM;
    ts->refs = 1;
    ts->n = 0;
    ts->by_hash = NULL;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl != NULL ? nl : end, *q = p;
        int r;
        line++;
        if (e > p && e[-1] == '\r')
            e--;
        while (q < e && (*q == ' ' || *q == '\t'))
            q++;
        if (q < e && *q != '#') {
            if (memchr(q, '\0', (size_t)(e - q)) != NULL) {
                r = -5;
            } else {
                if (ts->n == cap) {
                    sl_tokens_t *bigger = realloc(ts, sizeof(*ts) + 2 * cap * sizeof(sl_token_t));
                    if (bigger == NULL) {
                        free(ts);
                        return -ENOMEM;
                    }
                    ts = bigger;
                    cap *= 2;
                }
                r = parse_line(q, e, &ts->t[ts->n]);
            }
            if (r < 0) {
                snprintf(err, errlen, "line %zu: %s", line, why[-r]);
                free(ts);
                return SL_EBADREQUEST;
            }
            ts->n++;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    if (sort_hashes(ts) < 0) {
        free(ts);
        return -ENOMEM;
    }
    *out = ts;
    return 0;
}

void sl__tokens_unref(sl_tokens_t *ts)
{
    if (ts != NULL && --ts->refs == 0) {
        free(ts->by_hash);
        free(ts);
    }
}

/* SHA256() and the EVP interface look the digest up in OpenSSL's providers at every call or keep
 * a context per thread (measured with a token on 4 KiB uploads: 2.4 % of the server's CPU for
 * SHA256(), ~0.6 % with a fetched digest and a context per thread); the low-level functions
 * run the same SHA-256 code (SHA-NI where the CPU has it) with a context on the stack. */
int sl__sha256(const void *p, size_t n, unsigned char out[32])
{
    SHA256_CTX c;

    return SHA256_Init(&c) == 1 && SHA256_Update(&c, p, n) == 1 && SHA256_Final(out, &c) == 1 ? 0
                                                                                              : -1;
}

/* The hash's i-th 64-bit word, most significant byte first. */
static uint64_t word64(const unsigned char h[32], int i)
{
    uint64_t v;

    memcpy(&v, h + 8 * i, 8);
    return be64toh(v);
}

/* 1 if a sorts before b (as big-endian numbers), else 0, through all four words with no branch
 * on their values: from the least significant word up, a word that differs decides. */
static size_t hash_less(const unsigned char a[32], const unsigned char b[32])
{
    uint64_t less = 0;
    int i;

    for (i = 3; i >= 0; i--) {
        uint64_t x = word64(a, i), y = word64(b, i);
        uint64_t differ = (uint64_t)0 - (uint64_t)(x != y); /* all ones if they differ */
        less = (differ & (uint64_t)(x < y)) | (~differ & less);
    }
    return (size_t)less;
}

/* 0 if the two hashes are equal; the time does not depend on where they differ (no branch,
 * no early exit: four 64-bit XORs, which CRYPTO_memcmp does byte by byte, 8 times slower). */
static uint64_t hash_diff(const unsigned char a[32], const unsigned char b[32])
{
    uint64_t x[4], y[4], d = 0;
    int i;

    memcpy(x, a, 32);
    memcpy(y, b, 32);
    for (i = 0; i < 4; i++)
        d |= x[i] ^ y[i];
    return d;
}

/* The search's array: the hashes side by side (an entry is over a kilobyte, its prefix mostly:
 * searching the entries themselves missed the cache at every step, 60 % of the search's time). */
struct sl_token_key_s {
    unsigned char hash[32];
    size_t line; /* its entry: ts->t[line] */
};

static int by_hash_then_line(const void *pa, const void *pb)
{
    const struct sl_token_key_s *a = pa, *b = pb;
    int c = memcmp(a->hash, b->hash, 32); /* at load: no client's input */

    return c != 0 ? c : (a->line > b->line) - (a->line < b->line);
}

/* ts->by_hash: 0 or -ENOMEM. */
static int sort_hashes(sl_tokens_t *ts)
{
    size_t i;

    if ((ts->by_hash = malloc((ts->n > 0 ? ts->n : 1) * sizeof(*ts->by_hash))) == NULL)
        return -ENOMEM;
    for (i = 0; i < ts->n; i++) {
        memcpy(ts->by_hash[i].hash, ts->t[i].hash, 32);
        ts->by_hash[i].line = i;
    }
    qsort(ts->by_hash, ts->n, sizeof(*ts->by_hash), by_hash_then_line);
    return 0;
}

sl_token_t *sl__tokens_find(sl_tokens_t *ts, const char *token, size_t len)
{
    unsigned char h[32];
    size_t base = 0, left, half, at;
    sl_token_t *t;

    if (ts == NULL || ts->n == 0 || sl__sha256(token, len, h) < 0)
        return NULL; /* no hash: no match */
    /* the first entry whose hash is not below h (a lower bound with the same steps for every
     * h), the first of its line among equal hashes */
    for (left = ts->n; left > 1; left -= half) {
        half = left / 2;
        base += half * hash_less(ts->by_hash[base + half].hash, h);
    }
    at = base + hash_less(ts->by_hash[base].hash, h);
    if (at == ts->n)
        at = base; /* every hash is below h: compared all the same, and unequal */
    t = &ts->t[ts->by_hash[at].line];
    return hash_diff(h, ts->by_hash[at].hash) == 0 ? t : NULL;
}

int sl__prefix_covers(const char *prefix, const char *name)
{
    size_t n = strlen(prefix);

    return n == 0 || (strncmp(prefix, name, n) == 0 && (name[n] == '\0' || name[n] == '/'));
}
