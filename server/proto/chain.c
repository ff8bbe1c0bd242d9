/* SPDX-License-Identifier: MIT
 *
 * The one chain builder. Every upload — a PUT, a raw POST, each file part of a form, a tus
 * PATCH — describes what it needs in an sl_chain_spec_t and gets its chain here, so a stage
 * (a digest, a limit, a store's sink) is added in one place for all of them. Left to right:
 *
 *   src ─▶ [sent] ─▶ [sent_md5] ─▶ [inflate] ─▶ [limit] ─▶ [digest] ─▶ [carry] ─▶ sink | tail
 *
 *   sent      digests of the body as it came: the Content-Digest of an encoded body, and upload
 *             checksums (tus Upload-Checksum, in a header or named by a trailer at the end)
 *   sent_md5  a trailer may name MD5, and a digest stage computes one second digest only
 *   inflate   Content-Encoding gzip / deflate
 *   limit     --max-size, or what a resumable upload has left
 *   digest    what is kept with the file (--digest, Want-Repr-Digest), checked against
 *             Repr-Digest and the Content-Digest of an identity body before anything commits
 *   carry     a resumable upload's SHA-256, going on from the bytes before this request
 *   sink      the store's: commits at the end (store.h S1); or `tail`, a form splitting parts
 *
 * A stage exists only when asked for: a PUT with --digest none, no digest fields and no
 * --max-size is src ─▶ sink. When no stage looks at the bytes (at most a limit, which counts
 * them) and the sink takes piped chunks, the chain says so (`piped`): a source that reads a
 * socket may then splice the body into the file without copying it through user memory. So may
 * a body whose only reader is the digest stage, or a resumable upload's carried SHA-256, when the
 * source may splice it (spec.splice): the stage then forwards the chunks unhashed and the file
 * sink hashes what it wrote, in order, read back from the page cache in a job of its own (one
 * copy fewer than recv + pwritev), and finishes the digests before it commits (a mismatch:
 * nothing published); a carried hash, before its append's flush. Stages are
 * allocated here and freed by sl__chain_free once the pipeline has called back (every stage closed,
 * rule L4).
 */
#include "chain.h"

#include <stdlib.h>
#include <string.h>

static sl_xf_digest_t *digest_new(uv_loop_t *loop, size_t hwm, int algs)
{
    sl_xf_digest_t *x = sl_xmalloc(sizeof(*x));

    sl_xf_digest_init(x, loop, hwm);
    sl_xf_digest_set(x, algs & (SL_DIGEST_SHA256 | SL_DIGEST_CRC32));
    if (algs & ~(SL_DIGEST_SHA256 | SL_DIGEST_CRC32))
        sl_xf_digest_want(x, algs & ~(SL_DIGEST_SHA256 | SL_DIGEST_CRC32));
    return x;
}

static void expect(sl_xf_digest_t *x, const sl_digests_t *d)
{
    if (d->algs & SL_DIGEST_SHA256)
        sl_xf_digest_expect(x, SL_DIGEST_SHA256, d->sha256);
    if (d->algs & SL_DIGEST_SHA512)
        sl_xf_digest_expect(x, SL_DIGEST_SHA512, d->sha512);
}

/* splice(2) socket → file when nothing but a byte count stands between them (streams/pipe.c),
 * or one hashing stage that lets the sink hash what it wrote (read back from the page cache): the
 * digest stage of a new file, or the SHA-256 a resumable upload carries across its appends. */
static int piped(const sl_chain_t *c, const sl_chain_spec_t *spec)
{
    if (c->sink == NULL || !c->sink->piped || c->sent != NULL || c->sent_md5 != NULL ||
        c->inflate != NULL)
        return 0;
    if (c->digest == NULL && c->carry == NULL)
        return 1;
    if (!spec->splice || (c->digest != NULL && c->carry != NULL))
        return 0;
    return c->digest != NULL ? spec->sink.kind == SL_SINK_NAME
                             : spec->sink.kind == SL_SINK_RESUMABLE;
}

void sl__chain_build(sl_chain_t *c, uv_loop_t *loop, sl_store_t *store, const sl_chain_spec_t *spec,
                     sl_pipeline_cb cb, void *data)
{
    sl_stream_t *st[SL_PIPELINE_MAX];
    int content = spec->content != NULL && spec->content->algs;
    int repr = spec->repr != NULL && spec->repr->algs;
    size_t n = 0;

    memset(c, 0, sizeof(*c));
    c->store = store;
    if (spec->src != NULL)
        st[n++] = spec->src;
    if ((spec->encoding && content) || spec->check_alg || spec->check_late) {
        c->sent =
            digest_new(loop, spec->hwm,
                       spec->check_late ? SL_DIGEST_SHA256 | SL_DIGEST_CRC32 | SL_DIGEST_SHA1 : 0);
        if (spec->encoding && content)
            expect(c->sent, spec->content); /* as sent, before decoding */
        if (spec->check_alg)
            sl_xf_digest_expect(c->sent, spec->check_alg, spec->check);
        st[n++] = &c->sent->s;
    }
    if (spec->check_late) {
        c->sent_md5 = digest_new(loop, spec->hwm, SL_DIGEST_MD5);
        st[n++] = &c->sent_md5->s;
    }
    if (spec->encoding) {
        c->inflate = sl_xmalloc(sizeof(*c->inflate));
        sl_xf_inflate_init(c->inflate, loop, spec->encoding, spec->max_expansion, SL_CHAIN_HWM);
        st[n++] = &c->inflate->s;
    }
    if (spec->max || spec->src == NULL) { /* a chain without source has a head to write into */
        c->limit = sl_xmalloc(sizeof(*c->limit));
        sl_xf_limit_init(c->limit, loop, spec->max, SL_CHAIN_HWM);
        st[n++] = &c->limit->s;
    }
    if (spec->digests || repr || (!spec->encoding && content)) {
        c->digest = digest_new(loop, spec->hwm, spec->digests);
        if (repr)
            expect(c->digest, spec->repr);
        if (!spec->encoding && content)
            expect(c->digest, spec->content); /* identity: the content is the representation */
        st[n++] = &c->digest->s;
    }
    if (spec->carry != NULL) {
        c->carry = digest_new(loop, spec->hwm, 0);
        sl_xf_digest_adopt(c->carry, spec->carry);
        st[n++] = &c->carry->s;
    }
    if (spec->tail != NULL) {
        st[n++] = spec->tail;
    } else {
        sl_sink_spec_t sink = spec->sink;
        sink.hwm = spec->hwm;
        c->sink = sl_store_sink_new(store, &sink);
        if (c->digest != NULL && (c->digest->algs & SL_DIGEST_SHA256) && sink.kind == SL_SINK_NAME)
            c->sink->digest = c->digest; /* kept with the file for GET (a group: at its commit) */
        st[n++] = &c->sink->s;
    }
    c->head = st[0];
    c->piped = piped(c, spec);
    if (c->piped && (c->digest != NULL || c->carry != NULL)) {
        c->sink->hash = c->digest != NULL ? c->digest : c->carry;
        sl_xf_digest_behind(c->sink->hash);
    }
    c->pl.data = data;
    if (sl_pipeline_run(&c->pl, st, n, cb) < 0)
        abort(); /* fresh streams: only a programming error gets here */
}

int sl__chain_expect(sl_chain_t *c, int alg, const unsigned char *value)
{
    sl_xf_digest_t *x = alg == SL_DIGEST_MD5 ? c->sent_md5 : c->sent;

    return x == NULL || sl_xf_digest_expect(x, alg, value) < 0 ? SL_EBADREQUEST : 0;
}

void sl__chain_free(sl_chain_t *c)
{
    free(c->sent);
    free(c->sent_md5);
    free(c->inflate);
    free(c->limit);
    free(c->digest);
    free(c->carry);
    if (c->sink != NULL)
        sl_store_sink_free(c->store, c->sink);
    memset(c, 0, sizeof(*c));
}
