/* SPDX-License-Identifier: MIT
 *
 * sink_file with a known size (size_hint, from a request's Content-Length): a body that arrives
 * whole in the first write is held (its chunks referenced, the write reported done) and written
 * by the commit's job, so a small upload costs one trip to the thread pool instead of two. Pinned
 * here: no temp file exists between that write and the end (the old path created it with the
 * write), the committed bytes are exact in both durability modes, a destroy before the end
 * releases the chunks and leaves nothing, and a first write that is not the whole body takes the
 * usual path.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "storage/fs.h"
#include "support/doubles.h"
#include "support/files.h"

static char *dir;
static uv_loop_t loop;
static sl_fs_t st;
static int closed, close_err;

static void held_setup(void)
{
    doubles_setup();
    dir = tmpdir_new();
    open_loop(&loop);
    closed = 0;
    close_err = 1;
}

static void held_teardown(void)
{
    sl_fs_close(&st);
    tmpdir_remove(dir);
    dir = NULL;
}

static void on_close(sl_stream_t *s, int err)
{
    (void)s;
    closed++;
    close_err = err;
}

static int temp_files(void)
{
    return count_entries(dir, ".sluice/tmp");
}

/* A sink for `name` told the body is `hint` bytes; the first write is `body`. */
static sl_chunk_t *start(sl_sink_file_t *f, const char *name, uint64_t hint, const char *body)
{
    sl_chunk_t *c = sl_chunk_copy(&loop, body, strlen(body));

    sl_sink_file_init(f, &st, name, 0, 1 << 20);
    f->size_hint = hint;
    f->s.on_close = on_close;
    ck_assert_int_eq(sl_stream_write(&f->s, c), 1);
    run_loop(&loop);
    return c;
}

START_TEST(a_whole_small_body_is_written_by_the_commit)
{
    static const char body[] = "the whole body at once";
    sl_sink_file_t f;
    sl_chunk_t *c;
    char buf[64];

    ck_assert_int_eq(sl_fs_open(&st, &loop, dir, _i), 0);
    c = start(&f, "whole.txt", strlen(body), body);
    ck_assert_int_eq(temp_files(), 0); /* held: no job has run for it yet */
    ck_assert_uint_gt(c->refcnt, 1);   /* the sink holds it */
    ck_assert_int_eq(sl_stream_end(&f.s), 0);
    run_loop(&loop);
    ck_assert_int_eq(closed, 1);
    ck_assert_int_eq(close_err, 0);
    ck_assert_uint_eq(f.size, strlen(body));
    ck_assert_int_eq(slurp(dir, "whole.txt", buf, sizeof(buf)), (long)strlen(body));
    ck_assert_str_eq(buf, body);
    ck_assert_int_eq(temp_files(), 0);
    ck_assert_uint_eq(c->refcnt, 1); /* released after the commit */
    sl_chunk_unref(c);
    close_loop(&loop);
}
END_TEST

START_TEST(a_held_body_destroyed_before_its_end_leaves_nothing)
{
    sl_sink_file_t f;
    sl_chunk_t *c;
    char buf[8];

    ck_assert_int_eq(sl_fs_open(&st, &loop, dir, 1), 0);
    c = start(&f, "never.txt", 5, "12345");
    sl_stream_destroy(&f.s, SL_EPREMATURE);
    run_loop(&loop);
    ck_assert_int_eq(closed, 1);
    ck_assert_int_eq(close_err, SL_EPREMATURE);
    ck_assert_uint_eq(c->refcnt, 1);
    ck_assert_int_eq(slurp(dir, "never.txt", buf, sizeof(buf)), -1);
    ck_assert_int_eq(temp_files(), 0);
    sl_chunk_unref(c);
    close_loop(&loop);
}
END_TEST

START_TEST(a_first_write_short_of_the_size_takes_the_usual_path)
{
    sl_sink_file_t f;
    sl_chunk_t *c, *d;
    char buf[16];

    ck_assert_int_eq(sl_fs_open(&st, &loop, dir, 0), 0);
    c = start(&f, "two.txt", 10, "hello");
    ck_assert_int_eq(temp_files(), 1); /* created and written by the first write's job */
    d = sl_chunk_copy(&loop, "world", 5);
    ck_assert_int_ge(sl_stream_write(&f.s, d), 0);
    ck_assert_int_eq(sl_stream_end(&f.s), 0);
    run_loop(&loop);
    ck_assert_int_eq(close_err, 0);
    ck_assert_int_eq(slurp(dir, "two.txt", buf, sizeof(buf)), 10);
    ck_assert_str_eq(buf, "helloworld");
    sl_chunk_unref(c);
    sl_chunk_unref(d);
    close_loop(&loop);
}
END_TEST

Suite *sink_held_suite(void)
{
    Suite *s = suite_create("sink_held");
    TCase *tc = tcase_create("held");

    tcase_add_checked_fixture(tc, held_setup, held_teardown);
    tcase_add_loop_test(tc, a_whole_small_body_is_written_by_the_commit, 0, 2);
    tcase_add_test(tc, a_held_body_destroyed_before_its_end_leaves_nothing);
    tcase_add_test(tc, a_first_write_short_of_the_size_takes_the_usual_path);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}
