/* SPDX-License-Identifier: MIT
 *
 * The loop of a run: resolve the server once, open --concurrency connections, read answers,
 * and a tick that bounds everything.
 *
 * Reads land in one buffer of the run (one thread: a read is handled before the next one is
 * allocated) and are appended to the connection's answer buffer, except the body of a
 * --verify-get download, which is hashed as it streams and never kept. A 100 Continue ahead of
 * the final answer releases a body held back for "Expect: 100-continue" (engine.c).
 *
 * The tick (100 ms) fails a request that made no progress for --timeout, stops starting uploads
 * at --duration, stops everything at --max-time or on SIGINT (the report then says "aborted"),
 * samples the server's RSS, and redraws the progress line once a second.
 */
#include "engine.h"
#include "streams/hex.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICK_MS 100

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sb_conn_t *c = h->data;

    (void)suggested;
    *buf = uv_buf_init(c->run->rbuf, sizeof(c->run->rbuf));
}

static void on_connect(uv_connect_t *req, int status)
{
    sb_conn_t *c = req->data;

    if (status < 0) {
        sb__fail(c,
                 status == UV_ECONNREFUSED || status == UV_ENETUNREACH || status == UV_EHOSTUNREACH
                     ? SB_E_REFUSED
                     : SB_E_RESET);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    sb__conn_connected(c);
}

void sb__connect(sb_conn_t *c)
{
    sb_run_t *run = c->run;
    int err;

    uv_tcp_init(run->loop, &c->tcp);
    c->tcp.data = c;
    c->open = 1;
    uv_tcp_nodelay(&c->tcp, 1);
    c->creq.data = c;
    err = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&run->addr, on_connect);
    if (err < 0)
        sb__fail(c, SB_E_REFUSED);
}

/* A --verify-get body: hash it as it streams. */
static void get_body(sb_conn_t *c, const char *p, size_t n)
{
    char hex[65];
    unsigned char d[32];
    unsigned int len = 0;

    if (n > c->get_left)
        n = (size_t)c->get_left;
    EVP_DigestUpdate(c->getmd, p, n);
    c->get_left -= n;
    if (c->get_left > 0)
        return;
    EVP_DigestFinal_ex(c->getmd, d, &len);
    sl_hex(d, 32, hex);
    c->get_ok = strcmp(hex, sb__expected_digest(c->run, c->size)) == 0;
}

static void append(sb_conn_t *c, const char *p, size_t n)
{
    if (c->rlen + n > c->rcap) {
        c->rcap = (c->rlen + n) * 2;
        c->rbuf = realloc(c->rbuf, c->rcap);
        if (c->rbuf == NULL)
            abort();
    }
    memcpy(c->rbuf + c->rlen, p, n);
    c->rlen += n;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sb_conn_t *c = s->data;
    sb_resp_t resp;
    long used;
    int eof = nread < 0;

    if (nread == 0)
        return;
    c->last_progress = uv_now(c->run->loop);
    if (!c->busy) { /* bytes nobody asked for, or the server closing an idle connection */
        sb__conn_drop(c);
        return;
    }
    if (c->kind == SB_REQ_GET && c->got_head && !eof) {
        get_body(c, buf->base, (size_t)nread);
    } else if (!eof) {
        append(c, buf->base, (size_t)nread);
    }
    if (c->kind == SB_REQ_GET && !c->got_head) {
        used = sb_resp_parse(c->rbuf, c->rlen, 1, eof, &resp);
        if (used > 0 && resp.status == 200 && resp.has_length) {
            c->got_head = 1;
            c->get_left = resp.content_length;
            EVP_DigestInit_ex(c->getmd, EVP_sha256(), NULL);
            c->get_ok = 0;
            get_body(c, c->rbuf + used, c->rlen - (size_t)used);
        } else if (used > 0) {
            sb__handle_response(c, &resp); /* an error status (or no length): not a download */
            return;
        }
    }
    if (c->kind == SB_REQ_GET && c->got_head) {
        if (c->get_left == 0) {
            resp.status = 200;
            resp.close = 0;
            sb__handle_response(c, &resp);
        } else if (eof) {
            sb__fail(c, SB_E_RESET);
        }
        return;
    }
    used = sb_resp_parse(c->rbuf, c->rlen, c->kind == SB_REQ_TUS_HEAD, eof, &resp);
    if (used < 0)
        sb__fail(c, SB_E_PROTOCOL);
    else if (used > 0)
        sb__handle_response(c, &resp);
    else if (eof)
        sb__fail(c, c->rlen > 0 ? SB_E_PROTOCOL : SB_E_RESET);
    else if (resp.continued)
        sb__expect_continue(c); /* the 100 stays in rbuf: the parser skips it again */
}

void sb__conn_finished(sb_conn_t *c)
{
    sb_run_t *run = c->run;

    if (c->done == 2)
        return;
    c->done = 2;
    if (--run->live == 0) {
        uv_close((uv_handle_t *)&run->tick, NULL);
        uv_close((uv_handle_t *)&run->sigint, NULL);
    }
}

void sb__stop(sb_run_t *run, const char *why)
{
    unsigned i;

    if (run->stopping)
        return;
    run->stopping = 1;
    if (why != NULL && run->err[0] == '\0')
        snprintf(run->err, sizeof(run->err), "%s", why);
    for (i = 0; i < run->opts->concurrency; i++) {
        sb_conn_t *c = &run->conns[i];
        uv_timer_stop(&c->pace);
        uv_timer_stop(&c->wait);
        if (c->busy) {
            c->busy = 0;
            run->report->failed++;
            run->report->causes[SB_E_TIMEOUT]++; /* cut off by the stop */
        }
        c->done = 1;
        sb__conn_drop(c);
    }
}

/* --- the server's figures ----------------------------------------------------------------------
 */

static uint64_t proc_cpu_ticks(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    fclose(f);
    return ut + st;
}

static uint64_t proc_rss_kib(pid_t pid)
{
    char path[64], line[256];
    unsigned long kib = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %lu", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* --- the tick ----------------------------------------------------------------------------------
 */

static void progress(sb_run_t *run, int final)
{
    const sb_report_t *r = run->report;
    double t = (double)(uv_now(run->loop) - run->start_ms) / 1000;
    unsigned inflight = 0, i;

    for (i = 0; i < run->opts->concurrency; i++)
        inflight += run->conns[i].busy;
    fprintf(stderr, "\r%7.1fs  ok %llu  failed %llu  in flight %u  %.1f MB sent  %.1f MB/s   %s", t,
            (unsigned long long)r->ok, (unsigned long long)r->failed, inflight,
            (double)r->bytes_sent / 1e6, t > 0 ? (double)r->bytes_sent / 1e6 / t : 0.0,
            final ? "\n" : "");
}

static void on_tick(uv_timer_t *t)
{
    sb_run_t *run = t->data;
    const sb_opts_t *o = run->opts;
    uint64_t now = uv_now(run->loop);
    unsigned i;

    if (o->server_pid > 0) {
        uint64_t kib = proc_rss_kib(o->server_pid);
        if (kib > run->report->server_rss_peak_kib)
            run->report->server_rss_peak_kib = kib;
    }
    if (now >= run->hard_deadline) {
        run->report->aborted = 1;
        sb__stop(run, NULL);
        return;
    }
    for (i = 0; i < o->concurrency; i++) {
        sb_conn_t *c = &run->conns[i];
        if (c->busy && !c->closing && now - c->last_progress >= (uint64_t)(o->timeout * 1000))
            sb__fail(c, SB_E_TIMEOUT);
    }
    if (o->progress && now - run->last_print >= 1000) {
        run->last_print = now;
        progress(run, 0);
    }
}

static void on_sigint(uv_signal_t *s, int signum)
{
    sb_run_t *run = s->data;

    (void)signum;
    run->report->aborted = 1;
    sb__stop(run, NULL);
}

static int resolve(sb_run_t *run, const sb_opts_t *o, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char port[8];
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%u", o->port);
    rc = getaddrinfo(o->host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "cannot resolve %s: %s", o->host, gai_strerror(rc));
        return -1;
    }
    memcpy(&run->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

int sb_run(const sb_opts_t *o, sb_report_t *r, char *err, size_t errlen)
{
    sb_run_t *run = calloc(1, sizeof(*run));
    uv_loop_t loop;
    unsigned i;
    long hz = sysconf(_SC_CLK_TCK);
    int rc = 0;

    if (run == NULL)
        abort();
    memset(r, 0, sizeof(*r));
    sb_hist_init(&r->latency);
    if (resolve(run, o, err, errlen) < 0) {
        free(run);
        return -1;
    }
    uv_loop_init(&loop);
    run->loop = &loop;
    run->opts = o;
    run->report = r;
    run->rng = o->seed * 0x9e3779b97f4a7c15ull + 1;
    run->start_ms = run->last_print = uv_now(&loop);
    run->deadline = run->start_ms + (uint64_t)(o->duration * 1000);
    run->hard_deadline = run->start_ms + (uint64_t)(o->max_time * 1000);
    if (o->server_pid > 0) {
        r->has_server = 1;
        run->srv_cpu0 = proc_cpu_ticks(o->server_pid);
    }
    uv_timer_init(&loop, &run->tick);
    run->tick.data = run;
    uv_timer_start(&run->tick, on_tick, TICK_MS, TICK_MS);
    uv_signal_init(&loop, &run->sigint);
    run->sigint.data = run;
    uv_signal_start(&run->sigint, on_sigint, SIGINT);
    run->conns = calloc(o->concurrency, sizeof(*run->conns));
    if (run->conns == NULL)
        abort();
    run->live = o->concurrency;
    for (i = 0; i < o->concurrency; i++) {
        sb_conn_t *c = &run->conns[i];
        c->run = run;
        c->rng = run->rng ^ (i + 1) * 0xbf58476d1ce4e5b9ull;
        c->md = EVP_MD_CTX_new();
        c->getmd = EVP_MD_CTX_new();
        if (c->md == NULL || c->getmd == NULL)
            abort();
        uv_timer_init(&loop, &c->pace);
        c->pace.data = c;
        uv_timer_init(&loop, &c->wait);
        c->wait.data = c;
    }
    for (i = 0; i < o->concurrency; i++)
        sb__conn_start(&run->conns[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (i = 0; i < o->concurrency; i++) {
        uv_close((uv_handle_t *)&run->conns[i].pace, NULL);
        uv_close((uv_handle_t *)&run->conns[i].wait, NULL);
        EVP_MD_CTX_free(run->conns[i].md);
        EVP_MD_CTX_free(run->conns[i].getmd);
        free(run->conns[i].rbuf);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    r->elapsed = (double)(uv_now(&loop) - run->start_ms) / 1000;
    if (o->progress)
        progress(run, 1);
    if (o->server_pid > 0)
        r->server_cpu_s = (double)(proc_cpu_ticks(o->server_pid) - run->srv_cpu0) / (double)hz;
    if (run->err[0] != '\0') {
        snprintf(err, errlen, "%s", run->err);
        rc = -1;
    }
    uv_loop_close(&loop);
    free(run->conns);
    free(run);
    return rc;
}
