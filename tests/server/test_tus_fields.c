/* SPDX-License-Identifier: MIT
 *
 * The tus request headers (server/proto/tus_fields.c): Upload-Offset/Upload-Length are digits only
 * below 2^63; Upload-Metadata is "key base64" pairs with unique visible-ASCII keys and valid padded
 * base64, so nothing HEAD echoes back can carry a CR or LF; the name a finished upload lands under
 * is the last segment of its filename (else name) when that is a valid store name, else its id;
 * Upload-Checksum names sha1, sha256, md5 or crc32 and a digest of exactly that length;
 * Upload-Concat is "partial" or "final;" and URLs ending in /uploads/<id>. The digests are those of
 * "abc".
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/cond.h"
#include "proto/proto.h"
#include "proto/resumable.h"

Suite *tus_parse_suite(void);

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"

#define ABC_SHA1 "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="
#define ABC_SHA256 "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
#define ABC_MD5 "kAFQmDzST7DWlj99KOF/cg=="
#define ABC_CRC32 "NSRBwg==" /* 0x352441c2, big-endian */

static const unsigned char abc_sha1[20] = {0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81,
                                           0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
                                           0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d};
static const unsigned char abc_md5[16] = {0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0,
                                          0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1, 0x7f, 0x72};
static const unsigned char abc_crc32[4] = {0x35, 0x24, 0x41, 0xc2};

/* --- Upload-Offset, Upload-Length -------------------------------------------------------- */

START_TEST(u63_accepts_digits_up_to_2_63_minus_1)
{
    static const struct {
        const char *v;
        int64_t x;
    } ok[] = {{"0", 0},
              {"123", 123},
              {"007", 7},
              {"9223372036854775800", INT64_MAX - 7},
              {"9223372036854775807", INT64_MAX}};
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t x = -42;
        ck_assert_msg(sl__tus_parse_u63(ok[i].v, &x) == 0, "refused \"%s\"", ok[i].v);
        ck_assert_int_eq(x, ok[i].x);
    }
}
END_TEST

START_TEST(u63_refuses_anything_else)
{
    static const char *const bad[] = {"-1",
                                      "abc",
                                      "+5",
                                      " 5",
                                      "5 ",
                                      "",
                                      "1.5",
                                      "0x10",
                                      "12a",
                                      "9223372036854775808",
                                      "9223372036854775817",
                                      "18446744073709551616",
                                      "99999999999999999999"};
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t x = -42;
        ck_assert_msg(sl__tus_parse_u63(bad[i], &x) == SL_EBADREQUEST, "accepted \"%s\"", bad[i]);
        ck_assert_int_eq(x, -42); /* untouched */
    }
    ck_assert_int_eq(sl__tus_parse_u63(NULL, NULL), SL_EBADREQUEST);
}
END_TEST

/* --- Upload-Metadata --------------------------------------------------------------------- */

START_TEST(metadata_of_key_value_pairs_is_valid)
{
    static const char *const ok[] = {"filename aGVsbG8=",
                                     "a",
                                     "a,b",
                                     "a aGk=,b",
                                     "k1 aGk=,k2 aGk=",
                                     "a aGVs",
                                     "filetype dGV4dC9wbGFpbg==,filename d29ybGQ=,is_private",
                                     "a,A"};
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ck_assert_msg(sl__tus_metadata_valid(ok[i]) == 0, "refused \"%s\"", ok[i]);
}
END_TEST

START_TEST(malformed_metadata_is_refused)
{
    static const char *const bad[] = {"a,a",          "a aGk=,a aGk=",
                                      "k aGk=,b,k",   ",a",
                                      "a,,b",         "a,",
                                      " a",           "a !!!!",
                                      "a aGk",        "a aGk=aGk=",
                                      "a a===",       "a\001b aGk=",
                                      "a\177 aGk=",   "caf\303\251 aGk=",
                                      "a\tb aGk=",    "a aGk=\r\nX: y",
                                      "a aGk=\nX",    "a aGk=;b",
                                      "a aGk= b aGk="};
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(sl__tus_metadata_valid(bad[i]) == SL_EBADREQUEST, "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(metadata_longer_than_8192_bytes_is_refused)
{
    static char v[SL_TUS_METADATA_MAX + 8];
    size_t i;

    /* "a " + base64: 8190 bytes (valid), then 8194 (over the limit). */
    strcpy(v, "a ");
    for (i = 0; i < 2047; i++)
        memcpy(v + 2 + 4 * i, "AAAA", 5);
    ck_assert_uint_eq(strlen(v), 8190);
    ck_assert_int_eq(sl__tus_metadata_valid(v), 0);
    strcat(v, "AAAA");
    ck_assert_uint_eq(strlen(v), 8194);
    ck_assert_int_eq(sl__tus_metadata_valid(v), SL_EBADREQUEST);
}
END_TEST

START_TEST(metadata_get_decodes_a_value)
{
    static const char md[] = "filename aGVsbG8=,is_private,name d29ybGQ=,nul AA==";
    char out[64];

    ck_assert_int_eq(sl__tus_metadata_get(md, "filename", out, sizeof(out)), 5);
    ck_assert_str_eq(out, "hello");
    ck_assert_int_eq(sl__tus_metadata_get(md, "name", out, sizeof(out)), 5);
    ck_assert_str_eq(out, "world");
    ck_assert_int_eq(sl__tus_metadata_get(md, "is_private", out, sizeof(out)), -1); /* no value */
    ck_assert_int_eq(sl__tus_metadata_get(md, "file", out, sizeof(out)), -1);       /* a prefix */
    ck_assert_int_eq(sl__tus_metadata_get(md, "missing", out, sizeof(out)), -1);
    ck_assert_int_eq(sl__tus_metadata_get(md, "nul", out, sizeof(out)), -1); /* not text */
    ck_assert_int_eq(sl__tus_metadata_get("", "filename", out, sizeof(out)), -1);
    ck_assert_int_eq(sl__tus_metadata_get(md, "filename", out, 4), -1); /* does not fit */
}
END_TEST

/* --- the final name ---------------------------------------------------------------------- */

static const char *final_name(const char *metadata)
{
    static sl_tus_info_t info;
    static char out[SL_NAME_MAX + 1];

    sl_tus_info_clear(&info);
    memset(&info, 0, sizeof(info));
    memcpy(info.id, ID1, sizeof(info.id));
    sl_tus_info_set(&info.metadata, metadata);
    memset(out, 'x', sizeof(out));
    sl__tus_final_name(&info, out);
    return out;
}

START_TEST(final_name_is_the_last_segment_of_a_valid_filename_else_the_id)
{
    ck_assert_str_eq(final_name("filename aGVsbG8="), "hello");
    ck_assert_str_eq(final_name("filename Li4vLi4vZXRjL3Bhc3N3ZA=="), "passwd"); /* ../../etc/ */
    ck_assert_str_eq(final_name("filename YVxiLnR4dA=="), "b.txt");              /* a\b.txt */
    ck_assert_str_eq(final_name("filename YS9iL2MudHh0"), "c.txt");              /* a/b/c.txt */
    ck_assert_str_eq(final_name("filename LnNsdWljZQ=="), ID1);                  /* .sluice */
    ck_assert_str_eq(final_name("filename Li4="), ID1);                          /* .. */
    ck_assert_str_eq(final_name("filename Lg=="), ID1);                          /* . */
    ck_assert_str_eq(final_name("filename ZGlyLw=="), ID1);                      /* dir/ */
    ck_assert_str_eq(final_name("filename "), ID1);                              /* "" */
    ck_assert_str_eq(final_name("filename"), ID1);
    ck_assert_str_eq(final_name(""), ID1);
    ck_assert_str_eq(final_name("filetype dGV4dC9wbGFpbg=="), ID1);
    ck_assert_str_eq(final_name("name cmVwb3J0LnBkZg=="), "report.pdf");
    ck_assert_str_eq(final_name("name cmVwb3J0LnBkZg==,filename aGVsbG8="), "hello");
}
END_TEST

/* A file of a folder (the upload page, Uppy): relativePath is the whole name when it is a valid
 * one; anything else falls back to the filename's last segment. */
START_TEST(final_name_is_a_valid_relative_path_with_its_folders)
{
    ck_assert_str_eq(final_name("filename Yy50eHQ=,relativePath YS9iL2MudHh0"), "a/b/c.txt");
    ck_assert_str_eq(final_name("relativePath cGhvdG9zLzIwMjYveC5qcGc="), "photos/2026/x.jpg");
    ck_assert_str_eq(final_name("filename Yy50eHQ=,relativePath Li4vZXRjL2MudHh0"), "c.txt");
    ck_assert_str_eq(final_name("filename Yy50eHQ=,relativePath L2Ficy9jLnR4dA=="), "c.txt");
    ck_assert_str_eq(final_name("filename Yy50eHQ=,relativePath YS8vYy50eHQ="), "c.txt");
    ck_assert_str_eq(final_name("filename Yy50eHQ=,relativePath LnNsdWljZS90dXMveA=="), "c.txt");
    ck_assert_str_eq(final_name("filename Yy50eHQ=,relativePath YS8uL2MudHh0"), "c.txt");
    ck_assert_str_eq(final_name("filename Yy50eHQ=,relativePath bnVsbA=="), "c.txt"); /* null */
    ck_assert_str_eq(final_name("relativePath ZGlyLw=="), ID1);
    ck_assert_str_eq(final_name("filename Yy50eHQ=,relativePath"), "c.txt");
}
END_TEST

START_TEST(final_name_of_an_over_long_segment_is_the_id)
{
    static char md[1024];
    size_t i, len;

    /* "YWFh" is "aaa": 85 of them make a 255-byte segment (SL_SEGMENT_MAX), 86 one of 258. */
    len = (size_t)sprintf(md, "filename ");
    for (i = 0; i < 85; i++)
        len += (size_t)sprintf(md + len, "YWFh");
    ck_assert_uint_eq(strlen(final_name(md)), SL_SEGMENT_MAX);
    ck_assert_int_eq(final_name(md)[0], 'a');
    sprintf(md + len, "YWFh");
    ck_assert_str_eq(final_name(md), ID1);
}
END_TEST

/* --- Upload-Checksum --------------------------------------------------------------------- */

START_TEST(checksum_of_each_algorithm_decodes_its_digest)
{
    unsigned char out[64];
    int alg = 0;

    ck_assert_int_eq(sl__tus_parse_checksum("sha1 " ABC_SHA1, &alg, out), 0);
    ck_assert_int_eq(alg, SL_DIGEST_SHA1);
    ck_assert_mem_eq(out, abc_sha1, 20);
    ck_assert_int_eq(sl__tus_parse_checksum("sha256 " ABC_SHA256, &alg, out), 0);
    ck_assert_int_eq(alg, SL_DIGEST_SHA256);
    ck_assert_uint_eq(out[0], 0xba);
    ck_assert_uint_eq(out[31], 0xad);
    ck_assert_int_eq(sl__tus_parse_checksum("md5 " ABC_MD5, &alg, out), 0);
    ck_assert_int_eq(alg, SL_DIGEST_MD5);
    ck_assert_mem_eq(out, abc_md5, 16);
    ck_assert_int_eq(sl__tus_parse_checksum("crc32 " ABC_CRC32, &alg, out), 0);
    ck_assert_int_eq(alg, SL_DIGEST_CRC32);
    ck_assert_mem_eq(out, abc_crc32, 4);
}
END_TEST

START_TEST(checksum_of_a_wrong_length_or_algorithm_is_refused)
{
    static const char *const bad[] = {"sha1 " ABC_SHA256,
                                      "sha1 " ABC_MD5,
                                      "sha256 " ABC_SHA1,
                                      "md5 " ABC_SHA1,
                                      "md5 " ABC_CRC32,
                                      "crc32 " ABC_MD5,
                                      "crc32 AAAA",
                                      "crc32 AAAAAAAA",
                                      "sha512 " ABC_SHA1,
                                      "SHA1 " ABC_SHA1,
                                      "Sha256 " ABC_SHA256,
                                      "sha1" ABC_SHA1,
                                      "sha1",
                                      "sha1 ",
                                      "",
                                      " " ABC_SHA1,
                                      "sha1 !!!!",
                                      "sha1  " ABC_SHA1,
                                      "sha1 " ABC_SHA1 " ",
                                      "crc 1234",
                                      "sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0"}; /* unpadded */
    unsigned char out[64];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int alg = -1;
        ck_assert_msg(sl__tus_parse_checksum(bad[i], &alg, out) == SL_EBADREQUEST,
                      "accepted \"%s\"", bad[i]);
        ck_assert_int_eq(alg, -1);
    }
}
END_TEST

/* The digest goes into unsigned char[64] (sl_tus_req_t.check): the longest value the parser
 * decodes must not write past it, even when it then refuses it for its length. */
START_TEST(checksum_never_writes_past_its_64_byte_output)
{
    static const char *const algs[] = {"sha1", "sha256", "md5", "crc32"};
    size_t i;

    for (i = 0; i < 2 * sizeof(algs) / sizeof(algs[0]); i++) {
        struct {
            unsigned char out[64];
            unsigned char canary[8];
        } b;
        char v[128];
        int alg = -1, n = sprintf(v, "%s ", algs[i / 2]);

        memset(v + n, 'A', 88); /* 88 base64 characters: 66 bytes, or 64 with "==" */
        strcpy(v + n + 88 - (i % 2 ? 2 : 0), i % 2 ? "==" : "");
        ck_assert_uint_eq(strlen(v), (size_t)n + 88);
        memset(&b, 0xaa, sizeof(b));
        ck_assert_int_eq(sl__tus_parse_checksum(v, &alg, b.out), SL_EBADREQUEST);
        ck_assert_msg(b.canary[0] == 0xaa && b.canary[1] == 0xaa && b.canary[2] == 0xaa,
                      "\"%s <88 chars%s>\" wrote past out[64]: canary %02x %02x", algs[i / 2],
                      i % 2 ? " ending in ==" : "", b.canary[0], b.canary[1]);
    }
}
END_TEST

/* --- Upload-Concat ----------------------------------------------------------------------- */

static sl_tus_req_t t;

static int concat(const char *v)
{
    free(t.parts);
    memset(&t, 0, sizeof(t));
    return sl__tus_parse_concat(&t, v);
}

static void concat_teardown(void)
{
    free(t.parts);
    memset(&t, 0, sizeof(t));
}

START_TEST(concat_partial_and_final_with_paths_or_urls)
{
    ck_assert_int_eq(concat("partial"), 0);
    ck_assert_int_eq(t.concat, SL_TUS_PARTIAL);
    ck_assert_uint_eq(t.nparts, 0);

    ck_assert_int_eq(concat("final;/uploads/" ID1 " /uploads/" ID2), 0);
    ck_assert_int_eq(t.concat, SL_TUS_FINAL);
    ck_assert_uint_eq(t.nparts, 2);
    ck_assert_str_eq(t.parts[0], ID1);
    ck_assert_str_eq(t.parts[1], ID2);

    ck_assert_int_eq(concat("final;http://h:1/uploads/" ID1), 0);
    ck_assert_uint_eq(t.nparts, 1);
    ck_assert_str_eq(t.parts[0], ID1);

    ck_assert_int_eq(concat("final;https://example.com/base/uploads/" ID2 " /uploads/" ID1), 0);
    ck_assert_uint_eq(t.nparts, 2);
    ck_assert_str_eq(t.parts[0], ID2);
    ck_assert_str_eq(t.parts[1], ID1);
}
END_TEST

START_TEST(concat_of_exactly_64_parts_is_accepted_65_refused)
{
    static char v[80 * 70];
    size_t i, len = (size_t)snprintf(v, sizeof(v), "final;");

    for (i = 0; i < SL_TUS_PARTS_MAX; i++) /* 64 distinct ids */
        len += (size_t)snprintf(v + len, sizeof(v) - len, "%s/uploads/%030zx%02zx", i ? " " : "",
                                (size_t)0, i);
    ck_assert_int_eq(concat(v), 0);
    ck_assert_uint_eq(t.nparts, SL_TUS_PARTS_MAX);
    snprintf(v + len, sizeof(v) - len, " /uploads/%s", ID1);
    ck_assert_int_eq(concat(v), SL_EBADREQUEST);
}
END_TEST

/* A final upload naming one part twice would copy its bytes twice (64 times: a 16 MiB upload
 * becoming 1 GiB): refused. */
START_TEST(concat_naming_a_part_twice_is_refused)
{
    ck_assert_int_eq(concat("final;/uploads/" ID1 " /uploads/" ID2 " /uploads/" ID1),
                     SL_EBADREQUEST);
    ck_assert_int_eq(concat("final;/uploads/" ID1 " http://h/uploads/" ID1), SL_EBADREQUEST);
}
END_TEST

START_TEST(malformed_concat_is_refused)
{
    static const char *const bad[] = {"final;",
                                      "final; ",
                                      "final",
                                      "final;/files/" ID1,
                                      "final;/uploads/" ID1 "/",
                                      "final;/uploads/0123456789ABCDEF0123456789abcdef",
                                      "final;/uploads/0123456789abcdef0123456789abcde",
                                      "final;/uploads/0123456789abcdef0123456789abcdef0",
                                      "final;/uploads/0123456789abcdeg0123456789abcdef",
                                      "final;/uploads/../../0123456789abcdef0123456789",
                                      "final;" ID1,
                                      "final;uploads/" ID1,
                                      "final;/uploads/" ID1 ",/uploads/" ID2,
                                      "final;ftp://h/uploads/" ID1,
                                      "partial;/uploads/" ID1,
                                      "Partial",
                                      "partial ",
                                      "garbage",
                                      ""};
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(concat(bad[i]) == SL_EBADREQUEST, "accepted \"%s\"", bad[i]);
}
END_TEST

Suite *tus_parse_suite(void)
{
    Suite *s = suite_create("tus_parse");
    TCase *tc;

    tc = tcase_create("lengths");
    tcase_add_test(tc, u63_accepts_digits_up_to_2_63_minus_1);
    tcase_add_test(tc, u63_refuses_anything_else);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("metadata");
    tcase_add_test(tc, metadata_of_key_value_pairs_is_valid);
    tcase_add_test(tc, malformed_metadata_is_refused);
    tcase_add_test(tc, metadata_longer_than_8192_bytes_is_refused);
    tcase_add_test(tc, metadata_get_decodes_a_value);
    tcase_add_test(tc, final_name_is_the_last_segment_of_a_valid_filename_else_the_id);
    tcase_add_test(tc, final_name_is_a_valid_relative_path_with_its_folders);
    tcase_add_test(tc, final_name_of_an_over_long_segment_is_the_id);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("checksum");
    tcase_add_test(tc, checksum_of_each_algorithm_decodes_its_digest);
    tcase_add_test(tc, checksum_of_a_wrong_length_or_algorithm_is_refused);
    tcase_add_test(tc, checksum_never_writes_past_its_64_byte_output);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("concat");
    tcase_add_checked_fixture(tc, NULL, concat_teardown);
    tcase_add_test(tc, concat_partial_and_final_with_paths_or_urls);
    tcase_add_test(tc, concat_of_exactly_64_parts_is_accepted_65_refused);
    tcase_add_test(tc, concat_naming_a_part_twice_is_refused);
    tcase_add_test(tc, malformed_concat_is_refused);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
