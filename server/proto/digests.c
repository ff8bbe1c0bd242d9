/* SPDX-License-Identifier: MIT
 *
 * HTTP digest fields (RFC 9530). Content-Digest is the digest of the bytes as sent (after any
 * Content-Encoding), Repr-Digest that of the representation (what is stored). A field value is
 * a structured-field dictionary: `sha-256=:<base64>:, sha-512=:<base64>:`. sluice verifies
 * sha-256 and sha-512 and ignores algorithms it does not know (the RFC allows it); a value that
 * is not a byte sequence of the right length is a malformed request. base64 is OpenSSL's.
 */
#include "http/http.h"
#include "proto/proto.h"
#include "streams/hex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int sl__base64_decode(const char *p, size_t len, unsigned char *out, size_t cap)
{
    size_t i, pad = 0;
    int n;

    if (len % 4 != 0 || cap < len / 4 * 3)
        return -1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '=' && i + 2 >= len && (i + 1 == len || p[i + 1] == '='))
            pad++;
        else if (!isalnum(c) && c != '+' && c != '/')
            return -1;
    }
    n = EVP_DecodeBlock(out, (const unsigned char *)p, (int)len);
    return n < 0 ? -1 : n - (int)pad;
}

/* Decode base64 [p, end) into out (cap bytes); returns the byte count or -1. */
static int unbase64(const char *p, const char *end, unsigned char *out, size_t cap)
{
    unsigned char buf[96];
    char in[132];
    size_t len = (size_t)(end - p);
    int n;

    /* RFC 8941 asks parsers to accept base64 without its '=' padding: add it back. */
    if (len == 0 || len > 128 || len % 4 == 1)
        return -1;
    memcpy(in, p, len);
    while (len % 4 != 0)
        in[len++] = '=';
    n = sl__base64_decode(in, len, buf, sizeof(buf));
    if (n < 0 || (size_t)n > cap)
        return -1;
    memcpy(out, buf, (size_t)n);
    return n;
}

int sl__digests_parse(const char *v, sl_digests_t *d)
{
    const char *p = v;

    while (*(p = skip_ows(p)) != '\0') {
        const char *key = p, *colon, *end;
        size_t klen;
        int alg = 0, n;

        while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
               *p == '.' || *p == '*')
            p++; /* an RFC 8941 key: anything else (a space before '=') is malformed */
        klen = (size_t)(p - key);
        if (*p != '=' || klen == 0)
            return SL_EBADREQUEST;
        p++;
        if (*p != ':')
            return SL_EBADREQUEST;
        colon = p + 1;
        end = strchr(colon, ':');
        if (end == NULL)
            return SL_EBADREQUEST;
        if (klen == 7 && strncasecmp(key, "sha-256", 7) == 0)
            alg = SL_DIGEST_SHA256;
        else if (klen == 7 && strncasecmp(key, "sha-512", 7) == 0)
            alg = SL_DIGEST_SHA512;
        if (alg == SL_DIGEST_SHA256) {
            n = unbase64(colon, end, d->sha256, 32);
            if (n != 32)
                return SL_EBADREQUEST;
        } else if (alg == SL_DIGEST_SHA512) {
            n = unbase64(colon, end, d->sha512, 64);
            if (n != 64)
                return SL_EBADREQUEST;
        }
        d->algs |= alg;
        p = skip_ows(end + 1);
        while (*p == ';') { /* parameters: ignored */
            while (*p && *p != ',')
                p++;
        }
        if (*p == ',') {
            p = skip_ows(p + 1);
            if (*p == '\0')
                return SL_EBADREQUEST; /* a trailing comma (RFC 8941 §4.2) */
        } else if (*p != '\0') {
            return SL_EBADREQUEST;
        }
    }
    return 0;
}

void sl__base64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

void sl__hex_to_bytes(const char *hex, unsigned char *out, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int hi = isdigit((unsigned char)hex[2 * i]) ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10;
        int lo = isdigit((unsigned char)hex[2 * i + 1]) ? hex[2 * i + 1] - '0'
                                                        : hex[2 * i + 1] - 'a' + 10;
        out[i] = (unsigned char)(hi * 16 + lo);
    }
}

void sl__repr_digest_header(const char *sha256_hex, char out[64])
{
    unsigned char b[32];
    char b64[48];

    sl__hex_to_bytes(sha256_hex, b, 32);
    sl__base64(b, 32, b64);
    snprintf(out, 64, "sha-256=:%s:", b64);
}

/* --- the digests an upload computes (--digest, Want-Repr-Digest, Want-Content-Digest) ------- */

int sl__want_digests(const char *v)
{
    int algs = 0;

    /* RFC 9530 §4: a dictionary of algorithm = preference (0 = not acceptable, 1..10). */
    while (v != NULL && *(v = skip_ows(v)) != '\0') {
        const char *key = v;
        long pref = 1;
        size_t klen;
        while (*v && *v != '=' && *v != ',' && *v != ';' && *v != ' ')
            v++;
        klen = (size_t)(v - key);
        if (*v == '=') {
            char *end;
            pref = strtol(v + 1, &end, 10);
            v = end;
        }
        if (pref > 0 && klen == 7 && strncasecmp(key, "sha-256", 7) == 0)
            algs |= SL_DIGEST_SHA256;
        else if (pref > 0 && klen == 7 && strncasecmp(key, "sha-512", 7) == 0)
            algs |= SL_DIGEST_SHA512;
        while (*v && *v != ',')
            v++; /* parameters, or whatever we could not read: skipped */
        if (*v == ',')
            v++;
    }
    return algs;
}

int sl__upload_digests(sl_req_t *r)
{
    int algs = (int)r->srv->cfg.digests;

    algs |= sl__want_digests(sl__header(r, "Want-Repr-Digest"));
    if (!r->encoding) /* identity: the content is the representation */
        algs |= sl__want_digests(sl__header(r, "Want-Content-Digest"));
    return algs;
}

void sl__digest_setup(sl_req_t *r, sl_xf_digest_t *x)
{
    int algs = sl__upload_digests(r);

    sl_xf_digest_set(x, algs);
    if (algs & SL_DIGEST_SHA512)
        sl_xf_digest_want(x, SL_DIGEST_SHA512);
}

size_t sl__digest_json(const sl_xf_digest_t *d, char *out, size_t cap)
{
    char h512[129];
    size_t o = 0;

    out[0] = '\0';
    if (d->algs & SL_DIGEST_CRC32)
        o += (size_t)snprintf(out + o, cap - o, ",\"crc32\":\"%08x\"", (unsigned)d->crc32);
    if ((d->algs & SL_DIGEST_SHA256) && o < cap)
        o += (size_t)snprintf(out + o, cap - o, ",\"sha256\":\"%s\"", d->sha256_hex);
    if ((d->algs & SL_DIGEST_SHA512) && d->xalg == SL_DIGEST_SHA512 && o < cap) {
        sl_hex(d->sha512, 64, h512);
        o += (size_t)snprintf(out + o, cap - o, ",\"sha512\":\"%s\"", h512);
    }
    return o < cap ? o : cap - 1;
}

void sl__digest_headers(sl_req_t *r, const sl_xf_digest_t *d, const char *field)
{
    char b64[96], v[256];
    size_t o = 0;

    if (d->algs & SL_DIGEST_SHA256) {
        sl__base64(d->sha256, 32, b64);
        o += (size_t)snprintf(v + o, sizeof(v) - o, "sha-256=:%s:", b64);
    }
    if ((d->algs & SL_DIGEST_SHA512) && d->xalg == SL_DIGEST_SHA512) {
        sl__base64(d->sha512, 64, b64);
        o += (size_t)snprintf(v + o, sizeof(v) - o, "%ssha-512=:%s:", o ? ", " : "", b64);
    }
    if (o > 0)
        sl__respond_header(r, field, v);
}
