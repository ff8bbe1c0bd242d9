/* SPDX-License-Identifier: MIT
 *
 * RFC 9530 digest fields (server/proto/digests.c): sl__digests_parse reads a Content-Digest or
 * Repr-Digest dictionary (`sha-256=:<base64>:, sha-512=:<base64>:`), keeps sha-256 and sha-512,
 * skips algorithms it does not know and parameters, and refuses a malformed value with
 * SL_EBADREQUEST; sl__repr_digest_header formats the field sluice answers with. The vectors are
 * the FIPS 180 digests of "abc" and of the empty string, and RFC 4648's base64 examples.
 */
#include <check.h>
#include <string.h>

#include "http/http.h"
#include "http/cond.h"
#include "proto/proto.h"
#include "proto/resumable.h"

Suite *digests_suite(void);

#define ABC256_B64 "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
#define ABC256_HEX "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ABC512_B64                                                                                 \
    "3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="
#define EMPTY256_B64 "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
#define EMPTY256_HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const unsigned char abc256[32] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
static const unsigned char abc512[64] = {
    0xdd, 0xaf, 0x35, 0xa1, 0x93, 0x61, 0x7a, 0xba, 0xcc, 0x41, 0x73, 0x49, 0xae, 0x20, 0x41, 0x31,
    0x12, 0xe6, 0xfa, 0x4e, 0x89, 0xa9, 0x7e, 0xa2, 0x0a, 0x9e, 0xee, 0xe6, 0x4b, 0x55, 0xd3, 0x9a,
    0x21, 0x92, 0x99, 0x2a, 0x27, 0x4f, 0xc1, 0xa8, 0x36, 0xba, 0x3c, 0x23, 0xa3, 0xfe, 0xeb, 0xbd,
    0x45, 0x4d, 0x44, 0x23, 0x64, 0x3c, 0xe8, 0x0e, 0x2a, 0x9a, 0xc9, 0x4f, 0xa5, 0x4c, 0xa4, 0x9f};

static sl_digests_t d;

/* Parse `v` into a zeroed d; returns the parser's result. */
static int parse(const char *v)
{
    memset(&d, 0, sizeof(d));
    return sl__digests_parse(v, &d);
}

#define assert_parses(v, algs_)                                                                    \
    do {                                                                                           \
        int r_ = parse(v);                                                                         \
        ck_assert_msg(r_ == 0, "'%s' gave %s", (v), sl_err_name(r_));                              \
        ck_assert_msg(d.algs == (algs_), "'%s': algs %d, expected %d", (v), d.algs, (algs_));      \
    } while (0)

#define assert_refused(v)                                                                          \
    do {                                                                                           \
        int r_ = parse(v);                                                                         \
        ck_assert_msg(r_ == SL_EBADREQUEST, "'%s' gave %s, expected SL_EBADREQUEST", (v),          \
                      r_ == 0 ? "0" : sl_err_name(r_));                                            \
    } while (0)

/* --- well-formed fields ------------------------------------------------------------------ */

START_TEST(a_single_sha256_is_decoded)
{
    assert_parses("sha-256=:" ABC256_B64 ":", SL_DIGEST_SHA256);
    ck_assert_mem_eq(d.sha256, abc256, 32);
}
END_TEST

START_TEST(a_single_sha512_is_decoded)
{
    assert_parses("sha-512=:" ABC512_B64 ":", SL_DIGEST_SHA512);
    ck_assert_mem_eq(d.sha512, abc512, 64);
}
END_TEST

START_TEST(sha256_and_sha512_together_are_both_decoded)
{
    assert_parses("sha-256=:" ABC256_B64 ":, sha-512=:" ABC512_B64 ":",
                  SL_DIGEST_SHA256 | SL_DIGEST_SHA512);
    ck_assert_mem_eq(d.sha256, abc256, 32);
    ck_assert_mem_eq(d.sha512, abc512, 64);
    assert_parses("sha-512=:" ABC512_B64 ":,sha-256=:" ABC256_B64 ":",
                  SL_DIGEST_SHA256 | SL_DIGEST_SHA512);
    ck_assert_mem_eq(d.sha256, abc256, 32);
    ck_assert_mem_eq(d.sha512, abc512, 64);
}
END_TEST

START_TEST(an_unknown_algorithm_is_ignored)
{
    assert_parses("unixsum=:AAA=:", 0);
    assert_parses("md5=:HUXZLQLMuI/KZ5KDcJPcOA==:", 0);
    assert_parses("unixsum=:AAA=:, sha-256=:" ABC256_B64 ":", SL_DIGEST_SHA256);
    ck_assert_mem_eq(d.sha256, abc256, 32);
    assert_parses("sha-256=:" ABC256_B64 ":, adler=:AAAAAA==:", SL_DIGEST_SHA256);
    ck_assert_mem_eq(d.sha256, abc256, 32);
}
END_TEST

START_TEST(a_trailing_comma_or_a_key_with_a_space_is_refused)
{
    assert_refused("sha-256=:" ABC256_B64 ":,");
    assert_refused("sha-256=:" ABC256_B64 ":, ");
    assert_refused("sha-256 =:" ABC256_B64 ":");
}
END_TEST

START_TEST(whitespace_around_members_is_allowed)
{
    assert_parses("  sha-256=:" ABC256_B64 ":", SL_DIGEST_SHA256);
    assert_parses("sha-256=:" ABC256_B64 ":   ", SL_DIGEST_SHA256);
    assert_parses("sha-256=:" ABC256_B64 ":\t ,\t sha-512=:" ABC512_B64 ":",
                  SL_DIGEST_SHA256 | SL_DIGEST_SHA512);
    ck_assert_mem_eq(d.sha512, abc512, 64);
}
END_TEST

START_TEST(parameters_are_skipped)
{
    assert_parses("sha-256=:" ABC256_B64 ":;q=1", SL_DIGEST_SHA256);
    ck_assert_mem_eq(d.sha256, abc256, 32);
    assert_parses("sha-256=:" ABC256_B64 ":;a;b=2, sha-512=:" ABC512_B64 ":;c=\"x\"",
                  SL_DIGEST_SHA256 | SL_DIGEST_SHA512);
    ck_assert_mem_eq(d.sha512, abc512, 64);
}
END_TEST

START_TEST(an_empty_field_names_no_digest)
{
    assert_parses("", 0);
    assert_parses("   ", 0);
}
END_TEST

/* --- malformed fields -------------------------------------------------------------------- */

START_TEST(a_value_of_the_wrong_length_is_refused)
{
    assert_refused("sha-256=:" ABC512_B64 ":");     /* 64 bytes for sha-256 */
    assert_refused("sha-512=:" ABC256_B64 ":");     /* 32 bytes for sha-512 */
    assert_refused("sha-256=:AAAA:");               /* 3 bytes */
    assert_refused("sha-256=:" ABC256_B64 "AAAA:"); /* 35 bytes */
    assert_refused("sha-256=::");                   /* empty byte sequence */
    assert_refused("sha-512=::");
}
END_TEST

START_TEST(a_value_without_its_colons_is_refused)
{
    assert_refused("sha-256=" ABC256_B64);
    assert_refused("sha-256=:" ABC256_B64);
    assert_refused("sha-256=" ABC256_B64 ":");
    assert_refused("sha-256");
    assert_refused("sha-256=");
    assert_refused("=:" ABC256_B64 ":");
}
END_TEST

START_TEST(bad_base64_is_refused)
{
    assert_refused("sha-256=:!ngWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:");
    assert_refused("sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0*:");
    assert_refused("sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qc BD/YfIAFa0=:");
}
END_TEST

START_TEST(garbage_between_members_is_refused)
{
    assert_refused("sha-256=:" ABC256_B64 ": junk");
    assert_refused("sha-256=:" ABC256_B64 ":sha-512=:" ABC512_B64 ":");
}
END_TEST

/* --- what sluice answers ----------------------------------------------------------------- */

START_TEST(repr_digest_header_of_a_known_sha256)
{
    char out[64];

    sl__repr_digest_header(ABC256_HEX, out);
    ck_assert_str_eq(out, "sha-256=:" ABC256_B64 ":");
    sl__repr_digest_header(EMPTY256_HEX, out);
    ck_assert_str_eq(out, "sha-256=:" EMPTY256_B64 ":");
}
END_TEST

START_TEST(repr_digest_header_parses_back_to_the_same_bytes)
{
    char out[64];

    sl__repr_digest_header(ABC256_HEX, out);
    assert_parses(out, SL_DIGEST_SHA256);
    ck_assert_mem_eq(d.sha256, abc256, 32);
}
END_TEST

START_TEST(base64_and_hex_match_the_standard_vectors)
{
    static const struct {
        const char *in, *out;
    } v[] = {{"", ""},
             {"f", "Zg=="},
             {"fo", "Zm8="},
             {"foo", "Zm9v"},
             {"foob", "Zm9vYg=="},
             {"fooba", "Zm9vYmE="},
             {"foobar", "Zm9vYmFy"}};
    unsigned char bytes[32];
    char out[16];
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        memset(out, 'x', sizeof(out));
        sl__base64((const unsigned char *)v[i].in, strlen(v[i].in), out);
        ck_assert_str_eq(out, v[i].out);
    }
    sl__hex_to_bytes(ABC256_HEX, bytes, 32);
    ck_assert_mem_eq(bytes, abc256, 32);
}
END_TEST

Suite *digests_suite(void)
{
    Suite *s = suite_create("digests");
    TCase *tc;

    tc = tcase_create("parse");
    tcase_add_test(tc, a_single_sha256_is_decoded);
    tcase_add_test(tc, a_single_sha512_is_decoded);
    tcase_add_test(tc, sha256_and_sha512_together_are_both_decoded);
    tcase_add_test(tc, an_unknown_algorithm_is_ignored);
    tcase_add_test(tc, a_trailing_comma_or_a_key_with_a_space_is_refused);
    tcase_add_test(tc, whitespace_around_members_is_allowed);
    tcase_add_test(tc, parameters_are_skipped);
    tcase_add_test(tc, an_empty_field_names_no_digest);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_test(tc, a_value_of_the_wrong_length_is_refused);
    tcase_add_test(tc, a_value_without_its_colons_is_refused);
    tcase_add_test(tc, bad_base64_is_refused);
    tcase_add_test(tc, garbage_between_members_is_refused);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("answer");
    tcase_add_test(tc, repr_digest_header_of_a_known_sha256);
    tcase_add_test(tc, repr_digest_header_parses_back_to_the_same_bytes);
    tcase_add_test(tc, base64_and_hex_match_the_standard_vectors);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
