/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for the request fields sluice parses itself, beyond multipart and Range: the
 * tus fields (Upload-Offset/-Length, Upload-Metadata, Upload-Checksum, Upload-Concat;
 * server/proto/tus_fields.c), RFC 9530 digest fields (Repr-Digest, Content-Digest,
 * Want-*-Digest; digests.c), names and paths (storage/paths.c), and a resumable upload's record
 * (storage/tus.c). The parsers are compiled in with the fuzzer's instrumentation; what else they
 * link to comes from the build's archives, uninstrumented. From the top of the tree, after a
 * build:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Iserver -Iserver/api \
 *       -Ibuild/include $(pkg-config --cflags libmicrohttpd libuv) tests/fuzz/fuzz_fields.c \
 *       server/proto/tus_fields.c server/proto/digests.c storage/paths.c storage/tus.c \
 *       build/libsluice_server.a build/libsluice_storage.a build/libsluice_streams.a \
 *       $(pkg-config --libs libmicrohttpd libuv zlib libcrypto gnutls) -o build/fuzz_fields
 *   ./build/fuzz_fields -max_total_time=60 build/fuzz-corpus-fields tests/fuzz/corpus_fields
 *
 * Input: byte 0 picks the parser, the rest is the field's value, copied into an allocation of
 * its own (reading past it is a sanitizer report). Checked, with __builtin_trap():
 *   0 u63: a success is the decimal value of an all-digit string below 2^63;
 *   1 metadata: valid metadata gives each key's value back within its bound, NUL-terminated;
 *     invalid metadata finds nothing;
 *   2 checksum: a success names a known algorithm;
 *   3 concat: "partial", or 1..64 distinct valid ids;
 *   4 digests: the algorithms found are known ones; want: a subset of the known bits;
 *   5 names: a decoded name that passes sl_name_check has no empty, "." or ".." segment, no
 *     control byte, fits SL_NAME_MAX, and its first segment is not ".sluice" (any case);
 *   6 a tus record: what parses formats back and parses again to the same fields.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"
#include "proto/proto.h"
#include "proto/resumable.h"
#include "fuzz_input.h"

static void check(int ok)
{
    if (!ok)
        __builtin_trap();
}

static void u63(const char *v)
{
    int64_t x = -7;
    size_t n = strlen(v), i;

    if (sl__tus_parse_u63(v, &x) == 0) {
        check(n > 0 && x >= 0);
        for (i = 0; i < n; i++)
            check(v[i] >= '0' && v[i] <= '9');
        check((uint64_t)x == strtoull(v, NULL, 10));
    }
}

static void metadata(const char *v)
{
    static const char *const keys[] = {"filename", "name", "relativePath", "a", ""};
    char out[300], name[SL_NAME_MAX + 1];
    int valid = sl__tus_metadata_valid(v) == 0;
    size_t k;

    for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        int n;
        memset(out, 'x', sizeof(out));
        n = sl__tus_metadata_get(v, keys[k], out, sizeof(out));
        if (n >= 0) {
            check(n < (int)sizeof(out) && out[n] == '\0');
        }
    }
    if (valid) {
        sl_tus_info_t info;
        memset(&info, 0, sizeof(info));
        info.metadata = (char *)v;
        sl__tus_final_name(&info, name);
        check(name[0] == '\0' || sl_name_check(name) == 0);
    }
}

static void checksum(const char *v)
{
    unsigned char out[64];
    int alg = 0;

    if (sl__tus_parse_checksum(v, &alg, out) == 0)
        check(alg != 0 && (alg & (alg - 1)) == 0);
}

static void concat(const char *v)
{
    sl_tus_req_t t;
    size_t i, j;

    memset(&t, 0, sizeof(t));
    if (sl__tus_parse_concat(&t, v) == 0) {
        check(t.concat == SL_TUS_PARTIAL || (t.nparts >= 1 && t.nparts <= SL_TUS_PARTS_MAX));
        for (i = 0; i < t.nparts; i++) {
            check(sl_tus_id_valid(t.parts[i]));
            for (j = 0; j < i; j++)
                check(strcmp(t.parts[i], t.parts[j]) != 0);
        }
    }
    free(t.parts);
}

static void digests(const char *v)
{
    sl_digests_t d;
    int w;

    memset(&d, 0, sizeof(d));
    if (sl__digests_parse(v, &d) == 0)
        check((d.algs & ~(SL_DIGEST_SHA256 | SL_DIGEST_SHA512)) == 0);
    w = sl__want_digests(v);
    check(w >= 0 && (w & ~(SL_DIGEST_SHA256 | SL_DIGEST_SHA512)) == 0);
}

static void names(const char *v, int mode)
{
    char out[SL_NAME_MAX + 1];
    size_t n;

    if (sl_name_decode(v, strlen(v), mode, out, sizeof(out)) < 0 || sl_name_check(out) < 0)
        return;
    n = strlen(out);
    check(n > 0 && n <= SL_NAME_MAX);
    check(!(strncasecmp(out, ".sluice", 7) == 0 && (out[7] == '\0' || out[7] == '/')));
    for (size_t i = 0; i < n; i++)
        check((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
    check(out[0] != '/' && out[n - 1] != '/' && strstr(out, "//") == NULL);
    check(strcmp(out, ".") != 0 && strcmp(out, "..") != 0 && strncmp(out, "../", 3) != 0 &&
          strncmp(out, "./", 2) != 0 && strstr(out, "/../") == NULL && strstr(out, "/./") == NULL &&
          (n < 3 || strcmp(out + n - 3, "/..") != 0) && (n < 2 || strcmp(out + n - 2, "/.") != 0));
}

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

static void record(const char *v, size_t len)
{
    sl_tus_info_t a, b;
    char text[16384];
    int n;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    if (sl_tus_parse(v, len, &a) == 0 && (n = sl_tus_format(&a, text, sizeof(text))) > 0) {
        check(sl_tus_parse(text, (size_t)n, &b) == 0);
        check(a.offset == b.offset && a.length == b.length && a.expires == b.expires &&
              a.concat == b.concat);
        check(strcmp(or_empty(a.metadata), or_empty(b.metadata)) == 0); /* "" is written as none */
        check(strcmp(or_empty(a.file), or_empty(b.file)) == 0);
        check(strcmp(or_empty(a.parts), or_empty(b.parts)) == 0);
    }
    sl_tus_info_clear(&a);
    sl_tus_info_clear(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned which;
    size_t len;
    char *v = sl_fuzz_text(data, size, 20000, &which, &len);

    if (v == NULL)
        return 0;
    switch (which % 8) {
    case 0:
        u63(v);
        break;
    case 1:
        metadata(v);
        break;
    case 2:
        checksum(v);
        break;
    case 3:
        concat(v);
        break;
    case 4:
        digests(v);
        break;
    case 5:
        names(v, SL_DECODE_PATH);
        break;
    case 6:
        names(v, SL_DECODE_QUERY);
        break;
    default:
        record(v, len);
    }
    free(v);
    return 0;
}
