/* SPDX-License-Identifier: MIT
 *
 * Hooks for users of the binary (--hook-exec DIR, --hook-http URL), built on the C hooks of
 * sluice.h the way tusd's file and HTTP hooks sit on its Go ones.
 *
 *   event ─▶ JSON {"event": …, "method", "path", "name", "remote", "length", "bytes", …}
 *     exec: DIR/<event> (if executable), JSON on stdin, --hook-timeout; for "request" its exit
 *           status decides (0: go on, and a first line on stdout renames; else refused 403 with
 *           its first line as the message; a timeout or a failure to start: 503)
 *     http: POST URL, --hook-timeout per try, --hook-retries more tries on a connection error,
 *           a timeout or a 5xx; for "request" a 2xx goes on ({"name": …} in the body renames),
 *           a 4xx refuses with that status, anything else after the retries is 503
 *
 * Events: request (before the body), progress, complete, abort. Events other than request are
 * notifications: sent, never waited for by the upload. Every process and connection is bounded
 * by the timeout; a child that outlives it is killed.
 */
#include "http/http.h"
#include "cli/cli.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_MAX 4096

typedef struct call_s {
    sl_hook_cmd_t *hc;
    sl_hook_req_t *h; /* "request": the decision to make; NULL for notifications */
    char *json;
    size_t json_len;
    char out[OUT_MAX];
    size_t out_len;
    int tries, done, status, closes;
    int exited, exit_ok, eof, timed_out;
    uv_timer_t timer;
    /* exec */
    uv_process_t proc;
    uv_pipe_t in, outp;
    uv_write_t wreq;
    /* http */
    uv_tcp_t tcp;
    uv_connect_t creq;
    char *req;
} call_t;

static void json_str(char **p, size_t *left, const char *key, const char *v)
{
    size_t cap = 6 * strlen(v != NULL ? v : "") + 1; /* \u00XX for every byte at most */
    char *esc = sl_xmalloc(cap);
    int n;

    sl__json_escape(v != NULL ? v : "", esc, cap);
    n = snprintf(*p, *left, ",\"%s\":\"%s\"", key, esc);
    if (n > 0 && (size_t)n < *left) {
        *p += n;
        *left -= (size_t)n;
    }
    free(esc);
}

static char *event_json(const char *event, const sl_event_t *e, size_t *len)
{
    size_t cap = 20 * SL_NAME_MAX + SL_TUS_METADATA_MAX * 6 + 1024, left;
    char *out = sl_xmalloc(cap), *p = out;
    int n = snprintf(out, cap, "{\"event\":\"%s\",\"length\":%llu,\"bytes\":%llu", event,
                     (unsigned long long)e->length, (unsigned long long)e->bytes);

    p += n;
    left = cap - (size_t)n;
    json_str(&p, &left, "method", e->method);
    json_str(&p, &left, "path", e->path);
    json_str(&p, &left, "name", e->name);
    json_str(&p, &left, "remote", e->remote);
    if (e->sha256 != NULL)
        json_str(&p, &left, "sha256", e->sha256);
    if (e->crc32 != 0) { /* computed only with --digest crc32 */
        n = snprintf(p, left, ",\"crc32\":\"%08x\"", (unsigned)e->crc32);
        p += n;
        left -= (size_t)n;
    }
    if (e->metadata != NULL)
        json_str(&p, &left, "metadata", e->metadata);
    if (e->reason != 0)
        json_str(&p, &left, "reason", sl_strerror(e->reason));
    snprintf(p, left, "}\n");
    *len = strlen(out);
    return out;
}

/* The top-level "name" string of a JSON object in s, unescaped into out[cap]; 0 if found. */
static int json_name(const char *s, char *out, size_t cap)
{
    int depth = 0, want = 0;
    size_t o = 0;

    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    if (*s != '{')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s == '{' || *s == '[') {
            depth++;
        } else if (*s == '}' || *s == ']') {
            depth--;
        } else if (*s == '"') {
            const char *start = ++s;
            int is_key;
            while (*s != '\0' && *s != '"')
                s += *s == '\\' && s[1] != '\0' ? 2 : 1;
            if (*s == '\0')
                return -1;
            if (want) { /* the value of "name" */
                for (; start < s && o + 1 < cap; start++)
                    out[o++] = *start == '\\' ? *++start : *start;
                out[o] = '\0';
                return 0;
            }
            is_key = depth == 1 && (size_t)(s - start) == 4 && memcmp(start, "name", 4) == 0;
            if (is_key) {
                const char *q = s + 1;
                while (*q == ' ' || *q == '\t')
                    q++;
                if (*q == ':') {
                    q++;
                    while (*q == ' ' || *q == '\t')
                        q++;
                    if (*q != '"')
                        return -1; /* null, a number: no rename */
                    want = 1;
                    s = q - 1;
                }
            }
        }
    }
    return -1;
}

/* --- the outcome --------------------------------------------------------------------------------
 */

static void call_free(uv_handle_t *t)
{
    call_t *c = t->data;

    free(c->json);
    free(c->req);
    free(c);
}

/* The call is over: decide a request hook, then free once every handle is closed. */
static void finish(call_t *c, int allow, unsigned status)
{
    char name[SL_NAME_MAX + 1], *nl;

    if (c->done)
        return;
    c->done = 1;
    uv_timer_stop(&c->timer);
    if (c->h != NULL) {
        c->out[c->out_len] = '\0';
        if (allow) {
            name[0] = '\0';
            if (c->hc->cfg->hook_http[0] != '\0') { /* {"name": "..."} */
                if (json_name(c->out, name, sizeof(name)) < 0)
                    name[0] = '\0';
            } else {
                if ((nl = strchr(c->out, '\n')) != NULL)
                    *nl = '\0';
                snprintf(name, sizeof(name), "%.*s", (int)sizeof(name) - 1, c->out);
            }
            sl_hook_allow(c->h, name[0] != '\0' ? name : NULL, NULL);
        } else {
            if ((nl = strchr(c->out, '\n')) != NULL)
                *nl = '\0';
            sl_hook_reject(c->h, status,
                           c->out[0] != '\0' && status < 500 ? c->out : "refused by a hook");
        }
        c->h = NULL;
    }
}

static void closed_one(uv_handle_t *h)
{
    call_t *c = h->data;

    if (--c->closes == 0)
        uv_close((uv_handle_t *)&c->timer, call_free);
}

/* --- exec ------------------------------------------------------------------------------------- */

static void on_out_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    call_t *c = h->data;

    (void)suggested;
    *buf = uv_buf_init(c->out + c->out_len, (unsigned)(OUT_MAX - 1 - c->out_len));
}

/* The program's answer counts once it has exited and its stdout has ended (either may come
 * first). */
static void exec_done(call_t *c)
{
    if (!c->exited || !c->eof)
        return;
    finish(c, c->exit_ok && !c->timed_out, c->timed_out ? 503 : 403);
    uv_close((uv_handle_t *)&c->proc, closed_one);
    uv_close((uv_handle_t *)&c->outp, closed_one);
}

static void on_out_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    call_t *c = s->data;

    (void)buf;
    if (n > 0)
        c->out_len += (size_t)n;
    if (n < 0 || c->out_len >= OUT_MAX - 1) {
        uv_read_stop(s);
        c->eof = 1;
        exec_done(c);
    }
}

static void on_grace(uv_timer_t *t)
{
    call_t *c = t->data;

    if (!c->eof) { /* a grandchild holds stdout: the answer is what came so far */
        uv_read_stop((uv_stream_t *)&c->outp);
        c->eof = 1;
        exec_done(c);
    }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int signum)
{
    call_t *c = p->data;

    c->exited = 1;
    c->exit_ok = status == 0 && signum == 0;
    if (!c->eof)
        uv_timer_start(&c->timer, on_grace, 200, 0);
    exec_done(c);
}

static void on_in_written(uv_write_t *w, int status)
{
    call_t *c = w->data;

    (void)status;
    uv_close((uv_handle_t *)&c->in, closed_one); /* EOF on the child's stdin */
}

static void on_exec_timeout(uv_timer_t *t)
{
    call_t *c = t->data;

    c->timed_out = 1;
    finish(c, 0, 503);              /* now: a grandchild may keep stdout open a while */
    uv_kill(-c->proc.pid, SIGKILL); /* its whole process group (it was started detached) */
}

static int run_exec(call_t *c, const char *event)
{
    char path[4200];
    char *args[2];
    uv_process_options_t opt;
    uv_stdio_container_t io[3];
    uv_buf_t b = uv_buf_init(c->json, (unsigned)c->json_len);
    struct stat sb;
    int st;

    snprintf(path, sizeof(path), "%s/%s", c->hc->cfg->hook_exec, event);
    if ((st = stat(path, &sb)) < 0 && errno == ENOENT)
        return -1; /* no program for this event */
    if (st < 0 || !S_ISREG(sb.st_mode) || access(path, X_OK) < 0) {
        finish(c, 0, 503); /* there, but not a program we can run: refuse, never wave through */
        sl__log(c->hc->srv, SL_LOG_ERROR, "hook %s is not an executable file", path);
        uv_close((uv_handle_t *)&c->timer, call_free);
        return 0;
    }
    memset(&opt, 0, sizeof(opt));
    args[0] = path;
    args[1] = NULL;
    uv_pipe_init(c->hc->loop, &c->in, 0);
    uv_pipe_init(c->hc->loop, &c->outp, 0);
    c->in.data = c->outp.data = c->proc.data = c;
    io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    io[0].data.stream = (uv_stream_t *)&c->in;
    io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[1].data.stream = (uv_stream_t *)&c->outp;
    io[2].flags = UV_INHERIT_FD;
    io[2].data.fd = 2;
    opt.file = path;
    opt.args = args;
    opt.stdio = io;
    opt.stdio_count = 3;
    opt.exit_cb = on_exit_cb;
    opt.flags = UV_PROCESS_DETACHED; /* its own process group: a timeout kills all of it */
    c->closes = 3;
    if (uv_spawn(c->hc->loop, &c->proc, &opt) < 0) {
        finish(c, 0, 503);
        uv_close((uv_handle_t *)&c->proc, closed_one); /* libuv registered it anyway */
        uv_close((uv_handle_t *)&c->in, closed_one);
        uv_close((uv_handle_t *)&c->outp, closed_one); /* the last one closes the timer */
        return 0;
    }
    uv_read_start((uv_stream_t *)&c->outp, on_out_alloc, on_out_read);
    c->wreq.data = c;
    uv_write(&c->wreq, (uv_stream_t *)&c->in, &b, 1, on_in_written);
    uv_timer_start(&c->timer, on_exec_timeout, (uint64_t)c->hc->cfg->hook_timeout * 1000, 0);
    return 0;
}

/* --- http ------------------------------------------------------------------------------------- */

static void http_try(call_t *c);

static void http_closed(uv_handle_t *h)
{
    call_t *c = h->data;
    unsigned status = c->status;

    if (c->done) {
        uv_close((uv_handle_t *)&c->timer, call_free);
        return;
    }
    if (status >= 200 && status < 300)
        finish(c, 1, 0);
    else if (status >= 400 && status < 500)
        finish(c, 0, status);
    else if (c->tries <= (int)c->hc->cfg->hook_retries)
        http_try(c); /* a connection error, a timeout or a 5xx: again */
    else
        finish(c, 0, 503);
    if (c->done)
        uv_close((uv_handle_t *)&c->timer, call_free);
}

static void http_end(call_t *c)
{
    uv_timer_stop(&c->timer);
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, http_closed);
}

static void on_http_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    call_t *c = s->data;
    char *body;

    (void)buf;
    if (n > 0)
        c->out_len += (size_t)n;
    c->out[c->out_len] = '\0';
    body = strstr(c->out, "\r\n\r\n");
    if (n >= 0 && c->out_len < OUT_MAX - 1) {
        const char *cl = body != NULL ? strcasestr(c->out, "\r\nContent-Length:") : NULL;
        if (cl == NULL || cl > body ||
            c->out_len < (size_t)(body + 4 - c->out) + strtoull(cl + 17, NULL, 10))
            return; /* more to come (or the close ends it) */
    }
    c->status = c->out_len > 12 && strncmp(c->out, "HTTP/1.", 7) == 0
                    ? (unsigned)strtoul(c->out + 9, NULL, 10)
                    : 0;
    if (body != NULL) { /* keep only the body: the rename and the message come from it */
        memmove(c->out, body + 4, strlen(body + 4) + 1);
        c->out_len = strlen(c->out);
    }
    http_end(c);
}

static void on_http_written(uv_write_t *w, int status)
{
    call_t *c = w->data;

    if (status < 0) {
        http_end(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_out_alloc, on_http_read);
}

static void on_http_connect(uv_connect_t *r, int status)
{
    call_t *c = r->data;
    uv_buf_t b = uv_buf_init(c->req, (unsigned)strlen(c->req));

    if (status < 0) {
        http_end(c);
        return;
    }
    c->wreq.data = c;
    uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_http_written);
}

static void on_http_timeout(uv_timer_t *t)
{
    http_end(t->data);
}

static void http_try(call_t *c)
{
    c->tries++;
    c->status = 0;
    c->out_len = 0;
    uv_tcp_init(c->hc->loop, &c->tcp);
    c->tcp.data = c;
    c->creq.data = c;
    uv_timer_start(&c->timer, on_http_timeout, (uint64_t)c->hc->cfg->hook_timeout * 1000, 0);
    if (uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&c->hc->addr, on_http_connect) <
        0)
        http_end(c);
}

static void run_http(call_t *c)
{
    size_t cap = c->json_len + 1024;

    c->req = sl_xmalloc(cap);
    snprintf(c->req, cap,
             "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             c->hc->path, c->hc->host, c->json_len, c->json);
    http_try(c);
}

/* --- the hooks ----------------------------------------------------------------------------------
 */

static void call(sl_hook_cmd_t *hc, const char *event, const sl_event_t *e, sl_hook_req_t *h)
{
    call_t *c = sl_xcalloc(1, sizeof(*c));

    c->hc = hc;
    c->h = h;
    c->json = event_json(event, e, &c->json_len);
    uv_timer_init(hc->loop, &c->timer);
    c->timer.data = c;
    if (hc->cfg->hook_http[0] != '\0') {
        run_http(c);
        return;
    }
    if (run_exec(c, event) < 0) { /* nothing to run: a request goes on */
        if (h != NULL)
            sl_hook_allow(h, NULL, NULL);
        uv_close((uv_handle_t *)&c->timer, call_free);
    }
}

static void on_request(sl_hook_req_t *h, void *arg)
{
    call(arg, "request", sl_hook_event(h), h);
}

static void on_progress(const sl_event_t *e, void *arg)
{
    call(arg, "progress", e, NULL);
}

static void on_complete(const sl_event_t *e, char **json, void *arg)
{
    (void)json;
    call(arg, "complete", e, NULL);
}

static void on_abort(const sl_event_t *e, void *arg)
{
    call(arg, "abort", e, NULL);
}

int sl__hook_cmd_new(uv_loop_t *loop, const sl_config_t *cfg, sl_hook_cmd_t **out)
{
    struct addrinfo hints = {0}, *res = NULL;
    const char *url = cfg->hook_http, *p, *slash, *hend, *colon = NULL;
    char host[256], port[8] = "80";
    sl_hook_cmd_t *hc;

    *out = NULL;
    if (cfg->hook_exec[0] == '\0' && url[0] == '\0')
        return 0;
    hc = sl_xcalloc(1, sizeof(*hc));
    hc->loop = loop;
    hc->cfg = cfg;
    *out = hc;
    if (url[0] == '\0')
        return 0;
    if (strncmp(url, "http://", 7) != 0)
        return UV_EINVAL;
    p = url + 7;
    slash = strchr(p, '/');
    if (slash == NULL)
        slash = p + strlen(p);
    if (*p == '[') { /* [v6]:port */
        hend = memchr(p, ']', (size_t)(slash - p));
        if (hend == NULL)
            return UV_EINVAL;
        snprintf(host, sizeof(host), "%.*s", (int)(hend - p - 1), p + 1);
        if (hend[1] == ':')
            colon = hend + 1;
    } else {
        colon = memchr(p, ':', (size_t)(slash - p));
        hend = colon != NULL ? colon : slash;
        snprintf(host, sizeof(host), "%.*s", (int)(hend - p), p);
    }
    if (colon != NULL)
        snprintf(port, sizeof(port), "%.*s", (int)(slash - colon - 1), colon + 1);
    if (host[0] == '\0' || memchr(p, '@', (size_t)(slash - p)) != NULL)
        return UV_EINVAL;
    snprintf(hc->host, sizeof(hc->host), "%.*s", (int)(slash - p), p);
    snprintf(hc->path, sizeof(hc->path), "%s", *slash ? slash : "/");
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        return UV_EAI_NONAME; /* resolved once, at start */
    memcpy(&hc->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

void sl__hook_cmd_install(sl_hook_cmd_t *hc, sl_server_t *srv)
{
    sl_hooks_t hooks = {0};

    if (hc == NULL)
        return;
    hooks.on_request = on_request;
    hooks.on_progress = on_progress;
    hooks.progress_ms = 1000;
    hooks.on_complete = on_complete;
    hooks.on_abort = on_abort;
    hc->srv = srv;
    hooks.arg = hc;
    sl_server_set_hooks(srv, &hooks);
}
