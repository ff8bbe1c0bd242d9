/* SPDX-License-Identifier: MIT
 *
 * embed_cycles: an embedded server started, used and stopped 20 times on one loop, the way a
 * host that reloads its configuration would. Each cycle: sl_server_new on port 0 with hooks,
 * a PUT of 256 KiB from a uv_tcp_t client on the same loop, the 201 checked, on_complete seen
 * exactly once, sl_server_stop, sl_server_free. At the end uv_loop_close must return 0: no
 * handle, timer or request left behind. Run under ASan+UBSan in CI (leaks, use-after-free).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "sluice.h"

#define CYCLES 20
#define BODY (256u << 10)

typedef struct cycle_s {
    uv_loop_t *loop;
    sl_server_t *srv;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    char *req;
    size_t req_len;
    char resp[4096];
    size_t resp_len;
    int completed, stopped, status;
} cycle_t;

static void on_complete(const sl_event_t *e, char **json, void *arg)
{
    cycle_t *c = arg;

    (void)json;
    if (e->bytes == BODY)
        c->completed++;
}

static void on_request(sl_hook_req_t *h, void *arg)
{
    (void)arg;
    sl_hook_allow(h, NULL, NULL);
}

static void on_stopped(sl_server_t *srv, void *arg)
{
    cycle_t *c = arg;

    (void)srv;
    c->stopped = 1;
}

static void on_tcp_closed(uv_handle_t *h)
{
    cycle_t *c = h->data;

    sl_server_stop(c->srv, on_stopped, c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    cycle_t *c = h->data;

    (void)suggested;
    *buf = uv_buf_init(c->resp + c->resp_len, (unsigned)(sizeof(c->resp) - c->resp_len - 1));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    cycle_t *c = s->data;

    (void)buf;
    if (n > 0) {
        c->resp_len += (size_t)n;
        c->resp[c->resp_len] = '\0';
        if (strstr(c->resp, "\r\n\r\n") == NULL || strstr(c->resp, "\"sha256\"") == NULL)
            return; /* the head and the JSON body, in one or more reads */
    }
    c->status = c->resp_len > 12 ? atoi(c->resp + 9) : -1;
    uv_read_stop(s);
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

static void on_written(uv_write_t *w, int status)
{
    cycle_t *c = w->data;

    if (status < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_connected(uv_connect_t *req, int status)
{
    cycle_t *c = req->data;
    uv_buf_t b = uv_buf_init(c->req, (unsigned)c->req_len);

    if (status < 0) {
        fprintf(stderr, "embed_cycles: connect: %s\n", uv_strerror(status));
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
        return;
    }
    c->wreq.data = c;
    uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written);
}

static int one_cycle(uv_loop_t *loop, const char *root, int i)
{
    static cycle_t c;
    sl_hooks_t hooks = {0};
    sl_config_t cfg;
    struct sockaddr_in sa;
    int n, err;

    memset(&c, 0, sizeof(c));
    c.loop = loop;
    sl_config_init(&cfg);
    cfg.port = 0;
    snprintf(cfg.root, sizeof(cfg.root), "%s", root);
    if ((err = sl_server_new(loop, &cfg, &c.srv)) < 0) {
        fprintf(stderr, "embed_cycles: start: %s\n", sl_strerror(err));
        return -1;
    }
    hooks.on_request = on_request;
    hooks.on_complete = on_complete;
    hooks.arg = &c;
    sl_server_set_hooks(c.srv, &hooks);
    c.req = malloc(BODY + 256);
    n = snprintf(c.req, 256,
                 "PUT /files/cycle-%d.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %u\r\n\r\n", i,
                 BODY);
    memset(c.req + n, 'a' + i % 26, BODY);
    c.req_len = (size_t)n + BODY;
    uv_tcp_init(loop, &c.tcp);
    c.tcp.data = &c;
    c.creq.data = &c;
    uv_ip4_addr("127.0.0.1", (int)sl_server_port(c.srv), &sa);
    uv_tcp_connect(&c.creq, &c.tcp, (const struct sockaddr *)&sa, on_connected);
    uv_run(loop, UV_RUN_DEFAULT); /* until the server has stopped and its handles are closed */
    free(c.req);
    sl_server_free(c.srv);
    if (c.status != 201 || c.completed != 1 || !c.stopped) {
        fprintf(stderr, "embed_cycles: cycle %d: status %d, on_complete %d times, stopped %d\n%s\n",
                i, c.status, c.completed, c.stopped, c.resp);
        return -1;
    }
    return 0;
}

int main(void)
{
    uv_loop_t loop;
    char root[] = "/tmp/sluice-cycles-XXXXXX";
    int i, err;

    signal(SIGPIPE, SIG_IGN);
    if (mkdtemp(root) == NULL)
        return 1;
    uv_loop_init(&loop);
    for (i = 0; i < CYCLES; i++)
        if (one_cycle(&loop, root, i) < 0)
            return 1;
    uv_run(&loop, UV_RUN_DEFAULT); /* the per-loop handles released by the last free */
    err = uv_loop_close(&loop);
    if (err != 0) {
        fprintf(stderr, "embed_cycles: uv_loop_close: %s (a handle was left open)\n",
                uv_strerror(err));
        return 1;
    }
    printf("embed_cycles: %d cycles, loop closed clean\n", CYCLES);
    {
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
        return system(cmd) == 0 ? 0 : 1;
    }
}
