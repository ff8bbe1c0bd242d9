/* SPDX-License-Identifier: MIT
 *
 * The access handler: routing, first-call validation, and the request's phases.
 *
 * libmicrohttpd calls the handler once with the headers, once per body piece, and once after the
 * body (research/mhd-libuv.md §2). Everything that can refuse an upload is decided in the first
 * call, where a queued response means no "100 Continue" and no body read (rule 5): method, name,
 * Transfer-Encoding (anything but chunked hangs 0.9.75; TE with Content-Length is a smuggling
 * risk), duplicate Content-Length, Content-Encoding, Content-Length against --max-size. A store
 * check (free space, an existing name for If-None-Match) runs as a job while the connection is
 * suspended in that first call; the resumed call can still refuse. Requests without a body answer
 * from their final call so the connection stays alive (rule 5, second half).
 *
 *   PH_FIRST ─▶ [PH_PREFLIGHT] ─▶ PH_BODY ─▶ PH_WAIT ─▶ PH_DONE       (PUT, POST)
 *   PH_FIRST ─▶ PH_NOBODY ─▶ PH_WAIT ─▶ PH_DONE                       (GET, HEAD, DELETE)
 */
#include "http/http.h"
#include "streams/multipart.h"
#include "proto/proto.h"
#include "proto/resumable.h"
#include "api/hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PREFLIGHT_MIN (1u << 20) /* bodies from this size get the free-space check first */

size_t sl__unescape_none(void *cls, struct MHD_Connection *conn, char *uri)
{
    (void)cls;
    (void)conn;
    return strlen(uri); /* paths are decoded by sl_name_decode, which sees %00 and %2F */
}

void sl__mhd_log(void *cls, const char *fmt, va_list ap)
{
    sl_server_t *srv = cls;

    if (srv->cfg.verbose) {
        fputs("sluice: libmicrohttpd: ", stderr);
        vfprintf(stderr, fmt, ap);
    }
}

static const char *const method_names[M_OTHER] = {"GET",    "HEAD",  "PUT",    "POST",
                                                  "DELETE", "PATCH", "OPTIONS"};

const char *sl__method_name(int m)
{
    return m >= 0 && m < M_OTHER ? method_names[m] : "OTHER";
}

const char *sl__header(sl_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

int sl__method_of(const char *m)
{
    const char *const *names = method_names;
    int i;

    for (i = 0; i < M_OTHER; i++)
        if (strcmp(m, names[i]) == 0)
            return i;
    return M_OTHER;
}

struct hdr_count {
    const char *name;
    int n;
};

static enum MHD_Result count_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct hdr_count *h = cls;

    (void)kind;
    (void)value;
    if (strcasecmp(key, h->name) == 0)
        h->n++;
    return MHD_YES;
}

static enum MHD_Result nul_cb(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                              const char *value, size_t value_size)
{
    int *bad = cls;

    (void)kind;
    /* A name with a space, a tab or a colon is refused (400). libmicrohttpd 0.9.75 itself joins a
     * folded value (obs-fold) to the line before with a space, which RFC 9112 §5.2 allows, and
     * cuts a field at a NUL before sluice sees it (nothing after the NUL is ever acted on); the
     * size check below catches a NUL that would reach us inside the value. */
    if (strlen(key) != key_size || (value != NULL && strlen(value) != value_size) ||
        strpbrk(key, " \t:") != NULL)
        *bad = 1;
    return MHD_YES;
}

/* Route and decode the name; 0 or a negative code. */
static int route(sl_req_t *r, const char *url)
{
    const char *prefix = r->srv->prefix;
    size_t plen = strlen(prefix), len;

    r->url = sl_xstrdup(url); /* hooks and the access log may need it after the connection */
    url = r->url;
    if (plen > 0 && (strncmp(url, prefix, plen) != 0 || (url[plen] != '/' && url[plen] != '\0'))) {
        r->route = ROUTE_HOST; /* outside the mount: the host's */
        return 0;
    }
    url += plen;
    if (*url == '\0')
        url = "/";
    r->path = url;
    len = strlen(url);
    if (strcmp(url, "/metrics") == 0) {
        r->route = ROUTE_METRICS;
        return 0;
    }
    if (strcmp(url, "/healthz") == 0) {
        r->route = ROUTE_HEALTH;
        return 0;
    }
    if (strcmp(url, "/files") == 0 || strcmp(url, "/files/") == 0) {
        r->route = ROUTE_FILES;
        return 0;
    }
    if (strcmp(url, "/uploads") == 0 || strcmp(url, "/uploads/") == 0) {
        r->route = ROUTE_TUS;
        return 0;
    }
    if (len > 9 && strncmp(url, "/uploads/", 9) == 0) {
        r->route = ROUTE_TUS_ID; /* the id is checked with the other tus headers */
        snprintf(r->name, sizeof(r->name), "%.*s", SL_TUS_ID_LEN + 1, url + 9);
        return 0;
    }
    if (len > 7 && strncmp(url, "/files/", 7) == 0) {
        int err;
        r->route = ROUTE_FILE;
        if (len - 7 > 3 * SL_NAME_MAX)
            return SL_ETOOLONG;
        err = sl_name_decode(url + 7, len - 7, SL_DECODE_PATH, r->name, sizeof(r->name));
        return err < 0 ? err : sl_name_check(r->name);
    }
    r->route = ROUTE_HOST; /* not one of sluice's: the host may serve it */
    return 0;
}

int sl__framing(sl_req_t *r)
{
    struct MHD_Connection *c = r->conn;
    struct hdr_count cl = {MHD_HTTP_HEADER_CONTENT_LENGTH, 0};
    const char *te =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);

    MHD_get_connection_values(c, MHD_HEADER_KIND, count_cb, &cl);
    if (te != NULL && strcasecmp(te, "chunked") != 0)
        return SL_ENOTIMPL;
    if (te != NULL && cl.n > 0)
        return SL_EBADREQUEST;
    if (cl.n > 1)
        return SL_EBADREQUEST;
    r->content_length = 0;
    r->chunked = te != NULL;
    if (cl.n == 1) /* libmicrohttpd already refused a malformed one */
        r->content_length = strtoull(
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH), NULL,
            10);
    return 0;
}

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

enum MHD_Result sl__upload_begin(sl_req_t *r)
{
    uint64_t need = r->chunked ? 0 : r->content_length;
    int err;

    /* Small bodies skip the free-space check (a job and a suspend); a full disk still fails
     * their write with 507. */
    if (need >= PREFLIGHT_MIN || r->noreplace || r->create_only) {
        r->job.data = r;
        r->refs++;
        if (sl_store_preflight(r->srv->store, &r->job,
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

/* Everything the first call decides after on_request allowed it (or without hooks). */
static enum MHD_Result first_call_rest(sl_req_t *r)
{
    int err = 0;

    if (r->route == ROUTE_TUS || r->route == ROUTE_TUS_ID)
        return sl__tus_first(r, sl__method_name(r->method));
    if (r->route == ROUTE_HOST && r->srv->route_fn == NULL)
        err = SL_ENOTFOUND; /* nobody serves it: refused before any body */
    if (err == 0 && r->route == ROUTE_HOST) {
        r->phase = PH_NOBODY; /* the host's route answers from the final call; a body is dropped */
        return MHD_YES;
    }
    if (err == 0 && sl__cors_preflight(r)) {
        r->phase = PH_NOBODY; /* answered from the final call */
        return MHD_YES;
    }
    if (err == 0) {
        int upload = (r->route == ROUTE_FILE && r->method == M_PUT) ||
                     (r->route == ROUTE_FILES && r->method == M_POST);
        int ok = upload || r->method == M_GET || r->method == M_HEAD ||
                 (r->route == ROUTE_FILE && r->method == M_DELETE);
        if (!ok)
            err = SL_EMETHOD;
        else if (upload && r->srv->draining && !r->srv->retiring)
            err = SL_ESHUTDOWN;
        else if (upload)
            err = validate_upload(r);
        if (err == 0 && upload)
            return sl__upload_begin(r);
    }
    if (err < 0) {
        sl__respond_error(r, err);
        if (r->has_body)
            return sl__queue(r); /* first call: no 100 Continue, no body read */
    }
    r->phase = PH_NOBODY;
    return MHD_YES;
}

static enum MHD_Result first_call(sl_req_t *r, const char *url, const char *method,
                                  const char *version)
{
    int err;
    const char *te;

    r->http11 = version != NULL && strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
    r->method = sl__method_of(method);
    te = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    r->has_body =
        te != NULL || (MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                   MHD_HTTP_HEADER_CONTENT_LENGTH) != NULL);
    err = route(r, url);
    if (err == 0) {
        int bad = 0;
        MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, nul_cb, &bad);
        if (bad)
            err = SL_EBADREQUEST;
    }
    if (err < 0) {
        sl__respond_error(r, err);
        if (r->has_body)
            return sl__queue(r); /* first call: no 100 Continue, no body read */
        r->phase = PH_NOBODY;
        return MHD_YES;
    }
    /* on_request sees every request for sluice's files and uploads, before anything else is
     * decided or read; the handler goes on from PH_HOOK. */
    if (r->route != ROUTE_HOST && r->route != ROUTE_HEALTH && r->route != ROUTE_METRICS &&
        !sl__cors_preflight(r) && sl__hook_request(r))
        return MHD_YES;
    return first_call_rest(r);
}

enum MHD_Result sl__access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    sl_server_t *srv = cls;
    sl_req_t *r = *con_cls;

    if (r == NULL) {
        r = sl_xcalloc(1, sizeof(*r));
        r->srv = srv;
        r->conn = conn;
        r->refs = 1;
        r->job.fd = -1;
        r->last_progress = uv_now(srv->loop);
        r->t0 = uv_hrtime();
        r->next = srv->reqs;
        if (srv->reqs != NULL)
            srv->reqs->prev = r;
        srv->reqs = r;
        srv->nreqs++;
        *con_cls = r;
        if (srv->mhd != NULL)
            sl__conn_bind(r);
        return first_call(r, url, method, version);
    }
    if (srv->closing && !r->answered)
        return MHD_NO; /* stopping: whatever still waits is dropped */
    if (*upload_data_size > 0) {
        if (r->up != NULL)
            return sl__upload_data(r, upload_data, upload_data_size);
        *upload_data_size = 0; /* a body nobody asked for is discarded */
        return MHD_YES;
    }
    if (r->phase == PH_HOOK) {
        if (r->answered)
            return sl__queue(r); /* refused: still the first call, no 100 Continue */
        return first_call_rest(r);
    }
    if (r->phase == PH_TAKEOVER) { /* the first call again: the chain's answer is ready */
        if (r->answered)
            return sl__queue(r); /* no 100 was sent by libmicrohttpd: it closes after this */
        sl__req_suspend(r);
        return MHD_YES;
    }
    if (r->phase == PH_PREFLIGHT) {
        if (r->answered)
            return sl__queue(r); /* still the first call: no 100 Continue */
        int err = r->tr != NULL ? sl__tus_body_start(r) : sl__upload_start(r);
        if (err < 0) {
            sl__respond_error(r, err);
            return sl__queue(r);
        }
        return MHD_YES;
    }
    if (r->answered && r->phase != PH_BODY)
        return sl__queue(r);
    switch (r->phase) {
    case PH_BODY:
        return sl__upload_end(r);
    case PH_NOBODY:
        if (r->tr != NULL)
            return sl__tus_final(r);
        if (r->route == ROUTE_HOST)
            return sl__host_route(r, method);
        if (sl__cors_preflight(r)) {
            sl__respond_json(r, MHD_HTTP_NO_CONTENT, "", 0);
            return sl__queue(r);
        }
        if (r->route == ROUTE_METRICS) {
            size_t len;
            char *text = sl__metrics_render(r->srv, &len);
            sl__respond_json(r, MHD_HTTP_OK, text, len);
            if (r->resp == NULL || MHD_del_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                                           "application/json") != MHD_YES)
                r->resp_failed = 1;
            sl__respond_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                               "text/plain; version=0.0.4; charset=utf-8");
            free(text);
            return sl__queue(r);
        }
        if (r->route == ROUTE_HEALTH) {
            static const char ok[] = "{\"status\":\"ok\"}\n";
            sl__respond_json(r, MHD_HTTP_OK, ok, sizeof(ok) - 1);
            return sl__queue(r);
        }
        sl__files_start(r);
        return MHD_YES;
    default:
        return MHD_NO;
    }
}

void sl__request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    sl_req_t *r = *con_cls;

    (void)cls;
    (void)conn;
    if (r == NULL)
        return;
    *con_cls = NULL;
    sl__conn_unbind(r);
    sl__takeover_stop(r);
    sl__access_log(r, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
    r->srv->m->requests++;
    r->gone = 1;
    r->suspended = 0;
    sl_budget_cancel(&r->budget_wait);
    if (r->tr != NULL)
        sl__tus_gone(r);
    if (r->up != NULL && r->up->running) {
        /* libmicrohttpd closed a body that was still expected after --idle-timeout without a
         * byte: idle (sluice_uploads_failed_total{reason="idle"}). Otherwise, or when sluice
         * had ended it already and shortened the timeout itself, the client went away. A
         * resumable upload keeps what arrived either way. */
        int idle = toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED && r->up->chain.pl.error == 0 &&
                   !r->up->eof;
        sl__upload_abort(r, idle ? SL_EIDLE : SL_EPREMATURE);
    }
    sl__req_unref(r);
}
