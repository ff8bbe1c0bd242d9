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

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

void sl__sign(const unsigned char *key, size_t keylen, const char *method, const char *path,
              int64_t expires, int has_max, uint64_t max, char out[SL_SIG_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0, i;
    char maxs[24] = "";
    size_t cap = strlen(method) + strlen(path) + 80;
    char *msg = malloc(cap);
    int n;

    memset(out, 0, SL_SIG_HEX + 1); /* no MAC: nothing matches an empty signature */
    if (msg == NULL)
        return;

    if (has_max)
        snprintf(maxs, sizeof(maxs), "%llu", (unsigned long long)max);
    n = snprintf(msg, cap, "sluice-v1\n%s\n%s\n%lld\n%s\n", method, path, (long long)expires, maxs);
    if (n > 0 && (size_t)n < cap &&
        HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, (size_t)n, mac, &maclen) !=
            NULL &&
        maclen >= 32)
        for (i = 0; i < 32; i++) {
            out[2 * i] = hex[mac[i] >> 4];
            out[2 * i + 1] = hex[mac[i] & 15];
        }
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
