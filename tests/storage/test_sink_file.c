/* SPDX-License-Identifier: MIT
 *
 * sink_file (storage/sink_file.c) on a real loop and a fresh store per test: what reaches the
 * final name (exactly the bytes written, only after the commit), what never does (anything from
 * a destroyed or refused upload), and that the temp directory is empty once the sink has closed.
 * Tests run the loop to completion, then assert the counters in each sink's watch_t (s->data), and
 * end with close_loop, which asserts uv_loop_close(loop) == 0 after sl_defer_close.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/fs.h"
#include "streams/pipeline.h"
#include "support/doubles.h"
#include "support/files.h"

static char *tmp; /* this test's directory, from tmpdir_new */

typedef struct watch_s {
    int drain, finish, close, close_err;
    uint64_t size_at_finish;
    int64_t mtime_at_finish;
    void (*then)(struct watch_s *w); /* run once at on_drain or on_close */
} watch_t;

static uv_loop_t loop;
static sl_fs_t st;

/* --- fixture and helpers ----------------------------------------------------------------- */

static void sink_setup(void)
{
    doubles_setup();
    tmp = tmpdir_new();
    open_loop(&loop);
    st.root_fd = -1; /* sink_teardown may run before a test opened the store */
}

static void sink_teardown(void)
{
    sl_fs_close(&st);
    tmpdir_remove(tmp);
    tmp = NULL;
}

static void open_store(int durable)
{
    ck_assert_int_eq(sl_fs_open(&st, &loop, tmp, durable), 0);
}

static void watch_drain(sl_stream_t *s)
{
    watch_t *w = s->data;
    void (*then)(watch_t *) = w->then;

    w->drain++;
    w->then = NULL;
    if (then != NULL)
        then(w);
}

static void watch_finish(sl_stream_t *s)
{
    sl_sink_file_t *f = (sl_sink_file_t *)s;
    watch_t *w = s->data;

    w->finish++;
    w->size_at_finish = f->size;
    w->mtime_at_finish = f->mtime_ns;
}

static void watch_close(sl_stream_t *s, int err)
{
    watch_t *w = s->data;
    void (*then)(watch_t *) = w->then;

    w->close++;
    w->close_err = err;
    w->then = NULL;
    if (then != NULL)
        then(w);
}

static void sink_open(sl_fs_t *store, sl_sink_file_t *f, watch_t *w, const char *name,
                      unsigned flags, size_t hwm)
{
    memset(w, 0, sizeof(*w));
    sl_sink_file_init(f, store, name, flags, hwm);
    f->s.data = w;
    f->s.on_drain = watch_drain;
    f->s.on_finish = watch_finish;
    f->s.on_close = watch_close;
}

static int feed(sl_sink_file_t *f, const char *str)
{
    sl_chunk_t *c = sl_chunk_copy(&loop, str, strlen(str));
    int r = sl_stream_write(&f->s, c);

    sl_chunk_unref(c);
    return r;
}
/* Entries in ROOT/.sluice/tmp. */
static int temp_files(void)
{
    return count_entries(tmp, ".sluice/tmp");
}

/* W5 is observed by wrapping the sink's do_write: each call is one batch (one pwritev). */
static const sl_stream_type_t *file_type;
static sl_stream_type_t counting_type;
static size_t batches, batched_chunks, max_batch;

static void counting_write(sl_stream_t *s, sl_chunk_t **chunks, size_t n, sl_done_cb done)
{
    batches++;
    batched_chunks += n;
    if (n > max_batch)
        max_batch = n;
    file_type->do_write(s, chunks, n, done);
}

static void count_batches(sl_sink_file_t *f)
{
    file_type = f->s.type;
    counting_type = *file_type;
    counting_type.do_write = counting_write;
    f->s.type = &counting_type;
}

/* --- commit ------------------------------------------------------------------------------ */

/* Looped over durable 0/1 (bit 0) and SL_SINK_NOREPLACE on a new name (bit 1). */
START_TEST(chunks_then_end_commit_the_exact_content)
{
    sl_sink_file_t f;
    watch_t w;
    char buf[64];

    open_store(_i & 1);
    sink_open(&st, &f, &w, "hello.txt", (_i & 2) ? SL_SINK_NOREPLACE : 0, 1 << 20);
    ck_assert_int_eq(feed(&f, "hello, "), 1);
    ck_assert_int_eq(feed(&f, "world"), 1);
    ck_assert_int_eq(sl_stream_end(&f.s), 0);
    ck_assert_int_eq(w.finish, 0); /* W7: nothing inside the call */
    run_loop(&loop);
    ck_assert_int_eq(w.finish, 1);
    ck_assert_int_eq(w.close, 1);
    ck_assert_int_eq(w.close_err, 0);
    ck_assert_uint_eq(w.size_at_finish, 12);
    ck_assert_int_gt(w.mtime_at_finish, 0);
    ck_assert_uint_eq(f.s.bytes_in, 12);
    ck_assert_int_eq(slurp(tmp, "hello.txt", buf, sizeof(buf)), 12);
    ck_assert_str_eq(buf, "hello, world");
    ck_assert_int_eq(temp_files(), 0);
    close_loop(&loop);
}
END_TEST

START_TEST(zero_byte_upload_commits_an_empty_file)
{
    sl_sink_file_t f;
    watch_t w;
    char buf[8];

    open_store(1);
    sink_open(&st, &f, &w, "empty", 0, 1024);
    ck_assert_int_eq(sl_stream_end(&f.s), 0);
    run_loop(&loop);
    ck_assert_int_eq(w.finish, 1);
    ck_assert_int_eq(w.close_err, 0);
    ck_assert_uint_eq(w.size_at_finish, 0);
    ck_assert_int_eq(slurp(tmp, "empty", buf, sizeof(buf)), 0);
    ck_assert_int_eq(temp_files(), 0);
    close_loop(&loop);
}
END_TEST

START_TEST(nested_name_creates_parent_directories)
{
    char path[4200], buf[16];
    sl_sink_file_t f;
    struct stat sb;
    watch_t w;

    open_store(1); /* durable: the new directories are fsynced in their parents too */
    sink_open(&st, &f, &w, "a/b/c", 0, 1024);
    feed(&f, "nested");
    sl_stream_end(&f.s);
    run_loop(&loop);
    ck_assert_int_eq(w.finish, 1);
    ck_assert_int_eq(w.close_err, 0);
    snprintf(path, sizeof(path), "%s/a/b", tmp);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert(S_ISDIR(sb.st_mode));
    ck_assert_int_eq(slurp(tmp, "a/b/c", buf, sizeof(buf)), 6);
    ck_assert_str_eq(buf, "nested");
    ck_assert_int_eq(temp_files(), 0);
    close_loop(&loop);
}
END_TEST

START_TEST(small_writes_during_a_write_in_flight_are_coalesced)
{
    enum { N = 200, LEN = 10 };
    static char data[N * LEN], buf[N * LEN + 1];
    sl_sink_file_t f;
    watch_t w;
    int i;

    open_store(0);
    sink_open(&st, &f, &w, "many", 0, 1 << 20);
    count_batches(&f);
    pattern_fill(data, sizeof(data), 0);
    for (i = 0; i < N; i++) {
        sl_chunk_t *c = sl_chunk_copy(&loop, data + i * LEN, LEN);
        ck_assert_int_eq(sl_stream_write(&f.s, c), 1);
        sl_chunk_unref(c);
    }
    sl_stream_end(&f.s);
    run_loop(&loop);
    ck_assert_int_eq(w.finish, 1);
    /* W5: the first write waits for the open; the other 199 go in batches of up to 64. */
    ck_assert_uint_eq(batched_chunks, N);
    ck_assert_uint_lt(batches, 10);
    ck_assert_uint_gt(max_batch, 1);
    ck_assert_uint_le(max_batch, SL_STREAM_MAX_BATCH);
    ck_assert_uint_eq(f.s.bytes_in, sizeof(data));
    ck_assert_int_eq(slurp(tmp, "many", buf, sizeof(buf)), (long)sizeof(data));
    ck_assert_uint_eq(pattern_check(buf, sizeof(data), 0), sizeof(data));
    close_loop(&loop);
}
END_TEST

START_TEST(upload_replaces_an_existing_file)
{
    sl_sink_file_t f;
    watch_t w;
    char buf[32];

    open_store(1);
    put_text(tmp, "doc", "old contents");
    sink_open(&st, &f, &w, "doc", 0, 1024);
    feed(&f, "new");
    sl_stream_end(&f.s);
    run_loop(&loop);
    ck_assert_int_eq(w.close_err, 0);
    ck_assert_int_eq(slurp(tmp, "doc", buf, sizeof(buf)), 3);
    ck_assert_str_eq(buf, "new");
    close_loop(&loop);
}
END_TEST

START_TEST(noreplace_on_an_existing_name_fails_with_eexists)
{
    sl_sink_file_t f;
    watch_t w;
    char buf[32];

    open_store(1);
    put_text(tmp, "taken", "old");
    sink_open(&st, &f, &w, "taken", SL_SINK_NOREPLACE, 1024);
    feed(&f, "new contents");
    sl_stream_end(&f.s);
    run_loop(&loop);
    ck_assert_int_eq(w.finish, 0);
    ck_assert_int_eq(w.close, 1);
    ck_assert_int_eq(w.close_err, SL_EEXISTS);
    ck_assert_int_eq(slurp(tmp, "taken", buf, sizeof(buf)), 3);
    ck_assert_str_eq(buf, "old");
    ck_assert_int_eq(temp_files(), 0);
    close_loop(&loop);
}
END_TEST

START_TEST(commit_over_a_directory_fails_and_removes_the_temp_file)
{
    char path[4200];
    sl_sink_file_t f;
    struct stat sb;
    watch_t w;

    open_store(1);
    snprintf(path, sizeof(path), "%s/dir", tmp);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    sink_open(&st, &f, &w, "dir", 0, 1024);
    feed(&f, "data");
    sl_stream_end(&f.s);
    run_loop(&loop);
    ck_assert_int_eq(w.finish, 0);
    ck_assert_int_eq(w.close_err, UV_EISDIR);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert(S_ISDIR(sb.st_mode));
    ck_assert_int_eq(temp_files(), 0);
    close_loop(&loop);
}
END_TEST

/* --- destroy ----------------------------------------------------------------------------- */

static sl_sink_file_t *victim;
static int temps_before_destroy;

static void destroy_victim(watch_t *w)
{
    (void)w;
    temps_before_destroy = temp_files();
    sl_stream_destroy(&victim->s, SL_EPREMATURE);
}

START_TEST(destroy_mid_stream_removes_the_temp_file)
{
    char buf[8];
    sl_sink_file_t f;
    watch_t w;

    open_store(1);
    sink_open(&st, &f, &w, "never", 0, 16);
    victim = &f;
    w.then = destroy_victim; /* at the drain: the first bytes are in the temp file */
    ck_assert_int_eq(feed(&f, "more than sixteen bytes"), 0);
    run_loop(&loop);
    ck_assert_int_eq(w.drain, 1);
    ck_assert_int_eq(temps_before_destroy, 1);
    ck_assert_int_eq(w.finish, 0);
    ck_assert_int_eq(w.close, 1);
    ck_assert_int_eq(w.close_err, SL_EPREMATURE);
    ck_assert_int_eq(feed(&f, "late"), SL_EPREMATURE); /* D2: the error it was destroyed with */
    ck_assert_int_eq(slurp(tmp, "never", buf, sizeof(buf)), -1);
    ck_assert_int_eq(temp_files(), 0);
    close_loop(&loop);
}
END_TEST

START_TEST(destroy_before_the_open_completes_removes_the_temp_file)
{
    char buf[8];
    sl_sink_file_t f;
    watch_t w;

    open_store(0);
    sink_open(&st, &f, &w, "never", 0, 1024);
    feed(&f, "queued");
    sl_stream_end(&f.s);
    sl_stream_destroy(&f.s, SL_EPREMATURE);
    sl_stream_destroy(&f.s, UV_EIO); /* D1: idempotent, the first error stays */
    run_loop(&loop);
    ck_assert_int_eq(w.finish, 0);
    ck_assert_int_eq(w.close, 1);
    ck_assert_int_eq(w.close_err, SL_EPREMATURE);
    ck_assert_int_eq(slurp(tmp, "never", buf, sizeof(buf)), -1);
    ck_assert_int_eq(temp_files(), 0);
    close_loop(&loop);
}
END_TEST

START_TEST(failed_temp_open_is_reported_at_close)
{
    char path[4200], buf[8];
    sl_sink_file_t f;
    watch_t w;

    open_store(1);
    snprintf(path, sizeof(path), "%s/.sluice/tmp", tmp);
    ck_assert_int_eq(rmdir(path), 0);
    sink_open(&st, &f, &w, "never", 0, 1024);
    feed(&f, "data");
    sl_stream_end(&f.s);
    run_loop(&loop);
    ck_assert_int_eq(w.finish, 0);
    ck_assert_int_eq(w.close, 1);
    ck_assert_int_eq(w.close_err, UV_ENOENT);
    ck_assert_int_eq(slurp(tmp, "never", buf, sizeof(buf)), -1);
    close_loop(&loop);
}
END_TEST

/* --- temp names -------------------------------------------------------------------------- */

/* Two stores on one root in one process (the sweep keeps this pid's files for that reason) both
 * number their temp files from 1. B's O_EXCL open collides with A's file in progress; whatever B
 * does about it, A's upload must survive. */
static sl_fs_t st2;
static sl_sink_file_t sink_a, sink_b;
static watch_t watch_a, watch_b;

static void end_a(watch_t *w)
{
    (void)w;
    sl_stream_end(&sink_a.s);
}

static void start_b(watch_t *w)
{
    (void)w;
    sink_open(&st2, &sink_b, &watch_b, "b", 0, 1024);
    watch_b.then = end_a;
    feed(&sink_b, "BBBB");
    sl_stream_end(&sink_b.s);
}

START_TEST(temp_file_of_another_store_survives_a_name_collision)
{
    char buf[16];

    open_store(0);
    ck_assert_int_eq(sl_fs_open(&st2, &loop, tmp, 0), 0);
    sink_open(&st, &sink_a, &watch_a, "a", 0, 1);
    watch_a.then = start_b; /* A's first write is on disk: its temp file exists */
    ck_assert_int_eq(feed(&sink_a, "AAAA"), 0);
    run_loop(&loop);
    ck_assert_int_eq(watch_b.close, 1);
    ck_assert_msg(watch_a.close_err == 0, "upload A failed with %s after B's collision (B: %s)",
                  sl_err_name(watch_a.close_err), sl_err_name(watch_b.close_err));
    ck_assert_int_eq(watch_a.finish, 1);
    ck_assert_int_eq(slurp(tmp, "a", buf, sizeof(buf)), 4);
    ck_assert_int_eq(temp_files(), 0);
    sl_fs_close(&st2);
    close_loop(&loop);
}
END_TEST

/* A crashed earlier process with this pid (pid 1 in a container, every time) left its temp file;
 * the sweep keeps it because the pid is ours. A new upload must not fail on it. */
START_TEST(stale_temp_file_with_this_pid_does_not_fail_an_upload)
{
    char name[64], buf[16];
    sl_sink_file_t f;
    watch_t w;

    open_store(0);
    snprintf(name, sizeof(name), ".sluice/tmp/%ld-1.part", (long)getpid());
    put_text(tmp, name, "left by a crash");
    sink_open(&st, &f, &w, "up", 0, 1024);
    feed(&f, "data");
    sl_stream_end(&f.s);
    run_loop(&loop);
    ck_assert_msg(w.close_err == 0, "upload failed with %s", sl_err_name(w.close_err));
    ck_assert_int_eq(slurp(tmp, "up", buf, sizeof(buf)), 4);
    close_loop(&loop);
}
END_TEST

/* --- pipeline ---------------------------------------------------------------------------- */

static int pl_calls, pl_status;

static void on_pipeline(sl_pipeline_t *p, int status)
{
    (void)p;
    pl_calls++;
    pl_status = status;
}

START_TEST(pipeline_from_a_source_commits_every_byte)
{
    enum { LEN = 1 << 20 };
    static char buf[LEN + 1];
    sl_sink_file_t f;
    sl_pipeline_t pl;
    fake_src_t src;
    sl_stream_t *stages[2];
    watch_t w;

    open_store(1);
    fake_src_init(&src, &loop, 64 << 10);
    fake_src_script_pattern(&src, LEN, 16 << 10, 1);
    sink_open(&st, &f, &w, "piped.bin", 0, 64 << 10);
    stages[0] = &src.s;
    stages[1] = &f.s;
    ck_assert_int_eq(sl_pipeline_run(&pl, stages, 2, on_pipeline), 0);
    fake_src_pump(&src);
    run_loop(&loop);
    ck_assert_int_eq(pl_calls, 1);
    ck_assert_int_eq(pl_status, 0);
    ck_assert_int_eq(slurp(tmp, "piped.bin", buf, sizeof(buf)), LEN);
    ck_assert_uint_eq(pattern_check(buf, LEN, 0), LEN);
    ck_assert_uint_eq(f.size, LEN);
    ck_assert_int_eq(temp_files(), 0);
    close_loop(&loop);
}
END_TEST

START_TEST(pipeline_abort_removes_the_temp_file)
{
    char buf[8];
    sl_sink_file_t f;
    sl_pipeline_t pl;
    fake_src_t src;
    sl_stream_t *stages[2];
    watch_t w;

    open_store(1);
    fake_src_init(&src, &loop, 16 << 10);
    fake_src_script_pattern(&src, 256 << 10, 8 << 10, 0); /* no EOF: the client stalls */
    sink_open(&st, &f, &w, "aborted", 0, 16 << 10);
    stages[0] = &src.s;
    stages[1] = &f.s;
    ck_assert_int_eq(sl_pipeline_run(&pl, stages, 2, on_pipeline), 0);
    fake_src_pump(&src);
    run_loop(&loop); /* returns once every scripted byte is in the temp file */
    ck_assert_int_eq(pl_calls, 0);
    ck_assert_uint_eq(f.s.bytes_in, 256 << 10);
    ck_assert_int_eq(temp_files(), 1);
    sl_pipeline_abort(&pl, SL_EPREMATURE);
    run_loop(&loop);
    ck_assert_int_eq(pl_calls, 1);
    ck_assert_int_eq(pl_status, SL_EPREMATURE); /* L3 */
    ck_assert_int_eq(slurp(tmp, "aborted", buf, sizeof(buf)), -1);
    ck_assert_int_eq(temp_files(), 0);
    close_loop(&loop);
}
END_TEST

Suite *sink_file_suite(void)
{
    Suite *s = suite_create("sink_file");
    TCase *tc;

    tc = tcase_create("commit");
    tcase_add_checked_fixture(tc, sink_setup, sink_teardown);
    tcase_add_loop_test(tc, chunks_then_end_commit_the_exact_content, 0, 4);
    tcase_add_test(tc, zero_byte_upload_commits_an_empty_file);
    tcase_add_test(tc, nested_name_creates_parent_directories);
    tcase_add_test(tc, small_writes_during_a_write_in_flight_are_coalesced);
    tcase_add_test(tc, upload_replaces_an_existing_file);
    tcase_add_test(tc, noreplace_on_an_existing_name_fails_with_eexists);
    tcase_add_test(tc, commit_over_a_directory_fails_and_removes_the_temp_file);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("destroy");
    tcase_add_checked_fixture(tc, sink_setup, sink_teardown);
    tcase_add_test(tc, destroy_mid_stream_removes_the_temp_file);
    tcase_add_test(tc, destroy_before_the_open_completes_removes_the_temp_file);
    tcase_add_test(tc, failed_temp_open_is_reported_at_close);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("temp_names");
    tcase_add_checked_fixture(tc, sink_setup, sink_teardown);
    tcase_add_test(tc, temp_file_of_another_store_survives_a_name_collision);
    tcase_add_test(tc, stale_temp_file_with_this_pid_does_not_fail_an_upload);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("pipeline");
    tcase_add_checked_fixture(tc, sink_setup, sink_teardown);
    tcase_add_test(tc, pipeline_from_a_source_commits_every_byte);
    tcase_add_test(tc, pipeline_abort_removes_the_temp_file);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);
    return s;
}
