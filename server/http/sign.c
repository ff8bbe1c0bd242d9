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
#include "http/auth.h"
#include "streams/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* The MAC: HMAC() fetches HMAC and SHA-256 and keys them at every call, more work than the MAC
 * of a URL (three per signed tus upload). So each thread keeps a context keyed once with the key
 * it last saw, and starts it again from that key's state for each MAC (freed when the thread
 * ends; a new key, after a reload, keys a new one). Measured: 1.05 µs per HMAC() alone, 0.42 µs
 * per signature now, its canonical string included. */
#define KEY_MAX 1024

typedef struct keyed_s {
    EVP_MAC_CTX *ctx; /* owned: keyed with key[0..keylen) */
    unsigned char key[KEY_MAX];
    size_t keylen;
} keyed_t;

static EVP_MAC *hmac;
static pthread_key_t keyed_key;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void keyed_free(void *p)
{
    keyed_t *k = p;

    EVP_MAC_CTX_free(k->ctx);
    OPENSSL_cleanse(k->key, sizeof(k->key));
    free(k);
}

static void hmac_fetch(void)
{
    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (pthread_key_create(&keyed_key, keyed_free) != 0) {
        EVP_MAC_free(hmac);
        hmac = NULL;
    }
}

/* This thread's context keyed with key, or NULL (then the MAC fails: no URL is valid). */
static EVP_MAC_CTX *keyed(const unsigned char *key, size_t keylen)
{
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA2-256", 0),
                           OSSL_PARAM_construct_end()};
    keyed_t *k;

    pthread_once(&hmac_once, hmac_fetch);
    if (hmac == NULL || keylen > KEY_MAX)
        return NULL;
    if ((k = pthread_getspecific(keyed_key)) == NULL) {
        if ((k = calloc(1, sizeof(*k))) == NULL || pthread_setspecific(keyed_key, k) != 0) {
            free(k);
            return NULL;
        }
    }
    if (k->ctx != NULL && k->keylen == keylen && CRYPTO_memcmp(k->key, key, keylen) == 0)
        return k->ctx;
    EVP_MAC_CTX_free(k->ctx);
    k->keylen = 0;
    if ((k->ctx = EVP_MAC_CTX_new(hmac)) == NULL ||
        EVP_MAC_init(k->ctx, key, keylen, params) != 1) {
        EVP_MAC_CTX_free(k->ctx);
        k->ctx = NULL;
        return NULL;
    }
    memcpy(k->key, key, keylen);
    k->keylen = keylen;
    return k->ctx;
}

/* HMAC-SHA-256(key, msg[0..n)) into mac[32]: 0 or -1. Initialising the keyed context again
 * without a key starts it from the key's state, with no allocation. */
static int mac_of(const unsigned char *key, size_t keylen, const char *msg, size_t n,
                  unsigned char mac[32])
{
    EVP_MAC_CTX *c = keyed(key, keylen);
    size_t len = 0;

    return c != NULL && EVP_MAC_init(c, NULL, 0, NULL) == 1 &&
                   EVP_MAC_update(c, (const unsigned char *)msg, n) == 1 &&
                   EVP_MAC_final(c, mac, &len, 32) == 1 && len == 32
               ? 0
               : -1;
}

void sl__sign(const unsigned char *key, size_t keylen, const char *method, const char *path,
              int64_t expires, int has_max, uint64_t max, char out[SL_SIG_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[32];
    unsigned i;
    char maxs[24] = "", small[512];
    size_t cap = strlen(method) + strlen(path) + 80;
    char *msg = cap <= sizeof(small) ? small : malloc(cap); /* a URL's is small */
    int n;

    memset(out, 0, SL_SIG_HEX + 1); /* no MAC: nothing matches an empty signature */
    if (msg == NULL)
        return;
    if (has_max)
        snprintf(maxs, sizeof(maxs), "%llu", (unsigned long long)max);
    n = snprintf(msg, cap, "sluice-v1\n%s\n%s\n%lld\n%s\n", method, path, (long long)expires, maxs);
    if (n > 0 && (size_t)n < cap && mac_of(key, keylen, msg, (size_t)n, mac) == 0)
        for (i = 0; i < 32; i++) {
            out[2 * i] = hex[mac[i] >> 4];
            out[2 * i + 1] = hex[mac[i] & 15];
        }
    if (msg != small)
        free(msg);
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
                   uint64_t *max_out)
{
    char want[SL_SIG_HEX + 1];
    uint64_t exp, m = 0;

    if (expires == NULL || parse_dec(expires, &exp) < 0 || exp > INT64_MAX ||
        (max != NULL && parse_dec(max, &m) < 0) || strlen(sig) != SL_SIG_HEX)
        return SL_EBADREQUEST;
    sl__sign(key, keylen, method, path, (int64_t)exp, max != NULL, m, want);
    if (CRYPTO_memcmp(want, sig, SL_SIG_HEX) != 0)
        return SL_EDENIED; /* altered, or made for another method, path, expiry or size */
    if ((int64_t)exp <= now)
        return SL_EDENIED; /* expired: checked after the MAC, so a forged time learns nothing */
    *max_out = max != NULL ? m : UINT64_MAX;
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
