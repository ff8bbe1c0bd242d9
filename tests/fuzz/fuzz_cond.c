/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for server/http/cond.c (RFC 9110 preconditions and Range). From /work/main:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Iserver \
 *       $(pkg-config --cflags libmicrohttpd libuv) tests/fuzz/fuzz_cond.c server/http/cond.c \
 *       -o build/fuzz_cond && ./build/fuzz_cond -max_total_time=60 build/fuzz-corpus-cond \
 *       tests/fuzz/corpus_cond
 *
 * Input: bytes 0-7 are the representation's size (little-endian); byte 8 holds flags: bits 0-5
 * say which fields are present (Range, If-Range, If-Match, If-None-Match, If-Modified-Since,
 * If-Unmodified-Since, in that order), bit 6 makes the method safe (GET), bit 7 makes the
 * representation's ETag weak. The rest is the fields' values in that order, separated by '\n';
 * each is copied into its own allocation, so reading past one is a sanitizer report. The ETag is
 * "v1" and the mtime 784111777 (Sun, 06 Nov 1994 08:49:37 GMT), so seeds can match both.
 *
 * Checked, with __builtin_trap() on a violation: sl__range_parse returns SL_RANGE_ONE with
 * start <= end < size, or SL_RANGE_WHOLE / SL_ERANGE with the output untouched; the status is one
 * of 200 206 304 412 416; 206 only with size > 0 and a range inside it (the output untouched for
 * every other status); 206 and 416 only for a safe request with a Range; 304 only when safe; 412
 * only with If-Match, If-Unmodified-Since or an unsafe If-None-Match; without preconditions the
 * status is Range's own answer, the same range; a strong entity-tag match is also a weak one; an
 * HTTP-date that parses prints back (IMF-fixdate) to a date that parses to the same time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/cond.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

#define SENTINEL 0x5eed5eed5eed5eedu
#define MTIME ((time_t)784111777)
#define NFIELDS 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int untouched(const sl_range_t *r)
{
    return r->start == SENTINEL && r->end == SENTINEL;
}

static void check_range(const char *v, uint64_t n)
{
    sl_range_t r = {SENTINEL, SENTINEL};
    int rc = sl__range_parse(v, n, &r);

    if (rc == SL_RANGE_ONE)
        CHECK(r.start <= r.end && r.end < n);
    else
        CHECK((rc == SL_RANGE_WHOLE || rc == SL_ERANGE) && untouched(&r));
    if (v == NULL)
        CHECK(rc == SL_RANGE_WHOLE);
}

static void check_etag(const char *v, const char *etag)
{
    int strong, weak;

    if (v == NULL)
        return;
    strong = sl__etag_match(v, etag, 0);
    weak = sl__etag_match(v, etag, 1);
    CHECK(strong == 0 || strong == 1);
    CHECK(weak == 0 || weak == 1);
    CHECK(!strong || weak);
}

static void check_date(const char *v)
{
    time_t t = 0, t2 = 0;
    struct tm tm;
    char buf[64];

    if (v == NULL || sl__http_date(v, &t) != 0)
        return;
    if (t < 0 || t > (time_t)253402300799) /* years 1970 to 9999 print as IMF-fixdate */
        return;
    CHECK(gmtime_r(&t, &tm) != NULL);
    CHECK(strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0);
    CHECK(sl__http_date(buf, &t2) == 0 && t2 == t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[NFIELDS] = {NULL};
    const char *etag;
    const uint8_t *p, *end = data + size;
    uint64_t n = 0;
    unsigned flags, status;
    sl_range_t r = {SENTINEL, SENTINEL}, alone = {SENTINEL, SENTINEL};
    sl_cond_t c;
    int i, safe, rc;

    if (size < 9)
        return 0;
    for (i = 7; i >= 0; i--)
        n = n << 8 | data[i];
    flags = data[8];
    safe = (flags & 0x40) != 0;
    etag = flags & 0x80 ? "W/\"v1\"" : "\"v1\"";
    p = data + 9;
    for (i = 0; i < NFIELDS; i++) { /* the i-th line, present only if its flag bit is set */
        const uint8_t *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
        size_t len = p < end ? (size_t)((nl ? nl : end) - p) : 0;

        if (flags & (1u << i)) {
            f[i] = malloc(len + 1);
            if (f[i] == NULL)
                abort();
            memcpy(f[i], p, len);
            f[i][len] = '\0';
        }
        p = nl ? nl + 1 : end;
    }
    c = (sl_cond_t){.range = f[0],
                    .if_range = f[1],
                    .if_match = f[2],
                    .if_none_match = f[3],
                    .if_modified_since = f[4],
                    .if_unmodified_since = f[5]};

    check_range(c.range, n);
    check_range(c.range, 0);
    check_range(c.range, 100);
    for (i = 1; i < 4; i++)
        check_etag(f[i], etag);
    check_date(c.if_range);
    check_date(c.if_modified_since);
    check_date(c.if_unmodified_since);

    status = sl__cond_evaluate(&c, etag, MTIME, n, safe, &r);
    CHECK(status == 200 || status == 206 || status == 304 || status == 412 || status == 416);
    if (status == 206)
        CHECK(n > 0 && r.start <= r.end && r.end < n);
    else
        CHECK(untouched(&r));
    if (status == 206 || status == 416)
        CHECK(safe && c.range != NULL);
    if (status == 304)
        CHECK(safe && (c.if_none_match != NULL || c.if_modified_since != NULL));
    if (status == 412)
        CHECK(c.if_match != NULL || c.if_unmodified_since != NULL ||
              (!safe && c.if_none_match != NULL));
    if (safe && c.if_match == NULL && c.if_none_match == NULL && c.if_modified_since == NULL &&
        c.if_unmodified_since == NULL && c.if_range == NULL) {
        rc = sl__range_parse(c.range, n, &alone);
        CHECK(status == (rc == SL_RANGE_ONE ? 206u : rc == SL_ERANGE ? 416u : 200u));
        if (status == 206)
            CHECK(alone.start == r.start && alone.end == r.end);
    }
    /* the same request again gives the same answer: nothing depends on hidden state */
    {
        sl_range_t r2 = {SENTINEL, SENTINEL};

        CHECK(sl__cond_evaluate(&c, etag, MTIME, n, safe, &r2) == status);
        if (status == 206)
            CHECK(r2.start == r.start && r2.end == r.end);
    }
    for (i = 0; i < NFIELDS; i++)
        free(f[i]);
    return 0;
}
