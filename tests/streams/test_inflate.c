/* SPDX-License-Identifier: MIT
 *
 * xf_inflate (streams/xf_inflate.c) in a pipeline src -> inflate -> sink. Every compressed body is
 * made here with zlib's deflate (gzip, zlib and raw deflate framing) and fed in many chunkings: one
 * byte at a time, random sizes, and whole; the sink must receive exactly the original bytes. The
 * failures: truncated, corrupt and trailing garbage are SL_EDECODE at the end or at once; a bomb is
 * SL_EBOMB after a bounded amount of output. Behind a slow sink the inflater holds at most one
 * output chunk, whatever the expansion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <zlib.h>

#include "streams/pipeline.h"
#include "streams/xf.h"
#include "support/doubles.h"

Suite *inflate_suite(void);

#define MiB (1u << 20)
enum { WB_GZIP = 15 + 16, WB_ZLIB = 15, WB_RAW = -15 };

static uv_loop_t loop;
static sl_pipeline_t pl;
static probe_t pp;
static fake_src_t f;
static test_sink_t k;
static sl_xf_inflate_t inf;

/* --- making compressed bodies ------------------------------------------------------------ */

typedef void (*gen_fn)(unsigned char *buf, size_t len, uint64_t off);

static const unsigned char *copy_from; /* gen_copy's source */

static void gen_copy(unsigned char *buf, size_t len, uint64_t off)
{
    memcpy(buf, copy_from + off, len);
}

static void gen_zeros(unsigned char *buf, size_t len, uint64_t off)
{
    (void)off;
    memset(buf, 0, len);
}

/* A 251-byte block of pattern bytes, repeated: compresses like zeros, but shows misplaced bytes. */
static void gen_period(unsigned char *buf, size_t len, uint64_t off)
{
    size_t i;

    for (i = 0; i < len; i++)
        buf[i] = pattern_byte((off + i) % 251);
}

/* Deflate `total` bytes made by `gen` with windowBits `wbits` (WB_*) at `level`. Returns an owned
 * buffer; its length in *out_len. */
static unsigned char *deflate_gen(int wbits, int level, uint64_t total, gen_fn gen, size_t *out_len)
{
    unsigned char *in = malloc(MiB), *out;
    size_t cap = 1 << 16, len = 0;
    uint64_t off = 0;
    z_stream z;
    int flush, ret;

    out = malloc(cap);
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    memset(&z, 0, sizeof(z));
    ck_assert_int_eq(deflateInit2(&z, level, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    do {
        size_t n = total - off < MiB ? (size_t)(total - off) : MiB;

        gen(in, n, off);
        off += n;
        flush = off == total ? Z_FINISH : Z_NO_FLUSH;
        z.next_in = in;
        z.avail_in = (uInt)n;
        do {
            if (cap - len < (1 << 16)) {
                cap *= 2;
                out = realloc(out, cap);
                ck_assert_ptr_nonnull(out);
            }
            z.next_out = out + len;
            z.avail_out = (uInt)(cap - len);
            ret = deflate(&z, flush);
            ck_assert_int_ne(ret, Z_STREAM_ERROR);
            len = cap - z.avail_out;
        } while (z.avail_out == 0 || (flush == Z_FINISH && ret != Z_STREAM_END));
    } while (flush != Z_FINISH);
    deflateEnd(&z);
    free(in);
    *out_len = len;
    return out;
}

static unsigned char *deflate_buf(int wbits, const void *data, size_t len, size_t *out_len)
{
    copy_from = data;
    return deflate_gen(wbits, 6, len, gen_copy, out_len);
}

/* Text-like bytes: runs of words (compressible) with stretches of pattern bytes (not). */
static unsigned char *sample(size_t len)
{
    static const char words[] = "sluice streams gzip bodies through a bounded chain; ";
    unsigned char *p = malloc(len);
    size_t i;

    ck_assert_ptr_nonnull(p);
    for (i = 0; i < len; i++)
        p[i] =
            (i / 4096) % 3 == 0 ? pattern_byte(i) : (unsigned char)words[i % (sizeof(words) - 1)];
    return p;
}

/* --- the chain --------------------------------------------------------------------------- */

enum { SYNC_SINK, SLOW_SINK };

/* Open the loop and run src -> inflate(mode, max_ratio) -> sink. */
static void start(int mode, uint64_t max_ratio, int sink_kind)
{
    sl_stream_t *st[] = {&f.s, &inf.s, &k.s};

    open_loop(&loop);
    fake_src_init(&f, &loop, 16384);
    sl_xf_inflate_init(&inf, &loop, mode, max_ratio, 64 << 10);
    if (sink_kind == SLOW_SINK)
        slow_sink_init(&k, &loop, 16384, 0, SINK_FINAL);
    else
        sync_sink_init(&k, &loop, (size_t)1 << 30, SINK_FINAL);
    probe_pipeline(&pp, &pl, "pl");
    ck_assert_int_eq(sl_pipeline_run(&pl, st, 3, probe_pipeline_cb), 0);
}

/* Script `len` bytes of `data` in pieces of `split` (0: whole), then EOF; the source pushes them
 * as the chain asks for more (R2). */
static void feed(const unsigned char *data, size_t len, size_t split)
{
    if (split == 0)
        split = len > 0 ? len : 1;
    fake_src_script_pattern(&f, len, split, 1);
    if (len > 0)
        memcpy(f.script, data, len);
    fake_src_pump(&f);
}

static uint32_t rnd(uint32_t *x) /* xorshift32 */
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Push `data` at once in random pieces (1 byte to 3 KiB, some single bytes), then EOF. */
static void feed_random(const unsigned char *data, size_t len, uint32_t seed)
{
    size_t off = 0;

    while (off < len) {
        uint32_t r = rnd(&seed);
        size_t n = r % 4 == 0 ? 1 : 1 + (r >> 8) % 3072;

        if (n > len - off)
            n = len - off;
        fake_src_push(&f, data + off, n);
        off += n;
    }
    fake_src_eof(&f);
}

/* Run the loop; the pipeline must have called back once. Returns its status. */
static int finish(void)
{
    run_loop(&loop);
    ck_assert_int_eq(pp.cb, 1);
    return pp.status;
}

/* Runs that went wrong in a loop of runs, reported together by assert_no_failures. */
static char fails[4096];
static int nfails, nruns;

/* After a run meant to decode to want[0..len): note what went wrong, if anything. */
static void note_run(const char *what, const unsigned char *want, size_t len)
{
    const char *why = NULL;
    size_t used = strlen(fails);

    nruns++;
    if (pp.status != 0)
        why = sl_err_name(pp.status);
    else if (k.got.len != len || (len > 0 && memcmp(k.got.data, want, len) != 0))
        why = "wrong output";
    else if (inf.out_total != len)
        why = "wrong out_total";
    else if (k.final_calls != 1)
        why = "no commit";
    if (why == NULL)
        return;
    nfails++;
    snprintf(fails + used, sizeof(fails) - used, "[%s: %s] ", what, why);
}

static void assert_no_failures(void)
{
    ck_assert_msg(nfails == 0, "%d of %d runs failed: %s", nfails, nruns, fails);
}

/* Every chunking of `z` (zlen bytes) decodes to `want` through `mode`, behind both sinks. */
static void assert_round_trips(int mode, const unsigned char *z, size_t zlen,
                               const unsigned char *want, size_t len)
{
    static const size_t splits[] = {1, 2, 7, 1000, 65536, 0};
    const size_t n = sizeof(splits) / sizeof(splits[0]);
    char what[64];
    size_t i;
    int kind;

    for (kind = SYNC_SINK; kind <= SLOW_SINK; kind++) {
        for (i = 0; i < n + 4; i++) { /* every split, then 4 random chunkings */
            start(mode, 100, kind);
            if (i < n)
                feed(z, zlen, splits[i]);
            else
                feed_random(z, zlen, 0x9e3779b9u + (uint32_t)i * 7919u);
            finish();
            snprintf(what, sizeof(what), "%s sink, %s %zu", kind ? "slow" : "sync",
                     i < n ? "split" : "random", i < n ? splits[i] : i - n);
            note_run(what, want, len);
            close_loop(&loop);
        }
    }
    assert_no_failures();
}

/* One run of `z` through `mode`, fed in pieces of `split`; returns the pipeline status. */
static int run_once(int mode, const unsigned char *z, size_t zlen, size_t split)
{
    int status;

    start(mode, 100, SYNC_SINK);
    feed(z, zlen, split);
    status = finish();
    if (status != 0)
        ck_assert_int_eq(k.final_calls, 0); /* nothing committed */
    close_loop(&loop);
    return status;
}

/* --- round trips ------------------------------------------------------------------------- */

static void round_trip(int wbits, int mode, size_t len)
{
    unsigned char *data = sample(len), *z;
    size_t zlen;

    z = deflate_buf(wbits, data, len, &zlen);
    assert_round_trips(mode, z, zlen, data, len);
    free(z);
    free(data);
}

START_TEST(gzip_decodes_to_the_original_bytes_in_every_chunking)
{
    round_trip(WB_GZIP, SL_INFLATE_GZIP, 200000);
}
END_TEST

START_TEST(zlib_deflate_decodes_to_the_original_bytes_in_every_chunking)
{
    round_trip(WB_ZLIB, SL_INFLATE_DEFLATE, 200000);
}
END_TEST

START_TEST(raw_deflate_is_accepted_as_deflate_in_every_chunking)
{
    round_trip(WB_RAW, SL_INFLATE_DEFLATE, 200000);
}
END_TEST

START_TEST(every_output_size_around_a_chunk_edge_decodes_exactly)
{
    /* The output ends just past a multiple of SL_XF_INFLATE_CHUNK, in the middle of a long match
     * (a run of zeros): whatever zlib still holds must come out before the end. Fed whole, and
     * byte by byte (two bytes in deflate mode: see the zlib round trip). */
    static const size_t tails[] = {0, 1, 2, 100, 257, 258, 259, 1000};
    static const int wbits[] = {WB_GZIP, WB_ZLIB, WB_RAW};
    size_t t, w, sp;

    for (t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
        for (w = 0; w < 3; w++) {
            size_t len = 2 * SL_XF_INFLATE_CHUNK + tails[t], zlen;
            unsigned char *data = calloc(1, len), *z;
            int mode = wbits[w] == WB_GZIP ? SL_INFLATE_GZIP : SL_INFLATE_DEFLATE;

            ck_assert_ptr_nonnull(data);
            pattern_fill((char *)data, 1000, 0);
            z = deflate_buf(wbits[w], data, len, &zlen);
            for (sp = 0; sp < 2; sp++) {
                size_t split = sp == 1 ? 0 : mode == SL_INFLATE_GZIP ? 1 : 2;
                char what[64];

                start(mode, 0, SYNC_SINK);
                feed(z, zlen, split);
                finish();
                snprintf(what, sizeof(what), "%zu bytes, windowBits %d, split %zu", len, wbits[w],
                         split);
                note_run(what, data, len);
                close_loop(&loop);
            }
            free(z);
            free(data);
        }
    }
    assert_no_failures();
}
END_TEST

START_TEST(in_total_counts_every_input_byte_once)
{
    static const int wbits[] = {WB_GZIP, WB_ZLIB, WB_RAW};
    static const size_t splits[] = {1, 1000, 0};
    unsigned char *data = sample(100000), *z;
    size_t zlen, w, sp;

    for (w = 0; w < 3; w++) {
        z = deflate_buf(wbits[w], data, 100000, &zlen);
        for (sp = 0; sp < 3; sp++) {
            start(wbits[w] == WB_GZIP ? SL_INFLATE_GZIP : SL_INFLATE_DEFLATE, 100, SYNC_SINK);
            feed(z, zlen, splits[sp]);
            finish();
            ck_assert_msg(inf.in_total == zlen, "windowBits %d, split %zu: in_total %llu of %zu",
                          wbits[w], splits[sp], (unsigned long long)inf.in_total, zlen);
            close_loop(&loop);
        }
        free(z);
    }
    free(data);
}
END_TEST

START_TEST(multi_member_gzip_decodes_to_the_concatenation)
{
    unsigned char *a = sample(90000), *za, *zb, *ze, *all, *want;
    const char *b = "second member\n";
    size_t la, lb, le, n;

    za = deflate_buf(WB_GZIP, a, 90000, &la);
    zb = deflate_buf(WB_GZIP, b, strlen(b), &lb);
    ze = deflate_buf(WB_GZIP, "", 0, &le); /* an empty member in the middle */
    all = malloc(la + le + lb);
    want = malloc(90000 + strlen(b));
    ck_assert_ptr_nonnull(all);
    ck_assert_ptr_nonnull(want);
    memcpy(all, za, la);
    memcpy(all + la, ze, le);
    memcpy(all + la + le, zb, lb);
    n = la + le + lb;
    memcpy(want, a, 90000);
    memcpy(want + 90000, b, strlen(b));
    assert_round_trips(SL_INFLATE_GZIP, all, n, want, 90000 + strlen(b));
    free(za);
    free(zb);
    free(ze);
    free(all);
    free(want);
    free(a);
}
END_TEST

START_TEST(an_empty_body_or_an_empty_gzip_decodes_to_an_empty_file)
{
    static const char *what[] = {"gzip, no bytes", "deflate, no bytes", "gzip of nothing"};
    size_t zlen, i;
    unsigned char *z = deflate_buf(WB_GZIP, "", 0, &zlen);

    for (i = 0; i < 3; i++) {
        start(i == 1 ? SL_INFLATE_DEFLATE : SL_INFLATE_GZIP, 100, i == 0 ? SYNC_SINK : SLOW_SINK);
        feed(i == 2 ? z : NULL, i == 2 ? zlen : 0, 1);
        finish();
        note_run(what[i], NULL, 0);
        close_loop(&loop);
    }
    assert_no_failures();
    free(z);
}
END_TEST

/* --- refusals ---------------------------------------------------------------------------- */

START_TEST(truncated_gzip_zlib_and_raw_deflate_are_sl_edecode_at_the_end)
{
    static const size_t cuts[] = {1, 4, 8, 9, 100, 0 /* half */};
    unsigned char *data = sample(100000), *z;
    size_t zlen, c, sp;

    z = deflate_buf(WB_GZIP, data, 100000, &zlen);
    for (c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
        size_t keep = cuts[c] ? zlen - cuts[c] : zlen / 2;

        for (sp = 0; sp < 3; sp++) {
            size_t split = sp == 0 ? 1 : sp == 1 ? 4096 : 0;
            ck_assert_msg(run_once(SL_INFLATE_GZIP, z, keep, split) == SL_EDECODE,
                          "cut %zu, split %zu: %s", cuts[c], split, sl_err_name(pp.status));
        }
    }
    ck_assert_int_eq(run_once(SL_INFLATE_GZIP, z, 10, 0), SL_EDECODE); /* the header alone */
    free(z);
    z = deflate_buf(WB_ZLIB, data, 100000, &zlen);
    ck_assert_int_eq(run_once(SL_INFLATE_DEFLATE, z, zlen - 1, 0), SL_EDECODE); /* adler32 cut */
    ck_assert_int_eq(run_once(SL_INFLATE_DEFLATE, z, zlen / 2, 1000), SL_EDECODE);
    free(z);
    z = deflate_buf(WB_RAW, data, 100000, &zlen);
    ck_assert_int_eq(run_once(SL_INFLATE_DEFLATE, z, zlen / 2, 0), SL_EDECODE);
    ck_assert_int_eq(run_once(SL_INFLATE_DEFLATE, z, zlen - 1, 2), SL_EDECODE);
    free(z);
    free(data);
}
END_TEST

START_TEST(corrupt_bytes_are_sl_edecode)
{
    unsigned char *data = sample(100000), *z, *bad;
    size_t zlen, i;

    z = deflate_buf(WB_GZIP, data, 100000, &zlen);
    bad = malloc(zlen);
    ck_assert_ptr_nonnull(bad);
    /* magic, magic, flags, deflate data, the middle, the CRC-32, the length */
    const size_t at[] = {0, 1, 3, 20, zlen / 2, zlen - 6, zlen - 2};
    for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        memcpy(bad, z, zlen);
        bad[at[i]] ^= 0x55;
        ck_assert_msg(run_once(SL_INFLATE_GZIP, bad, zlen, 0) == SL_EDECODE, "byte %zu: %s", at[i],
                      sl_err_name(pp.status));
        ck_assert_msg(run_once(SL_INFLATE_GZIP, bad, zlen, 1) == SL_EDECODE,
                      "byte %zu, split 1: %s", at[i], sl_err_name(pp.status));
    }
    free(z);
    z = deflate_buf(WB_ZLIB, data, 100000, &zlen);
    z[zlen - 1] ^= 1; /* adler32 */
    ck_assert_int_eq(run_once(SL_INFLATE_DEFLATE, z, zlen, 0), SL_EDECODE);
    ck_assert_int_eq(run_once(SL_INFLATE_GZIP, (const unsigned char *)"not gzip", 8, 0),
                     SL_EDECODE);
    free(z);
    free(bad);
    free(data);
}
END_TEST

START_TEST(trailing_garbage_after_a_deflate_stream_is_sl_edecode)
{
    static const int wbits[] = {WB_ZLIB, WB_RAW, WB_GZIP};
    unsigned char *data = sample(50000), *z, *withg;
    size_t zlen, w;

    for (w = 0; w < 3; w++) {
        int mode = wbits[w] == WB_GZIP ? SL_INFLATE_GZIP : SL_INFLATE_DEFLATE;

        z = deflate_buf(wbits[w], data, 50000, &zlen);
        withg = malloc(zlen + 7);
        ck_assert_ptr_nonnull(withg);
        memcpy(withg, z, zlen);
        memcpy(withg + zlen, "garbage", 7);
        ck_assert_msg(run_once(mode, withg, zlen + 7, 0) == SL_EDECODE, "windowBits %d: %s",
                      wbits[w], sl_err_name(pp.status));
        /* one byte at a time (two in deflate mode: see the zlib round trip), and the garbage
         * in a chunk of its own */
        ck_assert_msg(run_once(mode, withg, zlen + 7, mode == SL_INFLATE_GZIP ? 1 : 2) ==
                          SL_EDECODE,
                      "windowBits %d, small pieces: %s", wbits[w], sl_err_name(pp.status));
        ck_assert_msg(run_once(mode, withg, zlen + 7, zlen) == SL_EDECODE,
                      "windowBits %d, garbage apart: %s", wbits[w], sl_err_name(pp.status));
        free(withg);
        free(z);
    }
    free(data);
}
END_TEST

/* 64 MiB of zeros at level 9 (about 64 KiB) with max_ratio 100, fed in pieces of `split`. */
static void assert_bomb_refused(size_t split, uint64_t max_out)
{
    size_t zlen;
    unsigned char *z = deflate_gen(WB_GZIP, 9, 64ull * MiB, gen_zeros, &zlen);

    start(SL_INFLATE_GZIP, 100, SYNC_SINK);
    feed(z, zlen, split);
    ck_assert_int_eq(finish(), SL_EBOMB);
    ck_assert_int_eq(inf.s.error, SL_EBOMB);
    ck_assert_int_eq(k.final_calls, 0);
    /* The check runs after every inflate call, which makes at most one output chunk; the input
     * it may count is what was fed, at most zlen. */
    ck_assert_msg(inf.out_total <=
                      100 * (inf.in_total < zlen ? inf.in_total : zlen) + MiB + SL_XF_INFLATE_CHUNK,
                  "%llu bytes out of %zu in (in_total %llu)", (unsigned long long)inf.out_total,
                  zlen, (unsigned long long)inf.in_total);
    ck_assert_uint_gt(inf.out_total, 100 * inf.in_total + MiB - SL_XF_INFLATE_CHUNK);
    ck_assert_uint_le(inf.out_total, max_out);
    ck_assert_uint_le(k.got.len, inf.out_total);
    close_loop(&loop);
    free(z);
}

START_TEST(a_bomb_fed_in_small_pieces_is_sl_ebomb_after_little_output)
{
    assert_bomb_refused(1024, 2 * MiB);
}
END_TEST

START_TEST(a_bomb_fed_whole_is_sl_ebomb_before_max_ratio_times_its_size)
{
    assert_bomb_refused(0, 8 * MiB);
}
END_TEST

/* --- backpressure ------------------------------------------------------------------------ */

/* 64 MiB from about 256 KiB: with max_ratio 0 (no limit) this ratio of 250 goes through. */
START_TEST(behind_a_slow_sink_the_inflater_holds_one_output_chunk)
{
    const uint64_t total = 64ull * MiB;
    size_t zlen, i;
    unsigned char *z = deflate_gen(WB_GZIP, 9, total, gen_period, &zlen);

    start(SL_INFLATE_GZIP, 0, SLOW_SINK);
    feed(z, zlen, 16384);
    ck_assert_int_eq(finish(), 0);
    /* exact output */
    ck_assert_uint_eq(k.got.len, total);
    for (i = 0; i < total && (unsigned char)k.got.data[i] == pattern_byte(i % 251); i++)
        ;
    ck_assert_uint_eq(i, total);
    ck_assert_int_eq(k.final_calls, 1);
    /* Bounded buffers: the sink never queued more than the chunk in flight and the next one,
     * and every chunk alive at once (input batches, output chunks) stayed under 1 MiB while 64
     * MiB went through. sl_budget_peak is per loop, and the loop's context is this test's (the
     * last close_loop released the one before, with CK_FORK=no too). */
    ck_assert_uint_le(k.max_length, 2 * SL_XF_INFLATE_CHUNK);
    ck_assert_uint_gt(sl_budget_peak(&loop), 0);
    ck_assert_msg(sl_budget_peak(&loop) < MiB, "peak %zu bytes of chunks", sl_budget_peak(&loop));
    ck_assert_uint_gt(f.zero_pushes, 0); /* the source was paused too */
    close_loop(&loop);
    free(z);
}
END_TEST

START_TEST(destroying_a_paused_inflater_releases_its_batch)
{
    size_t zlen;
    unsigned char *z = deflate_gen(WB_GZIP, 9, 16ull * MiB, gen_zeros, &zlen);

    start(SL_INFLATE_GZIP, 0, SLOW_SINK);
    feed(z, zlen, 0);
    uv_run(&loop, UV_RUN_NOWAIT); /* a few chunks in: the inflater is paused mid-batch */
    ck_assert_uint_lt(inf.out_total, 16ull * MiB);
    sl_pipeline_abort(&pl, SL_EPREMATURE);
    ck_assert_int_eq(finish(), SL_EPREMATURE);
    ck_assert_int_eq(k.final_calls, 0);
    close_loop(&loop); /* asserts no chunk is left alive */
    free(z);
}
END_TEST

Suite *inflate_suite(void)
{
    Suite *s = suite_create("inflate");
    TCase *tc;

    tc = add_tcase(s, "round_trip");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, gzip_decodes_to_the_original_bytes_in_every_chunking);
    tcase_add_test(tc, zlib_deflate_decodes_to_the_original_bytes_in_every_chunking);
    tcase_add_test(tc, raw_deflate_is_accepted_as_deflate_in_every_chunking);
    tcase_add_test(tc, every_output_size_around_a_chunk_edge_decodes_exactly);
    tcase_add_test(tc, multi_member_gzip_decodes_to_the_concatenation);
    tcase_add_test(tc, in_total_counts_every_input_byte_once);
    tcase_add_test(tc, an_empty_body_or_an_empty_gzip_decodes_to_an_empty_file);

    tc = add_tcase(s, "refusals");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, truncated_gzip_zlib_and_raw_deflate_are_sl_edecode_at_the_end);
    tcase_add_test(tc, corrupt_bytes_are_sl_edecode);
    tcase_add_test(tc, trailing_garbage_after_a_deflate_stream_is_sl_edecode);
    tcase_add_test(tc, a_bomb_fed_in_small_pieces_is_sl_ebomb_after_little_output);
    tcase_add_test(tc, a_bomb_fed_whole_is_sl_ebomb_before_max_ratio_times_its_size);

    tc = add_tcase(s, "backpressure");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, behind_a_slow_sink_the_inflater_holds_one_output_chunk);
    tcase_add_test(tc, destroying_a_paused_inflater_releases_its_batch);
    return s;
}
