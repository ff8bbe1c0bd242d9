/* SPDX-License-Identifier: MIT
 *
 * Resumable Uploads for HTTP (draft-ietf-httpbis-resumable-upload, docs/resumable.md) under
 * /uploads/, beside tus 1.0 on the same upload records, turns and chain (tus.c): a request that
 * carries Upload-Draft-Interop-Version and no Tus-Resumable is routed here. Only the headers and
 * the answers differ, so this file judges a request's fields in its first call and hands it to
 * tus.c with its own answers (sl_tus_answers_t):
 *
 *   POST /uploads/          Upload-Complete ─▶ create (a body is the first append) ─▶ 201
 *   PUT /files/<name>, POST /files/ with Upload-Complete: the same, the file named by the URL
 *   HEAD|GET /uploads/<id>  ─▶ 204 Upload-Offset, Upload-Complete, Upload-Length, Upload-Limit
 *   PATCH /uploads/<id>     application/partial-upload, Upload-Offset, Upload-Complete ─▶ append
 *   DELETE /uploads/<id>    ─▶ 204;   OPTIONS ─▶ 204 Upload-Limit
 *
 * The length is learnt as the draft says: Upload-Length, or Upload-Complete: ?1 with a
 * Content-Length (offset + Content-Length), or a ?1 body that ends (chunked); two that differ are
 * an inconsistent length. An upload commits when its offset reaches its length, like tus. Errors
 * are RFC 9457 problem details (application/problem+json) with the draft's problem types where
 * it has one. libmicrohttpd 0.9.75 sends no 104 (Upload Resumption Supported): the draft's answer
 * for a server without interim responses is the final response's Location, so every creation
 * answer carries it, and clients are told to create with an empty request (docs/resumable.md).
 * Interop versions 5 (draft-03), 6 (draft-04/05), 7 (draft-06..08) and 8 (draft-09 onwards).
 *
 * A Repr-Digest on a creation describes the whole upload: its sha-256 and sha-512 go into the
 * upload's record and are compared when it completes (tus.c's record(), the store's commit); a
 * mismatch removes the upload and answers a 400 problem, nothing committed.
 */
#include "http/http.h"
#include "proto/proto.h"
#include "proto/resumable.h"
#include "streams/hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PROBLEM "https://iana.org/assignments/http-problem-types#"

/* Upload-Complete: an RFC 8941 Boolean; 1, 0, or -1 when absent or not a Boolean (ignored). */
static int parse_complete(const char *v)
{
    if (v == NULL)
        return -1;
    while (*v == ' ')
        v++;
    if (v[0] == '?' && (v[1] == '0' || v[1] == '1')) {
        const char *e = v + 2;
        while (*e == ' ')
            e++;
        if (*e == '\0' || *e == ';') /* parameters are allowed and mean nothing here */
            return v[1] - '0';
    }
    return -1;
}

static int is_partial_upload(const char *ct)
{
    static const char want[] = "application/partial-upload";

    return ct != NULL && strncasecmp(ct, want, sizeof(want) - 1) == 0 &&
           (ct[sizeof(want) - 1] == '\0' || ct[sizeof(want) - 1] == ';' ||
            ct[sizeof(want) - 1] == ' ');
}

/* Content-Disposition's filename (a token or a quoted string without escapes) as tus metadata
 * "filename <base64>" into out[cap]; 0, or -1 when there is none. */
static int disposition_metadata(const char *v, char *out, size_t cap)
{
    const char *p = v != NULL ? strcasestr(v, "filename=") : NULL;
    char name[SL_NAME_MAX + 1];
    size_t n = 0;

    if (p == NULL || (p > v && p[-1] == '*'))
        return -1;
    p += 9;
    if (*p == '"') {
        for (p++; *p != '\0' && *p != '"' && *p != '\\' && n < SL_NAME_MAX; p++)
            name[n++] = *p;
        if (*p != '"')
            return -1;
    } else {
        for (; *p > ' ' && *p != ';' && *p != ',' && *p < 127 && n < SL_NAME_MAX; p++)
            name[n++] = *p;
    }
    if (n == 0 || n * 4 / 3 + 16 > cap)
        return -1;
    memcpy(out, "filename ", 9);
    sl__base64((const unsigned char *)name, n, out + 9);
    return 0;
}

/* tus metadata that names a file `name` (tus_fields.c's rule: relativePath when it has a folder,
 * else filename) into out[cap]; 0 or -1. */
static int named_metadata(const char *name, char *out, size_t cap)
{
    const char *base = strrchr(name, '/');
    size_t n = strlen(name);

    if ((n + 2) / 3 * 4 * 2 + 32 > cap)
        return -1;
    base = base != NULL ? base + 1 : name;
    memcpy(out, "filename ", 9);
    sl__base64((const unsigned char *)base, strlen(base), out + 9);
    if (base != name) {
        size_t o = strlen(out);
        memcpy(out + o, ",relativePath ", 14);
        sl__base64((const unsigned char *)name, n, out + o + 14);
    }
    return 0;
}

/* The sha-256 and sha-512 of a creation's Repr-Digest as the upload's record keeps them
 * ("sha-256=<hex>,sha-512=<hex>", "" for none) into out[SL_TUS_REPR_MAX + 1]. */
static void repr_value(const sl_digests_t *d, char *out)
{
    const unsigned char *md[2] = {d->sha256, d->sha512};
    static const char *names[2] = {"sha-256", "sha-512"};
    int algs[2] = {SL_DIGEST_SHA256, SL_DIGEST_SHA512}, len[2] = {32, 64}, i;
    size_t n = 0;

    out[0] = '\0';
    for (i = 0; i < 2; i++) {
        if (!(d->algs & algs[i]))
            continue;
        n += (size_t)snprintf(out + n, SL_TUS_REPR_MAX + 1 - n, "%s%s=", n ? "," : "", names[i]);
        sl_hex(md[i], (size_t)len[i], out + n);
        n += 2 * (size_t)len[i];
    }
}

/* Everything the first call can judge; sets t's fields and *body. 0 or a code. */
static int ietf_check(sl_req_t *r, sl_tus_req_t *t, int *body, char *md, size_t mdcap)
{
    sl_server_t *srv = r->srv;
    const char *v, *ct = sl__header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    int m = t->method, complete, err;
    int64_t ulen = -1;
    sl_digests_t d;

    if (r->route == ROUTE_TUS_ID && !sl_tus_id_valid(r->name))
        return SL_ENOTFOUND;
    if (t->ietf < 5 || t->ietf > 8)
        return SL_EVERSION;
    if (r->route == ROUTE_FILE || r->route == ROUTE_FILES)
        t->method = m = M_POST; /* an upgraded PUT /files/<name> or POST /files/: a creation */
    if (m == M_GET)
        t->method = m = M_HEAD; /* offset retrieval by GET: the same answer, no content */
    if (r->route != ROUTE_TUS_ID ? (m != M_POST && m != M_OPTIONS)
                                 : (m != M_HEAD && m != M_PATCH && m != M_DELETE && m != M_OPTIONS))
        return SL_EMETHOD;
    if ((err = sl__framing(r)) < 0)
        return err;
    *body = r->chunked || r->content_length > 0;
    if (m != M_POST && m != M_PATCH)
        return 0;
    if (srv->draining && !srv->retiring)
        return SL_ESHUTDOWN;
    v = sl__header(r, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (v != NULL && strcasecmp(v, "identity") != 0)
        return SL_EUNSUPPORTED; /* offsets count the bytes stored */
    complete = parse_complete(sl__header(r, "Upload-Complete"));
    if (complete < 0)
        return SL_EBADREQUEST; /* creation and append both need it */
    t->complete = complete;
    if ((v = sl__header(r, "Upload-Length")) != NULL && sl__tus_parse_u63(v, &ulen) < 0)
        return SL_EBADREQUEST;
    if (m == M_PATCH) {
        if (t->ietf >= 6 && !is_partial_upload(ct))
            return SL_EUNSUPPORTED;
        if (sl__tus_parse_u63(sl__header(r, "Upload-Offset"), &t->offset) < 0)
            return SL_EBADREQUEST;
    } else {
        t->offset = 0;
        if (r->route == ROUTE_FILE) { /* the name in the URL */
            if (named_metadata(r->name, md, mdcap) < 0)
                return SL_ETOOLONG;
            t->metadata = md;
        } else if ((v = sl__header(r, "Upload-Metadata")) != NULL) { /* as tus-js-client sends it */
            if (sl__tus_metadata_valid(v) < 0)
                return SL_EBADREQUEST;
            t->metadata = v;
        } else if (disposition_metadata(sl__header(r, "Content-Disposition"), md, mdcap) == 0) {
            t->metadata = md;
        }
    }
    t->length = ulen;
    if (complete && !r->chunked) { /* the content is the rest: its end is the length */
        int64_t end;
        if (r->content_length > (uint64_t)(INT64_MAX - t->offset))
            return SL_ETOOLARGE;
        end = t->offset + (int64_t)r->content_length;
        if (ulen >= 0 && ulen != end) {
            t->inconsistent = 1;
            return SL_EBADREQUEST;
        }
        t->length = end;
    }
    if (m == M_POST && t->length < 0)
        t->defer = 1;
    if (srv->cfg.max_size && t->length > (int64_t)srv->cfg.max_size)
        return SL_ETOOLARGE;
    if (m == M_POST && *body &&
        (t->length == 0 ||
         (t->length > 0 && !r->chunked && r->content_length > (uint64_t)t->length)))
        return SL_ETOOLARGE; /* a body past the length (the chain's limit needs one byte) */
    if (m == M_POST && (v = sl__header(r, "Repr-Digest")) != NULL) { /* the whole upload's */
        memset(&d, 0, sizeof(d));
        if (sl__digests_parse(v, &d) < 0)
            return SL_EBADREQUEST;
        repr_value(&d, t->repr); /* compared when it completes; unknown algorithms: ignored */
    }
    if ((v = sl__header(r, "Content-Digest")) != NULL) { /* RFC 9530: this request's content */
        memset(&d, 0, sizeof(d));
        if (sl__digests_parse(v, &d) < 0)
            return SL_EBADREQUEST;
        if (d.algs & SL_DIGEST_SHA256) {
            t->check_alg = SL_DIGEST_SHA256;
            memcpy(t->check, d.sha256, 32);
        } else if (d.algs & SL_DIGEST_SHA512) {
            t->check_alg = SL_DIGEST_SHA512;
            memcpy(t->check, d.sha512, 64);
        }
    }
    return 0;
}

/* --- the answers ------------------------------------------------------------------------------ */

static void add_complete(sl_req_t *r, int complete)
{
    sl__respond_header(r, "Upload-Complete", complete ? "?1" : "?0");
}

/* Upload-Limit: max-size (--max-size), max-age (the expiry; "expires" before interop 7);
 * min-size=0 when there is no limit (the draft wants a value). */
static void add_limit(sl_req_t *r, const sl_tus_info_t *info)
{
    char buf[96];
    size_t n = 0;
    int64_t left = -1;

    if (r->srv->cfg.max_size)
        n += (size_t)snprintf(buf, sizeof(buf), "max-size=%llu",
                              (unsigned long long)r->srv->cfg.max_size);
    if (info != NULL && info->expires > 0 && info->file == NULL)
        left = info->expires - (int64_t)time(NULL);
    else if (info == NULL && r->srv->cfg.tus_expire)
        left = (int64_t)r->srv->cfg.tus_expire;
    if (left >= 0)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s=%lld", n ? ", " : "",
                              r->tr->ietf >= 7 ? "max-age" : "expires", (long long)left);
    if (n == 0)
        snprintf(buf, sizeof(buf), "min-size=0");
    sl__respond_header(r, "Upload-Limit", buf);
}

/* The state fields: offset, completeness, length, limits; once committed, where the file is
 * and its digest (sl__tus_describe's Sluice-File and Repr-Digest, shared with tus). */
static void describe(sl_req_t *r, const sl_tus_info_t *info)
{
    sl__tus_add_u64(r, "Upload-Offset", info->offset);
    add_complete(r, info->file != NULL);
    if (info->length >= 0)
        sl__tus_add_u64(r, "Upload-Length", (uint64_t)info->length);
    add_limit(r, info);
    if (info->file != NULL) {
        char buf[3 * SL_NAME_MAX + 16];
        int n = snprintf(buf, sizeof(buf), "%s/files/", r->srv->prefix);
        sl__url_escape(info->file, buf + n, sizeof(buf) - (size_t)n);
        sl__respond_header(r, MHD_HTTP_HEADER_CONTENT_LOCATION, buf);
        sl__respond_header(r, "Sluice-File", buf);
        if (r->tr->u != NULL && r->tr->u->job.digest && r->tr->u->job.sha256_hex[0] != '\0') {
            char hdr[64];
            sl__repr_digest_header(r->tr->u->job.sha256_hex, hdr);
            sl__respond_header(r, "Repr-Digest", hdr);
        }
    }
}

static void location(sl_req_t *r, const sl_tus_info_t *info)
{
    char loc[320];

    snprintf(loc, sizeof(loc), "%s/uploads/%s", r->srv->prefix, info->id);
    sl__respond_header(r, MHD_HTTP_HEADER_LOCATION, loc);
}

/* A completed upload's answer: what a PUT of the file answers (201), with the draft's fields. */
static void respond_done(sl_req_t *r, const sl_tus_info_t *info, unsigned status)
{
    char name[3 * SL_NAME_MAX], body[4 * SL_NAME_MAX + 160];
    int n;

    sl__json_escape(info->file, name, sizeof(name));
    n = snprintf(body, sizeof(body), "{\"name\":\"%s\",\"size\":%llu", name,
                 (unsigned long long)info->offset);
    if (r->tr->u != NULL && r->tr->u->job.digest && r->tr->u->job.sha256_hex[0] != '\0')
        n += snprintf(body + n, sizeof(body) - (size_t)n, ",\"sha256\":\"%s\"",
                      r->tr->u->job.sha256_hex);
    n += snprintf(body + n, sizeof(body) - (size_t)n, "}\n");
    sl__respond_json(r, status, body, (size_t)n);
}

static void ietf_created(sl_req_t *r, const sl_tus_info_t *info)
{
    if (info->file != NULL)
        respond_done(r, info, MHD_HTTP_CREATED);
    else
        sl__tus_respond_empty(r, MHD_HTTP_CREATED);
    location(r, info); /* no 104 to carry it: the final answer always does */
    describe(r, info);
}

static void ietf_head(sl_req_t *r, const sl_tus_info_t *info)
{
    sl__tus_respond_empty(r, MHD_HTTP_NO_CONTENT);
    describe(r, info);
    sl__respond_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}

static void ietf_appended(sl_req_t *r, const sl_tus_info_t *info)
{
    if (info->file != NULL)
        respond_done(r, info, MHD_HTTP_OK);
    else
        sl__tus_respond_empty(r, MHD_HTTP_NO_CONTENT);
    describe(r, info);
}

static void ietf_deleted(sl_req_t *r)
{
    sl__tus_respond_empty(r, MHD_HTTP_NO_CONTENT);
}

/* An RFC 9457 problem: type (NULL: about:blank), title, extra members (",\"k\":v" or ""). */
static void problem(sl_req_t *r, unsigned status, const char *type, const char *title, int err,
                    const char *extra)
{
    char body[768];
    int n;

    n = snprintf(body, sizeof(body),
                 "{\"type\":\"%s%s\",\"title\":\"%s\",\"status\":%u,\"code\":\"%s\"%s}\n",
                 type != NULL ? PROBLEM : "about:blank", type != NULL ? type : "", title, status,
                 sl_err_name(err), extra);
    r->err_name = sl_err_name(err);
    sl__respond_json(r, status, body, (size_t)n);
    if (r->resp == NULL || MHD_del_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                                   "application/json") != MHD_YES)
        r->resp_failed = 1;
    sl__respond_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json");
}

static void ietf_error(sl_req_t *r, const sl_tus_t *u, int err)
{
    sl_tus_req_t *t = r->tr;
    unsigned status = sl__status_for(err);
    char extra[128], title[160];
    int done = u != NULL && u->load_err == 0 && u->info.file != NULL;

    if (t->method == M_PATCH && done) {
        problem(r, MHD_HTTP_BAD_REQUEST, "completed-upload", "upload is already completed", err,
                "");
        sl__tus_add_u64(r, "Upload-Offset", u->info.offset);
    } else if (err == SL_EOFFSET && u != NULL) {
        snprintf(extra, sizeof(extra), ",\"expected-offset\":%llu,\"provided-offset\":%lld",
                 (unsigned long long)u->info.offset, (long long)t->offset);
        problem(r, MHD_HTTP_CONFLICT, "mismatching-upload-offset",
                "offset from request does not match offset of resource", err, extra);
        sl__tus_add_u64(r, "Upload-Offset", u->info.offset);
    } else if (err == SL_EBADREQUEST &&
               (t->inconsistent || (u != NULL && u->info.length >= 0 && t->length >= 0 &&
                                    t->length != u->info.length))) {
        problem(r, MHD_HTTP_BAD_REQUEST, "inconsistent-upload-length",
                "inconsistent length values for upload", err, "");
    } else if (err == SL_ECHECKSUM && t->committing) { /* the creation's Repr-Digest */
        problem(r, MHD_HTTP_BAD_REQUEST, NULL,
                "Repr-Digest from the creation does not match the upload; it was removed",
                SL_ECHECKSUM, "");
    } else if (err == SL_EUPLOADCHECKSUM || err == SL_ECHECKSUM) {
        problem(r, MHD_HTTP_BAD_REQUEST, NULL, "Content-Digest does not match the content",
                SL_ECHECKSUM, "");
    } else {
        sl__json_escape(sl_strerror(err), title, sizeof(title));
        problem(r, status, NULL, title, err, "");
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
            sl__respond_header(r, MHD_HTTP_HEADER_ALLOW,
                               r->route == ROUTE_TUS ? "POST, OPTIONS"
                                                     : "HEAD, GET, PATCH, DELETE, OPTIONS");
    }
    add_complete(r, 0);
    if (status == MHD_HTTP_CONTENT_TOO_LARGE)
        add_limit(r, u != NULL ? &u->info : NULL);
}

static const sl_tus_answers_t ietf_answers = {
    .created = ietf_created,
    .head = ietf_head,
    .appended = ietf_appended,
    .deleted = ietf_deleted,
    .error = ietf_error,
};

/* --- the protocol ----------------------------------------------------------------------------- */

static enum MHD_Result ietf_first(sl_req_t *r)
{
    sl_tus_req_t *t = sl_xcalloc(1, sizeof(*t) + SL_TUS_METADATA_MAX);
    const char *v = sl__header(r, "Upload-Draft-Interop-Version");
    int body = 0, err;
    int64_t ver = 0;

    r->tr = t;
    t->ans = &ietf_answers;
    t->owner = r;
    t->offset = t->length = -1;
    t->method = r->method;
    t->ietf = sl__tus_parse_u63(v, &ver) == 0 && ver < 100 ? (int)ver : 0;
    err = ietf_check(r, t, &body, (char *)(t + 1), SL_TUS_METADATA_MAX);
    return sl__tus_go(r, err, body);
}

static enum MHD_Result ietf_final(sl_req_t *r, const char *method)
{
    (void)method;
    if (r->tr->method != M_OPTIONS)
        return sl__tus_final(r);
    r->phase = PH_WAIT;
    sl__tus_respond_empty(r, MHD_HTTP_NO_CONTENT);
    add_limit(r, NULL);
    sl__respond_header(r, MHD_HTTP_HEADER_ALLOW,
                       r->route == ROUTE_TUS ? "POST, OPTIONS"
                                             : "HEAD, GET, PATCH, DELETE, OPTIONS");
    return sl__queue(r);
}

const sl_proto_t sl__proto_ietf = {
    .name = "ietf",
    .first = ietf_first,
    .body_start = sl__tus_body_start,
    .final = ietf_final,
    .gone = sl__tus_gone,
    .free = sl__tus_free,
};
