/* SPDX-License-Identifier: MIT
 *
 * xf_digest with expected digests (sl_xf_digest_expect) and SHA-512 on request
 * (sl_xf_digest_want), in a pipeline src -> digest -> sink. A body whose digest matches goes
 * through; one that differs fails the pipeline with SL_ECHECKSUM at the end, names the algorithm in
 * failed_alg, and the sink downstream never commits: with a real file sink on a fresh store, the
 * final name never appears and the temp directory is empty afterwards. Reference digests come from
 * OpenSSL's one-shot EVP_Digest.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>
#include <sys/xattr.h>
#include <openssl/evp.h>

#include "storage/fs.h"
#include "streams/pipeline.h"
#include "streams/xf.h"
#include "support/doubles.h"

Suite *digest_expect_suite(void);

static uv_loop_t loop;
static sl_pipeline_t pl;
static probe_t pp;
static fake_src_t f;
static sync_sink_t k;
static sl_xf_digest_t dg;
static sl_fs_t st;
static sl_sink_file_t fs;
static char *tmp;

static void one_shot(const void *data, size_t len, const EVP_MD *md, unsigned char *out)
{
    unsigned int n = 0;

    ck_assert_int_eq(EVP_Digest(data, len, out, &n, md, NULL), 1);
    ck_assert_uint_eq(n, (unsigned)EVP_MD_size(md));
}

static char *make_data(size_t len)
{
    char *p = malloc(len > 0 ? len : 1);

    ck_assert_ptr_nonnull(p);
    pattern_fill(p, len, 0);
    return p;
}

/* Open the loop and the digest; the test sets its expectations, then calls run_to_*. */
static void open_digest(void)
{
    open_loop(&loop);
    fake_src_init(&f, &loop, 16384);
    sl_xf_digest_init(&dg, &loop, 16384);
}

/* src -> dg -> sync sink, fed `data` in pieces of `split`; returns the pipeline status. */
static int run_to_double(const char *data, size_t len, size_t split)
{
    sl_stream_t *stages[] = {&f.s, &dg.s, &k.s};

    sync_sink_init(&k, &loop, 1 << 20, SINK_FINAL);
    probe_pipeline(&pp, &pl, "pl");
    ck_assert_int_eq(sl_pipeline_run(&pl, stages, 3, probe_pipeline_cb), 0);
    fake_src_script_pattern(&f, len, split, 1);
    if (len > 0)
        memcpy(f.script, data, len);
    fake_src_pump(&f);
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    return pp.status;
}

/* src -> dg -> sink_file "out/name.bin" on a fresh store; returns the pipeline status. */
static int run_to_file(const char *data, size_t len, size_t split)
{
    sl_stream_t *stages[] = {&f.s, &dg.s, &fs.s};

    tmp = tmpdir_new();
    ck_assert_int_eq(sl_fs_open(&st, &loop, tmp, 0), 0);
    sl_sink_file_init(&fs, &st, "out/name.bin", 0, 1 << 20);
    sl_sink_file_set_digest(&fs, &dg);
    probe_pipeline(&pp, &pl, "pl");
    ck_assert_int_eq(sl_pipeline_run(&pl, stages, 3, probe_pipeline_cb), 0);
    fake_src_script_pattern(&f, len, split, 1);
    if (len > 0)
        memcpy(f.script, data, len);
    fake_src_pump(&f);
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    return pp.status;
}

static int entries(const char *sub)
{
    char path[4200];
    struct dirent *de;
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "%s/%s", tmp, sub);
    d = opendir(path);
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static int exists(const char *name)
{
    char path[4200];
    struct stat sb;

    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    return lstat(path, &sb) == 0;
}

static void close_store(void)
{
    sl_fs_close(&st);
    tmpdir_remove(tmp);
    tmp = NULL;
}

/* --- matches ----------------------------------------------------------------------------- */

START_TEST(an_expected_sha256_that_matches_lets_the_body_through)
{
    static const size_t splits[] = {1, 1000, 8192, 65536, 100000};
    const size_t len = 100000;
    char *data = make_data(len);
    unsigned char want[32];
    size_t i;

    one_shot(data, len, EVP_sha256(), want);
    for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        open_digest();
        sl_xf_digest_expect(&dg, SL_DIGEST_SHA256, want);
        ck_assert_msg(run_to_double(data, len, splits[i]) == 0, "split %zu: %s", splits[i],
                      sl_err_name(pp.status));
        ck_assert_int_eq(dg.failed_alg, 0);
        ck_assert_mem_eq(dg.sha256, want, 32);
        ck_assert_uint_eq(k.got.len, len);
        ck_assert_mem_eq(k.got.data, data, len);
        ck_assert_int_eq(k.final_calls, 1);
        close_loop(&loop);
    }
    free(data);
}
END_TEST

START_TEST(an_expected_sha256_of_an_empty_body_matches)
{
    unsigned char want[32];

    one_shot("", 0, EVP_sha256(), want);
    open_digest();
    sl_xf_digest_expect(&dg, SL_DIGEST_SHA256, want);
    ck_assert_int_eq(run_to_double("", 0, 1), 0);
    ck_assert_int_eq(k.final_calls, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(sha512_is_computed_when_wanted)
{
    static const size_t splits[] = {1, 777, 8192, 300000};
    const size_t len = 300000;
    char *data = make_data(len);
    unsigned char w256[32], w512[64];
    size_t i;

    one_shot(data, len, EVP_sha256(), w256);
    one_shot(data, len, EVP_sha512(), w512);
    for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        open_digest();
        sl_xf_digest_want(&dg, SL_DIGEST_SHA512);
        sl_xf_digest_want(&dg, SL_DIGEST_SHA512); /* twice is once */
        ck_assert_int_eq(run_to_double(data, len, splits[i]), 0);
        ck_assert_msg(memcmp(dg.sha512, w512, 64) == 0, "split %zu: sha-512 differs", splits[i]);
        ck_assert_mem_eq(dg.sha256, w256, 32); /* SHA-256 is always computed */
        ck_assert_uint_eq(dg.size, len);
        close_loop(&loop);
    }
    free(data);
}
END_TEST

START_TEST(sha512_of_abc_is_the_fips_180_vector)
{
    static const unsigned char abc512[64] = {
        0xdd, 0xaf, 0x35, 0xa1, 0x93, 0x61, 0x7a, 0xba, 0xcc, 0x41, 0x73, 0x49, 0xae,
        0x20, 0x41, 0x31, 0x12, 0xe6, 0xfa, 0x4e, 0x89, 0xa9, 0x7e, 0xa2, 0x0a, 0x9e,
        0xee, 0xe6, 0x4b, 0x55, 0xd3, 0x9a, 0x21, 0x92, 0x99, 0x2a, 0x27, 0x4f, 0xc1,
        0xa8, 0x36, 0xba, 0x3c, 0x23, 0xa3, 0xfe, 0xeb, 0xbd, 0x45, 0x4d, 0x44, 0x23,
        0x64, 0x3c, 0xe8, 0x0e, 0x2a, 0x9a, 0xc9, 0x4f, 0xa5, 0x4c, 0xa4, 0x9f};

    open_digest();
    sl_xf_digest_expect(&dg, SL_DIGEST_SHA512, abc512);
    ck_assert_int_eq(run_to_double("abc", 3, 1), 0);
    ck_assert_mem_eq(dg.sha512, abc512, 64);
    ck_assert_int_eq(dg.failed_alg, 0);
    close_loop(&loop);
}
END_TEST

START_TEST(both_expected_digests_matching_let_the_body_through)
{
    const size_t len = 50000;
    char *data = make_data(len);
    unsigned char w256[32], w512[64];

    one_shot(data, len, EVP_sha256(), w256);
    one_shot(data, len, EVP_sha512(), w512);
    open_digest();
    sl_xf_digest_expect(&dg, SL_DIGEST_SHA256, w256);
    sl_xf_digest_expect(&dg, SL_DIGEST_SHA512, w512);
    ck_assert_int_eq(run_to_double(data, len, 4096), 0);
    ck_assert_int_eq(dg.failed_alg, 0);
    ck_assert_int_eq(k.final_calls, 1);
    close_loop(&loop);
    free(data);
}
END_TEST

/* --- mismatches -------------------------------------------------------------------------- */

START_TEST(a_sha256_mismatch_is_sl_echecksum_and_the_sink_never_commits)
{
    unsigned char want[32];

    one_shot("abd", 3, EVP_sha256(), want);
    open_digest();
    sl_xf_digest_expect(&dg, SL_DIGEST_SHA256, want);
    ck_assert_int_eq(run_to_double("abc", 3, 1), SL_ECHECKSUM);
    ck_assert_int_eq(dg.failed_alg, SL_DIGEST_SHA256);
    ck_assert_int_eq(k.final_calls, 0);
    ck_assert_int_eq(k.d.destroy_err, SL_ECHECKSUM);
    close_loop(&loop);
}
END_TEST

START_TEST(a_sha512_mismatch_names_sha512_even_when_sha256_matches)
{
    const size_t len = 20000;
    char *data = make_data(len);
    unsigned char w256[32], w512[64];

    one_shot(data, len, EVP_sha256(), w256);
    one_shot(data, len, EVP_sha512(), w512);
    w512[63] ^= 1;
    open_digest();
    sl_xf_digest_expect(&dg, SL_DIGEST_SHA256, w256);
    sl_xf_digest_expect(&dg, SL_DIGEST_SHA512, w512);
    ck_assert_int_eq(run_to_double(data, len, 1000), SL_ECHECKSUM);
    ck_assert_int_eq(dg.failed_alg, SL_DIGEST_SHA512);
    ck_assert_int_eq(k.final_calls, 0);
    close_loop(&loop);
    free(data);
}
END_TEST

START_TEST(a_mismatch_of_both_names_one_of_them)
{
    unsigned char w256[32] = {0}, w512[64] = {0};

    open_digest();
    sl_xf_digest_expect(&dg, SL_DIGEST_SHA256, w256);
    sl_xf_digest_expect(&dg, SL_DIGEST_SHA512, w512);
    ck_assert_int_eq(run_to_double("abc", 3, 3), SL_ECHECKSUM);
    ck_assert(dg.failed_alg == SL_DIGEST_SHA256 || dg.failed_alg == SL_DIGEST_SHA512);
    ck_assert_int_eq(k.final_calls, 0);
    close_loop(&loop);
}
END_TEST

START_TEST(an_empty_body_with_a_wrong_digest_is_sl_echecksum)
{
    unsigned char want[32];

    one_shot("x", 1, EVP_sha256(), want);
    open_digest();
    sl_xf_digest_expect(&dg, SL_DIGEST_SHA256, want);
    ck_assert_int_eq(run_to_double("", 0, 1), SL_ECHECKSUM);
    ck_assert_int_eq(k.final_calls, 0);
    close_loop(&loop);
}
END_TEST

/* --- with a real file sink --------------------------------------------------------------- */

START_TEST(a_mismatch_leaves_no_file_behind_a_real_file_sink)
{
    static const size_t splits[] = {65536, 1 << 20, 1000};
    const size_t len = 1 << 20; /* hashed on the thread pool */
    char *data = make_data(len);
    unsigned char want[32];
    size_t i;

    one_shot(data, len, EVP_sha256(), want);
    want[0] ^= 0x80;
    for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        open_digest();
        sl_xf_digest_expect(&dg, SL_DIGEST_SHA256, want);
        ck_assert_int_eq(run_to_file(data, len, splits[i]), SL_ECHECKSUM);
        ck_assert_int_eq(dg.failed_alg, SL_DIGEST_SHA256);
        ck_assert(fs.s.flags & SL_STREAM_CLOSED);
        ck_assert(!(fs.s.flags & SL_STREAM_FINISHED));
        ck_assert_msg(!exists("out/name.bin"), "split %zu: the final name exists", splits[i]);
        ck_assert_int_eq(entries(".sluice/tmp"), 0);
        ck_assert_int_eq(entries(".sluice/meta"), 0);
        close_loop(&loop);
        close_store();
    }
    free(data);
}
END_TEST

START_TEST(a_match_commits_through_a_real_file_sink)
{
    const size_t len = 1 << 20;
    char *data = make_data(len), path[4200], *back = malloc(len);
    unsigned char w256[32], w512[64];
    FILE *fp;

    ck_assert_ptr_nonnull(back);
    one_shot(data, len, EVP_sha256(), w256);
    one_shot(data, len, EVP_sha512(), w512);
    open_digest();
    sl_xf_digest_expect(&dg, SL_DIGEST_SHA256, w256);
    sl_xf_digest_expect(&dg, SL_DIGEST_SHA512, w512);
    ck_assert_int_eq(run_to_file(data, len, 65536), 0);
    ck_assert(fs.s.flags & SL_STREAM_FINISHED);
    ck_assert_uint_eq(fs.size, len);
    snprintf(path, sizeof(path), "%s/out/name.bin", tmp);
    fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fread(back, 1, len, fp), len);
    ck_assert_int_eq(fgetc(fp), EOF);
    fclose(fp);
    ck_assert_mem_eq(back, data, len);
    ck_assert_int_eq(entries(".sluice/tmp"), 0);
    /* set_digest: the record of out/name.bin, an extended attribute of the file, or a file in
     * .sluice/meta where the filesystem has no user xattrs */
    ck_assert_int_eq((getxattr(path, "user.sluice.meta", NULL, 0) > 0) + entries(".sluice/meta"),
                     1);
    close_loop(&loop);
    close_store();
    free(back);
    free(data);
}
END_TEST

Suite *digest_expect_suite(void)
{
    Suite *s = suite_create("digest_expect");
    TCase *tc;

    tc = add_tcase(s, "match");
    tcase_add_test(tc, an_expected_sha256_that_matches_lets_the_body_through);
    tcase_add_test(tc, an_expected_sha256_of_an_empty_body_matches);
    tcase_add_test(tc, sha512_is_computed_when_wanted);
    tcase_add_test(tc, sha512_of_abc_is_the_fips_180_vector);
    tcase_add_test(tc, both_expected_digests_matching_let_the_body_through);

    tc = add_tcase(s, "mismatch");
    tcase_add_test(tc, a_sha256_mismatch_is_sl_echecksum_and_the_sink_never_commits);
    tcase_add_test(tc, a_sha512_mismatch_names_sha512_even_when_sha256_matches);
    tcase_add_test(tc, a_mismatch_of_both_names_one_of_them);
    tcase_add_test(tc, an_empty_body_with_a_wrong_digest_is_sl_echecksum);

    tc = add_tcase(s, "file_sink");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_mismatch_leaves_no_file_behind_a_real_file_sink);
    tcase_add_test(tc, a_match_commits_through_a_real_file_sink);
    return s;
}
