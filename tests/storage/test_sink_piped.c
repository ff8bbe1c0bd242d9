/* SPDX-License-Identifier: MIT
 *
 * sink_file fed piped chunks (streams/pipe.c): bytes that wait in a kernel pipe, spliced into the
 * temp file by the write's job. Pinned here: piped and memory chunks, in any mix and order, land
 * in the file in the order they were written (the first write, which creates the file, included);
 * each piped chunk takes exactly its own bytes out of its pipe, so the pipe is empty at the end
 * and told each time a chunk goes; a whole body given at once with a known size is not "held"
 * when piped (the commit's job writes memory only); a destroy mid-way leaves nothing.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "storage/fs.h"
#include "support/doubles.h"
#include "support/files.h"

static char *dir;
static uv_loop_t loop;
static sl_fs_t st;
static int closed, close_err, drained;
static int sv[2]; /* a socket pair: tests write into sv[0], the pipe is filled from sv[1] */

static void piped_setup(void)
{
    doubles_setup();
    dir = tmpdir_new();
    open_loop(&loop);
    closed = drained = 0;
    close_err = 1;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

static void piped_teardown(void)
{
    close(sv[0]);
    close(sv[1]);
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

static void on_drained(void *arg)
{
    (void)arg;
    drained++;
}

static sl_pipe_t *new_pipe(void)
{
    int err = 0;
    sl_pipe_t *p = sl_pipe_new(256 << 10, 64 << 10, &err);

    ck_assert_msg(p != NULL, "pipe: %d", err);
    p->drained = on_drained;
    return p;
}

/* `len` bytes of `fill` sent through the socket pair and spliced into p: their piped chunk. */
static sl_chunk_t *piped(sl_pipe_t *p, int fill, size_t len)
{
    char *b = malloc(len);
    size_t got = 0;

    memset(b, fill, len);
    ck_assert_int_eq(write(sv[0], b, len), (ssize_t)len);
    free(b);
    while (got < len) {
        ssize_t n = sl_pipe_fill(p, sv[1], len - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    return sl_chunk_piped(&loop, p, len);
}

static void write_chunk(sl_sink_file_t *f, sl_chunk_t *c)
{
    sl_stream_write(&f->s, c);
    sl_chunk_unref(c);
}

static void write_text(sl_sink_file_t *f, const char *s)
{
    write_chunk(f, sl_chunk_copy(&loop, s, strlen(s)));
}

/* The file `name` holds exactly `want`. */
static void assert_content(const char *name, const char *want, size_t len)
{
    char path[4096], *got = malloc(len + 1);
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    ck_assert_ptr_nonnull(fp = fopen(path, "rb"));
    ck_assert_uint_eq(fread(got, 1, len + 1, fp), len);
    fclose(fp);
    ck_assert_int_eq(memcmp(got, want, len), 0);
    free(got);
}

START_TEST(piped_and_memory_chunks_land_in_order)
{
    const size_t k = 100000; /* not a multiple of a page: chunks end mid-page */
    sl_sink_file_t f;
    sl_pipe_t *p;
    char *want = malloc(3 * k + 64), *w = want;
    int first_piped = _i & 1;

    ck_assert_int_eq(sl_fs_open(&st, &loop, dir, _i >> 1), 0);
    p = new_pipe();
    sl_sink_file_init(&f, &st, "mixed.bin", 0, 1 << 20);
    f.s.on_close = on_close;
    if (first_piped) { /* the first write creates the file: a piped one too */
        write_chunk(&f, piped(p, 'a', k));
        memset(w, 'a', k), w += k;
    } else {
        write_text(&f, "head-");
        memcpy(w, "head-", 5), w += 5;
    }
    run_loop(&loop);
    write_chunk(&f, piped(p, 'b', k)); /* queued together: one batch, pipe then memory */
    write_text(&f, "-mid-");
    write_chunk(&f, piped(p, 'c', k));
    memset(w, 'b', k), w += k;
    memcpy(w, "-mid-", 5), w += 5;
    memset(w, 'c', k), w += k;
    write_text(&f, "-tail");
    memcpy(w, "-tail", 5), w += 5;
    ck_assert_int_eq(sl_stream_end(&f.s), 0);
    run_loop(&loop);
    ck_assert_int_eq(closed, 1);
    ck_assert_int_eq(close_err, 0);
    ck_assert_uint_eq(f.size, (uint64_t)(w - want));
    assert_content("mixed.bin", want, (size_t)(w - want));
    ck_assert_uint_eq(p->queued, 0);
    ck_assert_int_eq(drained, first_piped ? 3 : 2); /* told once per piped chunk */
    {
        int left = -1;
        ck_assert_int_eq(ioctl(p->rd, FIONREAD, &left), 0);
        ck_assert_int_eq(left, 0); /* each chunk took exactly its own bytes */
    }
    ck_assert_uint_eq(p->refcnt, 1); /* the chunks' references are gone */
    sl_pipe_release(p);
    ck_assert_int_eq(count_entries(dir, ".sluice/tmp"), 0);
    free(want);
    close_loop(&loop);
}
END_TEST

START_TEST(a_whole_piped_body_of_known_size_is_written_not_held)
{
    const size_t k = 200000;
    sl_sink_file_t f;
    sl_pipe_t *p;
    char *want = malloc(k);

    ck_assert_int_eq(sl_fs_open(&st, &loop, dir, 0), 0);
    p = new_pipe();
    sl_sink_file_init(&f, &st, "whole.bin", 0, 1 << 20);
    f.size_hint = k;
    f.s.on_close = on_close;
    write_chunk(&f, piped(p, 'w', k));
    run_loop(&loop);
    ck_assert_int_eq(count_entries(dir, ".sluice/tmp"), 1); /* written by the write's job */
    ck_assert_int_eq(sl_stream_end(&f.s), 0);
    run_loop(&loop);
    ck_assert_int_eq(close_err, 0);
    memset(want, 'w', k);
    assert_content("whole.bin", want, k);
    sl_pipe_release(p);
    free(want);
    close_loop(&loop);
}
END_TEST

START_TEST(destroy_with_piped_chunks_queued_leaves_nothing)
{
    sl_sink_file_t f;
    sl_pipe_t *p;
    char buf[8];

    ck_assert_int_eq(sl_fs_open(&st, &loop, dir, 1), 0);
    p = new_pipe();
    sl_sink_file_init(&f, &st, "never.bin", 0, 16);
    f.s.on_close = on_close;
    write_chunk(&f, piped(p, 'x', 50000));
    write_chunk(&f, piped(p, 'y', 50000)); /* queued behind the first */
    sl_stream_destroy(&f.s, SL_EPREMATURE);
    run_loop(&loop);
    ck_assert_int_eq(closed, 1);
    ck_assert_int_eq(slurp(dir, "never.bin", buf, sizeof(buf)), -1);
    ck_assert_int_eq(count_entries(dir, ".sluice/tmp"), 0);
    ck_assert_uint_eq(p->queued, 0); /* dropped chunks give their room back too */
    ck_assert_uint_eq(p->refcnt, 1);
    sl_pipe_release(p);
    close_loop(&loop);
}
END_TEST

Suite *sink_piped_suite(void)
{
    Suite *s = suite_create("sink_piped");
    TCase *tc = tcase_create("piped");

    tcase_add_checked_fixture(tc, piped_setup, piped_teardown);
    tcase_add_loop_test(tc, piped_and_memory_chunks_land_in_order, 0, 4);
    tcase_add_test(tc, a_whole_piped_body_of_known_size_is_written_not_held);
    tcase_add_test(tc, destroy_with_piped_chunks_queued_leaves_nothing);
    suite_add_tcase(s, tc);
    return s;
}
