/* SPDX-License-Identifier: MIT
 *
 * Signed URLs: a URL that allows one method on one path until an expiry time, and optionally a
 * body of at most N bytes, made by the operator's application with the secret of --sign-key (or
 * `sluice sign`), like S3's presigned URLs and nginx's secure_link.
 *
 *   sig = HMAC-SHA-256(key, "sluice-v1\n" METHOD "\n" PATH "\n" EXPIRES "\n" MAX "\n")
 *   URL = PATH ?sl-expires=EXPIRES [&sl-max=MAX] &sl-sig=hex(sig)
 *
 * Every part that decides what the URL allows is inside the MAC: another method, another path
 * (a name differing by one byte, or the same name encoded otherwise: PATH is the path as sent),
 * a later expiry or a larger size all give another signature, and the request is refused (403)
 * before its body is read. The comparison is CRYPTO_memcmp, in constant time. The numbers are
 * plain decimal digits, so one URL has exactly one canonical string: no leading '+', no spaces,
 * no leading zeros to make "equal" values that sign differently.
 */
/* The low-level SHA-256 interface (deprecated in OpenSSL 3, still built by Debian's and every
 * default build) is what lets a MAC start from saved states; see "The MAC" below. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "http/auth.h"
#include "streams/error.h"
#include "streams/hex.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

/* The MAC. HMAC-SHA-256 is SHA-256(key^opad, SHA-256(key^ipad, msg)): the states after the two
 * key blocks depend on the key alone. Each thread keeps them for the key it last saw (a new key,
 * after a reload, computes them again), so a signature costs the message's blocks (one or two
 * for a URL) and one outer block, with no allocation and no provider dispatch; the
 * SHA-256 code is OpenSSL's, SHA-NI where the CPU has it. Measured per check, canonical string
 * included: 1.05 µs with HMAC() (it fetches and keys at every call), 0.42 µs with a keyed EVP_MAC
 * context started again per MAC (it copies the provider's state through the heap), 0.18-0.22 µs
 * from the saved states. The states and the key's copy live as long as their thread. */
#define KEY_MAX 1024

typedef struct keyed_s {
    SHA256_CTX in, out; /* the states after key^ipad and key^opad */
    unsigned char key[KEY_MAX];
    size_t keylen; /* 0: nothing saved yet */
} keyed_t;

static _Thread_local keyed_t keyed_tls;

/* This thread's saved states for key, or NULL (key too long: then no URL is valid). */
static const keyed_t *keyed(const unsigned char *key, size_t keylen)
{
    keyed_t *k = &keyed_tls;
    unsigned char block[SHA256_CBLOCK], pad[SHA256_CBLOCK];
    size_t i;

    if (keylen == 0 || keylen > KEY_MAX)
        return NULL;
    if (k->keylen == keylen && memcmp(k->key, key, keylen) == 0)
        return k; /* the server's own key against its own copy: nothing a client sends */
    memset(block, 0, sizeof(block));
    if (keylen > SHA256_CBLOCK)
        SHA256(key, keylen, block); /* a long key is its digest (RFC 2104) */
    else
        memcpy(block, key, keylen);
    for (i = 0; i < SHA256_CBLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(&k->in);
    SHA256_Update(&k->in, pad, sizeof(pad));
    for (i = 0; i < SHA256_CBLOCK; i++)
        pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&k->out);
    SHA256_Update(&k->out, pad, sizeof(pad));
    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));
    memcpy(k->key, key, keylen);
    k->keylen = keylen;
    return k;
}

/* HMAC-SHA-256(key, msg[0..n)) into mac[32]: 0 or -1. */
static int mac_of(const unsigned char *key, size_t keylen, const char *msg, size_t n,
                  unsigned char mac[32])
{
    const keyed_t *k = keyed(key, keylen);
    SHA256_CTX c;

    if (k == NULL)
        return -1;
    c = k->in;
    SHA256_Update(&c, msg, n);
    SHA256_Final(mac, &c);
    c = k->out;
    SHA256_Update(&c, mac, 32);
    SHA256_Final(mac, &c);
    return 0;
}

/* v in decimal at the end of buf[24]: its first digit. */
static char *dec(char buf[24], uint64_t v)
{
    char *p = buf + 24;

    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return p;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    p[n] = '\n';
    return p + n + 1;
}

/* The URL's MAC into mac[32]: 0 or -1 (no MAC: a key too long, no memory). */
static int sign_raw(const unsigned char *key, size_t keylen, const char *method, const char *path,
                    uint64_t expires, int has_max, uint64_t max, unsigned char mac[32])
{
    char eb[24], mb[24], small[512];
    const char *e = dec(eb, expires), *m = has_max ? dec(mb, max) : mb + 24;
    size_t ml = strlen(method), pl = strlen(path);
    size_t cap = 10 + ml + pl + (size_t)(eb + 24 - e) + (size_t)(mb + 24 - m) + 4;
    char *msg = cap <= sizeof(small) ? small : malloc(cap), *p; /* a URL's is small */
    int err;

    if (msg == NULL)
        return -1;
    memcpy(msg, "sluice-v1\n", 10);
    p = put(msg + 10, method, ml);
    p = put(p, path, pl);
    p = put(p, e, (size_t)(eb + 24 - e));
    p = put(p, m, (size_t)(mb + 24 - m));
    err = mac_of(key, keylen, msg, (size_t)(p - msg), mac);
    if (msg != small)
        free(msg);
    return err;
}

void sl__sign(const unsigned char *key, size_t keylen, const char *method, const char *path,
              int64_t expires, int has_max, uint64_t max, char out[SL_SIG_HEX + 1])
{
    unsigned char mac[32];

    memset(out, 0, SL_SIG_HEX + 1); /* no MAC: nothing matches an empty signature */
    if (expires < 0 ||
        sign_raw(key, keylen, method, path, (uint64_t)expires, has_max, max, mac) < 0)
        return;
    sl_hex(mac, 32, out);
}

/* 64 lowercase hex digits (the one spelling sl__sign writes) into out[32]: 0 or -1. Decoding the
 * client's text tells it nothing; the comparison with the MAC is the one made in constant time. */
static int unhex(const char *s, unsigned char out[32])
{
    static const unsigned char val[256] = {
        /* a digit's value + 1; 0: not a digit */
        ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
        ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
        ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16};
    unsigned i, hi, lo;

    for (i = 0; i < 32; i++) {
        if ((hi = val[(unsigned char)s[2 * i]]) == 0 ||
            (lo = val[(unsigned char)s[2 * i + 1]]) == 0)
            return -1; /* includes the NUL of a short signature */
        out[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
    }
    return s[SL_SIG_HEX] == '\0' ? 0 : -1;
}

/* Decimal digits only, no leading zero (but "0"), at most 19 of them: 0 or -1. */
static int parse_dec(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = strlen(s), i;

    if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int sl__sign_check(const unsigned char *key, size_t keylen, const char *method, const char *path,
                   const char *expires, const char *max, const char *sig, int64_t now,
                   uint64_t *max_out, int64_t *expires_out)
{
    unsigned char want[32], got[32];
    uint64_t exp, m = 0;

    if (expires == NULL || parse_dec(expires, &exp) < 0 || exp > INT64_MAX ||
        (max != NULL && parse_dec(max, &m) < 0) || unhex(sig, got) < 0)
        return SL_EBADREQUEST;
    if (sign_raw(key, keylen, method, path, exp, max != NULL, m, want) < 0)
        return SL_EDENIED; /* no MAC: no URL is valid */
    if (CRYPTO_memcmp(want, got, sizeof(want)) != 0)
        return SL_EDENIED; /* altered, or made for another method, path, expiry or size */
    if ((int64_t)exp <= now)
        return SL_EDENIED; /* expired: checked after the MAC, so a forged time learns nothing */
    *max_out = max != NULL ? m : UINT64_MAX;
    *expires_out = (int64_t)exp;
    return 0;
}

int sl__sign_key_parse(const char *text, size_t len, unsigned char *key, size_t cap, size_t *keylen)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    if (len < SL_SIGN_KEY_MIN || len > cap)
        return SL_EBADREQUEST;
    memcpy(key, text, len);
    *keylen = len;
    return 0;
}
