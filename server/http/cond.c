/* SPDX-License-Identifier: MIT
 *
 * Conditional and range requests (RFC 9110 §13, §14) as pure functions of the header values, so
 * they can be tested and fuzzed without a connection. Nothing here allocates or writes an output
 * before the outcome is known, and every number is parsed with saturation (a 20-digit position
 * is simply "beyond the end").
 *
 * Range (GET only: the caller passes none for HEAD, RFC 9110 §14.2): one satisfiable range is
 * served as 206; a set whose ranges are all unsatisfiable is 416;
 * a set with several satisfiable ranges, an invalid field or a unit other than bytes is ignored
 * (200 and the whole file: the representation is never sent more than once). If-Range with a
 * strong ETag or the exact Last-Modified date lets the Range apply; anything else makes it ignored.
 *
 * Preconditions in RFC 9110 §13.2.2 order: If-Match (strong), else If-Unmodified-Since → 412;
 * If-None-Match (weak) → 304 for GET/HEAD, 412 otherwise; else If-Modified-Since → 304 for
 * GET/HEAD; then If-Range and Range.
 */
#include "http/http.h"
#include "http/cond.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#define OWS(c) ((c) == ' ' || (c) == '\t')
#define DIGIT(c) ((c) >= '0' && (c) <= '9')

/* Digits at *p into *out, saturating at UINT64_MAX; the digit count (0: none). */
static size_t parse_u64(const char **p, uint64_t *out)
{
    const char *s = *p, *from = s;
    uint64_t v = 0;

    while (DIGIT(*s)) {
        unsigned d = (unsigned)(*s - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        s++;
    }
    *out = v;
    *p = s;
    return (size_t)(s - from);
}

/* Compare the digit strings a[0..an) and b[0..bn) as numbers of any length: <0, 0, >0. */
static int digits_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    while (an > 1 && *a == '0')
        a++, an--;
    while (bn > 1 && *b == '0')
        b++, bn--;
    if (an != bn)
        return an < bn ? -1 : 1;
    return memcmp(a, b, an);
}

/* One range-spec at *p (int-range or suffix-range). 1 satisfiable (*out set), 2 satisfiable but
 * empty (a suffix-range of an empty representation: sent whole, RFC 9110 §14.1.2, §14.2),
 * 0 unsatisfiable, -1 invalid. */
static int parse_spec(const char **p, uint64_t size, sl_range_t *out)
{
    const char *s = *p;
    const char *f0, *l0;
    uint64_t first, last;
    size_t fn, ln;
    int open_end;

    if (*s == '-') { /* suffix-range: the last N bytes */
        s++;
        if (parse_u64(&s, &last) == 0)
            return -1;
        *p = s;
        if (last == 0)
            return 0;
        if (size == 0)
            return 2;
        out->start = last >= size ? 0 : size - last;
        out->end = size - 1;
        return 1;
    }
    f0 = s;
    if ((fn = parse_u64(&s, &first)) == 0 || *s != '-')
        return -1;
    l0 = ++s;
    ln = parse_u64(&s, &last);
    open_end = ln == 0;
    if (!open_end && digits_cmp(l0, ln, f0, fn) < 0)
        return -1; /* RFC 9110 §14.1.1: invalid, the whole field is ignored (compared as written:
                      two saturated numbers still compare right) */
    *p = s;
    if (first >= size)
        return 0;
    out->start = first;
    out->end = open_end || last >= size ? size - 1 : last;
    return 1;
}

int sl__range_parse(const char *v, uint64_t size, sl_range_t *out)
{
    sl_range_t one = {0, 0}, cur;
    int satisfiable = 0, specs = 0, empty = 0, rc;

    if (v == NULL)
        return SL_RANGE_WHOLE;
    while (OWS(*v))
        v++;
    if (strncasecmp(v, "bytes=", 6) != 0)
        return SL_RANGE_WHOLE; /* another unit, or not a range at all */
    v += 6;
    for (;;) { /* 1#range-spec: empty list elements and OWS around commas are allowed */
        while (OWS(*v) || *v == ',')
            v++;
        if (*v == '\0')
            break;
        rc = parse_spec(&v, size, &cur);
        if (rc < 0)
            return SL_RANGE_WHOLE;
        specs++;
        empty |= rc == 2;
        if (rc == 1 && satisfiable++ == 0)
            one = cur;
        while (OWS(*v))
            v++;
        if (*v != ',' && *v != '\0')
            return SL_RANGE_WHOLE;
    }
    if (specs == 0 || empty)
        return SL_RANGE_WHOLE;
    if (satisfiable == 0)
        return SL_ERANGE;
    if (satisfiable > 1)
        return SL_RANGE_WHOLE; /* several: the whole representation, once */
    *out = one;
    return SL_RANGE_ONE;
}

/* Compare the entity-tag at *p with etag; advances past it. 1 match, 0 no match, -1 malformed. */
static int tag_match(const char **p, const char *etag, int weak)
{
    const char *s = *p, *q;
    int is_weak = 0;
    size_t n;

    if (s[0] == 'W' && s[1] == '/') {
        is_weak = 1;
        s += 2;
    }
    if (*s != '"')
        return -1;
    q = strchr(s + 1, '"');
    if (q == NULL)
        return -1;
    n = (size_t)(q + 1 - s);
    *p = q + 1;
    if (is_weak && !weak)
        return 0; /* strong comparison: a weak tag never matches */
    if (etag[0] == 'W' && etag[1] == '/') {
        if (!weak)
            return 0;
        etag += 2;
    }
    return strlen(etag) == n && memcmp(etag, s, n) == 0;
}

int sl__etag_match(const char *v, const char *etag, int weak)
{
    int any = 0, rc;

    while (OWS(*v))
        v++;
    if (*v == '*') {
        v++;
        while (OWS(*v))
            v++;
        return *v == '\0';
    }
    for (;;) {
        while (OWS(*v) || *v == ',')
            v++;
        if (*v == '\0')
            return any;
        rc = tag_match(&v, etag, weak);
        if (rc < 0)
            return 0; /* malformed: matches nothing */
        any |= rc;
        while (OWS(*v))
            v++;
        if (*v != ',' && *v != '\0')
            return 0;
    }
}

int sl__http_date(const char *v, time_t *out)
{
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850 */
        "%a %b %e %H:%M:%S %Y",      /* asctime */
    };
    struct tm tm;
    size_t i;
    const char *end;

    while (OWS(*v))
        v++;
    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        memset(&tm, 0, sizeof(tm));
        end = strptime(v, formats[i], &tm);
        if (end == NULL)
            continue;
        while (OWS(*end))
            end++;
        if (*end != '\0')
            continue;
        if (i == 1) { /* two-digit year: at most 50 years ahead, else the century before
                         (RFC 9110 §5.6.7) */
            time_t now = time(NULL);
            struct tm cur;
            int year;
            gmtime_r(&now, &cur);
            year = (cur.tm_year + 1900) / 100 * 100 + tm.tm_year % 100;
            if (year > cur.tm_year + 1900 + 50)
                year -= 100;
            tm.tm_year = year - 1900;
        }
        *out = timegm(&tm);
        return *out == (time_t)-1 ? -1 : 0;
    }
    return -1;
}

/* 1 if the field is present and its date is before mtime (the file changed since), 0 if not,
 * -1 if absent or not a date (ignored, RFC 9110 §13.1.3 and §13.1.4). */
static int modified_since(const char *v, time_t mtime)
{
    time_t t;

    if (v == NULL || sl__http_date(v, &t) < 0)
        return -1;
    return mtime > t;
}

unsigned sl__cond_evaluate(const sl_cond_t *c, const char *etag, time_t mtime, uint64_t size,
                           int safe, sl_range_t *range)
{
    int rc;

    if (c->if_match != NULL) {
        if (!sl__etag_match(c->if_match, etag, 0))
            return 412;
    } else if ((rc = modified_since(c->if_unmodified_since, mtime)) == 1) {
        return 412;
    }
    if (c->if_none_match != NULL) {
        if (sl__etag_match(c->if_none_match, etag, 1))
            return safe ? 304 : 412;
    } else if (safe && (rc = modified_since(c->if_modified_since, mtime)) == 0) {
        return 304;
    }
    if (!safe || c->range == NULL)
        return 200;
    if (c->if_range != NULL) {
        time_t t;
        const char *v = c->if_range;
        while (OWS(*v))
            v++;
        if (*v == '"' || (v[0] == 'W' && v[1] == '/')) {
            if (!sl__etag_match(v, etag, 0) || strchr(v, ',') != NULL)
                return 200;
        } else if (sl__http_date(v, &t) < 0 || t != mtime) {
            return 200;
        }
    }
    rc = sl__range_parse(c->range, size, range);
    return rc == SL_RANGE_ONE ? 206 : rc == SL_ERANGE ? 416 : 200;
}
