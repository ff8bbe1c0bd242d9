/* SPDX-License-Identifier: MIT
 * sluice: the binary is a thin user of libsluice (sluice.h): flags, signals, one loop. */
#include "sluice.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static uv_signal_t sigint, sigterm;

static void on_stopped(sl_server_t *srv, void *arg)
{
    (void)arg;
    (void)srv;
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    fprintf(stderr, "sluice: stopped\n");
}

static void on_signal(uv_signal_t *h, int signum)
{
    sl_server_t *srv = h->data;

    fprintf(stderr, "sluice: %s, stopping (in-flight uploads get up to the shutdown timeout)\n",
            signum == SIGINT ? "SIGINT" : "SIGTERM");
    sl_server_stop(srv, on_stopped, NULL);
}

int main(int argc, char **argv)
{
    uv_loop_t *loop = uv_default_loop();
    sl_server_t *srv;
    sl_config_t cfg;
    char err[512];
    int r;

    sl_config_init(&cfg);
    r = sl_config_parse_args(&cfg, argc, argv, err, sizeof(err));
    if (r == 1)
        return 0;
    if (r < 0) {
        fprintf(stderr, "sluice: %s\n", err);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);  /* required for sendfile (research/mhd-libuv.md §7) */
    sl_config_apply_env(&cfg); /* before the first file operation */
    r = sl_server_new(loop, &cfg, &srv);
    if (r < 0) {
        fprintf(stderr, "sluice: cannot start on %s:%u with root %s: %s\n", cfg.host, cfg.port,
                cfg.root, sl_strerror(r));
        return 1;
    }
    fprintf(stderr, "sluice: listening on http://%s:%u root=%s durability=%s swept=%zu\n", cfg.host,
            sl_server_port(srv), sl_server_root(srv), cfg.durable ? "full" : "none",
            sl_server_swept(srv));
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    sigint.data = sigterm.data = srv;
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_run(loop, UV_RUN_DEFAULT);
    sl_server_free(srv); /* the last server of the loop: its handles close in the next run */
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_loop_close(loop) == 0 ? 0 : 1;
}
