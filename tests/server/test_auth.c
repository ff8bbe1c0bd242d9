/* SPDX-License-Identifier: MIT
 *
 * Access control's parsers and checks (server/http/tokens.c, sign.c) and the per-client key
 * (limits.c), as exact outputs. The signatures are vectors computed independently (Python's hmac
 * over the documented canonical string), so the scheme cannot drift without a test failing.
 */
#include <check.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/auth.h"

Suite *auth_suite(void);

static const char KEY[] = "kkkkkkkkkkkkkkkkkkkk0123456789abcdefghijkl";
#define NOW 1900000000

static sl_tokens_t *parse_ok(const char *text)
{
    sl_tokens_t *ts = NULL;
    char err[128] = "";

    ck_assert_msg(sl__tokens_parse(text, strlen(text), &ts, err, sizeof(err)) == 0, "%s: %s", text,
                  err);
    return ts;
}

static void parse_bad(const char *text, const char *why)
{
    sl_tokens_t *ts = NULL;
    char err[128] = "";

    ck_assert_int_eq(sl__tokens_parse(text, strlen(text), &ts, err, sizeof(err)), SL_EBADREQUEST);
    ck_assert_ptr_null(ts);
    ck_assert_msg(strstr(err, why) != NULL, "'%s' not in '%s'", why, err);
}

START_TEST(token_lines)
{
    sl_tokens_t *ts =
        parse_ok("# comment\n\n  0123456789abcdef read,write alice/docs/ uploads=3\r\n"
                 "sha256:9F9F5111F7B27A781F1F1DDDE5EBC2DD2B796BFC7365C9C28B548E564176929f"
                 " all\nzyxwvutsrqponmlk\tlist\tuploads=0 quota=10G\n"
                 "abcdefghijklmnopq write quota=7");
    sl_token_t *t;

    ck_assert_uint_eq(ts->n, 4);
    ck_assert_uint_eq(ts->t[0].quota, 0);
    ck_assert_uint_eq(ts->t[2].quota, 10ull << 30);
    ck_assert_uint_eq(ts->t[3].quota, 7);
    ck_assert_uint_eq(ts->t[0].rights, SL_RIGHT_READ | SL_RIGHT_WRITE);
    ck_assert_str_eq(ts->t[0].prefix, "alice/docs");
    ck_assert_uint_eq(ts->t[0].max_uploads, 3);
    ck_assert_uint_eq(ts->t[1].rights, SL_RIGHT_ALL);
    ck_assert_str_eq(ts->t[1].prefix, "");
    ck_assert_uint_eq(ts->t[2].rights, SL_RIGHT_LIST);
    /* "0123456789abcdef" is in the file twice: as itself and as its SHA-256: the first wins */
    t = sl__tokens_find(ts, "0123456789abcdef", 16);
    ck_assert_ptr_eq(t, &ts->t[0]);
    ck_assert_ptr_eq(sl__tokens_find(ts, "zyxwvutsrqponmlk", 16), &ts->t[2]);
    ck_assert_ptr_null(sl__tokens_find(ts, "0123456789abcde", 15));
    ck_assert_ptr_null(sl__tokens_find(ts, "0123456789abcdeF", 16));
    ck_assert_ptr_null(sl__tokens_find(ts, "", 0));
    ts->refs++;
    sl__tokens_unref(ts);
    ck_assert_int_eq(ts->refs, 1);
    sl__tokens_unref(ts);
}
END_TEST

/* Files of 0 to 1,000 tokens (the search runs over the hashes sorted at load): every token finds
 * its own line, a token in the file twice finds its first line, others find nothing. */
START_TEST(every_token_finds_its_line)
{
    static const size_t sizes[] = {0, 1, 2, 3, 7, 64, 1000};
    size_t k, i, n, len, cap = 1001 * 40;
    char *text = malloc(cap), tok[48];
    sl_tokens_t *ts;

    ck_assert_ptr_nonnull(text);
    for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        n = sizes[k];
        len = 0;
        for (i = 0; i < n; i++)
            len += (size_t)snprintf(text + len, cap - len, "token-%06zu-abcdef read\n", i);
        if (n > 5) /* token 5 again, with more rights: its first line stands */
            len += (size_t)snprintf(text + len, cap - len, "token-000005-abcdef all\n");
        text[len] = '\0';
        ts = parse_ok(text);
        ck_assert_uint_eq(ts->n, n + (n > 5));
        for (i = 0; i < n; i++) {
            snprintf(tok, sizeof(tok), "token-%06zu-abcdef", i);
            ck_assert_ptr_eq(sl__tokens_find(ts, tok, strlen(tok)), &ts->t[i]);
            snprintf(tok, sizeof(tok), "token-%06zu-abcdeg", i);
            ck_assert_ptr_null(sl__tokens_find(ts, tok, strlen(tok)));
        }
        ck_assert_ptr_null(sl__tokens_find(ts, "token-001000-abcdef", 19));
        ck_assert_ptr_null(sl__tokens_find(ts, "", 0));
        sl__tokens_unref(ts);
    }
    free(text);
}
END_TEST

START_TEST(bad_token_lines_name_the_line_never_the_token)
{
    parse_bad("0123456789abcdef read\nshort read\n", "line 2: a token of at least 16");
    parse_bad("0123456789abcdef\n", "line 1: rights expected");
    parse_bad("0123456789abcdef read,\n", "rights expected");
    parse_bad("0123456789abcdef read,,write\n", "rights expected");
    parse_bad("0123456789abcdef rw\n", "rights expected");
    parse_bad("0123456789abcdef read ../x\n", "bad prefix");
    parse_bad("0123456789abcdef read a/../b\n", "bad prefix");
    parse_bad("0123456789abcdef read /\n", "bad prefix");
    parse_bad("0123456789abcdef read a b\n", "unexpected word");
    parse_bad("0123456789abcdef read uploads=x\n", "bad uploads");
    parse_bad("0123456789abcdef read uploads=99999999999999999999\n", "bad uploads");
    parse_bad("0123456789abcdef read quota=0\n", "bad quota");
    parse_bad("0123456789abcdef read quota=1X\n", "bad quota");
    parse_bad("0123456789abcdef read quota=K\n", "bad quota");
    parse_bad("0123456789abcdef read quota=99999999999T\n", "bad quota");
    parse_bad("sha256:abc read\n", "line 1: a token");
    parse_bad("sha256:zz9f5111f7b27a781f1f1ddde5ebc2dd2b796bfc7365c9c28b548e564176929f read\n",
              "a token");
    parse_bad("0123456789abcd\x01f read\n", "a token");
    {
        sl_tokens_t *ts = NULL;
        char err[128] = "";
        const char text[] = "0123456789abcdef read\nsecret-secret-secret\0 read\n";
        ck_assert_int_eq(sl__tokens_parse(text, sizeof(text) - 1, &ts, err, sizeof(err)),
                         SL_EBADREQUEST);
        ck_assert_ptr_null(strstr(err, "secret"));
    }
}
END_TEST

START_TEST(prefixes_cover_whole_segments)
{
    ck_assert_int_eq(sl__prefix_covers("", "anything/at/all"), 1);
    ck_assert_int_eq(sl__prefix_covers("a/b", "a/b"), 1);
    ck_assert_int_eq(sl__prefix_covers("a/b", "a/b/c"), 1);
    ck_assert_int_eq(sl__prefix_covers("a/b", "a/bc"), 0);
    ck_assert_int_eq(sl__prefix_covers("a/b", "a"), 0);
    ck_assert_int_eq(sl__prefix_covers("a/b", ""), 0);
}
END_TEST

START_TEST(signatures_match_the_vectors)
{
    char sig[SL_SIG_HEX + 1];

    sl__sign((const unsigned char *)KEY, strlen(KEY), "PUT", "/files/a", 2000000000, 0, 0, sig);
    ck_assert_str_eq(sig, "68564f3cd2c6aa89560c0a173bcbe066cd5e952d7b6f099f9f188059158cc5a3");
    sl__sign((const unsigned char *)KEY, strlen(KEY), "POST", "/uploads/", 2000000000, 1, 10, sig);
    ck_assert_str_eq(sig, "36ce5dedde31dd924a8ef53243462b6288eb0f9da3b3c68b0c321af7527353f8");
}
END_TEST

/* A key of one SHA-256 block and a longer one (hashed first, RFC 2104), one after the other and
 * then the first again: each thread keeps the states of the key it last saw, and a new key must
 * replace them. The largest MAX, a path with a space. */
START_TEST(signatures_follow_the_key)
{
    const char *k64 = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
    const char *v64 = "2470fa12fa172486d32f2d1e445e4de1952ec560ccb9213d2a4265ef7427cb53";
    unsigned char k150[150];
    char sig[SL_SIG_HEX + 1];
    unsigned i, round;

    for (i = 0; i < sizeof(k150); i++)
        k150[i] = (unsigned char)(100 + i);
    for (round = 0; round < 2; round++) {
        sl__sign((const unsigned char *)k64, 64, "PATCH", "/uploads/x y", 1, 1, UINT64_MAX, sig);
        ck_assert_str_eq(sig, v64);
        sl__sign(k150, sizeof(k150), "PATCH", "/uploads/x y", 1, 1, UINT64_MAX, sig);
        ck_assert_str_eq(sig, "e020bafbbbffe523df0a63909589b0b87d8951dc66379743d3ebfa58eddee25c");
    }
    sl__sign((const unsigned char *)k64, 63, "PATCH", "/uploads/x y", 1, 1, UINT64_MAX, sig);
    ck_assert_str_ne(sig, v64); /* the same bytes but one: another key */
}
END_TEST

static int check(const char *method, const char *path, const char *exp, const char *max,
                 const char *sig, uint64_t *limit)
{
    int64_t expires = -1;
    int r = sl__sign_check((const unsigned char *)KEY, strlen(KEY), method, path, exp, max, sig,
                           NOW, limit, &expires);

    /* the expiry comes back with an admission, and only then */
    ck_assert_int_eq(expires, r == 0 ? strtoll(exp, NULL, 10) : -1);
    return r;
}

START_TEST(signed_url_checks)
{
    const char *a = "68564f3cd2c6aa89560c0a173bcbe066cd5e952d7b6f099f9f188059158cc5a3";
    const char *u = "36ce5dedde31dd924a8ef53243462b6288eb0f9da3b3c68b0c321af7527353f8";
    uint64_t limit = 7;

    ck_assert_int_eq(check("PUT", "/files/a", "2000000000", NULL, a, &limit), 0);
    ck_assert_uint_eq(limit, UINT64_MAX);
    ck_assert_int_eq(check("POST", "/uploads/", "2000000000", "10", u, &limit), 0);
    ck_assert_uint_eq(limit, 10);
    /* anything else in the MAC changed: denied */
    ck_assert_int_eq(check("GET", "/files/a", "2000000000", NULL, a, &limit), SL_EDENIED);
    ck_assert_int_eq(check("PUT", "/files/b", "2000000000", NULL, a, &limit), SL_EDENIED);
    ck_assert_int_eq(check("PUT", "/files/a", "2000000001", NULL, a, &limit), SL_EDENIED);
    ck_assert_int_eq(check("PUT", "/files/a", "2000000000", "10", a, &limit), SL_EDENIED);
    ck_assert_int_eq(check("POST", "/uploads/", "2000000000", "11", u, &limit), SL_EDENIED);
    ck_assert_int_eq(check("POST", "/uploads/", "2000000000", NULL, u, &limit), SL_EDENIED);
    ck_assert_int_eq(check("PUT", "/files/a", "2000000000", NULL,
                           "68564f3cd2c6aa89560c0a173bcbe066cd5e952d7b6f099f9f188059158cc5a4",
                           &limit),
                     SL_EDENIED);
    /* not canonical numbers, a signature of the wrong length or spelt otherwise than sl__sign
     * writes it (upper case, not hex): malformed (the server answers 403 all the same) */
    ck_assert_int_eq(check("PUT", "/files/a", "2000000000", NULL,
                           "68564F3CD2C6AA89560C0A173BCBE066CD5E952D7B6F099F9F188059158CC5A3",
                           &limit),
                     SL_EBADREQUEST);
    ck_assert_int_eq(check("PUT", "/files/a", "2000000000", NULL,
                           "68564f3cd2c6aa89560c0a173bcbe066cd5e952d7b6f099f9f188059158cc5ag",
                           &limit),
                     SL_EBADREQUEST);
    ck_assert_int_eq(check("PUT", "/files/a", "02000000000", NULL, a, &limit), SL_EBADREQUEST);
    ck_assert_int_eq(check("PUT", "/files/a", "+2000000000", NULL, a, &limit), SL_EBADREQUEST);
    ck_assert_int_eq(check("PUT", "/files/a", "", NULL, a, &limit), SL_EBADREQUEST);
    ck_assert_int_eq(check("PUT", "/files/a", NULL, NULL, a, &limit), SL_EBADREQUEST);
    ck_assert_int_eq(check("PUT", "/files/a", "99999999999999999999", NULL, a, &limit),
                     SL_EBADREQUEST);
    ck_assert_int_eq(check("PUT", "/files/a", "2000000000", "010", a, &limit), SL_EBADREQUEST);
    ck_assert_int_eq(check("PUT", "/files/a", "2000000000", NULL, "", &limit), SL_EBADREQUEST);
    ck_assert_int_eq(check("PUT", "/files/a", "2000000000", NULL, "68564f", &limit),
                     SL_EBADREQUEST);
    ck_assert_uint_eq(limit, 10); /* untouched by the refusals */
}
END_TEST

START_TEST(expired_signatures)
{
    char sig[SL_SIG_HEX + 1], exp[32];
    uint64_t limit;
    int64_t t;

    for (t = NOW - 1; t <= NOW + 1; t++) {
        sl__sign((const unsigned char *)KEY, strlen(KEY), "PUT", "/files/a", t, 0, 0, sig);
        snprintf(exp, sizeof(exp), "%lld", (long long)t);
        ck_assert_int_eq(check("PUT", "/files/a", exp, NULL, sig, &limit),
                         t > NOW ? 0 : SL_EDENIED);
    }
}
END_TEST

START_TEST(sign_keys)
{
    unsigned char key[64];
    size_t len = 0;

    ck_assert_int_eq(sl__sign_key_parse(KEY, strlen(KEY), key, sizeof(key), &len), 0);
    ck_assert_uint_eq(len, strlen(KEY));
    ck_assert_int_eq(
        sl__sign_key_parse("0123456789abcdef0123456789abcdef\r\n\n", 35, key, sizeof(key), &len),
        0);
    ck_assert_uint_eq(len, 32);
    ck_assert_int_eq(
        sl__sign_key_parse("0123456789abcdef0123456789abcde\n", 32, key, sizeof(key), &len),
        SL_EBADREQUEST);
    ck_assert_int_eq(sl__sign_key_parse(KEY, strlen(KEY), key, 40, &len), SL_EBADREQUEST);
}
END_TEST

static void key_of(int family, const char *text, char *hex, int *lo)
{
    unsigned char addr[16], key[16];
    int i;

    ck_assert_int_eq(inet_pton(family, text, addr), 1);
    *lo = -1;
    ck_assert_int_eq(sl__addr_key(family, addr, key, lo), 0);
    for (i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
}

START_TEST(clients_are_ipv4_addresses_and_ipv6_64s)
{
    char a[33], b[33];
    int lo;

    key_of(AF_INET6, "2001:db8:1:2:aaaa::1", a, &lo);
    key_of(AF_INET6, "2001:db8:1:2:ffff:1:2:3", b, &lo);
    ck_assert_str_eq(a, b);
    ck_assert_str_eq(a, "20010db8000100020000000000000000");
    ck_assert_int_eq(lo, 0);
    key_of(AF_INET6, "2001:db8:1:3::1", b, &lo);
    ck_assert_str_ne(a, b);
    key_of(AF_INET, "192.0.2.7", a, &lo);
    ck_assert_str_eq(a, "00000000000000000000ffffc0000207");
    ck_assert_int_eq(lo, 0);
    key_of(AF_INET6, "::ffff:192.0.2.7", b, &lo);
    ck_assert_str_eq(a, b); /* a mapped address is its IPv4 client, never a /64 */
    key_of(AF_INET, "192.0.2.8", b, &lo);
    ck_assert_str_ne(a, b);
    key_of(AF_INET, "127.0.0.2", a, &lo);
    ck_assert_int_eq(lo, 1);
    key_of(AF_INET6, "::1", a, &lo);
    ck_assert_int_eq(lo, 1);
    key_of(AF_INET6, "::2", a, &lo);
    ck_assert_int_eq(lo, 0);
    ck_assert_int_eq(sl__host_is_loopback("127.0.0.1"), 1);
    ck_assert_int_eq(sl__host_is_loopback("0.0.0.0"), 0);
    ck_assert_int_eq(sl__host_is_loopback("::"), 0);
    ck_assert_int_eq(sl__host_is_loopback("::1"), 1);
    ck_assert_int_eq(sl__host_is_loopback("localhost"), 0);
}
END_TEST

Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("tokens");

    tcase_add_test(tc, token_lines);
    tcase_add_test(tc, every_token_finds_its_line);
    tcase_add_test(tc, bad_token_lines_name_the_line_never_the_token);
    tcase_add_test(tc, prefixes_cover_whole_segments);
    suite_add_tcase(s, tc);
    tc = tcase_create("signed URLs");
    tcase_add_test(tc, signatures_match_the_vectors);
    tcase_add_test(tc, signatures_follow_the_key);
    tcase_add_test(tc, signed_url_checks);
    tcase_add_test(tc, expired_signatures);
    tcase_add_test(tc, sign_keys);
    suite_add_tcase(s, tc);
    tc = tcase_create("clients");
    tcase_add_test(tc, clients_are_ipv4_addresses_and_ipv6_64s);
    suite_add_tcase(s, tc);
    return s;
}
