/* SPDX-License-Identifier: MIT
 *
 * One upload, end to end (DESIGN.md §2). sl__upload_start describes the chain of a PUT or a raw
 * POST (or a form around its parts) and the one builder makes it (chain.c):
 *
 *   src_http ─▶ [inflate] ─▶ xf_limit ─▶ [xf_digest] ─▶ the store's sink ─▶ commit
 *
 * The pipeline callback is the only place an upload's outcome is decided: 201 with
 * {name,size,<digests>}, Location and ETag once the commit's last fsync returned, or the error
 * from the one status table. If the chain fails while the body is still arriving (a chunked body
 * crossing --max-size, a full disk), libmicrohttpd cannot send a status mid-body (§4), so the rest
 * of the body is read and discarded, up to DISCARD_MAX bytes, and the error answers the final
 * call; a longer body is cut by closing the connection. The temp file is gone either way.
 */
#include "http/http.h"
#include "proto/proto.h"
#include "proto/form.h"
#include "proto/resumable.h"
#include "api/hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISCARD_MAX (4u << 20)
#define PREFLIGHT_MIN (1u << 20) /* bodies from this size get the free-space check first */

static void respond_created(sl_req_t *r, sl_upload_t *up, const char *extra)
{
    char name[3 * SL_NAME_MAX], body[4 * SL_NAME_MAX], digests[320], hdr[80], *big = NULL;
    int n;

    sl__json_escape(r->name, name, sizeof(name));
    const sl_xf_digest_t *d = up->chain.digest;

    if (d != NULL)
        sl__digest_json(d, digests, sizeof(digests));
    else
        digests[0] = '\0';
    n = snprintf(body, sizeof(body), "{\"name\":\"%s\",\"size\":%llu%s", name,
                 (unsigned long long)up->chain.sink->size, digests);
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
    if (d != NULL && (d->algs & SL_DIGEST_SHA256))
        sl_store_etag_digest(d->sha256_hex, hdr); /* strong: from the content */
    else
        sl_store_etag(up->chain.sink->size, up->chain.sink->mtime_ns, hdr); /* as GET answers */
    sl__respond_header(r, MHD_HTTP_HEADER_ETAG, hdr);
    if (d != NULL)
        sl__digest_headers(r, d, "Repr-Digest");
}

/* 400 naming the digest that did not match: expected and actual, base64 as in the field. */
static void respond_mismatch(sl_req_t *r, const sl_xf_digest_t *d, const char *field)
{
    int is256 = d->failed_alg == SL_DIGEST_SHA256;
    size_t n = is256 ? 32 : 64;
    char want[96], got[96], extra[320];

    sl__base64(is256 ? d->expect256 : d->expect512, n, want);
    sl__base64(is256 ? d->sha256 : d->sha512, n, got);
    snprintf(extra, sizeof(extra),
             "\"field\":\"%s\",\"algorithm\":\"%s\",\"expected\":\"%s\",\"actual\":\"%s\"", field,
             is256 ? "sha-256" : "sha-512", want, got);
    r->err_name = sl_err_name(SL_ECHECKSUM);
    sl__respond_error_json(r, MHD_HTTP_BAD_REQUEST, r->err_name, sl_strerror(SL_ECHECKSUM), extra);
}

static void on_pipeline_done(sl_pipeline_t *pl, int status)
{
    sl_req_t *r = pl->data;
    sl_upload_t *up = r->up;
    const sl_xf_digest_t *d = up->chain.digest; /* NULL: no digest stage */
    char *extra = NULL;                         /* on_complete's JSON members */

    up->running = 0;
    if (status < 0) {
        r->srv->m->failed[sl__fail_reason(status)]++;
        sl__hook_abort(r, status);
    } else {
        sl_metrics_t *m = r->srv->m;
        m->committed++;
        m->bytes_committed += r->boundary[0] != '\0' ? r->received : up->chain.sink->size;
        sl__metrics_observe(m->commit_buckets, &m->commit_count, &m->commit_sum,
                            (double)(uv_hrtime() - r->eof_ns) / 1e9);
        if (r->boundary[0] != '\0')
            sl_form_completed(up->form); /* on_complete for each file */
        else
            sl__hook_complete(r, r->name, d != NULL ? d->sha256_hex : "", d != NULL ? d->crc32 : 0,
                              up->chain.sink->size, NULL, &extra);
    }
    if (!r->gone) {
        if (status == 0 && r->boundary[0] != '\0') {
            size_t len;
            char *body = sl_form_response(up->form, &len);
            sl__respond_json(r, MHD_HTTP_CREATED, body, len);
            free(body);
        } else if (status == 0)
            respond_created(r, up, extra);
        else if (status == SL_ECHECKSUM && d != NULL && d->failed_alg)
            respond_mismatch(r, d,
                             (r->repr.algs & d->failed_alg) ? "Repr-Digest" : "Content-Digest");
        else if (status == SL_ECHECKSUM && up->chain.sent != NULL && up->chain.sent->failed_alg)
            respond_mismatch(r, up->chain.sent, "Content-Digest");
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

/* The chain of a PUT or a raw POST, or of a form around its parts (README "Data flow"). An
 * encoded body gets its Content-Digest checked as sent, then is decoded; the size limit and the
 * stored digests apply to the decoded bytes. */
int sl__upload_start(sl_req_t *r)
{
    sl_server_t *srv = r->srv;
    sl_upload_t *up = sl_xcalloc(1, sizeof(*up));
    sl_chain_spec_t spec = {
        .src = &up->src.s,
        .encoding = r->encoding,
        .content = &r->content,
        .max_expansion = srv->cfg.max_expansion,
        .repr = &r->repr,
        .hwm = srv->cfg.upload_buffer,
    };
    int err;

    r->up = up;
    sl__src_http_init(&up->src, r);
    if (r->boundary[0] != '\0') { /* the parts have their own limits, digests and sinks */
        up->form = sl_xmalloc(sizeof(*up->form)); /* 3.7 KiB: forms only */
        sl_form_init(up->form, r, r->boundary);
        spec.tail = &up->form->s;
    } else {
        spec.max = srv->cfg.max_size;
        spec.digests = sl__upload_digests(r);
        spec.sink.kind = SL_SINK_NAME;
        spec.sink.name = r->name;
        spec.sink.flags = (r->noreplace || r->create_only) ? SL_SINK_NOREPLACE : 0;
        if (!r->chunked && !r->encoding)
            spec.sink.size = r->content_length; /* the bytes the sink gets: identity */
        spec.splice = sl__takeover_may_splice(r);
    }
    sl__chain_build(&up->chain, srv->loop, srv->store, &spec, on_pipeline_done, r);
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
    if (r->received < r->content_length)
        sl__takeover_mid(r); /* sluice reads the rest itself when it can */
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
        sl_pipeline_abort(&up->chain.pl, err); /* a checksum trailer missing or malformed */
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
    sl_pipeline_abort(&up->chain.pl, err);
}

/* --- the first call of a PUT or POST ------------------------------------------------------- */

/* First-call checks for an upload; 0 or a negative code. */
static int validate_upload(sl_req_t *r)
{
    struct MHD_Connection *c = r->conn;
    const char *ce =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *v;
    int err = sl__framing(r);

    if (err < 0)
        return err;
    if (!r->chunked &&
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) == NULL)
        return SL_ELENGTHREQUIRED; /* neither framing: an empty file says Content-Length: 0 */
    if (ce != NULL) {
        if (strcasecmp(ce, "gzip") == 0 || strcasecmp(ce, "x-gzip") == 0)
            r->encoding = SL_INFLATE_GZIP;
        else if (strcasecmp(ce, "deflate") == 0)
            r->encoding = SL_INFLATE_DEFLATE;
        else if (strcasecmp(ce, "identity") != 0)
            return SL_EUNSUPPORTED; /* one coding at most: "gzip, br" too */
    }
    v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Repr-Digest");
    if (v != NULL && sl__digests_parse(v, &r->repr) < 0)
        return SL_EBADREQUEST;
    v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Digest");
    if (v != NULL && sl__digests_parse(v, &r->content) < 0)
        return SL_EBADREQUEST;
    if (!r->encoding && (((r->repr.algs & r->content.algs & SL_DIGEST_SHA256) &&
                          memcmp(r->repr.sha256, r->content.sha256, 32) != 0) ||
                         ((r->repr.algs & r->content.algs & SL_DIGEST_SHA512) &&
                          memcmp(r->repr.sha512, r->content.sha512, 64) != 0)))
        return SL_ECHECKSUM; /* unencoded: the two fields describe the same bytes */
    if (r->method == M_POST && ct != NULL && strncasecmp(ct, "multipart/", 10) == 0) {
        if (strncasecmp(ct, "multipart/form-data", 19) != 0)
            return SL_EUNSUPPORTED;
        if (sl_multipart_boundary(ct, r->boundary, sizeof(r->boundary)) < 0)
            return SL_EBADREQUEST; /* no usable boundary parameter */
    }
    if (r->srv->cfg.max_size && !r->chunked && r->boundary[0] == '\0' && !r->encoding &&
        r->content_length > r->srv->cfg.max_size) /* forms: per file; encoded: once decoded */
        return SL_ETOOLARGE;
    v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (v != NULL) {
        while (*v == ' ')
            v++;
        if (v[0] == '*')
            r->noreplace = 1;
    }
    if (r->method == M_POST) {
        v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
        if (v != NULL) {
            err = sl_name_decode(v, strlen(v), SL_DECODE_QUERY, r->name, sizeof(r->name));
            if (err < 0 || (err = sl_name_check(r->name)) < 0)
                return err;
            r->create_only = 1;
        } else if (!r->renamed) {
            sl_name_random(r->name);
        }
    }
    return 0;
}

static void on_preflight(sl_store_job_t *job)
{
    sl_req_t *r = job->data;

    if (job->status < 0)
        sl__respond_error(r, job->status);
    sl__req_resume(r);
    sl__req_unref(r);
}

static enum MHD_Result upload_begin(sl_req_t *r)
{
    uint64_t need = r->chunked ? 0 : r->content_length;
    int err;

    /* Small bodies skip the free-space check (a job and a suspend); a full disk still fails
     * their write with 507. */
    if (need >= PREFLIGHT_MIN || r->noreplace || r->create_only) {
        r->refs++;
        if (sl_store_preflight(r->srv->store, sl__req_job(r),
                               (r->noreplace || r->create_only) ? r->name : NULL, need,
                               on_preflight) == 0) {
            r->phase = PH_PREFLIGHT;
            sl__req_suspend(r);
            return MHD_YES;
        }
        r->refs--;
    }
    err = sl__upload_start(r);
    if (err == 0)
        return MHD_YES;
    sl__respond_error(r, err);
    return sl__queue(r); /* first call: no 100 Continue, no body read */
}

enum MHD_Result sl__upload_first(sl_req_t *r)
{
    int err;

    if (r->srv->draining && !r->srv->retiring)
        return sl__refuse_first(r, SL_ESHUTDOWN);
    if ((err = validate_upload(r)) < 0)
        return sl__refuse_first(r, err);
    return upload_begin(r);
}
