/* SPDX-License-Identifier: MIT
 *
 * embed: a small libuv service that serves its own routes and mounts sluice under /api/upload/,
 * letting in only uploads that carry its bearer token (docs/embedding.md walks through it).
 *
 *   embed [PORT [ROOT [TOKEN]]]       (defaults: 0 = any free port, ./embed-data, "s3cret")
 *
 *   GET  /                       the service's own page
 *   GET  /stats                  its own JSON: uploads completed and aborted, bytes
 *   PUT  /api/upload/files/NAME  sluice, with "Authorization: Bearer TOKEN" (else 401, before
 *                                any byte of the body is read); the 201 gains "owner"
 *   …    /api/upload/uploads/    tus, under the same rule
 *
 * The token check is asynchronous on purpose, as a lookup in a database would be: on_request
 * starts a 5 ms timer and decides when it fires. SIGINT or SIGTERM stops sluice gracefully, and
 * the program exits 0 only if the loop closes clean (no handle left behind).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "sluice.h"

#define PORT_USAGE_TAIL " [TOKEN]"

typedef struct app_s {
    uv_loop_t *loop;
    sl_server_t *srv;
    const char *token;
    unsigned long completed, aborted, progress_events;
    unsigned long long bytes;
    uv_signal_t sigint, sigterm;
} app_t;

/* --- the service's own routes ------------------------------------------------------------------
 */

static unsigned routes(const char *method, const char *path, char *body, size_t cap, size_t *len,
                       const char **type, void *arg)
{
    app_t *app = arg;
    int n;

    if (strcmp(method, "GET") != 0)
        return 0; /* sluice answers 404 */
    if (strcmp(path, "/") == 0) {
        n = snprintf(body, cap, "embed: uploads go to /api/upload/files/ with a bearer token\n");
        *type = "text/plain";
    } else if (strcmp(path, "/stats") == 0) {
        n = snprintf(body, cap,
                     "{\"completed\":%lu,\"aborted\":%lu,\"bytes\":%llu,\"progress_events\":%lu}\n",
                     app->completed, app->aborted, app->bytes, app->progress_events);
        *type = "application/json";
    } else {
        return 0;
    }
    *len = (size_t)n;
    return 200;
}

/* --- hooks -------------------------------------------------------------------------------------
 */

typedef struct check_s {
    uv_timer_t timer;
    sl_hook_req_t *h;
    int ok;
} check_t;

static void check_closed(uv_handle_t *h)
{
    free(h->data);
}

static void check_done(uv_timer_t *t)
{
    check_t *c = t->data;

    if (c->ok)
        sl_hook_allow(c->h, NULL, (void *)"token-holder");
    else
        sl_hook_reject(c->h, 401, "a bearer token is required");
    uv_close((uv_handle_t *)t, check_closed);
}

static void on_request(sl_hook_req_t *h, void *arg)
{
    app_t *app = arg;
    const char *auth = sl_hook_header(h, "Authorization");
    check_t *c = calloc(1, sizeof(*c));
    char want[256];

    if (c == NULL) {
        sl_hook_reject(h, 503, "out of memory");
        return;
    }
    snprintf(want, sizeof(want), "Bearer %s", app->token);
    c->h = h;
    c->ok = auth != NULL && strcmp(auth, want) == 0; /* read now: headers live until the decision */
    uv_timer_init(app->loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, check_done, 5, 0); /* decide later, as an async lookup would */
}

static void on_progress(const sl_event_t *e, void *arg)
{
    app_t *app = arg;

    (void)e;
    app->progress_events++;
}

static void on_complete(const sl_event_t *e, char **json, void *arg)
{
    app_t *app = arg;
    const char *owner = e->user_data != NULL ? e->user_data : "";
    size_t n = strlen(owner) + 32;

    app->completed++;
    app->bytes += e->bytes;
    fprintf(stderr, "embed: stored %s (%llu bytes) for %s\n", e->name, (unsigned long long)e->bytes,
            owner);
    *json = malloc(n);
    if (*json != NULL)
        snprintf(*json, n, "\"owner\":\"%s\"", owner);
}

static void on_abort(const sl_event_t *e, void *arg)
{
    app_t *app = arg;

    app->aborted++;
    fprintf(stderr, "embed: upload of %s aborted: %s (%s)%s\n", e->name, sl_strerror(e->reason),
            sl_err_name(e->reason), e->reason == SL_ETOOLARGE ? ", too large" : "");
}

/* --- start and stop -----------------------------------------------------------------------------
 */

static void on_stopped(sl_server_t *srv, void *arg)
{
    app_t *app = arg;

    (void)srv;
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    app_t *app = s->data;

    (void)signum;
    sl_server_stop(app->srv, on_stopped, app);
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
    static app_t app;
    sl_hooks_t hooks = {0};
    sl_config_t cfg;
    int err;

    signal(SIGPIPE, SIG_IGN);
    app.loop = uv_default_loop();
    app.token = argc > 3 ? argv[3] : "s3cret";
    sl_config_init(&cfg);
    cfg.port = port_arg(argc, argv);
    snprintf(cfg.root, sizeof(cfg.root), "%s", argc > 2 ? argv[2] : "./embed-data");
    snprintf(cfg.mount, sizeof(cfg.mount), "/api/upload/");
    sl_config_export_threads(&cfg);
    err = sl_server_new(app.loop, &cfg, &app.srv);
    if (err < 0) {
        fprintf(stderr, "embed: cannot start: %s\n", sl_strerror(err));
        return 1;
    }
    sl_server_set_routes(app.srv, routes, &app);
    hooks.on_request = on_request;
    hooks.on_progress = on_progress;
    hooks.progress_ms = 200;
    hooks.on_complete = on_complete;
    hooks.on_abort = on_abort;
    hooks.arg = &app;
    sl_server_set_hooks(app.srv, &hooks);
    uv_signal_init(app.loop, &app.sigint);
    uv_signal_init(app.loop, &app.sigterm);
    app.sigint.data = app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    fprintf(stderr, "embed: listening on http://127.0.0.1:%u (sluice at /api/upload/)\n",
            sl_server_port(app.srv));
    uv_run(app.loop, UV_RUN_DEFAULT);
    sl_server_free(app.srv);
    uv_run(app.loop, UV_RUN_DEFAULT); /* the last close callbacks */
    err = uv_loop_close(app.loop);
    fprintf(stderr, "embed: stopped, loop %s\n", err == 0 ? "closed clean" : "NOT closed");
    return err == 0 ? 0 : 1;
}
