/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for streams/multipart.c.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_multipart.c \
 *       streams/multipart.c -o /tmp/fuzz_mp && /tmp/fuzz_mp tests/fuzz/corpus/
 *
 * Input: byte 0 picks the split point (a fraction of the body), byte 1 picks which callbacks
 * return SL_MP_PAUSE (bits 0-3) and the limits (bit 4: defaults, else 256 header bytes and 8
 * parts, so the fuzzer reaches both limits); the rest is the body, parsed with the boundary
 * "AaB03x" in two chunks, resuming after each pause. It is parsed a second time in one piece
 * without pauses, and both parses must agree: same result, parts, and bytes (by hash). The
 * callbacks check the order begin (data) end ... final, that data is never empty and that the
 * part's strings are terminated inside their arrays; the body bytes delivered never exceed the
 * input. The whole input, as a string, also goes to sl_multipart_boundary: what it accepts, init
 * must accept.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "streams/error.h"
#include "streams/multipart.h"

#define BOUNDARY "AaB03x"

typedef struct run_s {
    size_t data_bytes, begins, ends;
    uint64_t hash; /* FNV-1a over every part's headers and bytes, with markers */
    int open, final, pause, calls, last_paused;
} run_t;

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

static void mix(run_t *r, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++)
        r->hash = (r->hash ^ b[i]) * 1099511628211u;
}

static int answer(run_t *r, int bit)
{
    r->calls++;
    r->last_paused = (r->pause & bit) != 0;
    return r->last_paused ? SL_MP_PAUSE : 0;
}

static int on_begin(void *arg, const sl_mp_part_t *part)
{
    run_t *r = arg;

    CHECK(!r->open && !r->final);
    CHECK(memchr(part->name, '\0', sizeof(part->name)) != NULL);
    CHECK(memchr(part->filename, '\0', sizeof(part->filename)) != NULL);
    CHECK(memchr(part->content_type, '\0', sizeof(part->content_type)) != NULL);
    CHECK(part->has_filename == 0 || part->has_filename == 1);
    CHECK(part->has_filename || part->filename[0] == '\0');
    r->open = 1;
    r->begins++;
    mix(r, "B", 1);
    mix(r, part, sizeof(*part));
    return answer(r, 1);
}

static int on_data(void *arg, const char *data, size_t len)
{
    run_t *r = arg;

    CHECK(r->open && len > 0);
    r->data_bytes += len;
    mix(r, data, len); /* reads every byte: ASan checks the range */
    return answer(r, 2);
}

static int on_end(void *arg)
{
    run_t *r = arg;

    CHECK(r->open);
    r->open = 0;
    r->ends++;
    mix(r, "E", 1);
    return answer(r, 4);
}

static int on_final(void *arg)
{
    run_t *r = arg;

    CHECK(!r->open && !r->final);
    r->final = 1;
    return answer(r, 8);
}

static const sl_mp_callbacks_t cbs = {on_begin, on_data, on_end, on_final};

/* Feed one chunk, resuming after pauses. Returns 0 or the parser's error. */
static int feed(sl_multipart_t *mp, run_t *r, const char *p, size_t len)
{
    ssize_t n;
    int calls;

    while (len > 0) {
        calls = r->calls;
        n = sl_multipart_execute(mp, p, len);
        if (n < 0) {
            CHECK(sl_multipart_execute(mp, p, len) == n); /* sticky */
            return (int)n;
        }
        CHECK((size_t)n <= len);
        CHECK(n > 0 || r->calls > calls);           /* progress */
        CHECK((size_t)n == len || r->last_paused);  /* short only after a pause */
        CHECK(mp->matched <= strlen(BOUNDARY) + 4); /* held back inside the struct */
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int parse(run_t *r, const sl_mp_limits_t *lim, const char *body, size_t len, size_t cut)
{
    sl_multipart_t mp;
    int rc;

    sl_multipart_init(&mp, BOUNDARY, lim, &cbs, r);
    CHECK(mp.error == 0);
    rc = feed(&mp, r, body, cut);
    if (rc == 0)
        rc = feed(&mp, r, body + cut, len - cut);
    if (rc == 0)
        rc = sl_multipart_finish(&mp);
    CHECK(sl_multipart_finish(&mp) == rc); /* sticky */
    CHECK(rc == 0 || rc == SL_EBADREQUEST || rc == SL_ETOOLARGE);
    CHECK(r->final == (rc == 0));
    /* mp.parts counts a part from the CRLF after its delimiter: its headers may then fail. */
    CHECK(r->begins == mp.parts || (r->begins + 1 == mp.parts && rc != 0));
    CHECK(mp.parts <= lim->max_parts);
    CHECK(r->ends == r->begins || (r->ends + 1 == r->begins && rc != 0));
    CHECK(r->data_bytes <= len);
    return rc;
}

static void fuzz_boundary(const uint8_t *data, size_t size)
{
    char ct[512], out[SL_MP_BOUNDARY_MAX + 1];
    size_t n = size < sizeof(ct) - 1 ? size : sizeof(ct) - 1;
    sl_multipart_t mp;

    memcpy(ct, data, n);
    ct[n] = '\0';
    if (sl_multipart_boundary(ct, out, sizeof(out)) != 0) {
        CHECK(out[0] == '\0');
        return;
    }
    CHECK(strlen(out) >= 1 && strlen(out) <= SL_MP_BOUNDARY_MAX);
    sl_multipart_init(&mp, out, NULL, NULL, NULL);
    CHECK(mp.error == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const sl_mp_limits_t small = {256, 8}, defaults = {SL_MP_DEFAULT_MAX_HEADER_BYTES,
                                                              SL_MP_DEFAULT_MAX_PARTS};
    const sl_mp_limits_t *lim;
    const char *body;
    size_t len, cut;
    run_t split, whole;
    int rc_split, rc_whole;

    fuzz_boundary(data, size);
    if (size < 2)
        return 0;
    body = (const char *)data + 2;
    len = size - 2;
    cut = len * data[0] / 255;
    lim = (data[1] & 16) ? &defaults : &small;

    memset(&split, 0, sizeof(split));
    split.pause = data[1] & 15;
    rc_split = parse(&split, lim, body, len, cut);
    memset(&whole, 0, sizeof(whole));
    rc_whole = parse(&whole, lim, body, len, len);
    CHECK(rc_split == rc_whole);
    CHECK(split.begins == whole.begins && split.ends == whole.ends);
    CHECK(split.data_bytes == whole.data_bytes && split.hash == whole.hash);
    return 0;
}
