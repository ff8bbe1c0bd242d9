/* SPDX-License-Identifier: MIT
 * Access control, private to server/ (auth.c, sign.c): bearer tokens from --token-file and signed
 * URLs from --sign-key. The parsers here take text and nothing else, so the fuzz targets
 * (tests/fuzz/fuzz_auth.c) and the Check tests call them directly. */
#ifndef SL_SERVER_AUTH_H
#define SL_SERVER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h" /* SL_NAME_MAX */

/* A token's rights. */
#define SL_RIGHT_READ 1u     /* GET, HEAD /files/<name> */
#define SL_RIGHT_WRITE 2u    /* PUT /files/<name>, POST /files/, tus creation and PATCH */
#define SL_RIGHT_DELETE 4u   /* DELETE /files/<name>, tus termination */
#define SL_RIGHT_LIST 8u     /* GET /files/ */
#define SL_RIGHT_METRICS 16u /* GET /metrics from a client that is not loopback */
#define SL_RIGHT_ALL 31u

/* Shortest literal token and sign key accepted: guessing must be hopeless. */
#define SL_TOKEN_MIN 16
#define SL_SIGN_KEY_MIN 32

typedef struct sl_token_s {
    unsigned char hash[32]; /* SHA-256 of the token: the token itself is never kept */
    unsigned rights;        /* SL_RIGHT_* */
    unsigned max_uploads;   /* uploads=N: concurrent uploads (0: --token-uploads) */
    unsigned active;        /* uploads of this token in progress */
    uint64_t quota; /* quota=N: body bytes its uploads may send, counted in quota.c (0: none) */
    int qslot;      /* its slot in the quota table + 1 (0: not looked up yet in this load) */
    char prefix[SL_NAME_MAX + 1]; /* names it is confined to: "" (all), or "a/b" (a/b/…) */
} sl_token_t;

/* SHA-256 of p[0..n) into out, with OpenSSL's SHA-256 functions (tokens.c): 0, or -1 if it could
 * not hash (out is then not a hash). */
int sl__sha256(const void *p, size_t n, unsigned char out[32]);

/* One load of --token-file, shared by the requests that authenticated with it (refs): a reload
 * makes a new one and the old one goes with its last request. */
typedef struct sl_tokens_s {
    int refs;
    size_t n;
    struct sl_token_key_s *by_hash; /* owned: the hashes and their entries, in order of hash,
                                       then of line (tokens.c) */
    sl_token_t t[];                 /* in the file's order */
} sl_tokens_t;

/* Parse a token file's text[0..len) (borrowed). Lines: `TOKEN RIGHTS [PREFIX] [uploads=N]
 * [quota=N[K|M|G|T]]`,
 * TOKEN a literal of at least SL_TOKEN_MIN visible characters or `sha256:` and 64 hex digits of
 * its SHA-256; RIGHTS comma-separated names (read, write, delete, list, metrics, all); PREFIX a
 * valid name. `#` starts a comment line; blank lines are skipped. *out is returned owned (refs
 * 1; free with sl__tokens_unref). 0, or SL_EBADREQUEST with "line N: why" in err[errlen] (the
 * message never quotes a token). */
int sl__tokens_parse(const char *text, size_t len, sl_tokens_t **out, char *err, size_t errlen);
void sl__tokens_unref(sl_tokens_t *ts);
/* The entry whose hash is SHA-256(token[0..len)) (the first in the file if several), or NULL:
 * a search of the sorted hashes whose steps and time depend only on the number of entries.
 * Borrowed from ts. */
sl_token_t *sl__tokens_find(sl_tokens_t *ts, const char *token, size_t len);
/* 1 if name (a checked name) lies within prefix ("" is everything; "a/b" covers "a/b" and
 * "a/b/…", never "a/bc"). */
int sl__prefix_covers(const char *prefix, const char *name);

/* Signed URLs (sign.c). The signature is HMAC-SHA-256 with the key over the canonical string
 *   "sluice-v1\n" METHOD "\n" PATH "\n" EXPIRES "\n" MAX "\n"
 * PATH being the URL's path as sent (with the mount, without the query), EXPIRES a Unix time in
 * decimal, MAX the size limit in decimal or "" for none; written as 64 lowercase hex digits in
 * the query: ?sl-expires=EXPIRES[&sl-max=MAX]&sl-sig=HEX. */
#define SL_SIG_HEX 64
/* out: the hex signature and its NUL. */
void sl__sign(const unsigned char *key, size_t keylen, const char *method, const char *path,
              int64_t expires, int has_max, uint64_t max, char out[SL_SIG_HEX + 1]);
/* Check the query values (each borrowed, NULL when absent; sig non-NULL) for method and path at
 * time now: 0 with *max_out (UINT64_MAX when none) and *expires_out set, SL_EDENIED (expired,
 * altered, another method or path), or SL_EBADREQUEST (a malformed value). */
int sl__sign_check(const unsigned char *key, size_t keylen, const char *method, const char *path,
                   const char *expires, const char *max, const char *sig, int64_t now,
                   uint64_t *max_out, int64_t *expires_out);
/* A key file's text: trailing newlines dropped; at least SL_SIGN_KEY_MIN bytes. The key bytes are
 * copied into key[cap]; *keylen set. 0 or SL_EBADREQUEST. */
int sl__sign_key_parse(const char *text, size_t len, unsigned char *key, size_t cap,
                       size_t *keylen);
#endif
