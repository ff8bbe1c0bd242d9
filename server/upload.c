/* SPDX-License-Identifier: MIT
 *
 * One upload, end to end (DESIGN.md §2). The chain is built in one place, sl__upload_start, read
 * left to right, and matches the README's diagram:
 *
 *   src_http ─▶ xf_limit ─▶ xf_digest ─▶ sink_file ─▶ commit
 *
 * The pipeline callback is the only place an upload's outcome is decided: 201 with
 * {name,size,<digests>}, Location and ETag once the commit's last fsync returned, or the error
 * from the one status table. If the chain fails while the body is still arriving (a chunked body
 * crossing --max-size, a full disk), libmicrohttpd cannot send a status mid-body (§4), so the rest
 * of the body is read and discarded, up to DISCARD_MAX bytes, and the error answers the final
 * call; a longer body is cut by closing the connection. The temp file is gone either way.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISCARD_MAX (4u << 20)
#define XF_HWM (64u << 10)

static void respond_created(sl_req_t *r, sl_upload_t *up, const char *extra)
{
    char name[3 * SL_NAME_MAX], body[4 * SL_NAME_MAX], digests[320], hdr[80], *big = NULL;
    int n;

    sl__json_escape(r->name, name, sizeof(name));
    if (up->has_digest)
        sl__digest_json(&up->digest, digests, sizeof(digests));
    else
        digests[0] = '\0';
    n = snprintf(body, sizeof(body), "{\"name\":\"%s\",\"size\":%llu%s", name,
                 (unsigned long long)up->sink.size, digests);
    if (extra != NULL && extra[0] != '\0') { /* the host's members (on_complete) */
        size_t cap = (size_t)n + strlen(extra) + 4;
        big = sl_xmalloc(cap);
        n = snprintf(big, cap, "%s,%s}\n", body, extra);
        sl__respond_json(r, MHD_HTTP_CREATED, big, (size_t)n);
    } else {
        n += snprintf(body + n, sizeof(body) - (size_t)n, "}\n");
        sl__respond_json(r, MHD_HTTP_CREATED, body, (size_t)n);
    }
    free(big);
    sl__url_escape(r->name, name, sizeof(name));
    snprintf(body, sizeof(body), "%s/files/%s", r->srv->prefix, name);
    sl__respond_header(r, MHD_HTTP_HEADER_LOCATION, body);
    if (up->has_digest && (up->digest.algs & SL_DIGEST_SHA256))
        sl_store_etag_digest(up->digest.sha256_hex, hdr); /* strong: from the content */
    else
        sl_store_etag(up->sink.size, up->sink.mtime_ns, hdr); /* as GET will answer */
    sl__respond_header(r, MHD_HTTP_HEADER_ETAG, hdr);
    if (up->has_digest)
        sl__digest_headers(r, &up->digest, "Repr-Digest");
}

/* 400 naming the digest that did not match: expected and actual, base64 as in the field. */
static void respond_mismatch(sl_req_t *r, const sl_xf_digest_t *d, const char *field)
{
    int is256 = d->failed_alg == SL_DIGEST_SHA256;
    size_t n = is256 ? 32 : 64;
    char want[96], got[96], body[512];
    int len;

    sl__base64(is256 ? d->expect256 : d->expect512, n, want);
    sl__base64(is256 ? d->sha256 : d->sha512, n, got);
    len = snprintf(body, sizeof(body),
                   "{\"error\":\"%s\",\"status\":400,\"code\":\"SL_ECHECKSUM\",\"field\":\"%s\","
                   "\"algorithm\":\"%s\",\"expected\":\"%s\",\"actual\":\"%s\"}\n",
                   sl_strerror(SL_ECHECKSUM), field, is256 ? "sha-256" : "sha-512", want, got);
    sl__respond_json(r, MHD_HTTP_BAD_REQUEST, body, (size_t)len);
}

static void on_pipeline_done(sl_pipeline_t *pl, int status)
{
    sl_req_t *r = pl->data;
    sl_upload_t *up = r->up;
    char *extra = NULL; /* on_complete's JSON members */

    up->running = 0;
    if (status < 0) {
        r->srv->m->failed[sl__fail_reason(status)]++;
        sl__hook_abort(r, status);
    } else {
        sl_metrics_t *m = r->srv->m;
        m->committed++;
        m->bytes_committed += r->boundary[0] != '\0' ? r->received : up->sink.size;
        sl__metrics_observe(m->commit_buckets, &m->commit_count, &m->commit_sum,
                            (double)(uv_hrtime() - r->eof_ns) / 1e9);
        if (r->boundary[0] != '\0')
            sl_form_completed(up->form); /* on_complete for each file */
        else
            sl__hook_complete(r, r->name, up->has_digest ? up->digest.sha256_hex : "",
                              up->digest.crc32, up->sink.size, NULL, &extra);
    }
    if (!r->gone) {
        if (status == 0 && r->boundary[0] != '\0') {
            size_t len;
            char *body = sl_form_response(up->form, &len);
            sl__respond_json(r, MHD_HTTP_CREATED, body, len);
            free(body);
        } else if (status == 0)
            respond_created(r, up, extra);
        else if (status == SL_ECHECKSUM && up->digest.failed_alg)
            respond_mismatch(r, &up->digest,
                             (r->repr.algs & up->digest.failed_alg) ? "Repr-Digest"
                                                                    : "Content-Digest");
        else if (status == SL_ECHECKSUM && up->cdigest.failed_alg)
            respond_mismatch(r, &up->cdigest, "Content-Digest");
        else
            sl__respond_error(r, status);
        /* Waiting for the commit, or mid-body and about to discard: either way, go on. */
        sl__takeover_stop(r); /* libmicrohttpd alone has the socket again */
        r->need_read = 0;
        sl_budget_cancel(&r->budget_wait);
        sl__req_resume(r);
    }
    free(extra);
    sl__req_unref(r);
}

static void expect(sl_xf_digest_t *x, const sl_digests_t *d)
{
    if (d->algs & SL_DIGEST_SHA256)
        sl_xf_digest_expect(x, SL_DIGEST_SHA256, d->sha256);
    if (d->algs & SL_DIGEST_SHA512)
        sl_xf_digest_expect(x, SL_DIGEST_SHA512, d->sha512);
}

/* The chain, left to right (README "Data flow"). An encoded body gets its Content-Digest checked
 * as sent, then is decoded; the size limit and the stored digests apply to the decoded bytes. */
int sl__upload_start(sl_req_t *r)
{
    sl_server_t *srv = r->srv;
    sl_upload_t *up = sl_xcalloc(1, sizeof(*up));
    sl_stream_t *chain[SL_PIPELINE_MAX];
    size_t n = 0;
    int err;

    r->up = up;
    sl__src_http_init(&up->src, r);
    chain[n++] = &up->src.s;
    if (r->encoding && r->content.algs) {
        sl_xf_digest_init(&up->cdigest, srv->loop, srv->cfg.upload_buffer);
        expect(&up->cdigest, &r->content);
        chain[n++] = &up->cdigest.s;
    }
    if (r->encoding) {
        sl_xf_inflate_init(&up->inflate, srv->loop, r->encoding, srv->cfg.max_expansion, XF_HWM);
        chain[n++] = &up->inflate.s;
    }
    if (r->boundary[0] != '\0') {
        if (r->repr.algs || (!r->encoding && r->content.algs)) {
            sl_xf_digest_init(&up->digest, srv->loop, srv->cfg.upload_buffer);
            sl_xf_digest_set(&up->digest, 0); /* only what is expected: parts have their own */
            expect(&up->digest, &r->repr); /* of the (decoded) form body, as sent by the client */
            if (!r->encoding)
                expect(&up->digest, &r->content);
            chain[n++] = &up->digest.s;
        }
        up->form = sl_xmalloc(sizeof(*up->form)); /* 3.7 KiB: forms only */
        sl_form_init(up->form, r, r->boundary);   /* each file part has its own limit and sink */
        chain[n++] = &up->form->s;
        goto Run;
    }
    sl_xf_limit_init(&up->limit, srv->loop, srv->cfg.max_size, XF_HWM);
    chain[n++] = &up->limit.s;
    if (sl__upload_digests(r) || r->repr.algs || (!r->encoding && r->content.algs)) {
        up->has_digest = 1; /* --digest none and nothing asked for: no digest stage at all */
        sl_xf_digest_init(&up->digest, srv->loop, srv->cfg.upload_buffer);
        sl__digest_setup(r, &up->digest);
        expect(&up->digest, &r->repr);
        if (!r->encoding)
            expect(&up->digest, &r->content); /* identity: the content is the representation */
        chain[n++] = &up->digest.s;
    }
    sl_sink_file_init(&up->sink, &srv->store, r->name,
                      (r->noreplace || r->create_only) ? SL_SINK_NOREPLACE : 0,
                      srv->cfg.upload_buffer);
    if (up->has_digest && (up->digest.algs & SL_DIGEST_SHA256))
        sl_sink_file_set_digest(&up->sink, &up->digest); /* kept with the file for GET */
    chain[n++] = &up->sink.s;
Run:
    up->pl.data = r;
    err = sl_pipeline_run(&up->pl, chain, n, on_pipeline_done);
    if (err < 0)
        abort(); /* fresh streams: only a programming error gets here */
    up->running = 1;
    r->refs++;
    r->phase = PH_BODY;
    srv->m->started++;
    err = sl__takeover_start(r); /* sluice reads the body itself when it can */
    return err < 0 ? err : 0;
}

enum MHD_Result sl__upload_data(sl_req_t *r, const char *data, size_t *size)
{
    sl_upload_t *up = r->up;

    if (up->eof) { /* stopped early (a resumable upload keeps what it has): close */
        *size = 0;
        return MHD_NO;
    }
    if (!up->running || up->src.s.flags & SL_STREAM_DESTROYED) {
        up->discarded += *size;
        *size = 0;
        return up->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
    }
    sl__src_http_push(&up->src, data, *size);
    r->received += *size;
    r->srv->m->bytes_received += *size;
    *size = 0; /* always consume everything (rule 4) */
    return MHD_YES;
}

enum MHD_Result sl__upload_end(sl_req_t *r)
{
    sl_upload_t *up = r->up;
    int ended = up->eof, err;

    up->eof = 1;
    r->eof_ns = uv_hrtime();
    if (!up->running && !r->answered && r->tr != NULL) {
        r->phase = PH_WAIT; /* a resumable upload records its offset first: it answers then */
        sl__req_suspend(r);
        return MHD_YES;
    }
    if (!up->running)
        return r->answered ? sl__queue(r) : MHD_NO;
    r->phase = PH_WAIT;
    if (r->tr != NULL && !ended && (err = sl__tus_body_end(r)) < 0)
        sl_pipeline_abort(&up->pl, err); /* a checksum trailer missing or malformed */
    else if (!ended)
        sl_stream_push(&up->src.s, NULL);
    sl__req_suspend(r); /* resumed by the pipeline callback, which prepares the response */
    return MHD_YES;
}

void sl__upload_abort(sl_req_t *r, int err)
{
    sl_upload_t *up = r->up;

    if (up == NULL || !up->running)
        return;
    if (r->tr != NULL && !r->tr->check_alg && !r->tr->trailer) {
        /* Resumable (docs/tus.md): the body ends here, and what arrived is kept and counted. */
        if (!up->eof) {
            up->eof = 1;
            sl_stream_push(&up->src.s, NULL);
        }
        return;
    }
    sl_pipeline_abort(&up->pl, err);
}
