/* SPDX-License-Identifier: MIT
 *
 * libmicrohttpd on the libuv loop (DESIGN.md §3; research/mhd-libuv.md §1).
 *
 * libmicrohttpd runs in external epoll mode with suspend/resume and no thread of its own. A
 * uv_poll_t watches its epoll fd; after every MHD_run we obey MHD_get_timeout: 0 starts the idle
 * handle ("run again now": MHD's inner epoll is edge-triggered and it reports leftover work only
 * this way), N arms the timer, none stops both (rule 2). A 0 ms timer re-armed from its own
 * callback would busy-loop in libuv 1.44, hence the idle handle. After MHD_resume_connection
 * nothing wakes MHD, so sl__req_resume kicks the idle handle (rule 3). MHD_run is never called
 * from inside an MHD callback (the kick runs it on the next turn).
 *
 * A once-a-second tick fails uploads that made no progress for --idle-timeout seconds (a
 * suspended connection never times out in MHD, rule 7) and drives the graceful stop: quiesce
 * (stop accepting), wait for uploads in flight until the deadline, abort what is left (temp files
 * removed, 503), resume every suspended connection, then stop the daemon (rule 8).
 */
#include "http/http.h"
#include "proto/proto.h"
#include "proto/form.h"
#include "proto/resumable.h"
#include "storage/fs.h" /* the stores this server opens */
#include "storage/s3.h"
#include "http/ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define MHD_RUNS_PER_TURN 8

static void run_mhd(sl_server_t *srv);
static unsigned open_connections(sl_server_t *srv);

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(h->data);
}

static void on_timer(uv_timer_t *h)
{
    run_mhd(h->data);
}

static void on_idle(uv_idle_t *h)
{
    run_mhd(h->data);
}

static void run_mhd(sl_server_t *srv)
{
    MHD_UNSIGNED_LONG_LONG to;
    unsigned open;
    int i;

    if (srv->mhd == NULL)
        return;
    /* At --max-connections libmicrohttpd takes its listening socket out of its epoll set and puts
     * it back only at the start of a later run, once below the limit; when the connection that
     * brought it below was the last one, nothing would call that run (no timeout, no event) and
     * the server would stop accepting for good. So a run that leaves it below the limit after
     * having been at it runs once more, and the tick runs it every second anyway. */
    /* While MHD has work left (timeout 0: data behind an edge it already consumed), run it again
     * right here, a few times: each run reads one piece per connection, and several pieces per
     * loop turn let the chain hand bigger batches to the thread pool. */
    for (i = 0; i < MHD_RUNS_PER_TURN; i++) {
        MHD_run(srv->mhd);
        if (MHD_get_timeout(srv->mhd, &to) != MHD_YES || to != 0)
            break;
    }
    open = open_connections(srv);
    if (open + 1 >= srv->cfg.max_connections)
        srv->at_limit = 1;
    else if (srv->at_limit) {
        srv->at_limit = 0;
        MHD_run(srv->mhd); /* the listener goes back into the epoll set */
    }
    if (MHD_get_timeout(srv->mhd, &to) != MHD_YES) {
        uv_idle_stop(&srv->idle);
        uv_timer_stop(&srv->timer);
    } else if (to == 0) {
        uv_timer_stop(&srv->timer);
        uv_idle_start(&srv->idle, on_idle);
    } else {
        uv_idle_stop(&srv->idle);
        uv_timer_start(&srv->timer, on_timer, to, 0);
    }
}

void sl__http_kick(sl_server_t *srv)
{
    if (srv->kick != NULL)
        srv->kick(srv->kick_arg); /* attached: the host runs its daemon (later, not in here) */
    else if (srv->mhd != NULL && !uv_is_active((uv_handle_t *)&srv->idle))
        uv_idle_start(&srv->idle, on_idle);
}

void sl__req_suspend(sl_req_t *r)
{
    if (!r->suspended && !r->gone) {
        MHD_suspend_connection(r->conn);
        r->suspended = 1;
    }
}

void sl__req_resume(sl_req_t *r)
{
    if (r->suspended) {
        if (r->self_answer && r->answered && !r->gone)
            sl__queue_self(r); /* libmicrohttpd waits for body bytes sluice read: it cannot */
        r->suspended = 0;
        MHD_resume_connection(r->conn);
        sl__http_kick(r->srv);
    }
}

sl_store_job_t *sl__req_job(sl_req_t *r)
{
    if (r->job == NULL) {
        r->job = sl_xcalloc(1, sizeof(*r->job));
        r->job->fd = -1;
        r->job->data = r;
    }
    return r->job;
}

/* Close the store once nothing can use it any more (it may be asked more than once). */
static void store_close(sl_server_t *srv)
{
    if (srv->store != NULL)
        sl_store_close(srv->store);
    srv->store = NULL;
}

void sl__req_unref(sl_req_t *r)
{
    sl_server_t *srv = r->srv;

    if (--r->refs > 0)
        return;
    sl__takeover_stop(r);
    sl__auth_release(r);
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        srv->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    srv->nreqs--;
    if (r->up != NULL && r->up->form != NULL) {
        sl_form_free(r->up->form); /* its parts' chains give their sinks back to the store */
        free(r->up->form);
    }
    if (r->up != NULL)
        sl__chain_free(&r->up->chain);
    if (srv->closing && srv->nreqs == 0 && srv->tus_jobs == 0)
        store_close(srv); /* the stop left it open for the last request's job */
    sl_budget_cancel(&r->budget_wait);
    if (r->resp != NULL)
        MHD_destroy_response(r->resp);
    if (r->job != NULL && r->job->fd >= 0)
        close(r->job->fd);
    if (r->job != NULL)
        free(r->job->json);
    free(r->job);
    if (r->proto != NULL && r->proto->free != NULL)
        r->proto->free(r); /* the protocol's state: a tus request's turn, its upload */
    free((char *)r->url);
    free(r->self_body);
    free(r->up);
    free(r);
    sl__server_maybe_free(srv); /* sl_server_free came before this last request ended */
}

static void on_handle_closed(uv_handle_t *h)
{
    sl_server_t *srv = h->data;

    if (--srv->handles_open > 0)
        return;
    srv->closed = 1;
    if (srv->stop_cb != NULL)
        srv->stop_cb(srv, srv->stop_arg); /* it may free the server: nothing after this */
    else
        sl__server_maybe_free(srv);
}

static void close_handles(sl_server_t *srv)
{
    srv->handles_open = 4 + srv->has_poll;
    if (srv->has_poll)
        uv_close((uv_handle_t *)&srv->poll, on_handle_closed);
    uv_close((uv_handle_t *)&srv->timer, on_handle_closed);
    uv_close((uv_handle_t *)&srv->idle, on_handle_closed);
    uv_close((uv_handle_t *)&srv->tick, on_handle_closed);
    uv_close((uv_handle_t *)&srv->progress, on_handle_closed);
}

static void finish_stop(sl_server_t *srv)
{
    sl_req_t *r;

    srv->closing = 1;
    /* Rule 8: MHD_stop_daemon aborts the process if a connection is still suspended. */
    for (r = srv->reqs; r != NULL; r = r->next)
        sl__req_resume(r);
    if (srv->mhd != NULL) {
        MHD_run(srv->mhd);
        MHD_stop_daemon(srv->mhd);
        srv->mhd = NULL;
    }
    if (srv->nreqs == 0 && srv->tus_jobs == 0)
        store_close(srv); /* else a pool job may still use the store: leave it open */
    close_handles(srv);
}

/* libmicrohttpd 0.9.75 reads an edge-triggered socket until a short read; a FIN that arrived
 * behind the last data then raises no new event, and the connection sits in CLOSE-WAIT holding
 * its upload until the idle timeout (fixed upstream in 1.0). An upload that has not moved for a
 * second, is not suspended, and whose socket reports RDHUP with nothing left to read has lost its
 * client: abort it (the temp file goes at once) and let libmicrohttpd close it within a second. */
static int client_gone(sl_req_t *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct pollfd pfd;
    int pending = 0;

    if (ci == NULL)
        return 0;
    pfd.fd = ci->connect_fd;
    pfd.events = POLLIN | POLLRDHUP;
    if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
        return 0;
    return ioctl(pfd.fd, FIONREAD, &pending) == 0 && pending == 0;
}

/* Connections libmicrohttpd still holds (accepted, maybe without a request yet). */
static unsigned open_connections(sl_server_t *srv)
{
    const union MHD_DaemonInfo *info =
        srv->mhd != NULL ? MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS)
                         : NULL;

    return info != NULL ? info->num_connections : 0;
}

/* Requests with an operation in flight (an upload chain or a store job). */
static size_t busy_requests(sl_server_t *srv)
{
    size_t n = 0;
    sl_req_t *r;

    for (r = srv->reqs; r != NULL; r = r->next)
        if (r->refs > (r->gone ? 0 : 1))
            n++;
    return n;
}

static void on_tick(uv_timer_t *h)
{
    sl_server_t *srv = h->data;
    uint64_t now = uv_now(srv->loop);
    sl_req_t *r, *next;

    for (r = srv->reqs; r != NULL; r = next) {
        next = r->next;
        sl__takeover_tick(r, now);
        if (r->up == NULL || !r->up->running)
            continue;
        if (srv->draining && now >= srv->drain_deadline) {
            /* A body that arrived whole is committing: let it finish (the stop still forces
             * its way 5 s past the deadline), rather than answer 503 for a file on disk. */
            if (!r->up->eof)
                sl__upload_abort(r, SL_ESHUTDOWN);
        } else if (srv->mhd == NULL && !r->up->eof && !r->suspended &&
                   now - r->last_progress >= 1000 && client_gone(r)) {
            /* attached to the host's daemon (no connection list): the request's own check */
            sl__upload_abort(r, SL_EPREMATURE);
            MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned int)1);
            sl__http_kick(srv); /* re-read MHD_get_timeout, which now includes this second */
        } else if (srv->cfg.idle_timeout && !r->up->eof &&
                   now - r->last_progress >= (uint64_t)srv->cfg.idle_timeout * 1000) {
            sl__upload_abort(r, SL_EIDLE);
        }
    }
    sl__limits_tick(srv, now); /* --min-rate, --header-timeout */
    sl__conns_sweep(srv, now); /* clients gone: connections closed, uploads aborted */
    sl__tus_tick(srv, now);
    sl__metrics_tick(srv);
    sl__quota_flush(srv);                         /* the token counts' ledger, when they changed */
    srv->m->heartbeat_ms = uv_hrtime() / 1000000; /* the loop turns: --workers' watchdog */
    if (srv->nreqs > 0 || srv->tus_jobs > 0)
        srv->busy_at = now;
    else if (srv->busy_at != 0 && now - srv->busy_at >= 2000) {
        srv->busy_at = 0; /* idle for 2 s after work: give the memory of the burst back */
        sl_chunk_trim(srv->loop);
    }
    run_mhd(srv); /* libmicrohttpd re-arms a listener it left at --max-connections only in a run */
    /* Stop once nothing is left, or past the deadline once every aborted upload has cleaned up
     * (its client may still hold the connection, waiting to send a body nobody reads). */
    if (srv->stopping && !srv->closing) {
        if ((srv->nreqs == 0 && srv->tus_jobs == 0 &&
             (!srv->retiring || open_connections(srv) == 0)) ||
            (now >= srv->drain_deadline && busy_requests(srv) == 0 && srv->tus_jobs == 0))
            finish_stop(srv);
        else if (now >= srv->drain_deadline + 5000) {
            /* something did not end when told to: say so (tests/integration look for it) */
            sl__log(srv, SL_LOG_WARN,
                    "stop forced 5 s past the shutdown deadline: %zu requests still busy, %zu "
                    "store jobs",
                    busy_requests(srv), srv->tus_jobs);
            finish_stop(srv);
        }
    }
}

/* "/api/upload/" (or "/api/upload") into "/api/upload"; "/" or "" into "". */
static int mount_prefix(const char *mount, char *out, size_t cap)
{
    size_t n = strlen(mount);

    if (n == 0 || strcmp(mount, "/") == 0) {
        out[0] = '\0';
        return 0;
    }
    if (mount[0] != '/' || n >= cap || strpbrk(mount, " ?#%\t\r\n") != NULL)
        return UV_EINVAL;
    memcpy(out, mount, n + 1);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = '\0';
    return 0;
}

/* What a server needs whether it listens itself or is attached to the host's daemon: the
 * configuration, the store (server_alloc), and the timers (server_start). */
static int server_alloc(uv_loop_t *loop, const sl_config_t *cfg, sl_quota_share_t *quota,
                        sl_server_t **out)
{
    sl_server_t *srv;
    int r;

    if (!sl__config_valid(cfg))
        return UV_EINVAL; /* not filled by sl_config_init */
    srv = sl_xcalloc(1, sizeof(*srv));
    srv->loop = loop;
    sl__config_copy(&srv->cfg, cfg); /* a program built with an older, shorter sl_config_t */
    cfg = &srv->cfg;
    srv->access_fd = -1;
    if (mount_prefix(cfg->mount, srv->prefix, sizeof(srv->prefix)) < 0) {
        free(srv);
        return UV_EINVAL;
    }
    if ((r = sl__log_open(srv)) < 0) {
        free(srv);
        return r;
    }
    if ((r = sl__auth_load(srv)) < 0 || (r = sl__tls_load(srv)) < 0 ||
        (r = sl__quota_open(srv, quota)) < 0) {
        /* refused: said by the loader */
    } else if (sl_s3_is_url(cfg->store)) {
        char err[512];
        sl_s3_conf_t s3 = {.url = cfg->store,
                           .endpoint = cfg->s3_endpoint,
                           .region = cfg->s3_region,
                           .access_key = cfg->s3_access_key,
                           .secret_key = cfg->s3_secret_key,
                           .session_token = cfg->s3_session_token,
                           .spool = cfg->spool,
                           .part_size = cfg->s3_part_size,
                           .lock_lease = cfg->s3_lock_lease,
                           .retries = cfg->s3_retries};
        if ((r = sl_s3_store_new(loop, &s3, &srv->store, err, sizeof(err))) < 0)
            sl__log(srv, SL_LOG_ERROR, "%s", err);
    } else {
        r = sl_fs_store_new(loop, cfg->root, cfg->durable, cfg->min_free, &srv->store);
    }
    if (r < 0) {
        sl__quota_close(srv);
        sl__auth_free(srv);
        sl__tls_free(srv);
        sl__log_close(srv);
        free(srv);
        return r;
    }
    sl__metrics_init(srv);
    *out = srv;
    return 0;
}

static void server_start(sl_server_t *srv)
{
    uv_timer_init(srv->loop, &srv->timer);
    uv_idle_init(srv->loop, &srv->idle);
    uv_timer_init(srv->loop, &srv->tick);
    uv_timer_init(srv->loop, &srv->progress);
    srv->progress.data = srv->timer.data = srv->idle.data = srv->tick.data = srv;
    uv_timer_start(&srv->tick, on_tick, 1000, 1000);
    /* The servers of a loop share its budget, the sum of theirs; the last one freed releases what
     * libsluice keeps per loop (streams/chunk.h). */
    sl_budget_join(srv->loop, srv->cfg.buffer_budget);
    sl__ui_start(srv); /* the upload page, read once (ui.c) */
}

int sl_server_new(uv_loop_t *loop, const sl_config_t *cfg, sl_server_t **out)
{
    int r = sl__server_new_fd(loop, cfg, -1, NULL, out);

    if (r == 0)
        sl__server_begin(*out);
    return r;
}

int sl__server_new_fd(uv_loop_t *loop, const sl_config_t *cfg, int listen_fd,
                      sl_quota_share_t *quota, sl_server_t **out)
{
    struct MHD_OptionItem listen_opt[4];
    sl_server_t *srv;
    const union MHD_DaemonInfo *info;
    struct sockaddr_in6 sa6;
    struct sockaddr_in sa4;
    struct sockaddr *sa;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    int r;

    memset(&sa4, 0, sizeof(sa4));
    memset(&sa6, 0, sizeof(sa6));
    if (inet_pton(AF_INET, cfg->host, &sa4.sin_addr) == 1) {
        sa4.sin_family = AF_INET;
        sa4.sin_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&sa4;
    } else if (inet_pton(AF_INET6, cfg->host, &sa6.sin6_addr) == 1) {
        sa6.sin6_family = AF_INET6;
        sa6.sin6_port = htons((uint16_t)cfg->port);
        sa = (struct sockaddr *)&sa6;
        flags |= MHD_USE_IPv6;
    } else {
        return UV_EINVAL;
    }
    if ((r = server_alloc(loop, cfg, quota, &srv)) < 0)
        return r;
    /* Our own socket, or the one the workers share (opened by the supervisor). */
    listen_opt[0].option = listen_fd >= 0 ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR;
    listen_opt[0].value = listen_fd;
    listen_opt[0].ptr_value = listen_fd >= 0 ? NULL : sa;
    listen_opt[1 + sl__tls_options(srv, &listen_opt[1])].option = MHD_OPTION_END;
    if (srv->tls != NULL)
        flags |= MHD_USE_TLS;
    srv->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->port, sl__limits_accept, srv, sl__access_handler, srv,
        MHD_OPTION_ARRAY, listen_opt, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)cfg->idle_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)cfg->conn_memory, MHD_OPTION_SIGPIPE_HANDLED_BY_APP, (int)1,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096, MHD_OPTION_NOTIFY_COMPLETED,
        sl__request_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, sl__conn_notify, srv,
        MHD_OPTION_UNESCAPE_CALLBACK, sl__unescape_none, NULL, MHD_OPTION_EXTERNAL_LOGGER,
        sl__mhd_log, srv, MHD_OPTION_END);
    if (srv->mhd == NULL || sl__tls_register(srv) < 0) {
        if (srv->mhd != NULL)
            MHD_stop_daemon(srv->mhd);
        store_close(srv);
        sl__quota_close(srv);
        sl__auth_free(srv);
        sl__tls_free(srv);
        sl__log_close(srv);
        free(srv);
        return UV_EADDRINUSE;
    }
    sl__auth_warn(srv, cfg->host);
    server_start(srv);
    info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info != NULL ? info->port : cfg->port;
    info = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    uv_poll_init(loop, &srv->poll, info->epoll_fd);
    srv->poll.data = srv;
    srv->has_poll = 1;
    uv_poll_start(&srv->poll, UV_READABLE, on_poll);
    *out = srv;
    return 0;
}

void sl__server_begin(sl_server_t *srv)
{
    run_mhd(srv);
}

int sl_server_attach(uv_loop_t *loop, const sl_config_t *cfg, void (*kick)(void *arg), void *arg,
                     sl_server_t **out)
{
    int r = server_alloc(loop, cfg, NULL, out);

    if (r < 0)
        return r;
    (*out)->kick = kick;
    (*out)->kick_arg = arg;
    server_start(*out);
    return 0;
}

int sl_server_handle(sl_server_t *srv, struct MHD_Connection *conn, const char *url,
                     const char *method, const char *version, const char *upload_data,
                     size_t *upload_data_size, void **con_cls)
{
    return (int)sl__access_handler(srv, conn, url, method, version, upload_data, upload_data_size,
                                   con_cls);
}

void sl_server_completed(sl_server_t *srv, struct MHD_Connection *conn, void **con_cls, int toe)
{
    sl__request_completed(srv, conn, con_cls, (enum MHD_RequestTerminationCode)toe);
}

unsigned sl_server_port(const sl_server_t *srv)
{
    return srv->port;
}

const char *sl_server_root(const sl_server_t *srv)
{
    return srv->store != NULL ? srv->store->where : srv->cfg.root;
}

size_t sl_server_swept(const sl_server_t *srv)
{
    return srv->store != NULL ? srv->store->swept : 0;
}

size_t sl_server_budget(const sl_server_t *srv, size_t *in_use, size_t *peak)
{
    if (in_use != NULL)
        *in_use = sl_budget_in_use(srv->loop);
    if (peak != NULL)
        *peak = sl_budget_peak(srv->loop);
    return sl_budget_max(srv->loop);
}

void sl_server_stop(sl_server_t *srv, sl_server_stop_cb cb, void *arg)
{
    MHD_socket fd;

    if (srv->stopping)
        return;
    srv->stopping = 1;
    srv->draining = 1;
    srv->stop_cb = cb;
    srv->stop_arg = arg;
    srv->drain_deadline = uv_now(srv->loop) + (uint64_t)srv->cfg.shutdown_timeout * 1000;
    fd = srv->mhd != NULL ? MHD_quiesce_daemon(srv->mhd) : MHD_INVALID_SOCKET;
    if (fd != MHD_INVALID_SOCKET)
        close(fd); /* no new connections from here on (attached: new uploads get 503) */
    uv_timer_start(&srv->tick, on_tick, 0, 100);
}

/* Free a server once it was asked to and nothing refers to it any more: its handles closed,
 * no request left (a pending on_request decision, a commit job), no tus job. */
void sl__server_maybe_free(sl_server_t *srv)
{
    if (!srv->free_requested || srv->nreqs > 0 || srv->tus_jobs > 0 || !srv->closed ||
        srv->quota_busy)
        return;
    store_close(srv);
    sl__quota_close(srv); /* every request ended: its last count written */
    sl__log_close(srv);
    sl__tus_registry_free(srv);
    sl__ui_stop(srv);
    sl__auth_free(srv);
    sl__limits_free(srv);
    sl__tls_free(srv);
    sl_budget_leave(srv->loop, srv->cfg.buffer_budget);
    free(srv);
}

void sl__server_retire(sl_server_t *srv, sl_server_stop_cb cb, void *arg)
{
    srv->retiring = 1;
    sl_server_stop(srv, cb, arg);
}

void sl_server_free(sl_server_t *srv)
{
    srv->free_requested = 1;
    sl__server_maybe_free(srv);
}
