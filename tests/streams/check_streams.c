/* SPDX-License-Identifier: MIT
 *
 * check_streams: the Check runner for streams/. Every suite of tests/streams is listed here, in
 * one place (libuv's test-list.h). Tests run in a child process each (CK_FORK, Check's default),
 * so a crash or a hang fails one test, not the run; CK_RUN_SUITE / CK_RUN_CASE select a part and
 * CK_FORK=no runs in-process under a debugger.
 */
#include <stdlib.h>

#include <check.h>

Suite *chunk_suite(void);
Suite *stream_suite(void);
Suite *pipeline_suite(void);
Suite *xf_suite(void);
Suite *inflate_suite(void);
Suite *digest_expect_suite(void);
Suite *digest_algs_suite(void);
Suite *multipart_suite(void);
Suite *multipart_chunks_suite(void);
Suite *loops_suite(void);
Suite *pipe_suite(void);

static Suite *(*const suites[])(void) = {
    chunk_suite,    /* test_chunk.c: refcount, budget, waiters */
    stream_suite,   /* test_stream.c: W1-W11, R1-R3, T1-T3 */
    pipeline_suite, /* test_pipeline.c: P1-P3, D1-D2, L1-L4 */
    xf_suite,       /* test_xf.c: xf_limit, xf_digest */
    inflate_suite,  /* test_inflate.c: xf_inflate */
    digest_expect_suite,
    digest_algs_suite, /* test_digest_algs.c: sha1, md5, crc32 for tus */
    multipart_suite,
    multipart_chunks_suite,
    loops_suite, /* test_loops.c: per-loop state, many loops, two threads */
    pipe_suite,  /* test_pipe.c: piped chunks */
};

int main(void)
{
    SRunner *sr = srunner_create(NULL);
    size_t i;
    int failed;

    for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
        srunner_add_suite(sr, suites[i]());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
