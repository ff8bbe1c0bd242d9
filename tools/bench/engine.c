/* SPDX-License-Identifier: MIT
 *
 * The run: --concurrency connections on one libuv loop, each doing uploads one after another.
 *
 *   next_upload ─▶ start_request ─▶ [connect] ─▶ pump_write (head, body, tail) ─▶ on_read
 *        ▲                                                                          │
 *        └──── finish_upload ◀── handle_response (verify, or the next tus step) ◀───┘
 *
 * One write is in flight per connection, of at most WRITE_MAX bytes generated on the spot
 * (sb_body_fill), paced by a token bucket when --rate is set, so a connection holds no more than
 * one write's worth of body. The body of an upload of size N is the first N bytes of the seed's
 * stream, so uploads of one size share a SHA-256: it is computed while the first of them is sent
 * and kept (a small cache), which keeps the client's CPU for sending. tus uploads go POST, then
 * PATCHes of --chunk-size; with --disconnect a PATCH may be cut at a random byte, and the upload
 * resumes on a new connection with HEAD, as a real client after a network drop.
 *
 * Expect (as curl): a request whose body is over --expect-threshold says "Expect: 100-continue",
 * and pump_write stops after its HTTP head (a multipart part's head is body: it waits too):
 *
 *   head sent ─▶ WAIT ─┬─ 100 Continue (run.c's on_read) ────────────▶ GO: the body is sent
 *                      ├─ --expect-timeout (the wait timer, 1 s) ─────▶ GO: sent anyway
 *                      └─ a final answer ─▶ handle_response: the body is never sent, the
 *                                           connection is not reused (the body is still owed)
 *
 * A 2xx for an upload whose body was not all sent is a protocol error (nothing was verified).
 *
 * A 100 ms tick enforces --timeout (no progress on a request), --duration and --max-time, samples
 * the server's RSS (--server-pid) and prints progress once a second.
 */
#include "engine.h"
#include "streams/hex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void start_request(sb_conn_t *c, int kind);
static void conn_drop(sb_conn_t *c);
static void next_upload(sb_conn_t *c);
static void pump_write(sb_conn_t *c);

/* --- the digest cache --------------------------------------------------------------------------
 */

static const char *cached_digest(sb_run_t *run, uint64_t size)
{
    size_t i;

    for (i = 0; i < SB_CACHE; i++)
        if (run->cache[i].valid && run->cache[i].size == size)
            return run->cache[i].hex;
    return NULL;
}

static void cache_digest(sb_run_t *run, uint64_t size, const char *hex)
{
    sb_cached_t *e = &run->cache[run->cache_next++ % SB_CACHE];

    e->size = size;
    memcpy(e->hex, hex, sizeof(e->hex));
    e->valid = 1;
}

static void hex_of(EVP_MD_CTX *md, char out[65])
{
    unsigned char d[32];
    unsigned int n = 0;

    EVP_DigestFinal_ex(md, d, &n);
    sl_hex(d, 32, out);
}

const char *sb__expected_digest(sb_run_t *run, uint64_t size)
{
    const char *hex = cached_digest(run, size);
    EVP_MD_CTX *md;
    unsigned char *buf;
    uint64_t off;
    char out[65];

    if (hex != NULL)
        return hex;
    md = EVP_MD_CTX_new();
    buf = malloc(1 << 20);
    if (md == NULL || buf == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        abort();
    for (off = 0; off < size; off += 1 << 20) {
        size_t n = size - off < (1 << 20) ? (size_t)(size - off) : (1 << 20);
        sb_body_fill(run->opts->seed, off, buf, n);
        EVP_DigestUpdate(md, buf, n);
    }
    hex_of(md, out);
    EVP_MD_CTX_free(md);
    free(buf);
    cache_digest(run, size, out);
    return cached_digest(run, size);
}

/* --- outcomes ----------------------------------------------------------------------------------
 */

static void finish_upload(sb_conn_t *c, int ok, int cause, unsigned status)
{
    sb_run_t *run = c->run;
    sb_report_t *r = run->report;

    if (ok) {
        r->ok++;
        r->bytes_ok += c->size;
        sb_hist_record(&r->latency, (uv_hrtime() - c->t0) / 1000);
    } else {
        r->failed++;
        r->causes[cause]++;
        if (cause == SB_E_STATUS && status >= 100 && status < 600)
            r->status[status]++;
    }
    c->busy = 0;
    c->hashing = 0;
    if (!ok && cause == SB_E_REFUSED && r->ok == 0 &&
        r->causes[SB_E_REFUSED] >= run->opts->concurrency) {
        sb__stop(run, "cannot connect to the server (connection refused)");
        return;
    }
    if (c->keep && c->connected && run->opts->keepalive)
        next_upload(c);
    else
        conn_drop(c);
}

/* --- requests ----------------------------------------------------------------------------------
 */

static int tus_uploading(const sb_conn_t *c)
{
    return c->run->opts->mode == SB_TUS;
}

static void start_request(sb_conn_t *c, int kind)
{
    const sb_opts_t *o = c->run->opts;
    uint64_t len = 0;

    c->kind = kind;
    c->wfail = 0;
    c->body_sent = 0;
    c->tail_len = c->tail_sent = 0;
    c->cut_at = 0;
    c->rlen = 0;
    c->get_left = UINT64_MAX;
    c->got_head = 0;
    if (kind == SB_REQ_UPLOAD) {
        c->body_off = 0;
        len = c->size;
        if (o->mode == SB_MULTIPART) {
            c->tail_len = strlen(sb_multipart_tail);
            memcpy(c->tail, sb_multipart_tail, c->tail_len);
        } else if (o->chunked) {
            memcpy(c->tail, "0\r\n\r\n", 5);
            c->tail_len = 5;
        }
    } else if (kind == SB_REQ_TUS_CREATE) {
        len = c->size; /* Upload-Length; no body */
    } else if (kind == SB_REQ_TUS_PATCH) {
        c->body_off = c->tus_off;
        len = c->size - c->tus_off < o->chunk_size ? c->size - c->tus_off : o->chunk_size;
        if (o->disconnect > 0 && len > 1 && sb_rand_unit(&c->rng) < o->disconnect)
            c->cut_at = 1 + (uint64_t)(sb_rand_unit(&c->rng) * (double)(len - 1));
    }
    c->body_len = (kind == SB_REQ_UPLOAD || kind == SB_REQ_TUS_PATCH) ? len : 0;
    c->head_len =
        sb_request_head(o, kind, c->name, c->path, len, c->tus_off, c->head, sizeof(c->head));
    c->head_http = c->head_len;
    c->expect = sb_request_expects(o, kind, c->name, len) ? SB_EXPECT_WAIT : SB_EXPECT_NONE;
    uv_timer_stop(&c->wait);
    if (kind == SB_REQ_UPLOAD && o->mode == SB_MULTIPART)
        c->head_len +=
            sb_multipart_head(c->name, c->head + c->head_len, sizeof(c->head) - c->head_len);
    c->head_sent = 0;
    c->last_progress = uv_now(c->run->loop);
    if (c->connected && c->keep) {
        pump_write(c);
    } else if (c->open) {
        c->keep = 1;
        conn_drop(c); /* the server closes this one: the request goes on a new connection */
    } else {
        c->keep = 1;
        sb__connect(c);
    }
}

static void next_upload(sb_conn_t *c)
{
    sb_run_t *run = c->run;
    const sb_opts_t *o = run->opts;

    if (run->stopping || (o->uploads && run->next_index >= o->uploads) ||
        (o->duration > 0 && uv_now(run->loop) >= run->deadline)) {
        c->done = 1;
        conn_drop(c);
        return;
    }
    c->index = run->next_index++;
    run->report->started++;
    c->size = sb_dist_sample(&o->size, &run->rng);
    snprintf(c->name, sizeof(c->name), "%s-%llu-%llu.bin", o->name_prefix,
             (unsigned long long)o->seed, (unsigned long long)c->index);
    c->busy = 1;
    c->keep = 1;
    c->t0 = uv_hrtime();
    c->tus_off = 0;
    c->path[0] = '\0';
    c->hashing = !o->no_verify && !tus_uploading(c) && cached_digest(run, c->size) == NULL;
    if (c->hashing)
        EVP_DigestInit_ex(c->md, EVP_sha256(), NULL);
    start_request(c, tus_uploading(c) ? SB_REQ_TUS_CREATE : SB_REQ_UPLOAD);
}

/* --- writing -----------------------------------------------------------------------------------
 */

static void on_write(uv_write_t *req, int status)
{
    sb_wbuf_t *w = (sb_wbuf_t *)req;
    sb_conn_t *c = w->c;

    c->writing = 0;
    free(w);
    if (status < 0) {
        c->wfail = 1; /* on_read sees the early answer, or the end (a reset) */
        return;
    }
    c->last_progress = uv_now(c->run->loop);
    if (c->cut_at && c->body_sent >= c->cut_at) {
        c->run->report->resumes++; /* a network drop: resume with HEAD on a new connection */
        c->resume = 1;
        conn_drop(c);
        return;
    }
    pump_write(c);
}

static void on_pace(uv_timer_t *t)
{
    pump_write(t->data);
}

/* No 100 Continue within --expect-timeout: send the body anyway (curl does). */
static void on_expect_timeout(uv_timer_t *t)
{
    sb_conn_t *c = t->data;

    if (c->expect != SB_EXPECT_WAIT)
        return;
    c->expect = SB_EXPECT_GO;
    c->run->report->expect_timeouts++;
    c->last_progress = uv_now(c->run->loop);
    pump_write(c);
}

void sb__expect_continue(sb_conn_t *c)
{
    if (c->expect != SB_EXPECT_WAIT)
        return; /* not asked for, or too late: the body is already on its way */
    uv_timer_stop(&c->wait);
    c->expect = SB_EXPECT_GO;
    c->run->report->expect_continued++;
    pump_write(c); /* a head write still in flight: on_write pumps */
}

static void pump_write(sb_conn_t *c)
{
    const sb_opts_t *o = c->run->opts;
    size_t room = SB_WRITE_MAX, n = 0;
    size_t head_end = c->expect == SB_EXPECT_WAIT ? c->head_http : c->head_len;
    uint64_t body_left = c->body_len - c->body_sent;
    sb_wbuf_t *w;

    if (c->writing || !c->connected || c->closing || c->wfail)
        return;
    if (c->head_sent == head_end && c->expect == SB_EXPECT_WAIT)
        return; /* the body waits for the server's word (on_read, on_expect_timeout) */
    if (c->head_sent == c->head_len && body_left == 0 && c->tail_sent == c->tail_len)
        return; /* all sent: the answer comes through on_read */
    if (o->rate) {
        uint64_t now = uv_hrtime();
        double cap = o->rate / 5.0 > 4096 ? o->rate / 5.0 : 4096;
        c->tokens += (double)(now - c->tokens_t) / 1e9 * (double)o->rate;
        c->tokens = c->tokens > cap ? cap : c->tokens;
        c->tokens_t = now;
        if (c->tokens < 1024 && c->tokens < (double)body_left) {
            uv_timer_start(&c->pace, on_pace, 1 + (uint64_t)((1024 - c->tokens) * 1000 / o->rate),
                           0);
            return;
        }
        room = c->tokens < room ? (size_t)c->tokens : room;
        room = room < 64 ? 64 : room;
    }
    if (c->cut_at && body_left > c->cut_at - c->body_sent)
        body_left = c->cut_at - c->body_sent;
    w = malloc(sizeof(*w) + room + 32);
    if (w == NULL)
        abort();
    if (c->head_sent < head_end) {
        n = head_end - c->head_sent < room ? head_end - c->head_sent : room;
        memcpy(w->data, c->head + c->head_sent, n);
        c->head_sent += n;
        if (c->head_sent == head_end && c->expect == SB_EXPECT_WAIT) {
            c->run->report->expect_sent++;
            uv_timer_start(&c->wait, on_expect_timeout, (uint64_t)(o->expect_timeout * 1000), 0);
        }
    }
    if (n < room && body_left > 0 && c->head_sent == c->head_len && c->expect != SB_EXPECT_WAIT) {
        size_t take = room - n < body_left ? room - n : (size_t)body_left, hdr = 0;
        if (c->kind == SB_REQ_UPLOAD && o->chunked) {
            hdr = (size_t)snprintf(w->data + n, 20, "%zx\r\n", take);
            n += hdr;
        }
        sb_body_fill(o->seed, c->body_off + c->body_sent, (unsigned char *)w->data + n, take);
        if (c->hashing)
            EVP_DigestUpdate(c->md, w->data + n, take);
        n += take;
        c->body_sent += take;
        c->run->report->bytes_sent += take;
        if (hdr) {
            memcpy(w->data + n, "\r\n", 2);
            n += 2;
        }
    }
    if (n < room && c->body_sent == c->body_len && c->tail_sent < c->tail_len) {
        size_t t = c->tail_len - c->tail_sent;
        memcpy(w->data + n, c->tail + c->tail_sent, t);
        c->tail_sent += t;
        n += t;
    }
    if (o->rate)
        c->tokens -= (double)n;
    w->c = c;
    w->buf = uv_buf_init(w->data, (unsigned int)n);
    c->writing = 1;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, on_write) < 0) {
        c->writing = 0;
        free(w);
        sb__fail(c, SB_E_RESET);
    }
}

/* --- answers -----------------------------------------------------------------------------------
 */

static void verify_and_finish(sb_conn_t *c, const sb_resp_t *resp)
{
    sb_run_t *run = c->run;
    const char *want = cached_digest(run, c->size);
    char hex[65];

    if (c->hashing) {
        hex_of(c->md, hex);
        c->hashing = 0;
        if (want == NULL)
            cache_digest(run, c->size, hex);
        want = hex;
    }
    if (resp->sha256[0] != '\0' && want != NULL && !run->opts->no_verify) {
        if (strcmp(resp->sha256, want) != 0) {
            finish_upload(c, 0, SB_E_DIGEST, 0);
            return;
        }
        run->report->verified++;
    }
    if (run->opts->verify_get && c->path[0] != '\0') {
        start_request(c, SB_REQ_GET); /* hashes what comes back (sb__get_body) */
        return;
    }
    finish_upload(c, 1, 0, 0);
}

/* Strip "http://host" from a Location, keep the path. */
static void path_of(const char *loc, char *out, size_t cap)
{
    const char *p = loc;

    if (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0) {
        p = strchr(p + 8, '/');
        if (p == NULL)
            p = "/";
    }
    snprintf(out, cap, "%s", p);
}

void sb__handle_response(sb_conn_t *c, const sb_resp_t *resp)
{
    int ok2xx = resp->status >= 200 && resp->status < 300;

    if (c->expect == SB_EXPECT_WAIT) { /* a final answer instead of 100: the body stays here */
        uv_timer_stop(&c->wait);
        c->expect = SB_EXPECT_NONE;
        c->run->report->expect_answered++;
    }
    if (resp->close || c->head_sent < c->head_len || c->body_sent < c->body_len ||
        c->tail_sent < c->tail_len)
        c->keep = 0; /* an early answer: the rest of the body would be taken as a request */
    switch (c->kind) {
    case SB_REQ_UPLOAD:
        if (!ok2xx)
            break;
        if (c->body_sent < c->body_len) { /* a 2xx for a body not sent: nothing to verify */
            finish_upload(c, 0, SB_E_PROTOCOL, 0);
            return;
        }
        path_of(resp->location, c->path, sizeof(c->path));
        if (c->run->opts->mode == SB_MULTIPART)
            c->path[0] = '\0'; /* the answer is a list of files: digests only */
        verify_and_finish(c, resp);
        return;
    case SB_REQ_TUS_CREATE:
        if (resp->status != 201 || resp->location[0] == '\0')
            break;
        path_of(resp->location, c->path, sizeof(c->path));
        start_request(c, c->size > 0 ? SB_REQ_TUS_PATCH : SB_REQ_TUS_HEAD);
        return;
    case SB_REQ_TUS_HEAD:
    case SB_REQ_TUS_PATCH:
        if (!ok2xx || !resp->has_offset || resp->offset > c->size ||
            (c->kind == SB_REQ_TUS_PATCH && resp->offset != c->tus_off + c->body_len)) {
            if (ok2xx)
                finish_upload(c, 0, SB_E_PROTOCOL, 0);
            else
                break;
            return;
        }
        c->tus_off = resp->offset;
        if (c->tus_off < c->size) {
            start_request(c, SB_REQ_TUS_PATCH);
            return;
        }
        if (resp->file[0] != '\0')
            snprintf(c->path, sizeof(c->path), "%s", resp->file);
        else
            c->path[0] = '\0';
        verify_and_finish(c, resp);
        return;
    case SB_REQ_GET:
        if (!ok2xx)
            break;
        finish_upload(c, c->get_ok, SB_E_DIGEST, 0);
        return;
    }
    finish_upload(c, 0, SB_E_STATUS, resp->status);
}

void sb__fail(sb_conn_t *c, int cause)
{
    c->keep = 0;
    finish_upload(c, 0, cause, 0);
}

/* --- connections -------------------------------------------------------------------------------
 */

static void closed(sb_conn_t *c)
{
    sb_run_t *run = c->run;

    c->open = c->connected = c->closing = c->writing = 0;
    if (c->resume && c->busy && !run->stopping) {
        c->resume = 0;
        start_request(c, SB_REQ_TUS_HEAD); /* where did the cut PATCH leave the upload? */
    } else if (c->busy && !run->stopping) {
        sb__connect(c); /* the prepared request goes on a new connection */
    } else if (!c->done && !run->stopping) {
        next_upload(c);
    } else {
        sb__conn_finished(c);
    }
}

static void on_closed(uv_handle_t *h)
{
    closed(h->data);
}

static void conn_drop(sb_conn_t *c)
{
    if (c->closing)
        return;
    if (!c->open) {
        closed(c);
        return;
    }
    c->closing = 1;
    uv_timer_stop(&c->pace);
    uv_timer_stop(&c->wait);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void sb__conn_drop(sb_conn_t *c)
{
    conn_drop(c);
}

static void on_ramp(uv_timer_t *t)
{
    next_upload(t->data);
}

void sb__conn_start(sb_conn_t *c)
{
    const sb_opts_t *o = c->run->opts;
    uint64_t delay =
        o->ramp > 0
            ? (uint64_t)(o->ramp * 1000 * (double)(c - c->run->conns) / (double)o->concurrency)
            : 0;

    if (delay > 0)
        uv_timer_start(&c->pace, on_ramp, delay, 0); /* --ramp: connections open evenly */
    else
        next_upload(c);
}

void sb__conn_connected(sb_conn_t *c)
{
    c->connected = 1;
    pump_write(c);
}
