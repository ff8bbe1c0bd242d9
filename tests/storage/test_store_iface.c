/* SPDX-License-Identifier: MIT
 *
 * The store interface's contract (storage/store.h), one table of tests run against every store:
 * the filesystem store (sl_fs_store_new in a fresh mkdtemp root) and the in-memory store of
 * tests/support/mem_store.c. A new store (S3, …) is one more row of `kinds`. Everything goes
 * through st->ops: sinks in a pipeline behind a fake source, jobs whose callback must come on a
 * later loop turn (S4). What is pinned: S1 (nothing under the name before the commit, a destroyed
 * sink leaves nothing), NOREPLACE, open_read after a commit with the digests kept (meta), list's
 * JSON and its limit, remove, preflight, a staged group appearing at once, and a resumable upload
 * stored, saved, loaded and committed.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "storage/fs.h"
#include "support/doubles.h"
#include "support/mem_store.h"

static uv_loop_t loop;
static sl_store_t *st;
static char *tmp; /* the fs store's root */

static sl_store_t *open_fs(void)
{
    sl_store_t *s = NULL;

    tmp = tmpdir_new();
    ck_assert_int_eq(sl_fs_store_new(&loop, tmp, 0, 0, &s), 0);
    return s;
}

static sl_store_t *open_mem(void)
{
    return mem_store_new(&loop, 0);
}

static const struct {
    const char *kind;
    sl_store_t *(*open)(void);
} kinds[] = {{"fs", open_fs}, {"mem", open_mem}};
#define NKINDS ((int)(sizeof(kinds) / sizeof(kinds[0])))

/* One pipeline fake_src ─▶ [mid] ─▶ the store's sink; kept until close_loop (the doubles'). */
typedef struct run_s {
    fake_src_t src;
    sl_pipeline_t pl;
    probe_t probe;
    sl_store_sink_t *sink;
} run_t;
static run_t runs[8];
static int nruns;

static void open_store(int i)
{
    open_loop(&loop);
    nruns = 0;
    st = kinds[i].open();
    ck_assert_str_eq(st->ops->kind, kinds[i].kind);
}

static void close_store(void)
{
    close_loop(&loop);
    sl_store_close(st);
    tmpdir_remove(tmp);
    tmp = NULL;
}

static run_t *run_start(const sl_sink_spec_t *spec, sl_stream_t *mid)
{
    run_t *r = &runs[nruns++];
    sl_stream_t *stages[3];
    size_t n = 0;

    ck_assert_int_le(nruns, 8);
    fake_src_init(&r->src, &loop, 1u << 20);
    r->sink = sl_store_sink_new(st, spec);
    stages[n++] = &r->src.s;
    if (mid != NULL)
        stages[n++] = mid;
    stages[n++] = &r->sink->s;
    probe_pipeline(&r->probe, &r->pl, "pl");
    ck_assert_int_eq(sl_pipeline_run(&r->pl, stages, n, probe_pipeline_cb), 0);
    return r;
}

/* End the body, run until the pipeline called back, free the sink: the pipeline's status. */
static int run_finish(run_t *r)
{
    fake_src_eof(&r->src);
    run_loop(&loop);
    ck_assert_int_eq(r->probe.cb, 1);
    sl_store_sink_free(st, r->sink);
    r->sink = NULL;
    return r->probe.status;
}

static int put(const char *name, unsigned flags, const char *text)
{
    sl_sink_spec_t spec = {.kind = SL_SINK_NAME, .name = name, .flags = flags, .hwm = 65536};
    run_t *r = run_start(&spec, NULL);

    fake_src_push_str(&r->src, text);
    return run_finish(r);
}

static sl_store_job_t job;
static int job_calls;

static void on_job(sl_store_job_t *j)
{
    ck_assert_ptr_eq(j, &job);
    job_calls++;
}

/* Run the job just started (r: the start's return): its status, the callback seen once. */
static int wait_job(int r)
{
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(job_calls, 0); /* S4: never inside the call that started it */
    run_loop(&loop);
    ck_assert_int_eq(job_calls, 1);
    job_calls = 0;
    return job.status;
}

/* open_read `name` into buf (cap bytes, NUL-terminated): its status. */
static int read_back(const char *name, char *buf, size_t cap)
{
    int r = wait_job(sl_store_open_read(st, &job, name, on_job));
    ssize_t n;

    if (r < 0) {
        ck_assert_int_eq(job.fd, -1);
        return r;
    }
    ck_assert_int_ge(job.fd, 0);
    n = pread(job.fd, buf, cap - 1, 0);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
    ck_assert_uint_eq((uint64_t)n, job.size);
    ck_assert_int_gt(job.mtime_ns, 0);
    close(job.fd);
    return 0;
}

static char listing[4096];

static const char *list(uint64_t limit)
{
    ck_assert_int_eq(wait_job(sl_store_list(st, &job, limit, on_job)), 0);
    ck_assert_ptr_nonnull(job.json);
    ck_assert_uint_eq(strlen(job.json), job.json_len);
    snprintf(listing, sizeof(listing), "%s", job.json);
    free(job.json);
    job.json = NULL;
    return listing;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (hay = strstr(hay, needle); hay != NULL; hay = strstr(hay + 1, needle))
        n++;
    return n;
}

#define EMPTY_LIST "{\"files\":[],\"truncated\":false}\n"

START_TEST(s1_nothing_under_the_name_before_the_commit)
{
    sl_sink_spec_t spec = {.kind = SL_SINK_NAME, .name = "a/b.txt", .hwm = 65536};
    char buf[64];
    run_t *r;

    open_store(_i);
    r = run_start(&spec, NULL);
    fake_src_push_str(&r->src, "hello ");
    fake_src_push_str(&r->src, "world");
    run_loop(&loop); /* every byte written, the end not yet come */
    ck_assert_int_eq(r->probe.cb, 0);
    ck_assert_int_eq(read_back("a/b.txt", buf, sizeof(buf)), SL_ENOTFOUND);
    ck_assert_str_eq(list(100), EMPTY_LIST);
    ck_assert_int_eq(wait_job(sl_store_preflight(st, &job, "a/b.txt", 0, on_job)), 0);
    ck_assert_int_eq(run_finish(r), 0);
    ck_assert_int_eq(read_back("a/b.txt", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "hello world");
    close_store();
}
END_TEST

START_TEST(s1_a_destroyed_sink_leaves_nothing)
{
    sl_sink_spec_t spec = {.kind = SL_SINK_NAME, .name = "gone", .hwm = 65536};
    char buf[64];
    run_t *r;

    open_store(_i);
    r = run_start(&spec, NULL);
    fake_src_push_str(&r->src, "partial bytes");
    run_loop(&loop);
    sl_pipeline_abort(&r->pl, SL_EPREMATURE);
    run_loop(&loop);
    ck_assert_int_eq(r->probe.cb, 1);
    ck_assert_int_eq(r->probe.status, SL_EPREMATURE);
    sl_store_sink_free(st, r->sink);
    ck_assert_int_eq(read_back("gone", buf, sizeof(buf)), SL_ENOTFOUND);
    ck_assert_str_eq(list(100), EMPTY_LIST);
    close_store();
}
END_TEST

START_TEST(noreplace_keeps_the_old_file_and_a_plain_commit_replaces_it)
{
    char buf[64];

    open_store(_i);
    ck_assert_int_eq(put("x", SL_SINK_NOREPLACE, "one"), 0);
    ck_assert_int_eq(put("x", SL_SINK_NOREPLACE, "two"), SL_EEXISTS);
    ck_assert_int_eq(read_back("x", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "one");
    ck_assert_int_eq(put("x", 0, "three"), 0);
    ck_assert_int_eq(read_back("x", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "three");
    ck_assert_int_eq(count(list(100), "\"name\""), 1);
    close_store();
}
END_TEST

START_TEST(open_read_after_a_commit_gives_the_bytes_and_the_kept_digest)
{
    sl_sink_spec_t spec = {.kind = SL_SINK_NAME, .name = "d/f", .hwm = 65536};
    static const char text[] = "digest me";
    unsigned char md[32];
    char hex[65], buf[64];
    sl_xf_digest_t dg;
    run_t *r;

    open_store(_i);
    sl_xf_digest_init(&dg, &loop, 65536);
    r = run_start(&spec, &dg.s);
    r->sink->digest = &dg; /* kept with the file at its commit */
    fake_src_push_str(&r->src, text);
    ck_assert_int_eq(run_finish(r), 0);
    ck_assert_int_eq(read_back("d/f", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, text);
    ck_assert_int_eq(job.has_meta, 1);
    EVP_Digest(text, strlen(text), md, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    ck_assert_str_eq(job.meta.sha256_hex, hex);
    ck_assert_str_eq(dg.sha256_hex, hex);
    ck_assert_uint_eq(job.meta.size, strlen(text));
    ck_assert_int_eq(read_back("d", buf, sizeof(buf)), SL_ENOTFOUND); /* not a file */
    ck_assert_int_eq(read_back("nope", buf, sizeof(buf)), SL_ENOTFOUND);
    close_store();
}
END_TEST

START_TEST(list_names_every_file_with_its_size_up_to_the_limit)
{
    const char *l;

    open_store(_i);
    ck_assert_int_eq(put("b", 0, "bb"), 0);
    ck_assert_int_eq(put("a/c", 0, "ccc"), 0);
    ck_assert_int_eq(put("z", 0, ""), 0);
    l = list(100);
    ck_assert_msg(strncmp(l, "{\"files\":[{\"name\":", 18) == 0, "%s", l);
    ck_assert_int_eq(count(l, "\"name\""), 3);
    ck_assert_ptr_nonnull(strstr(l, "{\"name\":\"b\",\"size\":2,\"mtime\":"));
    ck_assert_ptr_nonnull(strstr(l, "{\"name\":\"a/c\",\"size\":3,\"mtime\":"));
    ck_assert_ptr_nonnull(strstr(l, "{\"name\":\"z\",\"size\":0,\"mtime\":"));
    ck_assert_ptr_nonnull(strstr(l, "],\"truncated\":false}\n"));
    l = list(2);
    ck_assert_int_eq(count(l, "\"name\""), 2);
    ck_assert_ptr_nonnull(strstr(l, "],\"truncated\":true}\n"));
    close_store();
}
END_TEST

START_TEST(remove_takes_the_file_away_and_then_finds_nothing)
{
    char buf[64];

    open_store(_i);
    ck_assert_int_eq(put("r", 0, "bye"), 0);
    ck_assert_int_eq(wait_job(sl_store_delete(st, &job, "r", on_job)), 0);
    ck_assert_int_eq(read_back("r", buf, sizeof(buf)), SL_ENOTFOUND);
    ck_assert_int_eq(wait_job(sl_store_delete(st, &job, "r", on_job)), SL_ENOTFOUND);
    ck_assert_str_eq(list(100), EMPTY_LIST);
    close_store();
}
END_TEST

START_TEST(preflight_sees_a_taken_name)
{
    open_store(_i);
    ck_assert_int_eq(put("p", 0, "x"), 0);
    ck_assert_int_eq(wait_job(sl_store_preflight(st, &job, "p", 1, on_job)), SL_EEXISTS);
    ck_assert_int_eq(wait_job(sl_store_preflight(st, &job, "q", 1, on_job)), 0);
    ck_assert_int_eq(wait_job(sl_store_preflight(st, &job, NULL, 1, on_job)), 0);
    close_store();
}
END_TEST

static int put_staged(const char *stage, const char *name, const char *text)
{
    sl_sink_spec_t spec = {.kind = SL_SINK_STAGED,
                           .name = name,
                           .stage = stage,
                           .flags = SL_SINK_NOREPLACE,
                           .hwm = 65536};
    run_t *r = run_start(&spec, NULL);

    fake_src_push_str(&r->src, text);
    return run_finish(r);
}

START_TEST(a_staged_group_appears_at_once_or_not_at_all)
{
    char g1[64], g2[64], buf[64];
    sl_meta_t metas[2] = {{0}};
    const char *names[2] = {"f1", "f2"};

    open_store(_i);
    sl_store_stage_name(st, g1);
    sl_store_stage_name(st, g2);
    ck_assert_str_ne(g1, g2);
    ck_assert_int_eq(put_staged(g1, "f1", "one"), 0);
    ck_assert_int_eq(put_staged(g1, "f2", "two"), 0);
    ck_assert_int_eq(put_staged(g2, "f1", "other"), 0);
    ck_assert_str_eq(list(100), EMPTY_LIST); /* committed into the groups, not published */
    ck_assert_int_eq(read_back("g/f1", buf, sizeof(buf)), SL_ENOTFOUND);
    metas[0].size = 3;
    ck_assert_int_eq(wait_job(sl_store_stage_commit(st, &job, g1, "g", metas, names, 2, on_job)),
                     0);
    ck_assert_int_eq(read_back("g/f1", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "one");
    ck_assert_int_eq(read_back("g/f2", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "two");
    ck_assert_int_eq(wait_job(sl_store_stage_commit(st, &job, g2, "g", NULL, NULL, 0, on_job)),
                     SL_EEXISTS);
    ck_assert_int_eq(wait_job(sl_store_stage_remove(st, &job, g2, on_job)), 0);
    ck_assert_int_eq(count(list(100), "\"name\""), 2);
    ck_assert_int_eq(read_back("g/f1", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "one");
    close_store();
}
END_TEST

static sl_tus_job_t tjob;

static void on_tus(sl_tus_job_t *j)
{
    ck_assert_ptr_eq(j, &tjob);
    job_calls++;
}

static int wait_tus(int r)
{
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(job_calls, 0);
    run_loop(&loop);
    ck_assert_int_eq(job_calls, 1);
    job_calls = 0;
    return tjob.status;
}

static int patch(const char *id, uint64_t offset, const char *text, uint64_t *stored)
{
    sl_sink_spec_t spec = {.kind = SL_SINK_RESUMABLE, .name = id, .offset = offset, .hwm = 65536};
    run_t *r = run_start(&spec, NULL);
    sl_store_sink_t *k = r->sink;
    int status;

    fake_src_push_str(&r->src, text);
    fake_src_eof(&r->src);
    run_loop(&loop);
    *stored = k->offset;
    status = r->probe.status;
    sl_store_sink_free(st, k);
    return status;
}

START_TEST(a_resumable_upload_is_stored_saved_loaded_and_committed)
{
    sl_tus_info_t info = {.length = 10}, back = {0};
    char buf[64], hex[65];
    unsigned char md[32];
    uint64_t stored;

    open_store(_i);
    sl_name_random(info.id);
    ck_assert_int_eq(wait_tus(sl_store_tus_create(st, &tjob, &info, on_tus)), 0);
    ck_assert_int_eq(patch(info.id, 0, "hello", &stored), 0);
    ck_assert_uint_eq(stored, 5);
    info.offset = stored;
    ck_assert_int_eq(wait_tus(sl_store_tus_save(st, &tjob, &info, 1, on_tus)), 0);
    ck_assert_int_eq(wait_tus(sl_store_tus_load(st, &tjob, info.id, &back, on_tus)), 0);
    ck_assert_uint_eq(back.offset, 5);
    ck_assert_int_eq(back.length, 10);
    ck_assert_str_eq(back.id, info.id);
    ck_assert_int_eq(patch(info.id, 5, "world", &stored), 0);
    ck_assert_uint_eq(stored, 10);
    info.offset = stored;
    tjob.digest = 1;
    tjob.sha256_hex[0] = '\0'; /* the hash state was lost: the store computes it */
    ck_assert_int_eq(wait_tus(sl_store_tus_commit(st, &tjob, &info, "t.txt", on_tus)), 0);
    ck_assert_str_eq(info.file, "t.txt");
    EVP_Digest("helloworld", 10, md, NULL, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    ck_assert_str_eq(tjob.sha256_hex, hex);
    ck_assert_int_eq(read_back("t.txt", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "helloworld");
    ck_assert_int_eq(job.has_meta, 1);
    ck_assert_str_eq(job.meta.sha256_hex, hex);
    ck_assert_int_eq(wait_tus(sl_store_tus_remove(st, &tjob, &info, 0, on_tus)), 0);
    ck_assert_int_eq(wait_tus(sl_store_tus_load(st, &tjob, info.id, &back, on_tus)), SL_ENOTFOUND);
    sl_tus_info_clear(&info);
    sl_tus_info_clear(&back);
    close_store();
}
END_TEST

static void iface_setup(void)
{
    doubles_setup();
    memset(&job, 0, sizeof(job));
    memset(&tjob, 0, sizeof(tjob));
    job_calls = 0;
    tmp = NULL;
}

Suite *store_iface_suite(void)
{
    Suite *s = suite_create("store_iface");
    TCase *tc = tcase_create("contract");

    tcase_add_checked_fixture(tc, iface_setup, NULL);
    tcase_set_timeout(tc, 10);
    tcase_add_loop_test(tc, s1_nothing_under_the_name_before_the_commit, 0, NKINDS);
    tcase_add_loop_test(tc, s1_a_destroyed_sink_leaves_nothing, 0, NKINDS);
    tcase_add_loop_test(tc, noreplace_keeps_the_old_file_and_a_plain_commit_replaces_it, 0, NKINDS);
    tcase_add_loop_test(tc, open_read_after_a_commit_gives_the_bytes_and_the_kept_digest, 0,
                        NKINDS);
    tcase_add_loop_test(tc, list_names_every_file_with_its_size_up_to_the_limit, 0, NKINDS);
    tcase_add_loop_test(tc, remove_takes_the_file_away_and_then_finds_nothing, 0, NKINDS);
    tcase_add_loop_test(tc, preflight_sees_a_taken_name, 0, NKINDS);
    tcase_add_loop_test(tc, a_staged_group_appears_at_once_or_not_at_all, 0, NKINDS);
    tcase_add_loop_test(tc, a_resumable_upload_is_stored_saved_loaded_and_committed, 0, NKINDS);
    suite_add_tcase(s, tc);
    return s;
}
