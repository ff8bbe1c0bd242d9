/* SPDX-License-Identifier: MIT
 *
 * The one chain builder (server/proto/chain.c) over the in-memory store (tests/support/mem_store):
 * for the spec of each upload kind (a PUT with the default digests or with none, a gzip body with
 * its Content-Digest, a Repr-Digest, a form's tail and one of its parts, a tus PATCH with a header
 * checksum or a late one, a SHA-256 carried across two PATCHes) the test asserts which stages the
 * chain has and in which order, pushes real bytes through it from a fake source, runs the loop
 * until the pipeline's callback and asserts the status, the bytes and digests the store kept, and
 * that a failure (SL_ETOOLARGE, SL_ECHECKSUM) commits nothing (S1). sl__chain_free must release
 * every stage: the suite runs under AddressSanitizer's leak checker in the sanitizer build.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "server/proto/chain.h"
#include "storage/tus.h"
#include "support/doubles.h"
#include "support/mem_store.h"

#define BODY (200u << 10) /* past SL_XF_DIGEST_INLINE: digests are hashed on the thread pool */

static uv_loop_t loop;
static sl_store_t *st;
static sl_chain_t chain;
static fake_src_t srcs[2];
static int nsrc, cb_calls, cb_status;
static char *body;
static const sl_digests_t none;

static void chain_setup(void)
{
    doubles_setup();
    open_loop(&loop);
    st = mem_store_new(&loop, 0);
    body = sl_xmalloc(BODY);
    pattern_fill(body, BODY, 0);
    nsrc = cb_calls = 0;
    cb_status = 1;
}

static void chain_teardown(void)
{
    free(body);
}

/* Close the loop (every chunk released, no handle left) and the store. */
static void finish(void)
{
    close_loop(&loop);
    sl_store_close(st);
}

static void on_done(sl_pipeline_t *pl, int status)
{
    ck_assert_ptr_eq(pl, &chain.pl);
    ck_assert_ptr_eq(pl->data, &chain);
    cb_calls++;
    cb_status = status;
}

static sl_stream_t *new_src(void)
{
    ck_assert_int_lt(nsrc, 2);
    fake_src_init(&srcs[nsrc], &loop, 4u << 20);
    return &srcs[nsrc++].s;
}

static void build(sl_chain_spec_t *spec)
{
    if (spec->hwm == 0)
        spec->hwm = 64u << 10;
    sl__chain_build(&chain, &loop, st, spec, on_done, &chain);
    ck_assert_ptr_eq(chain.store, st);
}

static void feed(const void *data, size_t len)
{
    const char *p = data;

    for (size_t off = 0; off < len; off += 4096)
        fake_src_push(&srcs[nsrc - 1], p + off, len - off < 4096 ? len - off : 4096);
}

/* End the body and run until the pipeline has called back: its status. */
static int run(void)
{
    fake_src_eof(&srcs[nsrc - 1]);
    run_loop(&loop);
    ck_assert_int_eq(cb_calls, 1);
    cb_calls = 0;
    return cb_status;
}

static void assert_stages(sl_stream_t *const *want, size_t n)
{
    ck_assert_uint_eq(chain.pl.n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(chain.pl.stages[i] == want[i], "stage %zu is %s", i,
                      chain.pl.stages[i]->type->name);
    ck_assert_ptr_eq(chain.head, want[0]);
}
#define STAGES(...)                                                                                \
    do {                                                                                           \
        sl_stream_t *const w_[] = {__VA_ARGS__};                                                   \
        assert_stages(w_, sizeof(w_) / sizeof(w_[0]));                                             \
    } while (0)

static void md(const EVP_MD *alg, const void *data, size_t len, unsigned char *out)
{
    ck_assert_int_eq(EVP_Digest(data, len, out, NULL, alg, NULL), 1);
}

static void hex(const unsigned char *d, char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

enum { NO_META, META_SHA, META_SHA_CRC };

/* The committed file `name` holds exactly data[0..len) and its meta, as `kept` (NO_META, …). */
static void assert_file(const char *name, const void *data, size_t len, int kept)
{
    unsigned char d[32];
    char h[65];
    sl_meta_t m;
    size_t n;
    const char *got = mem_store_get(st, name, &n, &m);

    ck_assert_msg(got != NULL, "%s was not committed", name);
    ck_assert_uint_eq(n, len);
    ck_assert_msg(memcmp(got, data, len) == 0, "%s holds other bytes", name);
    md(EVP_sha256(), data, len, d);
    hex(d, h);
    ck_assert_str_eq(m.sha256_hex, kept != NO_META ? h : "");
    if (kept == META_SHA_CRC)
        ck_assert_uint_eq(m.crc32, (uint32_t)crc32_z(0, (const Bytef *)data, len));
}

static void assert_nothing_committed(void)
{
    ck_assert_uint_eq(mem_store_count(st), 0);
    ck_assert_uint_eq(mem_store_pending(st), 0);
}

static size_t gzip(const void *in, size_t n, unsigned char **out)
{
    z_stream z = {0};
    size_t len;

    ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    *out = sl_xmalloc(deflateBound(&z, n));
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = *out;
    z.avail_out = (uInt)deflateBound(&z, n);
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    len = z.total_out;
    deflateEnd(&z);
    return len;
}

/* A PUT as upload.c describes one. */
static sl_chain_spec_t put_spec(const char *name, int digests)
{
    sl_chain_spec_t s = {.content = &none, .repr = &none, .max = 1u << 20, .digests = digests};

    s.src = new_src();
    s.sink.kind = SL_SINK_NAME;
    s.sink.name = name;
    return s;
}

START_TEST(put_identity_keeps_the_default_digests)
{
    sl_chain_spec_t spec = put_spec("put.bin", SL_DIGEST_SHA256 | SL_DIGEST_CRC32);
    unsigned char d[32];

    build(&spec);
    STAGES(spec.src, &chain.limit->s, &chain.digest->s, &chain.sink->s);
    ck_assert(!chain.sent && !chain.sent_md5 && !chain.inflate && !chain.carry);
    ck_assert_ptr_eq(chain.sink->digest, chain.digest); /* kept with the file */
    feed(body, BODY);
    ck_assert_int_eq(run(), 0);
    ck_assert_uint_eq(chain.sink->size, BODY);
    md(EVP_sha256(), body, BODY, d);
    ck_assert_mem_eq(chain.digest->sha256, d, 32);
    assert_file("put.bin", body, BODY, META_SHA_CRC);
    sl__chain_free(&chain);
    finish();
}
END_TEST

/* A form part with --digest none and no --max-size: still a head to write into (the chain of a
 * lone sink was refused by the pipeline, and the builder aborted the server). */
START_TEST(a_form_part_without_digests_or_limit_has_a_head)
{
    sl_chain_spec_t spec = {0};
    char stage[64];
    sl_chunk_t *c;

    sl_store_stage_name(st, stage);
    spec.sink = (sl_sink_spec_t){.kind = SL_SINK_STAGED, .stage = stage, .name = "g.txt"};
    build(&spec);
    STAGES(&chain.limit->s, &chain.sink->s);
    ck_assert_ptr_null(chain.digest);
    c = sl_chunk_copy(&loop, body, BODY);
    sl_stream_write(sl__chain_head(&chain), c);
    sl_chunk_unref(c);
    sl_stream_end(sl__chain_head(&chain));
    run_loop(&loop);
    ck_assert_int_eq(cb_calls, 1);
    ck_assert_int_eq(cb_status, 0);
    ck_assert_uint_eq(chain.sink->size, BODY);
    sl__chain_free(&chain);
    finish();
}
END_TEST

START_TEST(put_with_digest_none_is_exactly_src_limit_sink)
{
    sl_chain_spec_t spec = put_spec("plain.bin", 0);

    build(&spec);
    STAGES(spec.src, &chain.limit->s, &chain.sink->s);
    ck_assert(!chain.sent && !chain.sent_md5 && !chain.inflate && !chain.digest && !chain.carry);
    ck_assert_ptr_null(chain.sink->digest);
    feed(body, BODY);
    ck_assert_int_eq(run(), 0);
    assert_file("plain.bin", body, BODY, NO_META);
    sl__chain_free(&chain);
    finish();
}
END_TEST

START_TEST(past_max_is_etoolarge_and_nothing_is_committed)
{
    sl_chain_spec_t spec = put_spec("big.bin", SL_DIGEST_SHA256);

    spec.max = 50000; /* past a dozen chunks: bytes have reached the sink when it fails */
    build(&spec);
    feed(body, BODY);
    ck_assert_int_eq(run(), SL_ETOOLARGE);
    ck_assert_uint_eq(mem_store_entries(st), 0);
    assert_nothing_committed();
    sl__chain_free(&chain);
    finish();
}
END_TEST

/* gzip: the Content-Digest is of the bytes sent, checked before decoding; the stored digests
 * are of the decoded bytes. _i 1: the digest of the decoded bytes given as Content-Digest. */
START_TEST(gzip_body_checks_content_digest_as_sent)
{
    sl_chain_spec_t spec = put_spec("gz.bin", SL_DIGEST_SHA256 | SL_DIGEST_CRC32);
    sl_digests_t content = {.algs = SL_DIGEST_SHA256};
    unsigned char *gz;
    size_t gzlen = gzip(body, BODY, &gz);

    md(EVP_sha256(), _i ? (void *)body : gz, _i ? BODY : gzlen, content.sha256);
    spec.encoding = SL_INFLATE_GZIP;
    spec.content = &content;
    spec.max_expansion = 100;
    build(&spec);
    STAGES(spec.src, &chain.sent->s, &chain.inflate->s, &chain.limit->s, &chain.digest->s,
           &chain.sink->s);
    ck_assert(!chain.sent_md5 && !chain.carry);
    feed(gz, gzlen);
    if (_i == 0) {
        ck_assert_int_eq(run(), 0);
        ck_assert_mem_eq(chain.sent->sha256, content.sha256, 32);
        assert_file("gz.bin", body, BODY, META_SHA_CRC);
    } else {
        ck_assert_int_eq(run(), SL_ECHECKSUM);
        ck_assert_int_eq(chain.sent->failed_alg, SL_DIGEST_SHA256);
        assert_nothing_committed();
    }
    free(gz);
    sl__chain_free(&chain);
    finish();
}
END_TEST

/* Repr-Digest (and an identity body's Content-Digest) are checked by the stored bytes' digest
 * stage, which exists for them even with --digest none. _i: 0 right, 1 wrong SHA-256, 2 wrong
 * SHA-512, 3 wrong Content-Digest of an identity body. */
START_TEST(repr_digest_is_checked_before_the_commit)
{
    sl_chain_spec_t spec = put_spec("repr.bin", 0);
    sl_digests_t repr = {.algs = SL_DIGEST_SHA256 | SL_DIGEST_SHA512}, content = {0};
    static const int failed[] = {0, SL_DIGEST_SHA256, SL_DIGEST_SHA512, SL_DIGEST_SHA256};

    md(EVP_sha256(), body, BODY, repr.sha256);
    md(EVP_sha512(), body, BODY, repr.sha512);
    if (_i == 1)
        repr.sha256[0] ^= 1;
    if (_i == 2)
        repr.sha512[63] ^= 1;
    if (_i == 3) {
        content.algs = SL_DIGEST_SHA256;
        md(EVP_sha256(), body, BODY - 1, content.sha256);
    }
    spec.repr = &repr;
    spec.content = &content;
    build(&spec);
    STAGES(spec.src, &chain.limit->s, &chain.digest->s, &chain.sink->s);
    ck_assert_ptr_null(chain.sent); /* identity: the content is the representation */
    feed(body, BODY);
    if (_i == 0) {
        ck_assert_int_eq(run(), 0);
        ck_assert_mem_eq(chain.digest->sha512, repr.sha512, 64);
        ck_assert_uint_eq(mem_store_count(st), 1);
    } else {
        ck_assert_int_eq(run(), SL_ECHECKSUM);
        ck_assert_int_eq(chain.digest->failed_alg, failed[_i]);
        assert_nothing_committed();
    }
    sl__chain_free(&chain);
    finish();
}
END_TEST

START_TEST(a_form_tail_ends_the_chain_instead_of_a_sink)
{
    sl_chain_spec_t spec = {.content = &none, .repr = &none};
    sync_sink_t tail;
    static const char text[] =
        "--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n--b--\r\n";

    sync_sink_init(&tail, &loop, 64u << 10, SINK_FINAL);
    spec.src = new_src();
    spec.tail = &tail.s;
    build(&spec);
    STAGES(spec.src, &tail.s);
    ck_assert(!chain.sink && !chain.limit && !chain.digest && !chain.sent && !chain.inflate);
    feed(text, strlen(text));
    ck_assert_int_eq(run(), 0);
    assert_got(&tail, text);
    ck_assert_uint_eq(mem_store_entries(st), 0);
    sl__chain_free(&chain);
    finish();
}
END_TEST

static sl_store_job_t job;
static sl_tus_job_t tjob;
static int job_calls;

static void on_job(sl_store_job_t *j)
{
    (void)j;
    job_calls++;
}

static void on_tus(sl_tus_job_t *j)
{
    (void)j;
    job_calls++;
}

/* Run the job just started (r: the start's return) until its callback. */
static void wait_job(int r)
{
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(job_calls, 0); /* S4: never inside the call that started it */
    run_loop(&loop);
    ck_assert_int_eq(job_calls, 1);
    job_calls = 0;
}

/* A form's file part: no source (the parser writes into the head), a staged sink; its digests
 * are recorded when the group is published. */
START_TEST(a_form_part_is_staged_then_published_with_its_digest)
{
    sl_chain_spec_t spec = {.max = 1u << 20, .digests = SL_DIGEST_SHA256 | SL_DIGEST_CRC32};
    char stage[64];
    const char *names[1] = {"f.txt"};
    sl_meta_t meta = {0};
    sl_chunk_t *c;

    sl_store_stage_name(st, stage);
    spec.sink = (sl_sink_spec_t){
        .kind = SL_SINK_STAGED, .stage = stage, .name = "f.txt", .flags = SL_SINK_NOREPLACE};
    build(&spec);
    STAGES(&chain.limit->s, &chain.digest->s, &chain.sink->s);
    ck_assert_ptr_eq(sl__chain_head(&chain), &chain.limit->s);
    ck_assert_ptr_null(chain.sink->digest); /* a group's digests go in at its commit */
    c = sl_chunk_copy(&loop, body, BODY);
    sl_stream_write(sl__chain_head(&chain), c);
    sl_chunk_unref(c);
    sl_stream_end(sl__chain_head(&chain));
    run_loop(&loop);
    ck_assert_int_eq(cb_calls, 1);
    ck_assert_int_eq(cb_status, 0);
    ck_assert_uint_eq(mem_store_count(st), 0); /* staged: not visible yet */
    ck_assert_uint_eq(mem_store_entries(st), 1);
    meta.size = chain.sink->size;
    meta.mtime_ns = chain.sink->mtime_ns;
    meta.crc32 = chain.digest->crc32;
    memcpy(meta.sha256_hex, chain.digest->sha256_hex, 65);
    wait_job(sl_store_stage_commit(st, &job, stage, "up", &meta, names, 1, on_job));
    ck_assert_int_eq(job.status, 0);
    assert_file("up/f.txt", body, BODY, META_SHA_CRC);
    sl__chain_free(&chain);
    finish();
}
END_TEST

/* Create upload `info` (a random id, `length` bytes) in the store. */
static void tus_create(sl_tus_info_t *info, int64_t length)
{
    memset(info, 0, sizeof(*info));
    sl_name_random(info->id);
    info->length = length;
    wait_job(sl_store_tus_create(st, &tjob, info, on_tus));
    ck_assert_int_eq(tjob.status, 0);
}

static sl_chain_spec_t patch_spec(const sl_tus_info_t *info)
{
    sl_chain_spec_t s = {.max = (uint64_t)info->length - info->offset};

    s.src = new_src();
    s.sink = (sl_sink_spec_t){.kind = SL_SINK_RESUMABLE, .name = info->id, .offset = info->offset};
    return s;
}

/* The resumable sink's final step (its flush, S5) ran: only then may a record count its bytes. */
static int sink_finished(void)
{
    return (chain.sink->s.flags & SL_STREAM_FINISHED) != 0;
}

/* A PATCH with Upload-Checksum in its header: checked over the bytes as sent. _i 1: wrong. */
START_TEST(tus_patch_checks_a_header_checksum)
{
    sl_tus_info_t info;
    sl_chain_spec_t spec;
    unsigned char sha1[20];
    const char *data;
    size_t n;

    tus_create(&info, BODY);
    spec = patch_spec(&info);
    md(EVP_sha1(), body, BODY, sha1);
    sha1[0] ^= (unsigned char)_i;
    spec.check_alg = SL_DIGEST_SHA1;
    spec.check = sha1;
    build(&spec);
    STAGES(spec.src, &chain.sent->s, &chain.limit->s, &chain.sink->s);
    ck_assert(!chain.sent_md5 && !chain.digest && !chain.carry && !chain.inflate);
    feed(body, BODY);
    if (_i == 0) {
        ck_assert_int_eq(run(), 0);
        ck_assert_uint_eq(chain.sink->offset, BODY);
        ck_assert(sink_finished());
        data = mem_store_upload(st, info.id, &n);
        ck_assert_uint_eq(n, BODY);
        ck_assert_mem_eq(data, body, BODY);
    } else {
        ck_assert_int_eq(run(), SL_ECHECKSUM);
        ck_assert_int_eq(chain.sent->failed_alg, SL_DIGEST_SHA1);
        ck_assert(!sink_finished()); /* failed before the flush: nothing to count */
    }
    sl__chain_free(&chain);
    sl_tus_info_clear(&info);
    finish();
}
END_TEST

/* A PATCH whose trailer names the checksum at the end (check_late): MD5 on its own stage, SHA-1
 * on `sent`. _i: 0 MD5 right, 1 MD5 wrong, 2 SHA-1 right, 3 SHA-1 wrong. */
START_TEST(tus_patch_checks_a_late_checksum)
{
    sl_tus_info_t info;
    sl_chain_spec_t spec;
    unsigned char want[20], sha512[64] = {0};
    int alg = _i < 2 ? SL_DIGEST_MD5 : SL_DIGEST_SHA1, bad = _i & 1;
    sl_xf_digest_t *on;

    tus_create(&info, BODY);
    spec = patch_spec(&info);
    spec.check_late = 1;
    build(&spec);
    STAGES(spec.src, &chain.sent->s, &chain.sent_md5->s, &chain.limit->s, &chain.sink->s);
    on = alg == SL_DIGEST_MD5 ? chain.sent_md5 : chain.sent;
    md(alg == SL_DIGEST_MD5 ? EVP_md5() : EVP_sha1(), body, BODY, want);
    want[0] ^= (unsigned char)bad;
    feed(body, BODY);
    ck_assert_int_eq(sl__chain_expect(&chain, SL_DIGEST_SHA512, sha512), SL_EBADREQUEST);
    ck_assert_int_eq(sl__chain_expect(&chain, alg, want), 0); /* the trailer, before the end */
    ck_assert_int_eq(run(), bad ? SL_ECHECKSUM : 0);
    ck_assert_int_eq(on->failed_alg, bad ? alg : 0);
    ck_assert_int_eq(sink_finished(), !bad);
    if (!bad)
        ck_assert_uint_eq(chain.sink->offset, BODY);
    sl__chain_free(&chain);
    sl_tus_info_clear(&info);
    finish();
}
END_TEST

/* Two PATCHes of one upload carry one SHA-256 context: it ends as the SHA-256 of both bodies,
 * and a commit keeps it with the file. */
START_TEST(a_carried_sha256_goes_on_across_two_chains)
{
    const size_t half = BODY / 2 + 123;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char d[32], want[32];
    sl_tus_info_t info;
    sl_chain_spec_t spec;
    char h[65];

    ck_assert_int_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    tus_create(&info, BODY);
    for (int i = 0; i < 2; i++) {
        size_t from = i ? half : 0, len = i ? BODY - half : half;
        spec = patch_spec(&info);
        spec.carry = ctx;
        build(&spec);
        STAGES(spec.src, &chain.limit->s, &chain.carry->s, &chain.sink->s);
        feed(body + from, len);
        ck_assert_int_eq(run(), 0);
        ck_assert_uint_eq(chain.carry->size, len);
        info.offset = chain.sink->offset;
        sl__chain_free(&chain);
    }
    ck_assert_uint_eq(info.offset, BODY);
    ck_assert_int_eq(EVP_DigestFinal_ex(ctx, d, NULL), 1);
    EVP_MD_CTX_free(ctx);
    md(EVP_sha256(), body, BODY, want);
    ck_assert_mem_eq(d, want, 32);
    hex(d, h);
    tjob.digest = 1;
    memcpy(tjob.sha256_hex, h, 65);
    wait_job(sl_store_tus_commit(st, &tjob, &info, "t.bin", on_tus));
    ck_assert_int_eq(tjob.status, 0);
    ck_assert_str_eq(info.file, "t.bin");
    assert_file("t.bin", body, BODY, META_SHA); /* a tus commit keeps no crc32 */
    sl_tus_info_clear(&info);
    finish();
}
END_TEST

/* Every stage at once (8, SL_PIPELINE_MAX), run to the end (_i 0) or aborted mid-body (_i 1),
 * then sl__chain_free: nothing may leak (the sanitizer build's leak checker) and c is cleared. */
START_TEST(chain_free_releases_every_stage)
{
    sl_digests_t content = {.algs = SL_DIGEST_SHA256}, repr = {.algs = SL_DIGEST_SHA256};
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *gz, md5[16];
    size_t gzlen = gzip(body, BODY, &gz);
    sl_tus_info_t info;
    sl_chain_spec_t spec;
    static const sl_chain_t zero;

    ck_assert_int_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    tus_create(&info, BODY);
    spec = patch_spec(&info);
    md(EVP_sha256(), gz, gzlen, content.sha256);
    md(EVP_sha256(), body, BODY, repr.sha256);
    md(EVP_md5(), gz, gzlen, md5);
    spec.encoding = SL_INFLATE_GZIP;
    spec.content = &content;
    spec.check_late = 1;
    spec.digests = SL_DIGEST_SHA256 | SL_DIGEST_CRC32;
    spec.repr = &repr;
    spec.carry = ctx;
    build(&spec);
    STAGES(spec.src, &chain.sent->s, &chain.sent_md5->s, &chain.inflate->s, &chain.limit->s,
           &chain.digest->s, &chain.carry->s, &chain.sink->s);
    feed(gz, _i ? gzlen / 2 : gzlen);
    ck_assert_int_eq(sl__chain_expect(&chain, SL_DIGEST_MD5, md5), 0);
    if (_i) {
        run_loop(&loop);
        sl_pipeline_abort(&chain.pl, SL_EPREMATURE);
        run_loop(&loop);
        ck_assert_int_eq(cb_calls, 1);
        ck_assert_int_eq(cb_status, SL_EPREMATURE);
    } else {
        ck_assert_int_eq(run(), 0);
        ck_assert_uint_eq(chain.sink->offset, BODY);
    }
    sl__chain_free(&chain);
    ck_assert_mem_eq(&chain, &zero, sizeof(chain));
    EVP_MD_CTX_free(ctx);
    free(gz);
    sl_tus_info_clear(&info);
    finish();
}
END_TEST

Suite *chain_suite(void)
{
    Suite *s = suite_create("chain");
    TCase *tc = tcase_create("build");

    tcase_add_checked_fixture(tc, chain_setup, chain_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, put_identity_keeps_the_default_digests);
    tcase_add_test(tc, put_with_digest_none_is_exactly_src_limit_sink);
    tcase_add_test(tc, past_max_is_etoolarge_and_nothing_is_committed);
    tcase_add_loop_test(tc, gzip_body_checks_content_digest_as_sent, 0, 2);
    tcase_add_loop_test(tc, repr_digest_is_checked_before_the_commit, 0, 4);
    tcase_add_test(tc, a_form_tail_ends_the_chain_instead_of_a_sink);
    tcase_add_test(tc, a_form_part_without_digests_or_limit_has_a_head);
    tcase_add_test(tc, a_form_part_is_staged_then_published_with_its_digest);
    tcase_add_loop_test(tc, tus_patch_checks_a_header_checksum, 0, 2);
    tcase_add_loop_test(tc, tus_patch_checks_a_late_checksum, 0, 4);
    tcase_add_test(tc, a_carried_sha256_goes_on_across_two_chains);
    tcase_add_loop_test(tc, chain_free_releases_every_stage, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
