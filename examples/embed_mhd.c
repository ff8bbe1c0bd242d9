/* SPDX-License-Identifier: MIT
 *
 * embed_mhd: a host that already runs its own libmicrohttpd daemon on a libuv loop, and hands
 * the requests under /api/upload/ to sluice (sl_server_attach, sl_server_handle).
 *
 *   embed_mhd [PORT [ROOT]]            (defaults: 0 = any free port, ./embed-data)
 *
 *   GET /                        the host's own answer
 *   …   /api/upload/…            sluice: files/, uploads/ (tus), healthz
 *
 * The daemon is driven the way sluice drives its own (research/mhd-libuv.md): no internal
 * thread, MHD_USE_EPOLL, a uv_poll_t on its epoll fd, a uv_timer_t for MHD_get_timeout and a
 * uv_idle_t for "run again now", which is also what sluice's kick starts after it resumed a
 * connection. SIGINT or SIGTERM: sluice stops first (its uploads finish), then the daemon.
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "sluice.h"

#define PORT_USAGE_TAIL ""

#define MOUNT "/api/upload/"

typedef struct host_s {
    uv_loop_t *loop;
    struct MHD_Daemon *mhd;
    sl_server_t *srv;
    uv_poll_t poll;
    uv_timer_t timer;
    uv_idle_t idle;
    uv_signal_t sigint, sigterm;
    int stopping;
} host_t;

static void run(host_t *h);

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run(p->data);
}

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

static void on_idle(uv_idle_t *i)
{
    run(i->data);
}

static void run(host_t *h)
{
    MHD_UNSIGNED_LONG_LONG to;

    if (h->mhd == NULL)
        return;
    MHD_run(h->mhd);
    if (MHD_get_timeout(h->mhd, &to) != MHD_YES) {
        uv_idle_stop(&h->idle);
        uv_timer_stop(&h->timer);
    } else if (to == 0) {
        uv_timer_stop(&h->timer);
        uv_idle_start(&h->idle, on_idle); /* never a 0 ms timer re-armed from itself */
    } else {
        uv_idle_stop(&h->idle);
        uv_timer_start(&h->timer, on_timer, to, 0);
    }
}

/* sluice resumed a connection: run the daemon soon (never from inside its callbacks). */
static void kick(void *arg)
{
    host_t *h = arg;

    if (h->mhd != NULL)
        uv_idle_start(&h->idle, on_idle);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    static const char hello[] = "embed_mhd: the host's own page\n";
    host_t *h = cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (strncmp(url, MOUNT, sizeof(MOUNT) - 1) == 0)
        return (enum MHD_Result)sl_server_handle(h->srv, c, url, method, version, upload_data,
                                                 upload_data_size, con_cls);
    if (*upload_data_size > 0) { /* a body nobody asked for */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*con_cls == NULL) { /* answer from the second call, keeping the connection alive */
        *con_cls = h;
        return MHD_YES;
    }
    *con_cls = NULL; /* the host's requests leave nothing for sl_server_completed */
    resp = MHD_create_response_from_buffer(strcmp(url, "/") == 0 ? sizeof(hello) - 1 : 0,
                                           (void *)hello, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO; /* out of memory: close the connection */
    ret = MHD_queue_response(c, strcmp(url, "/") == 0 ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    host_t *h = cls;

    if (*con_cls != NULL && *con_cls != h)
        sl_server_completed(h->srv, c, con_cls, (int)toe); /* one of sluice's */
}

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *uri)
{
    (void)cls;
    (void)c;
    return strlen(uri); /* sluice decodes names itself, once */
}

static void on_sluice_stopped(sl_server_t *srv, void *arg)
{
    host_t *h = arg;

    (void)srv;
    MHD_run(h->mhd); /* sluice resumed its connections: let the daemon take them back */
    MHD_stop_daemon(h->mhd);
    h->mhd = NULL;
    uv_close((uv_handle_t *)&h->poll, NULL);
    uv_close((uv_handle_t *)&h->timer, NULL);
    uv_close((uv_handle_t *)&h->idle, NULL);
    uv_close((uv_handle_t *)&h->sigint, NULL);
    uv_close((uv_handle_t *)&h->sigterm, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    host_t *h = s->data;

    (void)signum;
    if (!h->stopping) {
        h->stopping = 1;
        sl_server_stop(h->srv, on_sluice_stopped, h);
    }
}

/* The PORT argument: 0..65535, or exit. */
static unsigned port_arg(int argc, char **argv)
{
    char *end;
    unsigned long v = argc > 1 ? strtoul(argv[1], &end, 10) : 0;

    if (argc > 1 && (*argv[1] == '\0' || *end != '\0' || v > 65535)) {
        fprintf(stderr, "usage: %s [PORT [ROOT%s]]\n", argv[0], PORT_USAGE_TAIL);
        exit(2);
    }
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    static host_t h;
    sl_config_t cfg;
    const union MHD_DaemonInfo *info;
    struct sockaddr_in sa;
    int err;

    signal(SIGPIPE, SIG_IGN);
    h.loop = uv_default_loop();
    sl_config_init(&cfg);
    snprintf(cfg.root, sizeof(cfg.root), "%s", argc > 2 ? argv[2] : "./embed-data");
    snprintf(cfg.mount, sizeof(cfg.mount), MOUNT);
    sl_config_export_threads(&cfg);
    err = sl_server_attach(h.loop, &cfg, kick, &h, &h.srv);
    if (err < 0) {
        fprintf(stderr, "embed_mhd: %s\n", sl_strerror(err));
        return 1;
    }
    uv_ip4_addr("127.0.0.1", (int)port_arg(argc, argv), &sa);
    h.mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
        (uint16_t)port_arg(argc, argv), NULL, NULL, access_handler, &h, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, completed, &h,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(32 << 10), MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
        MHD_OPTION_SIGPIPE_HANDLED_BY_APP, (int)1, MHD_OPTION_END);
    if (h.mhd == NULL) {
        fprintf(stderr, "embed_mhd: cannot start the daemon\n");
        return 1;
    }
    info = MHD_get_daemon_info(h.mhd, MHD_DAEMON_INFO_EPOLL_FD);
    uv_poll_init(h.loop, &h.poll, info->epoll_fd);
    uv_timer_init(h.loop, &h.timer);
    uv_idle_init(h.loop, &h.idle);
    h.poll.data = h.timer.data = h.idle.data = &h;
    uv_poll_start(&h.poll, UV_READABLE, on_poll);
    uv_signal_init(h.loop, &h.sigint);
    uv_signal_init(h.loop, &h.sigterm);
    h.sigint.data = h.sigterm.data = &h;
    uv_signal_start(&h.sigint, on_signal, SIGINT);
    uv_signal_start(&h.sigterm, on_signal, SIGTERM);
    info = MHD_get_daemon_info(h.mhd, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "embed_mhd: listening on http://127.0.0.1:%u (sluice at %s)\n",
            (unsigned)info->port, MOUNT);
    run(&h);
    uv_run(h.loop, UV_RUN_DEFAULT);
    sl_server_free(h.srv);
    uv_run(h.loop, UV_RUN_DEFAULT);
    err = uv_loop_close(h.loop);
    fprintf(stderr, "embed_mhd: stopped, loop %s\n", err == 0 ? "closed clean" : "NOT closed");
    return err == 0 ? 0 : 1;
}
