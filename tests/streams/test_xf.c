/* SPDX-License-Identifier: MIT
 *
 * The transforms of streams/xf.h in a pipeline src -> xf -> sink: xf_limit lets exactly `max`
 * bytes through and fails the upload with SL_ETOOLARGE at max + 1; xf_digest computes crc32 and
 * SHA-256 of whatever passes, whatever the chunk boundaries, and forwards chunks by reference.
 * Reference digests of generated data come from zlib and OpenSSL directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "streams/pipeline.h"
#include "streams/xf.h"
#include "support/doubles.h"

Suite *xf_suite(void);

static uv_loop_t loop;
static sl_pipeline_t pl;
static probe_t pp;
static fake_src_t f;
static sync_sink_t k;
static sl_xf_limit_t lim;
static sl_xf_digest_t dg;

/* Open the loop (the transform is initialised on it next, then passed to chain). */
static void open_chain(void)
{
    open_loop(&loop);
    fake_src_init(&f, &loop, 16384);
    sync_sink_init(&k, &loop, 16384, SINK_FINAL);
}

/* Run the pipeline f -> xf -> k, probed as "pl". */
static void chain(sl_stream_t *xf)
{
    sl_stream_t *st[] = {&f.s, xf, &k.s};

    probe_pipeline(&pp, &pl, "pl");
    ck_assert_int_eq(sl_pipeline_run(&pl, st, 3, probe_pipeline_cb), 0);
}

/* Push `str` (when not NULL) and EOF, run the loop, and return the pipeline status. */
static int finish_chain(const char *str)
{
    if (str != NULL)
        fake_src_push_str(&f, str);
    fake_src_eof(&f);
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    return pp.status;
}

static void hex32(const unsigned char *md, char *hex)
{
    int i;

    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Both forms of the digest's SHA-256 are `hex`. */
static void assert_sha256(const char *hex)
{
    char got[65];

    hex32(dg.sha256, got);
    ck_assert_str_eq(got, hex);
    ck_assert_str_eq(dg.sha256_hex, hex);
}

START_TEST(limit_passes_exactly_max_bytes)
{
    open_chain();
    sl_xf_limit_init(&lim, &loop, 10, 1024);
    chain(&lim.s);
    fake_src_push_str(&f, "hello");
    ck_assert_int_eq(finish_chain("world"), 0);
    assert_got(&k, "helloworld");
    ck_assert_uint_eq(lim.seen, 10);
    ck_assert_int_eq(k.final_calls, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(limit_fails_at_max_plus_one_with_sl_etoolarge)
{
    open_chain();
    sl_xf_limit_init(&lim, &loop, 10, 1024);
    chain(&lim.s);
    fake_src_push_str(&f, "0123456789");
    ck_assert_int_eq(finish_chain("x"), SL_ETOOLARGE);
    ck_assert_int_eq(pl.error, SL_ETOOLARGE);
    ck_assert_int_eq(k.final_calls, 0); /* never committed */
    ck_assert_int_eq(k.d.destroy_err, SL_ETOOLARGE);
    close_loop(&loop);
}
END_TEST

START_TEST(limit_fails_inside_a_single_oversized_chunk)
{
    open_chain();
    sl_xf_limit_init(&lim, &loop, 10, 1024);
    chain(&lim.s);
    ck_assert_int_eq(finish_chain("0123456789x"), SL_ETOOLARGE);
    ck_assert_int_eq(k.final_calls, 0);
    close_loop(&loop);
}
END_TEST

START_TEST(limit_0_means_no_limit)
{
    open_chain();
    sl_xf_limit_init(&lim, &loop, 0, 1024);
    chain(&lim.s);
    fake_src_script_pattern(&f, 3 * 65536, 65536, 1);
    fake_src_pump(&f);
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    ck_assert_int_eq(pp.status, 0);
    ck_assert_uint_eq(k.got.len, 3 * 65536);
    ck_assert_uint_eq(pattern_check(k.got.data, k.got.len, 0), 3 * 65536);
    close_loop(&loop);
}
END_TEST

START_TEST(limit_alone_fails_with_a_sticky_sl_etoolarge)
{
    probe_t p;

    open_loop(&loop);
    sl_xf_limit_init(&lim, &loop, 4, 1024);
    probe_stream(&p, &lim.s, "limit");
    ck_assert_int_ge(write_str(&lim.s, "abcde"), 0);
    run_loop(&loop);
    ck_assert_int_eq(lim.s.error, SL_ETOOLARGE);
    ck_assert_int_eq(p.close, 1);
    ck_assert_int_eq(p.close_err, SL_ETOOLARGE);
    ck_assert_int_lt(write_str(&lim.s, "f"), 0);
    close_loop(&loop);
}
END_TEST

START_TEST(l3_too_large_destroys_every_stage_with_sl_etoolarge)
{
    sl_stream_t *st[] = {&f.s, &lim.s, &dg.s, &k.s};

    open_chain();
    sl_xf_limit_init(&lim, &loop, 8, 1024);
    sl_xf_digest_init(&dg, &loop, 1024);
    probe_pipeline(&pp, &pl, "pl");
    ck_assert_int_eq(sl_pipeline_run(&pl, st, 4, probe_pipeline_cb), 0);
    fake_src_push_str(&f, "12345");
    fake_src_push_str(&f, "67890"); /* no EOF: the source is still open at the failure */
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    ck_assert_int_eq(pp.status, SL_ETOOLARGE);
    ck_assert_int_eq(f.d.destroy_err, SL_ETOOLARGE);
    ck_assert_int_eq(k.d.destroy_err, SL_ETOOLARGE);
    ck_assert(lim.s.flags & SL_STREAM_CLOSED);
    ck_assert(dg.s.flags & SL_STREAM_CLOSED);
    ck_assert_int_eq(k.final_calls, 0);
    assert_order("sink.destroyed", "pl.cb");
    close_loop(&loop);
}
END_TEST

/* xf_limit and xf_digest forward the very chunk they were given (xf.h: "no copy"). */
static void assert_forwards_by_reference(sl_stream_t *xf)
{
    sl_chunk_t *c = sl_chunk_copy(&loop, "by reference", 12);

    chain(xf);
    fake_src_push_chunk(&f, c);
    ck_assert_int_eq(finish_chain(NULL), 0);
    ck_assert_uint_ge(k.nchunks, 1);
    ck_assert_ptr_eq(k.chunks[0], c);
    ck_assert_uint_eq(c->refcnt, 1); /* and let it go */
    sl_chunk_unref(c);
    close_loop(&loop);
}

START_TEST(t1_limit_forwards_chunks_by_reference)
{
    open_chain();
    sl_xf_limit_init(&lim, &loop, 100, 1024);
    assert_forwards_by_reference(&lim.s);
}
END_TEST

START_TEST(t1_digest_forwards_chunks_by_reference)
{
    open_chain();
    sl_xf_digest_init(&dg, &loop, 1024);
    assert_forwards_by_reference(&dg.s);
}
END_TEST

START_TEST(digest_of_abc)
{
    open_chain();
    sl_xf_digest_init(&dg, &loop, 1024);
    chain(&dg.s);
    ck_assert_int_eq(finish_chain("abc"), 0);
    ck_assert_uint_eq(dg.crc32, 0x352441c2);
    assert_sha256("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_uint_eq(dg.size, 3);
    assert_got(&k, "abc");
    close_loop(&loop);
}
END_TEST

START_TEST(digest_of_empty_input)
{
    open_chain();
    sl_xf_digest_init(&dg, &loop, 1024);
    chain(&dg.s);
    ck_assert_int_eq(finish_chain(NULL), 0);
    ck_assert_uint_eq(dg.crc32, 0);
    assert_sha256("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ck_assert_uint_eq(dg.size, 0);
    ck_assert_int_eq(k.final_calls, 1);
    close_loop(&loop);
}
END_TEST

static const struct {
    const char *text;
    uint32_t crc32;
    const char *sha256;
} vectors[] = {
    {"123456789", 0xcbf43926, "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 0x171a3f5f,
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
};

START_TEST(digest_of_known_vectors_in_one_byte_chunks)
{
    size_t v, i;

    for (v = 0; v < sizeof(vectors) / sizeof(vectors[0]); v++) {
        open_chain();
        sl_xf_digest_init(&dg, &loop, 1024);
        chain(&dg.s);
        for (i = 0; vectors[v].text[i] != '\0'; i++)
            fake_src_push(&f, vectors[v].text + i, 1);
        ck_assert_int_eq(finish_chain(NULL), 0);
        ck_assert_uint_eq(dg.crc32, vectors[v].crc32);
        assert_sha256(vectors[v].sha256);
        ck_assert_uint_eq(dg.size, strlen(vectors[v].text));
        close_loop(&loop);
    }
}
END_TEST

START_TEST(digest_is_independent_of_chunk_splits)
{
    static const size_t splits[] = {1, 7, 64, 1000, 4096, 16384, 40000};
    const size_t len = 40000;
    char *data = malloc(len);
    unsigned char md[32];
    unsigned int mdlen = 0;
    char want[65];
    uint32_t want_crc;
    size_t i;

    ck_assert_ptr_nonnull(data);
    pattern_fill(data, len, 0);
    want_crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)data, (uInt)len);
    ck_assert_int_eq(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
    ck_assert_uint_eq(mdlen, 32);
    hex32(md, want);
    for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        open_chain();
        sl_xf_digest_init(&dg, &loop, 16384);
        chain(&dg.s);
        fake_src_script_pattern(&f, len, splits[i], 1);
        fake_src_pump(&f);
        run_loop(&loop);
        ck_assert_int_eq(pp.cb, 1);
        ck_assert_int_eq(pp.status, 0);
        ck_assert_msg(dg.crc32 == want_crc, "split %zu: crc32 %08x, want %08x", splits[i],
                      (unsigned)dg.crc32, (unsigned)want_crc);
        assert_sha256(want);
        ck_assert_uint_eq(dg.size, len);
        ck_assert_uint_eq(k.got.len, len);
        ck_assert_mem_eq(k.got.data, data, len);
        close_loop(&loop);
    }
    free(data);
}
END_TEST

START_TEST(digest_is_right_when_the_tail_arrives_inside_a_drain)
{
    sl_stream_t *st[] = {&f.s, &dg.s, &k.s};

    open_chain();
    sl_xf_digest_init(&dg, &loop, 4);
    probe_pipeline(&pp, &pl, "pl");
    ck_assert_int_eq(sl_pipeline_run(&pl, st, 3, probe_pipeline_cb), 0);
    run_loop(&loop);
    fake_src_push_str(&f, "12345678");       /* fills the digest (hwm 4): the source pauses */
    fake_src_push_str(&f, "abcd");           /* the tail and the EOF wait in the source ... */
    ck_assert_int_eq(finish_chain(NULL), 0); /* ... until the digest drains */
    ck_assert_uint_eq(dg.size, 12);
    ck_assert_uint_eq(dg.crc32, 0x3630fd12);
    assert_sha256("9171fc5e7cd440fac61adc27cbebb78ff028a19a1abeaa041807a5ea936fbd94");
    assert_got(&k, "12345678abcd");
    ck_assert_int_eq(k.final_calls, 1);
    close_loop(&loop);
}
END_TEST

START_TEST(t2_digest_holds_its_done_while_unread)
{
    const size_t big = 256 * 1024; /* more than any readable high-water mark */
    char *data = malloc(big);
    sl_chunk_t *c;

    ck_assert_ptr_nonnull(data);
    open_loop(&loop);
    sl_xf_digest_init(&dg, &loop, 1024);
    sync_sink_init(&k, &loop, big * 4, SINK_NO_FINAL);
    pattern_fill(data, big, 0);
    c = sl_chunk_copy(&loop, data, big);
    ck_assert_int_ge(sl_stream_write(&dg.s, c), 0);
    ck_assert_int_ge(sl_stream_write(&dg.s, c), 0);
    run_loop(&loop);
    ck_assert_uint_eq(dg.size, big); /* the second chunk waits: nobody reads the first */
    ck_assert_int_eq(sl_stream_pipe(&dg.s, &k.s), 0);
    run_loop(&loop);
    ck_assert_uint_eq(dg.size, 2 * big);
    ck_assert_uint_eq(k.got.len, 2 * big);
    sl_stream_destroy(&dg.s, 0);
    sl_chunk_unref(c);
    free(data);
    close_loop(&loop);
}
END_TEST

Suite *xf_suite(void)
{
    Suite *s = suite_create("xf");
    TCase *tc;

    tc = add_tcase(s, "limit");
    tcase_add_test(tc, limit_passes_exactly_max_bytes);
    tcase_add_test(tc, limit_fails_at_max_plus_one_with_sl_etoolarge);
    tcase_add_test(tc, limit_fails_inside_a_single_oversized_chunk);
    tcase_add_test(tc, limit_0_means_no_limit);
    tcase_add_test(tc, limit_alone_fails_with_a_sticky_sl_etoolarge);
    tcase_add_test(tc, l3_too_large_destroys_every_stage_with_sl_etoolarge);
    tcase_add_test(tc, t1_limit_forwards_chunks_by_reference);

    tc = add_tcase(s, "digest");
    tcase_add_test(tc, digest_of_abc);
    tcase_add_test(tc, digest_of_empty_input);
    tcase_add_test(tc, digest_of_known_vectors_in_one_byte_chunks);
    tcase_add_test(tc, digest_is_independent_of_chunk_splits);
    tcase_add_test(tc, digest_is_right_when_the_tail_arrives_inside_a_drain);
    tcase_add_test(tc, t1_digest_forwards_chunks_by_reference);
    tcase_add_test(tc, t2_digest_holds_its_done_while_unread);
    return s;
}
