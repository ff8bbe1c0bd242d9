/* SPDX-License-Identifier: MIT
 *
 * Digest metadata (storage/meta.c): one small JSON record per stored name in ROOT/.sluice/meta,
 * a cache that is believed only while it describes the file as it is (same size, same mtime). A
 * record reads back as written; a record about another size or mtime, a torn record and a removed
 * one read as SL_ENOTFOUND; names of any depth get distinct records. At the end, the file sink:
 * with sl_sink_file_set_digest its commit writes the record that open_read then returns.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "storage/fs.h"
#include "streams/pipeline.h"
#include "streams/xf.h"
#include "support/doubles.h"
#include "support/files.h"

Suite *meta_suite(void);

static char *tmp; /* this test's directory, from tmpdir_new */
static uv_loop_t loop;
static sl_fs_t st;
static int loop_closed;

/* close_loop once: by the test that ran streams, else by the teardown. */
static void finish_loop(void)
{
    close_loop(&loop);
    loop_closed = 1;
}

static void meta_setup(void)
{
    doubles_setup();
    loop_closed = 0;
    tmp = tmpdir_new();
    open_loop(&loop);
    ck_assert_int_eq(sl_fs_open(&st, &loop, tmp, 0), 0);
}

static void meta_teardown(void)
{
    if (!loop_closed)
        finish_loop();
    sl_fs_close(&st);
    tmpdir_remove(tmp);
    tmp = NULL;
}

/* A record whose digest is made from `seed`, so records are told apart. */
static sl_meta_t record(uint64_t size, int64_t mtime_ns, unsigned seed)
{
    sl_meta_t m;
    int i;

    m.size = size;
    m.mtime_ns = mtime_ns;
    m.crc32 = 0xdeadbeefu ^ seed;
    for (i = 0; i < 64; i++)
        m.sha256_hex[i] = "0123456789abcdef"[(seed * 7 + (unsigned)i) % 16];
    m.sha256_hex[64] = '\0';
    return m;
}

/* The path of the record of `name`, as meta.c builds it: .sluice/meta/<sha256(name)>.json. */
static void record_path(const char *name, char *out, size_t cap)
{
    unsigned char h[32];
    unsigned int n = 0;
    int i, len;

    ck_assert_int_eq(EVP_Digest(name, strlen(name), h, &n, EVP_sha256(), NULL), 1);
    len = snprintf(out, cap, "%s/.sluice/meta/", tmp);
    for (i = 0; i < 32; i++)
        len += snprintf(out + len, cap - (size_t)len, "%02x", h[i]);
    snprintf(out + len, cap - (size_t)len, ".json");
}

static int entries(const char *sub, const char *suffix)
{
    char path[4200];
    struct dirent *de;
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "%s/%s", tmp, sub);
    d = opendir(path);
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        n += suffix == NULL ||
             (l >= strlen(suffix) && strcmp(de->d_name + l - strlen(suffix), suffix) == 0);
    }
    closedir(d);
    return n;
}

/* --- records ----------------------------------------------------------------------------- */

START_TEST(a_record_reads_back_as_written)
{
    sl_meta_t m = record(12345, 1700000000123456789ll, 1), r;

    ck_assert_int_eq(sl__meta_write(st.root_fd, "a.txt", &m, 1), 0);
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(sl__meta_read(st.root_fd, "a.txt", 12345, 1700000000123456789ll, &r), 0);
    ck_assert_uint_eq(r.size, m.size);
    ck_assert_int_eq(r.mtime_ns, m.mtime_ns);
    ck_assert_uint_eq(r.crc32, m.crc32);
    ck_assert_str_eq(r.sha256_hex, m.sha256_hex);
    ck_assert_int_eq(entries(".sluice/meta", ".json"), 1);
    ck_assert_int_eq(entries(".sluice/meta", ".tmp"), 0); /* written by rename */
}
END_TEST

START_TEST(a_second_write_replaces_the_record)
{
    sl_meta_t a = record(10, 100, 1), b = record(20, 200, 2), r;

    ck_assert_int_eq(sl__meta_write(st.root_fd, "x", &a, 1), 0);
    ck_assert_int_eq(sl__meta_write(st.root_fd, "x", &b, 2), 0);
    ck_assert_int_eq(sl__meta_read(st.root_fd, "x", 10, 100, &r), SL_ENOTFOUND);
    ck_assert_int_eq(sl__meta_read(st.root_fd, "x", 20, 200, &r), 0);
    ck_assert_str_eq(r.sha256_hex, b.sha256_hex);
    ck_assert_int_eq(entries(".sluice/meta", NULL), 1);
}
END_TEST

START_TEST(a_record_for_another_size_or_mtime_is_enotfound)
{
    sl_meta_t m = record(4096, 1700000000000000001ll, 3), r;

    ck_assert_int_eq(sl__meta_write(st.root_fd, "f", &m, 1), 0);
    ck_assert_int_eq(sl__meta_read(st.root_fd, "f", 4097, 1700000000000000001ll, &r), SL_ENOTFOUND);
    ck_assert_int_eq(sl__meta_read(st.root_fd, "f", 0, 1700000000000000001ll, &r), SL_ENOTFOUND);
    ck_assert_int_eq(sl__meta_read(st.root_fd, "f", 4096, 1700000000000000002ll, &r), SL_ENOTFOUND);
    ck_assert_int_eq(sl__meta_read(st.root_fd, "f", 4096, 1700000000000000000ll, &r),
                     SL_ENOTFOUND); /* nanoseconds count: a rewrite in the same second */
    ck_assert_int_eq(sl__meta_read(st.root_fd, "f", 4096, 1700000000000000001ll, &r), 0);
}
END_TEST

START_TEST(a_missing_record_is_enotfound)
{
    sl_meta_t r;

    ck_assert_int_eq(sl__meta_read(st.root_fd, "never-written", 0, 0, &r), SL_ENOTFOUND);
}
END_TEST

START_TEST(a_torn_record_is_enotfound)
{
    sl_meta_t m = record(777, 1600000000000000000ll, 4), r;
    char path[4200], full[512], bad[512];
    size_t len, cut;
    FILE *fp;
    int accepted[512], nacc = 0, i;
    char list[512] = "";

    ck_assert_int_eq(sl__meta_write(st.root_fd, "torn", &m, 1), 0);
    record_path("torn", path, sizeof(path));
    fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    len = fread(full, 1, sizeof(full), fp);
    fclose(fp);
    ck_assert_uint_gt(len, 100);
    ck_assert_int_eq(full[len - 1], '\n');
    ck_assert_int_eq(full[len - 2], '}');
    /* Every prefix that is not the whole JSON object: the file cut short anywhere. */
    for (cut = 0; cut < len - 1; cut++) {
        write_bytes(path, full, cut);
        if (sl__meta_read(st.root_fd, "torn", 777, 1600000000000000000ll, &r) != SL_ENOTFOUND)
            accepted[nacc++] = (int)cut;
    }
    for (i = 0; i < nacc; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), " %d", accepted[i]);
    ck_assert_msg(nacc == 0, "%d torn prefixes (of %zu bytes) read as a record:%s", nacc, len,
                  list);
    /* A record whose digest is damaged: a non-hex digit, upper case, one digit short. */
    memcpy(bad, full, len);
    bad[len - 10] = 'g';
    write_bytes(path, bad, len);
    ck_assert_int_eq(sl__meta_read(st.root_fd, "torn", 777, 1600000000000000000ll, &r),
                     SL_ENOTFOUND);
    memcpy(bad, full, len);
    bad[len - 10] = 'A';
    write_bytes(path, bad, len);
    ck_assert_int_eq(sl__meta_read(st.root_fd, "torn", 777, 1600000000000000000ll, &r),
                     SL_ENOTFOUND);
    memcpy(bad, full, len - 4);
    memcpy(bad + len - 4, "\"}\n", 3); /* 63 digits */
    write_bytes(path, bad, len - 1);
    ck_assert_int_eq(sl__meta_read(st.root_fd, "torn", 777, 1600000000000000000ll, &r),
                     SL_ENOTFOUND);
    write_bytes(path, full, len); /* and whole again, it reads */
    ck_assert_int_eq(sl__meta_read(st.root_fd, "torn", 777, 1600000000000000000ll, &r), 0);
}
END_TEST

START_TEST(a_removed_record_is_enotfound)
{
    sl_meta_t m = record(1, 2, 5), r;

    ck_assert_int_eq(sl__meta_write(st.root_fd, "gone", &m, 1), 0);
    sl__meta_remove(st.root_fd, "gone");
    ck_assert_int_eq(sl__meta_read(st.root_fd, "gone", 1, 2, &r), SL_ENOTFOUND);
    ck_assert_int_eq(entries(".sluice/meta", NULL), 0);
    sl__meta_remove(st.root_fd, "gone"); /* removing what is not there is harmless */
    sl__meta_remove(st.root_fd, "never-written");
}
END_TEST

START_TEST(names_of_any_depth_map_to_distinct_flat_files)
{
    static char deep[SL_NAME_MAX + 1];
    const char *names[] = {"a", "a/b", "a/b/c", "b", "A", "a b", "a/b/", "ab", deep};
    const size_t n = sizeof(names) / sizeof(names[0]);
    char path[4200];
    struct stat sb;
    sl_meta_t r;
    size_t i, j;

    for (i = 0, j = 0; j + 2 < SL_NAME_MAX; i++) { /* d0/d1/d2/... up to SL_NAME_MAX bytes */
        int w = snprintf(deep + j, sizeof(deep) - j, "d%zu/", i % 10);

        j += (size_t)w;
    }
    deep[j - 1] = 'f';
    for (i = 0; i < n; i++) {
        sl_meta_t m = record(i, (int64_t)i * 1000, (unsigned)i + 10);

        ck_assert_int_eq(sl__meta_write(st.root_fd, names[i], &m, i + 1), 0);
    }
    ck_assert_int_eq(entries(".sluice/meta", ".json"), (int)n);
    ck_assert_int_eq(entries(".sluice/meta", NULL), (int)n);
    for (i = 0; i < n; i++) {
        sl_meta_t want = record(i, (int64_t)i * 1000, (unsigned)i + 10);

        ck_assert_msg(sl__meta_read(st.root_fd, names[i], i, (int64_t)i * 1000, &r) == 0,
                      "record of name %zu", i);
        ck_assert_str_eq(r.sha256_hex, want.sha256_hex);
        record_path(names[i], path, sizeof(path));
        ck_assert_int_eq(stat(path, &sb), 0);
        ck_assert(S_ISREG(sb.st_mode)); /* flat: no directory per segment */
    }
}
END_TEST

START_TEST(a_stale_record_temp_file_is_swept_at_open)
{
    char path[4200];
    sl_meta_t m = record(3, 4, 6), r;

    ck_assert_int_eq(sl__meta_write(st.root_fd, "keep", &m, 1), 0);
    snprintf(path, sizeof(path), "%s/.sluice/meta/2147483646-9.tmp", tmp); /* a dead pid */
    write_bytes(path, "{\"size\":", 8);
    sl_fs_close(&st);
    ck_assert_int_eq(sl_fs_open(&st, &loop, tmp, 0), 0);
    ck_assert_int_eq(entries(".sluice/meta", ".tmp"), 0);
    ck_assert_int_eq(sl__meta_read(st.root_fd, "keep", 3, 4, &r), 0); /* records stay */
}
END_TEST

/* --- the file sink writes the record at commit ------------------------------------------- */

static fake_src_t f;
static sl_xf_digest_t dg;
static sl_sink_file_t fs;
static sl_pipeline_t pl;
static probe_t pp;
static sl_store_job_t job;
static int job_calls;

static void on_job(sl_store_job_t *j)
{
    ck_assert_ptr_eq(j, &job);
    job_calls++;
}

/* Upload `len` pattern bytes as `name` through src -> digest -> sink_file (with the digest
 * recorded when `with_digest`), then open it with a store job. */
static void upload_then_open(const char *name, size_t len, int with_digest)
{
    sl_stream_t *stages[] = {&f.s, &dg.s, &fs.s};

    fake_src_init(&f, &loop, 16384);
    sl_xf_digest_init(&dg, &loop, 16384);
    sl_sink_file_init(&fs, &st, name, 0, 1 << 20);
    if (with_digest)
        sl_sink_file_set_digest(&fs, &dg);
    probe_pipeline(&pp, &pl, "pl");
    ck_assert_int_eq(sl_pipeline_run(&pl, stages, 3, probe_pipeline_cb), 0);
    fake_src_script_pattern(&f, len, 65536, 1);
    fake_src_pump(&f);
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    ck_assert_int_eq(pp.status, 0);
    ck_assert_uint_eq(fs.size, len);
    memset(&job, 0, sizeof(job));
    job_calls = 0;
    ck_assert_int_eq(sl_fs_open_read(&st, &job, name, on_job), 0);
    run_loop(&loop);
    ck_assert_int_eq(job_calls, 1);
    ck_assert_int_eq(job.status, 0);
    close(job.fd);
}

START_TEST(a_commit_with_a_digest_writes_the_record_open_read_returns)
{
    upload_then_open("dir/sub/x.bin", 300000, 1);
    ck_assert_int_eq(job.has_meta, 1);
    ck_assert_uint_eq(job.size, 300000);
    ck_assert_uint_eq(job.meta.size, 300000);
    ck_assert_int_eq(job.meta.mtime_ns, job.mtime_ns);
    ck_assert_int_eq(job.meta.mtime_ns, fs.mtime_ns);
    ck_assert_str_eq(job.meta.sha256_hex, dg.sha256_hex);
    ck_assert_uint_eq(job.meta.crc32, dg.crc32);
    /* the record is an xattr, or a file where the filesystem has none (open_read found it) */
    ck_assert_int_le(entries(".sluice/meta", ".json"), 1);
    ck_assert_int_eq(entries(".sluice/meta", ".tmp"), 0);
    finish_loop();
}
END_TEST

START_TEST(a_commit_without_a_digest_writes_no_record)
{
    upload_then_open("plain.bin", 1000, 0);
    ck_assert_int_eq(job.has_meta, 0);
    ck_assert_int_eq(entries(".sluice/meta", NULL), 0);
    finish_loop();
}
END_TEST

START_TEST(a_file_changed_after_its_commit_has_no_metadata)
{
    char path[4200];
    struct timespec ts[2] = {{0, UTIME_OMIT}, {1500000000, 42}};

    upload_then_open("c.bin", 5000, 1);
    ck_assert_int_eq(job.has_meta, 1);
    snprintf(path, sizeof(path), "%s/c.bin", tmp);
    /* same size, another mtime: the record no longer describes it */
    ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    memset(&job, 0, sizeof(job));
    ck_assert_int_eq(sl_fs_open_read(&st, &job, "c.bin", on_job), 0);
    run_loop(&loop);
    ck_assert_int_eq(job.status, 0);
    ck_assert_int_eq(job.has_meta, 0);
    close(job.fd);
    /* rewritten by hand with another size */
    write_bytes(path, "changed", 7);
    memset(&job, 0, sizeof(job));
    ck_assert_int_eq(sl_fs_open_read(&st, &job, "c.bin", on_job), 0);
    run_loop(&loop);
    ck_assert_int_eq(job.has_meta, 0);
    ck_assert_uint_eq(job.size, 7);
    close(job.fd);
    finish_loop();
}
END_TEST

Suite *meta_suite(void)
{
    Suite *s = suite_create("meta");
    TCase *tc;

    tc = tcase_create("records");
    tcase_add_checked_fixture(tc, meta_setup, meta_teardown);
    tcase_add_test(tc, a_record_reads_back_as_written);
    tcase_add_test(tc, a_second_write_replaces_the_record);
    tcase_add_test(tc, a_record_for_another_size_or_mtime_is_enotfound);
    tcase_add_test(tc, a_missing_record_is_enotfound);
    tcase_add_test(tc, a_torn_record_is_enotfound);
    tcase_add_test(tc, a_removed_record_is_enotfound);
    tcase_add_test(tc, names_of_any_depth_map_to_distinct_flat_files);
    tcase_add_test(tc, a_stale_record_temp_file_is_swept_at_open);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("sink_file");
    tcase_add_checked_fixture(tc, meta_setup, meta_teardown);
    tcase_add_test(tc, a_commit_with_a_digest_writes_the_record_open_read_returns);
    tcase_add_test(tc, a_commit_without_a_digest_writes_no_record);
    tcase_add_test(tc, a_file_changed_after_its_commit_has_no_metadata);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
