/* SPDX-License-Identifier: MIT
 *
 * libFuzzer target for access control's parsers: the token file (server/http/tokens.c), signed
 * URL checks and sign keys (sign.c), the per-client key (limits.c's sl__addr_key, compiled in
 * from the same file). From the top of the tree:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Iserver -Iserver/api \
 *       -Ibuild/include $(pkg-config --cflags libmicrohttpd libuv) tests/fuzz/fuzz_auth.c \
 *       server/http/tokens.c server/http/sign.c storage/paths.c -lcrypto -o build/fuzz_auth
 *   ./build/fuzz_auth -max_total_time=60 build/fuzz-corpus-auth tests/fuzz/corpus_auth
 *
 * Input: byte 0 picks the parser, the rest is its text, copied into an allocation of its own
 * (so reading past it is a sanitizer report).
 *
 * 0, a token file. Checked: success gives entries whose rights are within SL_RIGHT_ALL and not 0,
 * whose prefix is "" or a valid name without a trailing '/', and the first line's literal token
 * finds the first entry; a failure leaves *out untouched and its message never contains the
 * first line's token.
 *
 * 1, "METHOD\nPATH\nEXPIRES\nMAX\nSIG" ("-" for an absent field). Checked: 0 only when SIG is
 * sl__sign's signature of the same parts and EXPIRES is after now; the limit is written only then.
 *
 * 2, a sign key: accepted only with 32 to 64 bytes left once trailing newlines are dropped.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/auth.h"
#include "streams/error.h"
#include "fuzz_input.h"

#define NOW 1900000000
static const unsigned char KEY[] = "kkkkkkkkkkkkkkkkkkkk0123456789abcdefghijkl";

static void check(int ok)
{
    if (!ok)
        __builtin_trap();
}

static void tokens(const char *text, size_t len)
{
    sl_tokens_t *ts = (sl_tokens_t *)1;
    char err[128];
    size_t i;
    const char *nl;

    if (sl__tokens_parse(text, len, &ts, err, sizeof(err)) < 0) {
        char first[64];
        size_t n = strcspn(text, " \t\n");
        check(ts == (sl_tokens_t *)1); /* untouched */
        check(strlen(err) < sizeof(err));
        if (n >= SL_TOKEN_MIN && n < sizeof(first) && memchr(text, '\0', n) == NULL) {
            memcpy(first, text, n);
            first[n] = '\0';
            check(strstr(err, first) == NULL);
        }
        return;
    }
    for (i = 0; i < ts->n; i++) {
        const char *p = ts->t[i].prefix;
        size_t pl = strlen(p);
        check(ts->t[i].rights != 0 && (ts->t[i].rights & ~SL_RIGHT_ALL) == 0);
        check(pl == 0 || (sl_name_check(p) == 0 && p[pl - 1] != '/'));
        check(ts->t[i].active == 0);
    }
    /* the first line's literal token finds an entry (its own, or an earlier one's equal) */
    nl = memchr(text, '\n', len);
    if (ts->n > 0 && len > 0 && text[0] != '#' && text[0] != ' ' && text[0] != '\t' &&
        text[0] != '\n' && text[0] != '\r' && strncmp(text, "sha256:", 7) != 0) {
        size_t n = strcspn(text, " \t\n\r");
        if (nl == NULL || n < (size_t)(nl - text))
            check(sl__tokens_find(ts, text, n) == &ts->t[0]);
    }
    sl__tokens_unref(ts);
}

static char *field(char **p)
{
    char *s = *p, *nl;

    if (s == NULL)
        return NULL;
    nl = strchr(s, '\n');
    *p = nl != NULL ? nl + 1 : NULL;
    if (nl != NULL)
        *nl = '\0';
    return strcmp(s, "-") == 0 ? NULL : s;
}

static void signed_url(char *text)
{
    char *p = text, *method = field(&p), *path = field(&p), *exp = field(&p), *max = field(&p);
    char *sig = field(&p), want[SL_SIG_HEX + 1];
    uint64_t limit = 12345, m = 0;
    int64_t expires = -1;
    int r;

    if (method == NULL || path == NULL || sig == NULL)
        return;
    r = sl__sign_check(KEY, sizeof(KEY) - 1, method, path, exp, max, sig, NOW, &limit, &expires);
    check(r == 0 || r == SL_EDENIED || r == SL_EBADREQUEST);
    if (r != 0) {
        check(limit == 12345 && expires == -1);
        return;
    }
    check(exp != NULL && strtoll(exp, NULL, 10) > NOW && expires == strtoll(exp, NULL, 10));
    if (max != NULL)
        m = strtoull(max, NULL, 10);
    check(limit == (max != NULL ? m : UINT64_MAX));
    sl__sign(KEY, sizeof(KEY) - 1, method, path, strtoll(exp, NULL, 10), max != NULL, m, want);
    check(strcmp(want, sig) == 0);
}

static void sign_key(const char *text, size_t len)
{
    unsigned char key[64];
    size_t kl = 0, n = len;

    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    if (sl__sign_key_parse(text, len, key, sizeof(key), &kl) == 0)
        check(kl == n && n >= SL_SIGN_KEY_MIN && n <= sizeof(key) && memcmp(key, text, n) == 0);
    else
        check(n < SL_SIGN_KEY_MIN || n > sizeof(key));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned which;
    size_t len;
    char *text = sl_fuzz_text(data, size, 1u << 20, &which, &len);

    if (text == NULL)
        return 0;
    switch (which % 3) {
    case 0:
        tokens(text, len);
        break;
    case 1:
        signed_url(text);
        break;
    default:
        sign_key(text, len);
    }
    free(text);
    return 0;
}
