/* SPDX-License-Identifier: MIT
 *
 * Hooks and the host's routes: how a program that embeds sluice takes part in its uploads
 * (sluice.h, docs/embedding.md).
 *
 *   first call ─▶ on_request(h) ─ … ─▶ sl_hook_allow / sl_hook_reject ─(deferred)─▶ decided
 *       (suspended, PH_HOOK: no 100 Continue)                     resume ─▶ the first call goes on
 *   body ─▶ on_progress (a timer, every progress_ms, for uploads that moved)
 *   commit ─▶ on_complete (may add JSON to the 201) | failure ─▶ on_abort
 *
 * A decision may come during on_request or any time later; it always takes effect on a later
 * loop turn (never inside the call that made it), and a decision for a request whose client went
 * away is accepted and ignored. The pending decision holds a reference on the request, so the
 * request outlives its connection until then.
 */
#include "http/http.h"
#include "api/hooks.h"
#include "proto/proto.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sl_hook_req_s {
    sl_req_t *r;
    sl_event_t ev;
    int allow;
    unsigned status;
    char message[256];
    char *rename;
    void *user_data;
    char method[8];
    char remote[64];
};

void sl__event_init(sl_req_t *r, sl_event_t *ev, char remote[64])
{
    const union MHD_ConnectionInfo *ci =
        r->gone ? NULL : MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    memset(ev, 0, sizeof(*ev));
    remote[0] = '\0';
    if (!r->gone && r->srv->cfg.trust_proxy) { /* the proxy says who the client is */
        const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Forwarded-For");
        const char *f = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Forwarded");
        size_t n;
        if (v == NULL && f != NULL && (f = strcasestr(f, "for=")) != NULL)
            v = f + 4 + (f[4] == '"'); /* Forwarded: for="[2001:db8::1]:4711" or for=192.0.2.60 */
        if (v != NULL) {
            v += *v == '[';
            n = strcspn(v, ",;\"] ");
            if (n > 0 && n < 64) {
                memcpy(remote, v, n);
                remote[n] = '\0';
                ci = NULL;
            }
        }
    }
    if (ci != NULL && ci->client_addr != NULL) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, remote, 64);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, remote, 64);
    }
    ev->method = r->method < M_OTHER ? sl__method_name(r->method) : "";
    ev->path = r->path != NULL ? r->path : "";
    ev->name = r->name;
    ev->remote = remote;
    ev->length = r->chunked ? 0 : r->content_length;
    if (!r->gone && ev->length == 0) { /* before the framing was read: from the headers */
        const char *v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Upload-Length");
        if (v == NULL)
            v = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                            MHD_HTTP_HEADER_CONTENT_LENGTH);
        ev->length = v != NULL ? strtoull(v, NULL, 10) : 0;
    }
    if (!r->gone && (r->route == ROUTE_TUS || r->route == ROUTE_TUS_ID))
        ev->metadata = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Upload-Metadata");
    ev->bytes = r->received;
    ev->user_data = r->user_data;
}

/* --- on_request ------------------------------------------------------------------------------- */

static void decided(void *arg)
{
    sl_hook_req_t *h = arg;
    sl_req_t *r = h->r;

    if (!r->gone) {
        if (!h->allow) {
            sl__respond_error_json(r, h->status, "hook", h->message, NULL);
        } else if (h->rename != NULL) {
            if (sl_name_check(h->rename) == 0) {
                snprintf(r->name, sizeof(r->name), "%s", h->rename);
                r->renamed = 1;
            } else {
                sl__respond_error_json(r, 500, "hook", "the hook gave an invalid name",
                                       NULL); /* the host's fault */
            }
        }
        if (h->allow)
            r->user_data = h->user_data;
        sl__req_resume(r); /* the handler goes on from PH_HOOK */
    }
    r->hook = NULL;
    free(h->rename);
    free(h);
    sl__req_unref(r);
}

int sl__hook_request(sl_req_t *r)
{
    sl_server_t *srv = r->srv;
    sl_hook_req_t *h;

    if (srv->hooks.on_request == NULL)
        return 0;
    h = sl_xcalloc(1, sizeof(*h));
    h->r = r;
    sl__event_init(r, &h->ev, h->remote);
    r->hook = h;
    r->refs++; /* until the decision, whenever it comes */
    r->phase = PH_HOOK;
    sl__req_suspend(r);
    srv->hooks.on_request(h, srv->hooks.arg);
    return 1;
}

const char *sl_hook_header(sl_hook_req_t *h, const char *name)
{
    if (h->r->gone)
        return NULL;
    return MHD_lookup_connection_value(h->r->conn, MHD_HEADER_KIND, name);
}

const sl_event_t *sl_hook_event(sl_hook_req_t *h)
{
    return &h->ev;
}

void sl_hook_allow(sl_hook_req_t *h, const char *rename, void *user_data)
{
    h->allow = 1;
    h->rename = rename != NULL ? sl_xstrdup(rename) : NULL;
    h->user_data = user_data;
    sl_defer(h->r->srv->loop, decided, h);
}

void sl_hook_reject(sl_hook_req_t *h, unsigned status, const char *message)
{
    h->allow = 0;
    h->status = status >= 400 && status <= 599 ? status : 403;
    snprintf(h->message, sizeof(h->message), "%s", message != NULL ? message : "refused");
    sl_defer(h->r->srv->loop, decided, h);
}

/* --- the other events ---------------------------------------------------------------------------
 */

void sl__hook_complete(sl_req_t *r, const char *name, const char *sha256, uint32_t crc32,
                       uint64_t size, const char *metadata, char **json)
{
    sl_server_t *srv = r->srv;
    sl_event_t ev;
    char remote[64];

    if (srv->hooks.on_complete == NULL)
        return;
    sl__event_init(r, &ev, remote);
    ev.name = name;
    ev.sha256 = sha256 != NULL && sha256[0] != '\0' ? sha256 : NULL; /* --digest none */
    ev.crc32 = crc32;
    ev.bytes = size;
    ev.metadata = metadata;
    if (json == NULL) {
        char *ignored = NULL; /* a form or tus: no body to add members to */
        srv->hooks.on_complete(&ev, &ignored, srv->hooks.arg);
        free(ignored);
        return;
    }
    srv->hooks.on_complete(&ev, json, srv->hooks.arg);
}

void sl__hook_abort(sl_req_t *r, int reason)
{
    sl_server_t *srv = r->srv;
    sl_event_t ev;
    char remote[64];

    if (srv->hooks.on_abort == NULL)
        return;
    sl__event_init(r, &ev, remote);
    ev.reason = reason;
    srv->hooks.on_abort(&ev, srv->hooks.arg);
}

static void on_progress_timer(uv_timer_t *t)
{
    sl_server_t *srv = t->data;
    sl_req_t *r;

    for (r = srv->reqs; r != NULL; r = r->next) {
        sl_event_t ev;
        char remote[64];
        if (r->up == NULL || !r->up->running || r->received == r->progress_sent ||
            srv->hooks.on_progress == NULL)
            continue;
        r->progress_sent = r->received;
        sl__event_init(r, &ev, remote);
        srv->hooks.on_progress(&ev, srv->hooks.arg);
    }
}

void sl_server_set_hooks(sl_server_t *srv, const sl_hooks_t *hooks)
{
    unsigned ms;

    memset(&srv->hooks, 0, sizeof(srv->hooks));
    if (hooks != NULL)
        srv->hooks = *hooks;
    uv_timer_stop(&srv->progress);
    if (srv->hooks.on_progress != NULL) {
        ms = srv->hooks.progress_ms ? srv->hooks.progress_ms : 1000;
        uv_timer_start(&srv->progress, on_progress_timer, ms, ms);
    }
}

void sl_server_set_routes(sl_server_t *srv, sl_route_fn fn, void *arg)
{
    srv->route_fn = fn;
    srv->route_arg = arg;
}

/* A request outside sluice's URLs: the host's route, or 404. */
enum MHD_Result sl__host_route(sl_req_t *r, const char *method)
{
    sl_server_t *srv = r->srv;
    char *body = sl_xmalloc(64 << 10);
    const char *type = "text/plain";
    size_t len = 0;
    unsigned status = 0;
    struct MHD_Response *resp;

    if (srv->route_fn != NULL)
        status = srv->route_fn(method, r->url, body, 64 << 10, &len, &type, srv->route_arg);
    if (status < 100 || status > 599) {
        free(body);
        sl__respond_error(r, SL_ENOTFOUND);
        return sl__queue(r);
    }
    resp = MHD_create_response_from_buffer(len > (64 << 10) ? 64 << 10 : len, body,
                                           MHD_RESPMEM_MUST_FREE);
    if (resp == NULL)
        free(body);
    sl__respond(r, (unsigned)status, resp);
    sl__respond_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    r->bytes_out = len;
    return sl__queue(r);
}
