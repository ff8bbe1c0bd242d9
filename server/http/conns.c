/* SPDX-License-Identifier: MIT
 *
 * The connections libmicrohttpd holds, and finding those whose client has gone.
 *
 * libmicrohttpd 0.9.75 reads an edge-triggered socket until a short read; a FIN that arrives
 * behind the last data raises no new event, so a connection whose client closed sits in
 * CLOSE-WAIT, holding its slot of --max-connections (and an upload's temp file and buffers),
 * until --idle-timeout. A suspended connection is never read at all, so it cannot notice either
 * (research/mhd-libuv.md, pitfall 15). Every connection is tracked from
 * MHD_OPTION_NOTIFY_CONNECTION and once a second, from the server's tick, one poll(2) over all of
 * them finds the sockets that report RDHUP or HUP:
 *
 *   no request (partial headers, idle keep-alive), nothing left to read   → closed within 1 s
 *   an upload whose body can no longer arrive whole (nothing left to read,
 *     or Content-Length not reachable with what is left), idle for 1 s    → aborted (temp file
 *                                                                           removed, budget freed)
 *
 * A client that half-closed after sending its whole body and waits for the answer is left alone:
 * what it sent still reaches the upload.
 */
#include "http/http.h"
#include "proto/proto.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>

struct sl_conn_s {
    sl_conn_t *next, *prev;
    struct MHD_Connection *c;
    int fd;
    sl_req_t *req;  /* the request in progress on it, if any */
    unsigned nreqs; /* requests seen on it */
    /* The bytes libmicrohttpd read for the requests before `req` (headers and identity bodies,
     * each handed whole to the handler), and `lost` once one of them cannot be counted (a
     * chunked body, a body not taken whole): src_sock.c compares them with the socket's. */
    uint64_t before;
    uint64_t header; /* req's header size */
    int lost;
    uint64_t since; /* uv_now when it began to wait for a request (accepted, or last answered) */
    int late;       /* closed by --header-timeout (limits.c), libmicrohttpd not done with it */
    void *peer;     /* its client's count (limits.c), or NULL */
};

void sl__conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                     enum MHD_ConnectionNotificationCode toe)
{
    sl_server_t *srv = cls;
    sl_conn_t *k = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        k = sl_xcalloc(1, sizeof(*k));
        k->c = c;
        k->fd = ci != NULL ? ci->connect_fd : -1;
        k->since = uv_now(srv->loop);
        sl__limits_peer_opened(srv, c, k->fd, &k->peer);
        k->next = srv->conns;
        if (srv->conns != NULL)
            srv->conns->prev = k;
        srv->conns = k;
        srv->nconns++;
        *socket_context = k;
        return;
    }
    if (k == NULL)
        return;
    if (k->req != NULL)
        k->req->sock = NULL;
    sl__limits_peer_closed(srv, k->peer);
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        srv->conns = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    srv->nconns--;
    *socket_context = NULL;
    free(k);
}

void sl__conn_bind(sl_req_t *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    sl_conn_t *k = ci != NULL ? ci->socket_context : NULL;

    r->sock = k;
    if (k != NULL) {
        const union MHD_ConnectionInfo *hs =
            MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
        k->req = r;
        k->nreqs++;
        k->header = hs != NULL ? hs->header_size : 0;
        k->lost |= hs == NULL;
    }
}

int sl__conn_read_before(sl_req_t *r, uint64_t *bytes)
{
    if (r->sock == NULL || r->sock->lost)
        return -1;
    *bytes = r->sock->before + r->sock->header;
    return 0;
}

void sl__conn_unbind(sl_req_t *r)
{
    sl_conn_t *k = r->sock;

    if (k == NULL)
        return;
    if (r->chunked || r->received != r->content_length)
        k->lost = 1; /* what libmicrohttpd read of it is not known */
    k->before += k->header + r->received;
    k->req = NULL;
    k->since = uv_now(r->srv->loop);
    r->sock = NULL;
}

void sl__conns_waiting(sl_server_t *srv, uint64_t before,
                       void (*cb)(sl_server_t *srv, struct MHD_Connection *c, int fd, int first))
{
    sl_conn_t *k;

    for (k = srv->conns; k != NULL; k = k->next)
        if (k->req == NULL && !k->late && k->fd >= 0 && k->since < before) {
            k->late = 1;
            cb(srv, k->c, k->fd, k->nreqs == 0);
        }
}

/* What to do with a connection whose socket reported a hang-up: 1 close it, 2 abort its upload,
 * 0 nothing. */
static int verdict(sl_server_t *srv, sl_conn_t *k, short revents, uint64_t now)
{
    sl_req_t *r = k->req;
    int pending = 0;

    if (ioctl(k->fd, FIONREAD, &pending) < 0)
        pending = 0;
    if (r == NULL)
        return pending == 0 ? 1 : 0;
    if (r->up == NULL || !r->up->running || r->up->eof || srv->draining ||
        now - r->last_progress < 1000)
        return 0;
    if (revents & (POLLHUP | POLLERR))
        return 2; /* reset */
    if (!r->chunked && r->received >= r->content_length)
        return 0; /* the whole body is here (a half-close waits for its answer) */
    if (r->chunked && r->suspended)
        return 0; /* its last chunk may sit in libmicrohttpd's buffer: only a reset counts */
    if (pending == 0)
        return 2; /* closed with nothing more to come */
    if (!r->chunked && r->content_length > 0 && r->received + (uint64_t)pending < r->content_length)
        return 2; /* closed before the whole body was sent */
    return 0;
}

void sl__conns_sweep(sl_server_t *srv, uint64_t now)
{
    struct pollfd *pf;
    sl_conn_t *k, **ks;
    size_t n = 0, i;
    int kicked = 0;

    if (srv->nconns == 0 || srv->mhd == NULL)
        return;
    pf = sl_xmalloc(srv->nconns * sizeof(*pf));
    ks = sl_xmalloc(srv->nconns * sizeof(*ks));
    for (k = srv->conns; k != NULL && n < srv->nconns; k = k->next) {
        if (k->fd < 0)
            continue;
        pf[n].fd = k->fd;
        pf[n].events = POLLRDHUP;
        pf[n].revents = 0;
        ks[n++] = k;
    }
    if (n > 0 && poll(pf, n, 0) > 0) {
        for (i = 0; i < n; i++) {
            if (!(pf[i].revents & (POLLRDHUP | POLLHUP | POLLERR)))
                continue;
            switch (verdict(srv, ks[i], pf[i].revents, now)) {
            case 1:
                MHD_set_connection_option(ks[i]->c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)1);
                kicked = 1;
                break;
            case 2:
                sl__upload_abort(ks[i]->req, SL_EPREMATURE);
                MHD_set_connection_option(ks[i]->c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)1);
                kicked = 1;
                break;
            }
        }
    }
    free(pf);
    free(ks);
    if (kicked)
        sl__http_kick(srv); /* re-read MHD_get_timeout, which now includes those seconds */
}
