/* SPDX-License-Identifier: MIT
 *
 * Resumable uploads on disk (storage/tus.c): ids, the record's line format read back as written
 * and every damaged or torn record refused, then each job on a real loop over a fresh store:
 * create/load/save keep the offset truthful (never past the data file), commit publishes without
 * ever replacing a file, concat assembles complete partials only, remove and the expiry scan act on
 * expired records only, and the start-up sweep removes a dead writer's record temp file but never
 * an upload. Last, the append sink a PATCH streams into: it cuts the tail past its offset and its
 * destroy never removes the data file.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/fs.h"
#include "storage/fs.h"
#include "support/doubles.h"
#include "support/files.h"

Suite *tus_suite(void);

#define ID_A "0123456789abcdef0123456789abcdef"
#define DEAD_PID 4000000L

static char *tmp; /* this test's directory (ROOT), from tmpdir_new */
static uv_loop_t loop;
static sl_fs_t st;
static sl_tus_job_t job;
static int job_calls;

static void tus_setup(void)
{
    doubles_setup();
    tmp = tmpdir_new();
    open_loop(&loop);
    ck_assert_int_eq(sl_fs_open(&st, &loop, tmp, 1), 0);
    memset(&job, 0, sizeof(job));
    job_calls = 0;
}

static void tus_teardown(void)
{
    close_loop(&loop);
    sl_fs_close(&st);
    tmpdir_remove(tmp);
    tmp = NULL;
}

static void on_job(sl_tus_job_t *j)
{
    ck_assert_ptr_eq(j, &job);
    job_calls++;
}

/* Run the job just started (r: the start's return) until its callback; returns job.status. */
static int run_job(int r)
{
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(job_calls, 0); /* never inside the call that started it */
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(job_calls, 1);
    job_calls = 0;
    return job.status;
}

static void new_info(sl_tus_info_t *i, int64_t length)
{
    memset(i, 0, sizeof(*i));
    sl_name_random(i->id);
    i->length = length;
}

/* ROOT/.sluice/tus/<id>.<ext> into out[4200]. */
static char *tus_path(const char *id, const char *ext, char *out)
{
    snprintf(out, 4200, "%s/.sluice/tus/%s.%s", tmp, id, ext);
    return out;
}

static long size_of(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static int has(const char *id, const char *ext)
{
    char p[4200];

    return size_of(tus_path(id, ext, p)) >= 0;
}

/* An upload with `data` received and recorded (offset = strlen(data)) of `length`. */
static void make_upload(sl_tus_info_t *i, int concat, int64_t length, const char *data)
{
    char p[4200];

    new_info(i, length);
    i->concat = concat;
    ck_assert_int_eq(run_job(sl_fs_tus_create(&st, &job, i, on_job)), 0);
    write_bytes(tus_path(i->id, "data", p), data, strlen(data));
    i->offset = strlen(data);
    ck_assert_int_eq(run_job(sl_fs_tus_save(&st, &job, i, 1, on_job)), 0);
}

static void new_final(sl_tus_info_t *i)
{
    new_info(i, -1);
    i->concat = SL_TUS_FINAL;
}

static int entries(const char *sub)
{
    char path[4200];
    struct dirent *de;
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "%s/%s", tmp, sub);
    d = opendir(path);
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* --- ids --------------------------------------------------------------------------------- */

START_TEST(id_is_32_lowercase_hex_digits_only)
{
    ck_assert_int_eq(sl_tus_id_valid(ID_A), 1);
    ck_assert_int_eq(sl_tus_id_valid("ffffffffffffffffffffffffffffffff"), 1);
    ck_assert_int_eq(sl_tus_id_valid("0123456789ABCDEF0123456789abcdef"), 0);
    ck_assert_int_eq(sl_tus_id_valid("0123456789abcdef0123456789abcde"), 0);   /* 31 */
    ck_assert_int_eq(sl_tus_id_valid("0123456789abcdef0123456789abcdef0"), 0); /* 33 */
    ck_assert_int_eq(sl_tus_id_valid("0123456789abcdeg0123456789abcdef"), 0);
    ck_assert_int_eq(sl_tus_id_valid("0123456789abcdef0123456789abcde "), 0);
    ck_assert_int_eq(sl_tus_id_valid("../"), 0);
    ck_assert_int_eq(sl_tus_id_valid("../456789abcdef0123456789abcdef"), 0);
    ck_assert_int_eq(sl_tus_id_valid("0123456789abcdef/../56789abcdef"), 0);
    ck_assert_int_eq(sl_tus_id_valid(""), 0);
}
END_TEST

/* --- the record format ------------------------------------------------------------------- */

#define S(x) ((x) != NULL ? (x) : "")
#define ID_F "ffffffffffffffffffffffffffffffff"

/* Round-trip variants: plain, partial, final with parts, deferred length, metadata, the largest
 * length a client may send, committed. */
static const struct {
    uint64_t offset;
    int64_t length, expires;
    int concat;
    const char *metadata, *parts, *file;
} variants[] = {
    {0, 100, 0, SL_TUS_PLAIN, "", "", ""},
    {50, 50, 1700000000, SL_TUS_PARTIAL, "", "", ""},
    {9223372036854775, 9223372036854775, 0, SL_TUS_FINAL, "", ID_A " " ID_F, ""},
    {7, -1, 0, SL_TUS_PLAIN, "", "", ""},
    {3, 100, 0, SL_TUS_PLAIN, "filename aGVsbG8=,is_private,k d29ybGQ=", "", ""},
    {1, INT64_MAX, 0, SL_TUS_PLAIN, "", "", ""},
    {100, 100, 0, SL_TUS_PLAIN, "", "", "dir/sub/name with space.txt"},
};

START_TEST(a_record_reads_back_as_written)
{
    static char buf[16384];
    static sl_tus_info_t in, out;
    int n;

    memset(&in, 0, sizeof(in));
    in.offset = variants[_i].offset;
    in.length = variants[_i].length;
    in.expires = variants[_i].expires;
    in.concat = variants[_i].concat;
    sl_tus_info_set(&in.metadata, variants[_i].metadata);
    sl_tus_info_set(&in.parts, variants[_i].parts);
    sl_tus_info_set(&in.file, variants[_i].file);
    n = sl_tus_format(&in, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq((size_t)n, strlen(buf));
    ck_assert_msg(strncmp(buf, "sluice-tus 1\n", 13) == 0, "record: %s", buf);
    memset(&out, 0, sizeof(out)); /* its strings are owned: start from none */
    memcpy(out.id, "kept", 5);
    ck_assert_msg(sl_tus_parse(buf, (size_t)n, &out) == 0, "variant %d: %s", _i, buf);
    ck_assert_str_eq(out.id, "kept"); /* the id is left alone */
    ck_assert_uint_eq(out.offset, in.offset);
    ck_assert_int_eq(out.length, in.length);
    ck_assert_int_eq(out.expires, in.expires);
    ck_assert_int_eq(out.concat, in.concat);
    ck_assert_str_eq(S(out.metadata), in.metadata); /* "" is written as no line: NULL */
    ck_assert_str_eq(S(out.parts), in.parts);
    ck_assert_str_eq(S(out.file), in.file);
    sl_tus_info_clear(&in);
    sl_tus_info_clear(&out);
}
END_TEST

static const char *const bad_records[] = {
    "sluice-tus 1\noffset 0\nlength 10",             /* torn: no trailing newline */
    "sluice-tus 1\noffset 0\nlength 10\nfile a.txt", /* torn in the last line */
    "sluice-tus 1\nlength 10\n",                     /* no offset */
    "sluice-tus 1\noffset 0\n",                      /* no length */
    "sluice-tus 1\n",
    "",
    "sluice-tus 2\noffset 0\nlength 10\n",
    "sluice-tus 10\noffset 0\nlength 10\n",
    "sluice-tux 1\noffset 0\nlength 10\n",
    "offset 0\nlength 10\n",
    "offset 0\nsluice-tus 1\nlength 10\n",
    "sluice-tus 1\noffset 11\nlength 10\n", /* offset past the length */
    "sluice-tus 1\noffset -1\nlength 10\n",
    "sluice-tus 1\noffset -1\nlength -1\n",
    "sluice-tus 1\noffset 1a\nlength 10\n",
    "sluice-tus 1\noffset +1\nlength 10\n",
    "sluice-tus 1\noffset  1\nlength 10\n",
    "sluice-tus 1\noffset \nlength 10\n",
    "sluice-tus 1\noffset -\nlength 10\n",
    "sluice-tus 1\noffset 0\nlength ten\n",
    "sluice-tus 1\noffset 0\nlength -2\n",
    "sluice-tus 1\noffset 0\nlength 10\nexpires 1x\n",
    "sluice-tus 1\noffset 0\nlength 99999999999999999999\n",
    "sluice-tus 1\noffset 0\nlength 10\nconcat bogus\n",
    "sluice-tus 1\noffset 0\nlength 10\nbroken\n", /* a line without a value */
};

START_TEST(a_damaged_record_is_refused)
{
    const char *t = bad_records[_i];
    static sl_tus_info_t out;

    ck_assert_msg(sl_tus_parse(t, strlen(t), &out) == SL_EBADREQUEST, "accepted: \"%s\"", t);
}
END_TEST

START_TEST(metadata_longer_than_the_maximum_is_refused)
{
    static char rec[SL_TUS_METADATA_MAX + 128];
    static sl_tus_info_t out;
    int n;

    for (n = 0; n < 2; n++) { /* exactly the maximum, then one byte more */
        size_t len, mlen = SL_TUS_METADATA_MAX + (size_t)n;

        len = (size_t)sprintf(rec, "sluice-tus 1\noffset 0\nlength 1\nmetadata ");
        memset(rec + len, 'a', mlen);
        len += mlen;
        rec[len++] = '\n';
        ck_assert_int_eq(sl_tus_parse(rec, len, &out), n == 0 ? 0 : SL_EBADREQUEST);
        if (n == 0)
            ck_assert_uint_eq(strlen(out.metadata), SL_TUS_METADATA_MAX);
    }
}
END_TEST

START_TEST(unknown_keys_are_ignored)
{
    static const char rec[] = "sluice-tus 1\nfuture-key some value\noffset 3\nlength 10\n"
                              "x y z\nexpires 5\n";
    static sl_tus_info_t out;

    ck_assert_int_eq(sl_tus_parse(rec, sizeof(rec) - 1, &out), 0);
    ck_assert_uint_eq(out.offset, 3);
    ck_assert_int_eq(out.length, 10);
    ck_assert_int_eq(out.expires, 5);
    ck_assert_int_eq(out.concat, SL_TUS_PLAIN);
}
END_TEST

START_TEST(the_expected_repr_digest_reads_back_and_is_looked_up_by_algorithm)
{
    static const char bad[][96] = {
        "sluice-tus 1\noffset 0\nlength 1\nrepr SHA-256=AB\n",     /* not as written: lowercase */
        "sluice-tus 1\noffset 0\nlength 1\nrepr sha-256=:q80=:\n", /* base64, not hex */
        "sluice-tus 1\noffset 0\nlength 1\nrepr sha-256 ab\n",
    };
    static char buf[1024];
    static sl_tus_info_t in, out;
    char hex[129];
    size_t i;
    int n;

    memset(&in, 0, sizeof(in));
    in.length = 5;
    sl_tus_info_set(&in.repr, "sha-256=" ID_A ID_F ",sha-512=00ff");
    n = sl_tus_format(&in, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    memset(&out, 0, sizeof(out));
    ck_assert_int_eq(sl_tus_parse(buf, (size_t)n, &out), 0);
    ck_assert_str_eq(S(out.repr), in.repr);
    ck_assert_int_eq(sl_tus_repr_get(out.repr, "sha-256", hex, sizeof(hex)), 0);
    ck_assert_str_eq(hex, ID_A ID_F);
    ck_assert_int_eq(sl_tus_repr_get(out.repr, "sha-512", hex, sizeof(hex)), 0);
    ck_assert_str_eq(hex, "00ff");
    ck_assert_int_eq(sl_tus_repr_get(out.repr, "sha-384", hex, sizeof(hex)), -1);
    ck_assert_int_eq(sl_tus_repr_get(out.repr, "sha-256", hex, 64), -1); /* does not fit */
    ck_assert_int_eq(sl_tus_repr_get(NULL, "sha-256", hex, sizeof(hex)), -1);
    ck_assert_int_eq(sl_tus_repr_get("sha-2560=ab", "sha-256", hex, sizeof(hex)), -1);
    sl_tus_info_clear(&in);
    sl_tus_info_clear(&out);
    ck_assert_ptr_null(out.repr);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(sl_tus_parse(bad[i], strlen(bad[i]), &out) == SL_EBADREQUEST, "accepted: %s",
                      bad[i]);
}
END_TEST

/* --- create, load, save ------------------------------------------------------------------ */

START_TEST(create_then_load_gives_offset_zero_and_both_files)
{
    static sl_tus_info_t in, out;
    char p[4200];

    new_info(&in, 100);
    in.expires = 4102444800;
    sl_tus_info_set(&in.metadata, "filename aGVsbG8=");
    ck_assert_int_eq(run_job(sl_fs_tus_create(&st, &job, &in, on_job)), 0);
    ck_assert_int_eq(size_of(tus_path(in.id, "data", p)), 0);
    ck_assert_int_gt(size_of(tus_path(in.id, "info", p)), 0);
    memset(&out, 0, sizeof(out));
    ck_assert_int_eq(run_job(sl_fs_tus_load(&st, &job, in.id, &out, on_job)), 0);
    ck_assert_str_eq(out.id, in.id);
    ck_assert_uint_eq(out.offset, 0);
    ck_assert_int_eq(out.length, 100);
    ck_assert_int_eq(out.expires, 4102444800);
    ck_assert_str_eq(out.metadata, "filename aGVsbG8=");
    ck_assert_ptr_null(out.file);
    ck_assert_int_eq(entries(".sluice/tus"), 2); /* no temp file left */
}
END_TEST

START_TEST(save_records_the_offset_that_load_returns)
{
    static sl_tus_info_t in, out;

    make_upload(&in, SL_TUS_PLAIN, 100, "0123456789012345678901234567890123456789");
    ck_assert_int_eq(run_job(sl_fs_tus_load(&st, &job, in.id, &out, on_job)), 0);
    ck_assert_uint_eq(out.offset, 40);
    ck_assert_int_eq(out.length, 100);
    in.offset = 25; /* save without flush works too */
    ck_assert_int_eq(run_job(sl_fs_tus_save(&st, &job, &in, 0, on_job)), 0);
    ck_assert_int_eq(run_job(sl_fs_tus_load(&st, &job, in.id, &out, on_job)), 0);
    ck_assert_uint_eq(out.offset, 25);
    ck_assert_int_eq(entries(".sluice/tus"), 2);
}
END_TEST

START_TEST(an_offset_past_the_data_file_loads_as_the_file_size)
{
    static sl_tus_info_t in, out;

    make_upload(&in, SL_TUS_PLAIN, 100, "0123456789");
    in.offset = 30; /* a record that promises bytes the data file does not have */
    ck_assert_int_eq(run_job(sl_fs_tus_save(&st, &job, &in, 0, on_job)), 0);
    ck_assert_int_eq(run_job(sl_fs_tus_load(&st, &job, in.id, &out, on_job)), 0);
    ck_assert_uint_eq(out.offset, 10);
}
END_TEST

START_TEST(load_of_a_missing_or_damaged_upload_is_enotfound)
{
    static sl_tus_info_t in, out;
    char p[4200];

    ck_assert_int_eq(run_job(sl_fs_tus_load(&st, &job, ID_A, &out, on_job)), SL_ENOTFOUND);
    make_upload(&in, SL_TUS_PLAIN, 10, "abc");
    write_bytes(tus_path(in.id, "info", p), "sluice-tus 1\noffset 3\nlen", 25); /* torn */
    ck_assert_int_eq(run_job(sl_fs_tus_load(&st, &job, in.id, &out, on_job)), SL_ENOTFOUND);
    make_upload(&in, SL_TUS_PLAIN, 10, "abc");
    ck_assert_int_eq(unlink(tus_path(in.id, "data", p)), 0); /* a record without its data */
    ck_assert_int_eq(run_job(sl_fs_tus_load(&st, &job, in.id, &out, on_job)), SL_ENOTFOUND);
}
END_TEST

/* --- commit ------------------------------------------------------------------------------ */

START_TEST(commit_publishes_the_data_under_the_name)
{
    static sl_tus_info_t a, b, out;
    char buf[64], name[128];

    make_upload(&a, SL_TUS_PLAIN, 11, "hello world");
    ck_assert_int_eq(run_job(sl_fs_tus_commit(&st, &job, &a, "out.txt", on_job)), 0);
    ck_assert_str_eq(a.file, "out.txt");
    ck_assert_int_eq(slurp(tmp, "out.txt", buf, sizeof(buf)), 11);
    ck_assert_str_eq(buf, "hello world");
    ck_assert(!has(a.id, "data"));
    ck_assert_int_eq(run_job(sl_fs_tus_load(&st, &job, a.id, &out, on_job)), 0);
    ck_assert_str_eq(out.file, "out.txt");
    ck_assert_uint_eq(out.offset, 11);

    /* Another upload to the same name lands under its id and never replaces the first. */
    make_upload(&b, SL_TUS_PLAIN, 5, "HELLO");
    ck_assert_int_eq(run_job(sl_fs_tus_commit(&st, &job, &b, "out.txt", on_job)), 0);
    snprintf(name, sizeof(name), "%s/out.txt", b.id);
    ck_assert_str_eq(b.file, name);
    ck_assert_int_eq(slurp(tmp, "out.txt", buf, sizeof(buf)), 11);
    ck_assert_str_eq(buf, "hello world");
    ck_assert_int_eq(slurp(tmp, name, buf, sizeof(buf)), 5);
    ck_assert_str_eq(buf, "HELLO");
    ck_assert(!has(b.id, "data"));
    ck_assert_int_eq(run_job(sl_fs_tus_load(&st, &job, b.id, &out, on_job)), 0);
    ck_assert_str_eq(out.file, name);
}
END_TEST

/* --- concat ------------------------------------------------------------------------------ */

START_TEST(concat_of_complete_partials_publishes_their_bytes_and_removes_them)
{
    static sl_tus_info_t p1, p2, fin, out;
    char parts[2][33], buf[64];

    make_upload(&p1, SL_TUS_PARTIAL, 3, "abc");
    make_upload(&p2, SL_TUS_PARTIAL, 5, "defgh");
    memcpy(parts[0], p1.id, 33);
    memcpy(parts[1], p2.id, 33);
    new_final(&fin);
    {
        char pb[2 * SL_TUS_ID_LEN + 2];
        snprintf(pb, sizeof(pb), "%s %s", p1.id, p2.id);
        sl_tus_info_set(&fin.parts, pb);
    }
    ck_assert_int_eq(run_job(sl_fs_tus_concat(&st, &job, &fin, parts, 2, 0, "joined.bin", on_job)),
                     0);
    ck_assert_uint_eq(job.size, 8);
    ck_assert_int_eq(slurp(tmp, "joined.bin", buf, sizeof(buf)), 8);
    ck_assert_str_eq(buf, "abcdefgh");
    ck_assert(!has(p1.id, "data") && !has(p1.id, "info"));
    ck_assert(!has(p2.id, "data") && !has(p2.id, "info"));
    ck_assert(!has(fin.id, "data"));
    ck_assert_int_eq(run_job(sl_fs_tus_load(&st, &job, fin.id, &out, on_job)), 0);
    ck_assert_str_eq(out.file, "joined.bin");
    ck_assert_int_eq(out.length, 8);
    ck_assert_uint_eq(out.offset, 8);
    ck_assert_int_eq(out.concat, SL_TUS_FINAL);
    ck_assert_str_eq(out.parts, fin.parts);
}
END_TEST

/* _i: 0 an incomplete part, 1 a plain (non-partial) upload, 2 a part that does not exist. */
START_TEST(concat_refuses_a_bad_part_and_leaves_no_final)
{
    static sl_tus_info_t good, bad, fin;
    char parts[2][33];

    make_upload(&good, SL_TUS_PARTIAL, 3, "abc");
    if (_i == 0)
        make_upload(&bad, SL_TUS_PARTIAL, 10, "defgh");
    else if (_i == 1)
        make_upload(&bad, SL_TUS_PLAIN, 5, "defgh");
    else
        new_info(&bad, 5);
    memcpy(parts[0], good.id, 33);
    memcpy(parts[1], bad.id, 33);
    new_final(&fin);
    ck_assert_int_eq(run_job(sl_fs_tus_concat(&st, &job, &fin, parts, 2, 0, "joined", on_job)),
                     SL_EBADREQUEST);
    ck_assert(!has(fin.id, "data"));
    ck_assert(!has(fin.id, "info"));
    ck_assert_int_eq(slurp(tmp, "joined", (char[8]){0}, 8), -1);
    ck_assert(has(good.id, "data") && has(good.id, "info")); /* the parts stay */
    ck_assert_int_eq(has(bad.id, "info"), _i != 2);
}
END_TEST

START_TEST(concat_past_the_maximum_is_etoolarge)
{
    static sl_tus_info_t p1, p2, fin;
    char parts[2][33];

    make_upload(&p1, SL_TUS_PARTIAL, 3, "abc");
    make_upload(&p2, SL_TUS_PARTIAL, 5, "defgh");
    memcpy(parts[0], p1.id, 33);
    memcpy(parts[1], p2.id, 33);
    new_final(&fin);
    ck_assert_int_eq(run_job(sl_fs_tus_concat(&st, &job, &fin, parts, 2, 5, "joined", on_job)),
                     SL_ETOOLARGE);
    ck_assert(!has(fin.id, "data") && !has(fin.id, "info"));
    ck_assert_int_eq(slurp(tmp, "joined", (char[8]){0}, 8), -1);
    ck_assert(has(p1.id, "data") && has(p2.id, "data"));
    /* exactly the total is allowed */
    new_final(&fin);
    ck_assert_int_eq(run_job(sl_fs_tus_concat(&st, &job, &fin, parts, 2, 8, "joined", on_job)), 0);
    ck_assert_uint_eq(job.size, 8);
}
END_TEST

/* --- remove and expiry ------------------------------------------------------------------- */

START_TEST(remove_deletes_both_files_of_an_expired_record_only)
{
    static sl_tus_info_t a, never;

    make_upload(&a, SL_TUS_PLAIN, 10, "abc");
    ck_assert_int_eq(run_job(sl_fs_tus_remove(&st, &job, &a, 0, on_job)), 0);
    ck_assert(!has(a.id, "data") && !has(a.id, "info"));
    ck_assert_int_eq(run_job(sl_fs_tus_remove(&st, &job, &a, 0, on_job)), SL_ENOTFOUND);
    ck_assert_int_eq(entries(".sluice/tus"), 0);

    new_info(&a, 10);
    a.expires = 1000;
    ck_assert_int_eq(run_job(sl_fs_tus_create(&st, &job, &a, on_job)), 0);
    ck_assert_int_eq(run_job(sl_fs_tus_remove(&st, &job, &a, 500, on_job)), SL_EEXISTS);
    ck_assert_int_eq(run_job(sl_fs_tus_remove(&st, &job, &a, 1000, on_job)), SL_EEXISTS);
    ck_assert(has(a.id, "data") && has(a.id, "info"));
    ck_assert_int_eq(run_job(sl_fs_tus_remove(&st, &job, &a, 1001, on_job)), 0);
    ck_assert(!has(a.id, "data") && !has(a.id, "info"));

    new_info(&never, 10); /* expires 0: never */
    ck_assert_int_eq(run_job(sl_fs_tus_create(&st, &job, &never, on_job)), 0);
    ck_assert_int_eq(run_job(sl_fs_tus_remove(&st, &job, &never, 4102444800, on_job)), SL_EEXISTS);
    ck_assert(has(never.id, "data") && has(never.id, "info"));
}
END_TEST

START_TEST(expired_lists_exactly_the_expired_ids)
{
    static const int64_t expires[] = {0, 500, 999, 1000, 5000, 1};
    static sl_tus_info_t u[6];
    char ids[16][33], p[4200];
    int found[6] = {0};
    size_t n, i, j;

    for (i = 0; i < 6; i++) {
        new_info(&u[i], 10);
        u[i].expires = expires[i];
        ck_assert_int_eq(run_job(sl_fs_tus_create(&st, &job, &u[i], on_job)), 0);
    }
    /* A damaged record and a stray file are not uploads. */
    write_bytes(tus_path(u[5].id, "info", p), "sluice-tus 1\nexpires 1\n", 23);
    put_text(tmp, ".sluice/tus/zzzz.info", "sluice-tus 1\noffset 0\nlength 1\nexpires 1\n");
    n = sl__fs_tus_expired(st.root_fd, 1000, ids, 16);
    ck_assert_uint_eq(n, 2);
    for (i = 0; i < n; i++)
        for (j = 0; j < 6; j++)
            found[j] += strcmp(ids[i], u[j].id) == 0;
    ck_assert_int_eq(found[1], 1);
    ck_assert_int_eq(found[2], 1);
    ck_assert_uint_eq(sl__fs_tus_expired(st.root_fd, 1000, ids, 1), 1); /* cap */
    ck_assert_uint_eq(sl__fs_tus_expired(st.root_fd, 1, ids, 16), 0);
}
END_TEST

/* --- the start-up sweep ------------------------------------------------------------------ */

START_TEST(open_sweeps_a_dead_writers_record_temp_but_never_an_upload)
{
    static const char *up = "4000000aaaaaaaaaaaaaaaaaaaaaaaaa"; /* reads as the dead pid */
    char dead[128], live[128], own[128], p[4200];

    ck_assert_msg(kill((pid_t)DEAD_PID, 0) < 0 && errno == ESRCH, "pid %ld exists", DEAD_PID);
    ck_assert(sl_tus_id_valid(up));
    snprintf(dead, sizeof(dead), ".sluice/tus/%ld-deadbeef-%s.tmp", DEAD_PID, ID_A);
    snprintf(live, sizeof(live), ".sluice/tus/1-deadbeef-%s.tmp", ID_A);
    snprintf(own, sizeof(own), ".sluice/tus/%s-%s.tmp", sl_store_owner(), ID_A);
    put_text(tmp, dead, "sluice-tus 1\noffset 0\n");
    put_text(tmp, live, "sluice-tus 1\noffset 0\n");
    put_text(tmp, own, "sluice-tus 1\noffset 0\n");
    write_bytes(tus_path(up, "info", p), "sluice-tus 1\noffset 0\nlength 3\n", 31);
    write_bytes(tus_path(up, "data", p), "abc", 3);
    snprintf(p, sizeof(p), "%s/.sluice/tus/%ld-deadbeef-%s.info", tmp, DEAD_PID, ID_A);
    write_bytes(p, "x", 1);
    sl_fs_close(&st);
    ck_assert_int_eq(sl_fs_open(&st, &loop, tmp, 1), 0);
    ck_assert_int_eq(slurp(tmp, dead, p, sizeof(p)), -1);
    ck_assert_int_ge(slurp(tmp, live, p, sizeof(p)), 0);
    ck_assert_int_ge(slurp(tmp, own, p, sizeof(p)), 0);
    ck_assert_int_eq(size_of(tus_path(up, "data", p)), 3);
    ck_assert_int_eq(size_of(tus_path(up, "info", p)), 31);
    snprintf(p, sizeof(p), "%s/.sluice/tus/%ld-deadbeef-%s.info", tmp, DEAD_PID, ID_A);
    ck_assert_int_eq(size_of(p), 1);
}
END_TEST

/* --- the append sink --------------------------------------------------------------------- */

static void sink_open(sl_sink_file_t *f, probe_t *pr, const char *id, uint64_t offset)
{
    sl_fs_tus_sink_init(f, &st, id, offset, 1 << 16);
    probe_stream(pr, &f->s, "sink");
}

/* The upload's data file holds exactly `want`. */
static void data_is(const char *id, const char *want)
{
    char path[64], buf[64];

    snprintf(path, sizeof(path), ".sluice/tus/%s.data", id);
    ck_assert_int_eq(slurp(tmp, path, buf, sizeof(buf)), (int)strlen(want));
    ck_assert_str_eq(buf, want);
}

/* A PATCH's sink at `offset` that writes `text` (nothing if "") and ends: it finishes. */
static void patch_ok(const char *id, uint64_t offset, const char *text)
{
    sl_sink_file_t f;
    probe_t w;

    sink_open(&f, &w, id, offset);
    if (*text != '\0')
        ck_assert_int_eq(write_str(&f.s, text), 1);
    ck_assert_int_eq(sl_stream_end(&f.s), 0);
    run_loop(&loop);
    ck_assert_int_eq(w.finish, 1);
    ck_assert_int_eq(w.close, 1);
    ck_assert_int_eq(w.close_err, 0);
    ck_assert_uint_eq(f.offset, offset + strlen(text));
}

START_TEST(append_sink_cuts_the_tail_past_its_offset)
{
    static sl_tus_info_t a;

    make_upload(&a, SL_TUS_PLAIN, 20, "0123456789");
    patch_ok(a.id, 5, "XYZ");
    data_is(a.id, "01234XYZ");
    ck_assert_int_eq(entries(".sluice/tmp"), 0);
}
END_TEST

/* A PATCH without a body still opens, locks and cuts the file: the tail past the offset goes,
 * and the sink finishes. */
START_TEST(an_empty_append_cuts_the_tail_too)
{
    static sl_tus_info_t a;

    make_upload(&a, SL_TUS_PLAIN, 20, "0123456789");
    patch_ok(a.id, 6, "");
    data_is(a.id, "012345");
}
END_TEST

/* Two sinks on one upload (two PATCHes in two workers): the second finds the lock the first took
 * when it was made (before any byte of its body: a PATCH whose body is slow to come still holds
 * the upload) and fails with SL_ELOCKED, writing nothing and cutting nothing; once the first is
 * done, a third writes at the offset. The open, the lock and the cut are one job, in that order. */
START_TEST(a_second_append_sink_finds_the_lock)
{
    static sl_tus_info_t a;
    sl_sink_file_t f, g;
    probe_t wf, wg;

    make_upload(&a, SL_TUS_PLAIN, 20, "0123456789");
    sink_open(&f, &wf, a.id, 10);
    run_loop(&loop); /* f holds the lock, no byte written yet */
    sink_open(&g, &wg, a.id, 4);
    write_str(&g.s, "zz");
    ck_assert_int_eq(sl_stream_end(&g.s), 0);
    run_loop(&loop);
    ck_assert_int_eq(wg.close, 1);
    ck_assert_int_eq(wg.finish, 0);
    ck_assert_int_eq(wg.close_err, SL_ELOCKED);
    data_is(a.id, "0123456789"); /* not cut to 4, nothing written */
    ck_assert_int_eq(write_str(&f.s, "ab"), 1);
    ck_assert_int_eq(sl_stream_end(&f.s), 0);
    run_loop(&loop);
    ck_assert_int_eq(wf.finish, 1);
    patch_ok(a.id, 12, "c");
    data_is(a.id, "0123456789abc");
}
END_TEST

/* _i: 0 destroyed after a write landed, 1 destroyed before its open completed. */
START_TEST(destroying_an_append_sink_never_removes_the_data_file)
{
    static sl_tus_info_t a;
    sl_sink_file_t f;
    probe_t w;
    char p[4200], buf[64];

    make_upload(&a, SL_TUS_PLAIN, 20, "0123456789");
    sink_open(&f, &w, a.id, 10);
    if (_i == 0) {
        ck_assert_int_eq(write_str(&f.s, "abc"), 1);
        run_loop(&loop);
        ck_assert_uint_eq(f.offset, 13);
    }
    sl_stream_destroy(&f.s, SL_EPREMATURE);
    run_loop(&loop);
    ck_assert_int_eq(w.close, 1);
    ck_assert_int_eq(w.finish, 0);
    ck_assert_int_eq(size_of(tus_path(a.id, "data", p)), _i == 0 ? 13 : 10);
    snprintf(buf, sizeof(buf), ".sluice/tus/%s.data", a.id);
    ck_assert_int_eq(slurp(tmp, buf, buf, sizeof(buf)), _i == 0 ? 13 : 10);
    ck_assert_str_eq(buf, _i == 0 ? "0123456789abc" : "0123456789");
}
END_TEST

Suite *tus_suite(void)
{
    Suite *s = suite_create("tus");
    TCase *tc;

    tc = add_tcase(s, "record");
    tcase_add_test(tc, id_is_32_lowercase_hex_digits_only);
    tcase_add_loop_test(tc, a_record_reads_back_as_written, 0,
                        (int)(sizeof(variants) / sizeof(variants[0])));
    tcase_add_loop_test(tc, a_damaged_record_is_refused, 0,
                        (int)(sizeof(bad_records) / sizeof(bad_records[0])));
    tcase_add_test(tc, metadata_longer_than_the_maximum_is_refused);
    tcase_add_test(tc, unknown_keys_are_ignored);
    tcase_add_test(tc, the_expected_repr_digest_reads_back_and_is_looked_up_by_algorithm);

    tc = tcase_create("jobs");
    tcase_add_checked_fixture(tc, tus_setup, tus_teardown);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    tcase_add_test(tc, create_then_load_gives_offset_zero_and_both_files);
    tcase_add_test(tc, save_records_the_offset_that_load_returns);
    tcase_add_test(tc, an_offset_past_the_data_file_loads_as_the_file_size);
    tcase_add_test(tc, load_of_a_missing_or_damaged_upload_is_enotfound);
    tcase_add_test(tc, commit_publishes_the_data_under_the_name);
    tcase_add_test(tc, concat_of_complete_partials_publishes_their_bytes_and_removes_them);
    tcase_add_loop_test(tc, concat_refuses_a_bad_part_and_leaves_no_final, 0, 3);
    tcase_add_test(tc, concat_past_the_maximum_is_etoolarge);
    tcase_add_test(tc, remove_deletes_both_files_of_an_expired_record_only);
    tcase_add_test(tc, expired_lists_exactly_the_expired_ids);
    tcase_add_test(tc, open_sweeps_a_dead_writers_record_temp_but_never_an_upload);
    tcase_add_test(tc, append_sink_cuts_the_tail_past_its_offset);
    tcase_add_test(tc, an_empty_append_cuts_the_tail_too);
    tcase_add_test(tc, a_second_append_sink_finds_the_lock);
    tcase_add_loop_test(tc, destroying_an_append_sink_never_removes_the_data_file, 0, 2);
    return s;
}
