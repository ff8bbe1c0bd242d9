/* SPDX-License-Identifier: MIT
 *
 * sl__run: the sluice binary's server on a loop of its own (not in libsluice: a program that
 * embeds sluice runs its own loop and handles its own signals), or with --workers a supervisor
 * and its workers (workers.c), each serving through sl__serve.
 * SIGHUP reads the token file, the sign key and the TLS certificate again (sl__server_reload).
 * SIGINT or SIGTERM starts the graceful stop (sl_server_stop); when it completes the signal
 * handles close, the loop runs dry, and the loop is closed, which fails only if something was
 * left open.
 */
#include "http/http.h"
#include "cli/cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct runner_s {
    uv_signal_t sigint, sigterm, sigusr1, sigusr2, sighup;
    sl_server_t *srv;
} runner_t;

static void on_stopped(sl_server_t *srv, void *arg)
{
    runner_t *rn = arg;

    (void)srv;
    uv_close((uv_handle_t *)&rn->sigint, NULL);
    uv_close((uv_handle_t *)&rn->sigterm, NULL);
    uv_close((uv_handle_t *)&rn->sigusr1, NULL);
    uv_close((uv_handle_t *)&rn->sigusr2, NULL);
    uv_close((uv_handle_t *)&rn->sighup, NULL);
}

static void on_hup(uv_signal_t *h, int signum)
{
    runner_t *rn = h->data;

    (void)signum;
    sl__server_reload(rn->srv); /* tokens, sign key, certificate: for what comes next */
}

static void on_usr2(uv_signal_t *h, int signum)
{
    runner_t *rn = h->data;

    (void)signum;
    sl__server_retire(rn->srv, on_stopped, rn); /* the supervisor replaces this worker */
}

static void on_usr1(uv_signal_t *h, int signum)
{
    runner_t *rn = h->data;

    (void)signum;
    sl_server_reopen_logs(rn->srv); /* logrotate moved the file */
}

static void on_signal(uv_signal_t *h, int signum)
{
    runner_t *rn = h->data;

    fprintf(stderr, "sluice: %s, stopping (in-flight uploads get up to the shutdown timeout)\n",
            signum == SIGINT ? "SIGINT" : "SIGTERM");
    sl_server_stop(rn->srv, on_stopped, rn);
}

int sl__serve(const sl_config_t *cfg, const sl_worker_t *w,
              void (*ready)(sl_server_t *srv, void *arg), void *arg)
{
    uv_loop_t loop;
    runner_t rn;
    sl_hook_cmd_t *hc;
    int r;

    signal(SIGPIPE, SIG_IGN); /* required for sendfile (research/mhd-libuv.md §7) */
    uv_loop_init(&loop);
    r = sl__hook_cmd_new(&loop, cfg, &hc);
    if (r == 0)
        r = sl__server_new_fd(&loop, cfg, w != NULL ? w->listen_fd : -1,
                              w != NULL ? w->quota : NULL, &rn.srv);
    if (r < 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        free(hc);
        return r;
    }
    sl__hook_cmd_install(hc, rn.srv); /* before the loop runs: no request has come yet */
    if (w != NULL) {                  /* a worker: its number, its metrics slot among everyone's */
        rn.srv->worker = w->index;
        rn.srv->slots = w->slots;
        rn.srv->nslots = w->nslots;
        rn.srv->m = &w->slots[w->slot];
        rn.srv->peer_share = w->peers;
        rn.srv->peer_slot = w->slot;
        rn.srv->m->pid = (int64_t)getpid();
    }
    sl__server_begin(rn.srv); /* accepts from here: counted in the worker's slots */
    uv_signal_init(&loop, &rn.sigint);
    uv_signal_init(&loop, &rn.sigterm);
    rn.sigint.data = rn.sigterm.data = &rn;
    uv_signal_start(&rn.sigint, on_signal, SIGINT);
    uv_signal_start(&rn.sigterm, on_signal, SIGTERM);
    uv_signal_init(&loop, &rn.sigusr1);
    rn.sigusr1.data = &rn;
    uv_signal_start(&rn.sigusr1, on_usr1, SIGUSR1);
    uv_signal_init(&loop, &rn.sigusr2);
    rn.sigusr2.data = &rn;
    uv_signal_start(&rn.sigusr2, on_usr2, SIGUSR2);
    uv_signal_init(&loop, &rn.sighup);
    rn.sighup.data = &rn;
    uv_signal_start(&rn.sighup, on_hup, SIGHUP);
    if (ready != NULL)
        ready(rn.srv, arg);
    if (w != NULL && w->ready_fd >= 0) { /* the supervisor waits for this before it goes on */
        if (write(w->ready_fd, "1", 1) != 1) {
            /* the supervisor is gone: serve anyway */
        }
        close(w->ready_fd);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    sl_server_free(rn.srv); /* the last server of the loop: its handles close in the next run */
    uv_run(&loop, UV_RUN_DEFAULT);
    r = uv_loop_close(&loop) == 0 ? 0 : UV_EBUSY;
    free(hc); /* every hook call has closed with the loop */
    return r;
}

int sl__run(const sl_config_t *cfg, void (*ready)(sl_server_t *srv, void *arg), void *arg)
{
    if (cfg->workers != 1)
        return sl__run_workers(cfg, ready, arg);
    return sl__serve(cfg, NULL, ready, arg);
}
