/* SPDX-License-Identifier: MIT
 *
 * Piped chunks (streams/pipe.c): a pipe of the size asked for (or none), sl_pipe_fill's three
 * outcomes on a non-blocking socket (bytes, UV_EAGAIN, 0 at the end), a piped chunk counted
 * against the loop's budget like any chunk of its length, and its going: the pipe's `queued`
 * falls, the owner is told, the chunk's reference on the pipe is dropped, and the last release
 * closes both ends. sl_pipe_drain is covered with the file sink (tests/storage/test_sink_piped.c).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "streams/stream.h"

static int told;

static void on_drained(void *arg)
{
    *(int *)arg += 1;
}

START_TEST(pipe_fill_moves_bytes_then_says_eagain_then_eof)
{
    int sv[2], err = 0;
    sl_pipe_t *p = sl_pipe_new(256 << 10, 64 << 10, &err);
    char buf[100];

    ck_assert_ptr_nonnull(p);
    ck_assert_uint_ge(p->cap, 64 << 10);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    ck_assert_int_eq(sl_pipe_fill(p, sv[1], 100), UV_EAGAIN); /* nothing sent yet */
    ck_assert_int_eq(write(sv[0], "0123456789", 10), 10);
    ck_assert_int_eq(sl_pipe_fill(p, sv[1], 4), 4); /* at most what is asked */
    ck_assert_int_eq(sl_pipe_fill(p, sv[1], 100), 6);
    close(sv[0]);
    ck_assert_int_eq(sl_pipe_fill(p, sv[1], 100), 0); /* the peer's end */
    ck_assert_int_eq(read(p->rd, buf, sizeof(buf)), 10);
    ck_assert_int_eq(memcmp(buf, "0123456789", 10), 0);
    close(sv[1]);
    sl_pipe_release(p);
}
END_TEST

START_TEST(piped_chunk_is_counted_and_tells_the_owner_when_it_goes)
{
    uv_loop_t loop;
    int err = 0, rd;
    sl_pipe_t *p;
    sl_chunk_t *c;
    size_t base;

    ck_assert_int_eq(uv_loop_init(&loop), 0);
    sl_budget_set(&loop, 1 << 20);
    base = sl_budget_in_use(&loop);
    ck_assert_ptr_nonnull(p = sl_pipe_new(256 << 10, 64 << 10, &err));
    p->drained = on_drained;
    p->arg = &told;
    told = 0;
    c = sl_chunk_piped(&loop, p, 300000);
    ck_assert_ptr_null(c->base);
    ck_assert_ptr_eq(c->pipe, p);
    ck_assert_uint_eq(c->len, 300000);
    ck_assert_uint_eq(p->queued, 300000);
    ck_assert_uint_eq(p->refcnt, 2);
    ck_assert_uint_eq(sl_budget_in_use(&loop), base + 300000);
    sl_chunk_ref(c);
    sl_chunk_unref(c);
    ck_assert_int_eq(told, 0); /* still referenced */
    sl_chunk_unref(c);
    ck_assert_int_eq(told, 1);
    ck_assert_uint_eq(p->queued, 0);
    ck_assert_uint_eq(p->refcnt, 1);
    ck_assert_uint_eq(sl_budget_in_use(&loop), base);
    rd = p->rd;
    sl_pipe_release(p);
    ck_assert_int_eq(fcntl(rd, F_GETFD), -1); /* the last release closed it */
    ck_assert_int_eq(errno, EBADF);
    sl_defer_close(&loop);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

Suite *pipe_suite(void)
{
    Suite *s = suite_create("pipe");
    TCase *tc = tcase_create("pipe");

    tcase_add_test(tc, pipe_fill_moves_bytes_then_says_eagain_then_eof);
    tcase_add_test(tc, piped_chunk_is_counted_and_tells_the_owner_when_it_goes);
    suite_add_tcase(s, tc);
    return s;
}
