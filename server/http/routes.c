/* SPDX-License-Identifier: MIT
 *
 * The access handler: routing, the request's phases, and the dispatch to its protocol.
 *
 * libmicrohttpd calls the handler once with the headers, once per body piece, and once after the
 * body (research/mhd-libuv.md §2). The route picks a protocol (sl_proto_t: files and uploads in
 * proto/files.c and upload.c, tus in proto/tus.c, the host's routes, /healthz and /metrics here),
 * and each call goes to it: `first` decides everything that can refuse the request, where a
 * queued response means no "100 Continue" and no body read (rule 5); `body_start` starts the
 * chain once a store check (free space, an existing name, a tus turn) that suspended the first
 * call is done; body pieces go to the upload's chain (upload.c); `final` answers a request
 * without body, so the connection stays alive (rule 5, second half); `gone` and `free` end it.
 * What is common to all of them stays here: the request's record, header sanity (a NUL, a
 * space in a name), on_request, CORS preflights.
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

/* Under /uploads/, the IETF draft's requests (its interop version, no Tus-Resumable) go to
 * proto/ietf.c, everything else to tus. */
static const sl_proto_t *resumable_proto(sl_req_t *r)
{
    if (sl__header(r, "Upload-Draft-Interop-Version") != NULL &&
        sl__header(r, "Tus-Resumable") == NULL)
        return &sl__proto_ietf;
    return &sl__proto_tus;
}

/* A PUT /files/<name> or POST /files/ that asks to be resumable (the draft's Upload-Complete
 * with its interop version) creates an upload (proto/ietf.c) that lands under that name. */
static int upgraded(sl_req_t *r)
{
    return (r->route == ROUTE_FILE ? r->method == M_PUT : r->method == M_POST) &&
           sl__header(r, "Upload-Draft-Interop-Version") != NULL &&
           sl__header(r, "Upload-Complete") != NULL;
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
        r->proto = &sl__proto_host;
        return 0;
    }
    url += plen;
    if (*url == '\0')
        url = "/";
    r->path = url;
    len = strlen(url);
    r->proto = &sl__proto_files;
    if (strcmp(url, "/metrics") == 0) {
        r->route = ROUTE_METRICS;
        r->proto = &sl__proto_ops;
        return 0;
    }
    if (strcmp(url, "/healthz") == 0) {
        r->route = ROUTE_HEALTH;
        r->proto = &sl__proto_ops;
        return 0;
    }
    if (r->srv->ui != NULL && (strcmp(url, "/") == 0 || strncmp(url, "/ui/", 4) == 0)) {
        r->route = ROUTE_UI; /* the upload page (ui.c); without one, the host's as before */
        r->proto = &sl__proto_ui;
        return 0;
    }
    if (strcmp(url, "/files") == 0 || strcmp(url, "/files/") == 0) {
        r->route = ROUTE_FILES;
        if (upgraded(r))
            r->proto = &sl__proto_ietf;
        return 0;
    }
    if (strcmp(url, "/uploads") == 0 || strcmp(url, "/uploads/") == 0) {
        r->route = ROUTE_TUS;
        r->proto = resumable_proto(r);
        return 0;
    }
    if (len > 9 && strncmp(url, "/uploads/", 9) == 0) {
        r->route = ROUTE_TUS_ID; /* the id is checked with the other tus headers */
        r->proto = resumable_proto(r);
        snprintf(r->name, sizeof(r->name), "%.*s", SL_TUS_ID_LEN + 1, url + 9);
        return 0;
    }
    if (len > 7 && strncmp(url, "/files/", 7) == 0) {
        int err;
        r->route = ROUTE_FILE;
        if (len - 7 > 3 * SL_NAME_MAX)
            return SL_ETOOLONG;
        err = sl_name_decode(url + 7, len - 7, SL_DECODE_PATH, r->name, sizeof(r->name));
        if (err == 0 && upgraded(r))
            r->proto = &sl__proto_ietf;
        return err < 0 ? err : sl_name_check(r->name);
    }
    r->route = ROUTE_HOST; /* not one of sluice's: the host may serve it */
    r->proto = &sl__proto_host;
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

/* Everything the first call decides after on_request allowed it (or without hooks): a CORS
 * preflight for sluice's own routes, else the protocol's first call. */
static enum MHD_Result first_call_rest(sl_req_t *r)
{
    if (r->proto->cors && sl__cors_preflight(r)) {
        r->phase = PH_NOBODY; /* answered from the final call */
        return MHD_YES;
    }
    return r->proto->first(r);
}

enum MHD_Result sl__refuse_first(sl_req_t *r, int err)
{
    sl__respond_error(r, err);
    if (r->has_body)
        return sl__queue(r); /* first call: no 100 Continue, no body read */
    r->phase = PH_NOBODY;    /* answered from the final call: the connection stays alive */
    return MHD_YES;
}

/* --- the host's routes, /healthz and /metrics ------------------------------------------------ */

static enum MHD_Result host_first(sl_req_t *r)
{
    if (r->srv->route_fn == NULL)
        return sl__refuse_first(r, SL_ENOTFOUND); /* nobody serves it: refused before any body */
    r->phase = PH_NOBODY; /* the host's route answers from the final call; a body is dropped */
    return MHD_YES;
}

static enum MHD_Result ops_first(sl_req_t *r)
{
    if (r->method != M_GET && r->method != M_HEAD)
        return sl__refuse_first(r, SL_EMETHOD);
    r->phase = PH_NOBODY;
    return MHD_YES;
}

static enum MHD_Result ops_final(sl_req_t *r, const char *method)
{
    (void)method;
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
    } else if (r->srv->store != NULL && r->srv->store->unreachable) {
        static const char down[] = "{\"status\":\"store unreachable\"}\n";
        sl__respond_json(r, MHD_HTTP_SERVICE_UNAVAILABLE, down, sizeof(down) - 1);
    } else {
        static const char ok[] = "{\"status\":\"ok\"}\n";
        sl__respond_json(r, MHD_HTTP_OK, ok, sizeof(ok) - 1);
    }
    return sl__queue(r);
}

const sl_proto_t sl__proto_host = {.name = "host", .first = host_first, .final = sl__host_route};
const sl_proto_t sl__proto_ops = {.name = "ops", .first = ops_first, .final = ops_final, .cors = 1};

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
    if (err < 0)
        return sl__refuse_first(r, err);
    /* on_request sees every request for sluice's files and uploads, before anything else is
     * decided or read; the handler goes on from PH_HOOK. */
    if ((r->proto == &sl__proto_files || r->proto == &sl__proto_tus ||
         r->proto == &sl__proto_ietf) &&
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
        r->last_progress = uv_now(srv->loop);
        r->t0 = uv_hrtime();
        srv->busy_at = r->last_progress; /* a burst shorter than a tick still counts (trim) */
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
        int err = r->proto->body_start(r);
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
        if (r->proto->cors && sl__cors_preflight(r)) {
            sl__respond_json(r, MHD_HTTP_NO_CONTENT, "", 0);
            return sl__queue(r);
        }
        return r->proto->final(r, method);
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
    sl__access_log(r, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !r->self_sent);
    r->srv->m->requests++;
    r->gone = 1;
    r->suspended = 0;
    sl_budget_cancel(&r->budget_wait);
    if (r->proto != NULL && r->proto->gone != NULL)
        r->proto->gone(r);
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
