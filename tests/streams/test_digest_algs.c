/* SPDX-License-Identifier: MIT
 *
 * xf_digest's algorithms for tus checksums (streams/xf_digest.c): SHA-1 and MD5 as the second
 * digest (sl_xf_digest_want), computed over random bodies split into many writes (inline and on
 * the thread pool) and compared with OpenSSL's one-shot EVP_Digest and zlib's crc32; expected
 * SHA-1, MD5 and crc32 (4 bytes, big-endian) values pass when right and fail the pipeline with
 * SL_ECHECKSUM naming the algorithm when wrong; one second digest at most; and an expectation set
 * after the body went through but before its end (a trailer) still applies. Pipelines are
 * src -> digest -> sync sink, as in test_digest_expect.c.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <zlib.h>

#include "streams/pipeline.h"
#include "streams/xf.h"
#include "support/doubles.h"

Suite *digest_algs_suite(void);

static uv_loop_t loop;
static sl_pipeline_t pl;
static probe_t pp;
static fake_src_t f;
static sync_sink_t k;
static sl_xf_digest_t dg;

static const struct {
    int alg;
    const char *name;
} algs[] = {{SL_DIGEST_SHA1, "sha1"}, {SL_DIGEST_MD5, "md5"}, {SL_DIGEST_CRC32, "crc32"}};

static char *random_data(size_t len)
{
    char *p = malloc(len > 0 ? len : 1);

    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(RAND_bytes((unsigned char *)p, (int)len), 1);
    return p;
}

/* The reference digest of data for alg into out (sl_digest_len(alg) bytes). */
static void reference(int alg, const void *data, size_t len, unsigned char *out)
{
    unsigned int n = 0;

    if (alg == SL_DIGEST_CRC32) {
        uLong c = crc32_z(crc32_z(0, NULL, 0), data, len);
        out[0] = (unsigned char)(c >> 24);
        out[1] = (unsigned char)(c >> 16);
        out[2] = (unsigned char)(c >> 8);
        out[3] = (unsigned char)c;
        return;
    }
    ck_assert_int_eq(EVP_Digest(data, len, out, &n,
                                alg == SL_DIGEST_SHA1     ? EVP_sha1()
                                : alg == SL_DIGEST_MD5    ? EVP_md5()
                                : alg == SL_DIGEST_SHA256 ? EVP_sha256()
                                                          : EVP_sha512(),
                                NULL),
                     1);
    ck_assert_uint_eq(n, sl_digest_len(alg));
}

static void open_digest(void)
{
    open_loop(&loop);
    fake_src_init(&f, &loop, 16384);
    sl_xf_digest_init(&dg, &loop, 16384);
}

/* Start src -> dg -> sync sink and feed `data` in pieces of `split`, then EOF if eof. */
static void start(const char *data, size_t len, size_t split, int eof)
{
    sl_stream_t *stages[] = {&f.s, &dg.s, &k.s};

    sync_sink_init(&k, &loop, 1 << 20, SINK_FINAL);
    probe_pipeline(&pp, &pl, "pl");
    ck_assert_int_eq(sl_pipeline_run(&pl, stages, 3, probe_pipeline_cb), 0);
    fake_src_script_pattern(&f, len, split, eof);
    if (len > 0)
        memcpy(f.script, data, len);
    fake_src_pump(&f);
    run_loop(&loop);
}

/* The whole body through the pipeline; returns its status. */
static int run_body(const char *data, size_t len, size_t split)
{
    start(data, len, split, 1);
    ck_assert_int_eq(pp.cb, 1);
    return pp.status;
}

/* The second digest dg computed (the union member for its algorithm). */
static const unsigned char *second(int alg)
{
    return alg == SL_DIGEST_SHA1 ? dg.sha1 : alg == SL_DIGEST_MD5 ? dg.md5 : dg.sha512;
}

/* --- lengths ----------------------------------------------------------------------------- */

START_TEST(digest_lengths)
{
    ck_assert_uint_eq(sl_digest_len(SL_DIGEST_SHA256), 32);
    ck_assert_uint_eq(sl_digest_len(SL_DIGEST_SHA512), 64);
    ck_assert_uint_eq(sl_digest_len(SL_DIGEST_SHA1), 20);
    ck_assert_uint_eq(sl_digest_len(SL_DIGEST_MD5), 16);
    ck_assert_uint_eq(sl_digest_len(SL_DIGEST_CRC32), 4);
}
END_TEST

/* --- computed when wanted ---------------------------------------------------------------- */

/* _i: 0 SHA-1, 1 MD5. */
START_TEST(a_wanted_digest_matches_the_one_shot_digest)
{
    static const size_t splits[] = {1, 777, 8191, 8192, 65536, 300000};
    const size_t len = 300000;
    const int alg = algs[_i].alg;
    char *data = random_data(len);
    unsigned char want[20], w256[32], wcrc[4];
    size_t i;

    reference(alg, data, len, want);
    reference(SL_DIGEST_SHA256, data, len, w256);
    reference(SL_DIGEST_CRC32, data, len, wcrc);
    for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        open_digest();
        ck_assert_int_eq(sl_xf_digest_want(&dg, alg), 0);
        ck_assert_int_eq(sl_xf_digest_want(&dg, alg), 0); /* twice is once */
        ck_assert_int_eq(run_body(data, len, splits[i]), 0);
        ck_assert_msg(memcmp(second(alg), want, sl_digest_len(alg)) == 0, "%s, split %zu: differs",
                      algs[_i].name, splits[i]);
        ck_assert_mem_eq(dg.sha256, w256, 32); /* always computed */
        ck_assert_uint_eq(dg.crc32, (uint32_t)wcrc[0] << 24 | (uint32_t)wcrc[1] << 16 |
                                        (uint32_t)wcrc[2] << 8 | wcrc[3]);
        ck_assert_uint_eq(dg.size, len);
        ck_assert_uint_eq(k.got.len, len);
        ck_assert_mem_eq(k.got.data, data, len);
        close_loop(&loop);
    }
    free(data);
}
END_TEST

START_TEST(sha1_and_md5_of_abc_are_the_known_vectors)
{
    static const unsigned char sha1[20] = {0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81,
                                           0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
                                           0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d};
    static const unsigned char md5[16] = {0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0,
                                          0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1, 0x7f, 0x72};
    static const unsigned char crc[4] = {0x35, 0x24, 0x41, 0xc2};

    open_digest();
    ck_assert_int_eq(sl_xf_digest_expect(&dg, SL_DIGEST_SHA1, sha1), 0);
    ck_assert_int_eq(sl_xf_digest_expect(&dg, SL_DIGEST_CRC32, crc), 0);
    ck_assert_int_eq(run_body("abc", 3, 1), 0);
    ck_assert_mem_eq(dg.sha1, sha1, 20);
    ck_assert_uint_eq(dg.crc32, 0x352441c2u);
    close_loop(&loop);

    open_digest();
    ck_assert_int_eq(sl_xf_digest_expect(&dg, SL_DIGEST_MD5, md5), 0);
    ck_assert_int_eq(run_body("abc", 3, 2), 0);
    ck_assert_mem_eq(dg.md5, md5, 16);
    close_loop(&loop);
}
END_TEST

/* --- expectations ------------------------------------------------------------------------ */

/* _i: 0 SHA-1, 1 MD5, 2 crc32; over an inline-hashed and a pool-hashed body. */
START_TEST(a_right_expectation_lets_the_body_through)
{
    static const size_t lens[] = {1000, 200000};
    const int alg = algs[_i].alg;
    unsigned char want[20];
    size_t i;

    for (i = 0; i < 2; i++) {
        char *data = random_data(lens[i]);

        reference(alg, data, lens[i], want);
        open_digest();
        ck_assert_int_eq(sl_xf_digest_expect(&dg, alg, want), 0);
        ck_assert_msg(run_body(data, lens[i], 4096) == 0, "%s, %zu bytes: %s", algs[_i].name,
                      lens[i], sl_err_name(pp.status));
        ck_assert_int_eq(dg.failed_alg, 0);
        ck_assert_int_eq(k.final_calls, 1);
        ck_assert_uint_eq(k.got.len, lens[i]);
        close_loop(&loop);
        free(data);
    }
}
END_TEST

/* _i: 0 SHA-1, 1 MD5, 2 crc32; the expected value off by one bit, first or last byte. */
START_TEST(a_wrong_expectation_is_sl_echecksum_naming_the_algorithm)
{
    const int alg = algs[_i].alg;
    const size_t len = 50000;
    char *data = random_data(len);
    unsigned char want[20];
    int j;

    for (j = 0; j < 2; j++) {
        reference(alg, data, len, want);
        want[j ? sl_digest_len(alg) - 1 : 0] ^= 1;
        open_digest();
        ck_assert_int_eq(sl_xf_digest_expect(&dg, alg, want), 0);
        ck_assert_int_eq(run_body(data, len, 1000), SL_ECHECKSUM);
        ck_assert_int_eq(dg.failed_alg, alg);
        ck_assert_int_eq(k.final_calls, 0); /* nothing downstream commits */
        ck_assert_int_eq(k.d.destroy_err, SL_ECHECKSUM);
        close_loop(&loop);
    }
    free(data);
}
END_TEST

START_TEST(crc32_is_read_big_endian)
{
    unsigned char want[4], swapped[4];
    int i;

    reference(SL_DIGEST_CRC32, "hello world", 11, want);
    for (i = 0; i < 4; i++)
        swapped[i] = want[3 - i];
    open_digest();
    ck_assert_int_eq(sl_xf_digest_expect(&dg, SL_DIGEST_CRC32, swapped), 0);
    ck_assert_int_eq(run_body("hello world", 11, 3), SL_ECHECKSUM);
    ck_assert_int_eq(dg.failed_alg, SL_DIGEST_CRC32);
    close_loop(&loop);
}
END_TEST

START_TEST(a_second_extra_algorithm_is_sl_eunsupported)
{
    const size_t len = 20000;
    char *data = random_data(len);
    unsigned char sha1[20], md5[16] = {0}, sha512[64] = {0};

    reference(SL_DIGEST_SHA1, data, len, sha1);
    open_digest();
    ck_assert_int_eq(sl_xf_digest_want(&dg, SL_DIGEST_SHA1), 0);
    ck_assert_int_eq(sl_xf_digest_want(&dg, SL_DIGEST_MD5), SL_EUNSUPPORTED);
    ck_assert_int_eq(sl_xf_digest_want(&dg, SL_DIGEST_SHA512), SL_EUNSUPPORTED);
    ck_assert_int_eq(sl_xf_digest_expect(&dg, SL_DIGEST_MD5, md5), SL_EUNSUPPORTED);
    ck_assert_int_eq(sl_xf_digest_expect(&dg, SL_DIGEST_SHA512, sha512), SL_EUNSUPPORTED);
    /* SHA-256 and crc32 are always computed: never a second digest. */
    ck_assert_int_eq(sl_xf_digest_want(&dg, SL_DIGEST_SHA256), 0);
    ck_assert_int_eq(sl_xf_digest_want(&dg, SL_DIGEST_CRC32), 0);
    ck_assert_int_eq(sl_xf_digest_expect(&dg, SL_DIGEST_SHA1, sha1), 0);
    /* The refused expectations are not checked; SHA-1 still is, and is right. */
    ck_assert_int_eq(run_body(data, len, 3000), 0);
    ck_assert_int_eq(dg.failed_alg, 0);
    ck_assert_mem_eq(dg.sha1, sha1, 20);
    close_loop(&loop);

    open_digest();
    ck_assert_int_eq(sl_xf_digest_expect(&dg, SL_DIGEST_MD5, md5), 0);
    ck_assert_int_eq(sl_xf_digest_want(&dg, SL_DIGEST_SHA1), SL_EUNSUPPORTED);
    ck_assert_int_eq(run_body(data, len, 3000), SL_ECHECKSUM); /* md5 of zeros: wrong */
    ck_assert_int_eq(dg.failed_alg, SL_DIGEST_MD5);
    close_loop(&loop);
    free(data);
}
END_TEST

/* --- late expectations (trailers) -------------------------------------------------------- */

/* The body goes through, then the expectation arrives, then the end. The server wants the second
 * digest up front (before any write) when a trailer will name it.
 * _i: 0 SHA-1 right, 1 SHA-1 wrong, 2 crc32 right, 3 crc32 wrong, 4 SHA-256 wrong, 5 MD5 right. */
START_TEST(an_expectation_set_after_the_body_before_the_end_applies)
{
    static const int alg_of[] = {SL_DIGEST_SHA1,  SL_DIGEST_SHA1,   SL_DIGEST_CRC32,
                                 SL_DIGEST_CRC32, SL_DIGEST_SHA256, SL_DIGEST_MD5};
    const int alg = alg_of[_i], wrong = _i == 1 || _i == 3 || _i == 4;
    const size_t len = 100000;
    char *data = random_data(len);
    unsigned char want[32];

    reference(alg, data, len, want);
    if (wrong)
        want[2] ^= 0x40;
    open_digest();
    ck_assert_int_eq(sl_xf_digest_want(&dg, alg == SL_DIGEST_MD5 ? alg : SL_DIGEST_SHA1), 0);
    start(data, len, 8192, 0); /* no end yet */
    ck_assert_int_eq(pp.cb, 0);
    ck_assert_uint_eq(k.got.len, len); /* every byte is through the digest */
    ck_assert_uint_eq(dg.size, len);
    ck_assert_int_eq(sl_xf_digest_expect(&dg, alg, want), 0);
    fake_src_eof(&f);
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    ck_assert_msg(pp.status == (wrong ? SL_ECHECKSUM : 0), "case %d: %s", _i,
                  sl_err_name(pp.status));
    ck_assert_int_eq(dg.failed_alg, wrong ? alg : 0);
    ck_assert_int_eq(k.final_calls, wrong ? 0 : 1);
    close_loop(&loop);
    free(data);
}
END_TEST

Suite *digest_algs_suite(void)
{
    Suite *s = suite_create("digest_algs");
    TCase *tc;

    tc = add_tcase(s, "computed");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, digest_lengths);
    tcase_add_loop_test(tc, a_wanted_digest_matches_the_one_shot_digest, 0, 2);
    tcase_add_test(tc, sha1_and_md5_of_abc_are_the_known_vectors);

    tc = add_tcase(s, "expect");
    tcase_add_loop_test(tc, a_right_expectation_lets_the_body_through, 0, 3);
    tcase_add_loop_test(tc, a_wrong_expectation_is_sl_echecksum_naming_the_algorithm, 0, 3);
    tcase_add_test(tc, crc32_is_read_big_endian);
    tcase_add_test(tc, a_second_extra_algorithm_is_sl_eunsupported);

    tc = add_tcase(s, "trailer");
    tcase_add_loop_test(tc, an_expectation_set_after_the_body_before_the_end_applies, 0, 6);
    return s;
}
