/* SPDX-License-Identifier: MIT
 *
 * Requests to the S3 service: libcurl's multi interface driven by the libuv loop.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION: one uv_poll_t per socket,
 * kept with curl_multi_assign) and when to wake it (CURLMOPT_TIMERFUNCTION: the store's one
 * uv_timer_t); each readiness or timeout is handed back with curl_multi_socket_action, and every
 * finished transfer found in curl_multi_info_read calls its request's callback, always from a
 * loop callback, never inside the call that started it. curl signs every request itself
 * (CURLOPT_AWS_SIGV4, with "x-amz-content-sha256: UNSIGNED-PAYLOAD": curl 7.88 does not hash a
 * streamed body); nothing here builds a signature or speaks HTTP by hand.
 *
 * A request's body is read from a spool file with pread, and a tus GET's answer written to one
 * with write, on the loop thread: spool files are written just before (page cache), so these do
 * not wait for a disk; docs/s3.md says why this was kept. A file's GET hands its answer's pieces
 * to the request's on_data instead (s3_read.c), which may pause the transfer. A transfer that
 * failed transiently may be sent again before its callback runs (s3_retry.c decides).
 */
#include "s3_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

typedef struct poll_ctx_s {
    uv_poll_t poll;
    sl_s3_t *s3;
    curl_socket_t fd;
} poll_ctx_t;

static void check_done(sl_s3_t *s3);

static void on_poll_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    poll_ctx_t *c = p->data;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(c->s3->multi, c->fd, flags, &running);
    check_done(c->s3);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    sl_s3_t *s3 = userp;
    poll_ctx_t *c = socketp;
    int events = 0;

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (c != NULL) {
            uv_poll_stop(&c->poll);
            uv_close((uv_handle_t *)&c->poll, on_poll_closed);
            curl_multi_assign(s3->multi, fd, NULL);
        }
        return 0;
    }
    if (c == NULL) {
        c = sl_xcalloc(1, sizeof(*c));
        c->s3 = s3;
        c->fd = fd;
        if (uv_poll_init_socket(s3->base.loop, &c->poll, fd) < 0) {
            free(c);
            return -1;
        }
        c->poll.data = c;
        curl_multi_assign(s3->multi, fd, c);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&c->poll, events, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    sl_s3_t *s3 = t->data;
    int running;

    curl_multi_socket_action(s3->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(s3);
}

static int on_curl_timer(CURLM *m, long ms, void *userp)
{
    sl_s3_t *s3 = userp;

    (void)m;
    if (ms < 0)
        uv_timer_stop(&s3->timer);
    else
        uv_timer_start(&s3->timer, on_timer, (uint64_t)ms, 0);
    return 0;
}

int sl__s3_http_init(sl_s3_t *s3)
{
    if ((s3->multi = curl_multi_init()) == NULL)
        return UV_ENOMEM;
    uv_timer_init(s3->base.loop, &s3->timer);
    s3->timer.data = s3;
    curl_multi_setopt(s3->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(s3->multi, CURLMOPT_SOCKETDATA, s3);
    curl_multi_setopt(s3->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(s3->multi, CURLMOPT_TIMERDATA, s3);
    curl_multi_setopt(s3->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
    sl__s3_retry_init(s3);
    return 0;
}

void sl__s3_http_close(sl_s3_t *s3, uv_close_cb on_closed)
{
    while (s3->reqs != NULL) {
        sl_s3_req_t *q = s3->reqs;
        sl__s3_req_done(q);
        if (q->owned)
            sl__s3_req_free(q);
    }
    curl_multi_cleanup(s3->multi); /* its sockets' polls are closed through on_socket */
    s3->multi = NULL;
    sl__s3_retry_close(s3, on_closed);
    uv_timer_stop(&s3->timer);
    uv_close((uv_handle_t *)&s3->timer, on_closed);
}

/* --- one request -------------------------------------------------------------------------- */

/* The one place an answer becomes an error code. */
static int error_of(CURLcode cc, long status)
{
    if (cc != CURLE_OK || status == 0)
        return SL_EUNAVAILABLE; /* not reached, timed out, cut */
    if (status >= 200 && status < 300)
        return 0;
    if (status == 404)
        return SL_ENOTFOUND;
    if (status == 412)
        return SL_EEXISTS;
    if (status == 416)
        return SL_ERANGE;
    if (status == 401 || status == 403 || status >= 500)
        return SL_EUNAVAILABLE; /* refused credentials, a service in trouble */
    return UV_EIO;
}

static void finish(sl_s3_req_t *q, CURLcode cc)
{
    curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &q->status);
    q->err = error_of(cc, q->status);
    q->curl_err = (int)cc;
}

static void check_done(sl_s3_t *s3)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(s3->multi, &left)) != NULL) {
        sl_s3_req_t *q = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
        finish(q, m->data.result);
        /* every answer on the loop tells whether the service is there (/healthz); the blocking
         * requests (start-up, the expiry scan on the thread pool) do not touch it */
        s3->base.unreachable = q->err == SL_EUNAVAILABLE;
        if (sl__s3_retry_later(q, m->data.result))
            continue;       /* sent again after its backoff (s3_retry.c) */
        sl__s3_req_done(q); /* unlinked and removed: the callback may start it again */
        q->cb(q);
    }
}

static size_t on_read(char *buf, size_t size, size_t n, void *arg)
{
    sl_s3_req_t *q = arg;
    size_t want = size * n;
    ssize_t r;

    if (want > q->in_len - q->in_pos)
        want = (size_t)(q->in_len - q->in_pos);
    if (want == 0)
        return 0;
    if (q->in_mem != NULL) {
        memcpy(buf, q->in_mem + q->in_pos, want);
        r = (ssize_t)want;
    } else {
        do
            r = pread(q->in_fd, buf, want, (off_t)(q->in_off + q->in_pos));
        while (r < 0 && errno == EINTR);
        if (r <= 0)
            return CURL_READFUNC_ABORT; /* a spool file shorter than said: never sent short */
    }
    q->in_pos += (uint64_t)r;
    return (size_t)r;
}

static size_t on_write(char *buf, size_t size, size_t n, void *arg)
{
    sl_s3_req_t *q = arg;
    size_t len = size * n, off = 0;

    if (q->out_fd >= 0) {
        while (off < len) {
            ssize_t w = write(q->out_fd, buf + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return 0; /* curl fails the transfer */
            off += (size_t)w;
        }
        q->out_len += len;
        return len;
    }
    if (q->on_data != NULL) {
        long status = 0;
        curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            size_t took = q->on_data(q, buf, len);
            if (took != CURL_WRITEFUNC_PAUSE)
                q->data_len += took; /* handed on: never sent again from the start */
            return took;
        }
    }
    if (q->body_len + len + 1 > SL_S3_ANSWER_MAX)
        return 0;
    if (q->body_len + len + 1 > q->body_cap) {
        q->body_cap = (q->body_len + len + 1) * 2;
        q->body = sl_xrealloc(q->body, q->body_cap);
    }
    memcpy(q->body + q->body_len, buf, len);
    q->body_len += len;
    q->body[q->body_len] = '\0';
    return len;
}

/* The header `name` of line[0..len), its value copied into out[cap] (trimmed), or 0. */
static int header_is(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);

    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return 0;
    line += n + 1;
    len -= n + 1;
    while (len > 0 && (*line == ' ' || *line == '\t'))
        line++, len--;
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' || line[len - 1] == ' '))
        len--;
    snprintf(out, cap, "%.*s", (int)len, line);
    return 1;
}

static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
    sl_s3_req_t *q = arg;
    size_t len = size * n;
    char v[128];

    if (header_is(buf, len, "ETag", q->etag, sizeof(q->etag)) ||
        header_is(buf, len, "x-amz-meta-sha256", q->sha256_hex, sizeof(q->sha256_hex)) ||
        header_is(buf, len, "x-amz-meta-crc32", q->crc32, sizeof(q->crc32)) ||
        header_is(buf, len, "Content-Range", q->content_range, sizeof(q->content_range)) ||
        header_is(buf, len, "x-amz-meta-upload-id", q->upload_id, sizeof(q->upload_id)))
        return len;
    if (header_is(buf, len, "x-amz-meta-parts", v, sizeof(v)))
        q->m_parts = strtoull(v, NULL, 10);
    else if (header_is(buf, len, "x-amz-meta-part-bytes", v, sizeof(v)))
        q->m_part_bytes = strtoull(v, NULL, 10);
    else if (header_is(buf, len, "Content-Length", v, sizeof(v)))
        q->length = strtoull(v, NULL, 10);
    else if (header_is(buf, len, "Last-Modified", v, sizeof(v)))
        q->mtime_ns = (int64_t)curl_getdate(v, NULL) * 1000000000;
    return len;
}

int sl__s3_encode(const char *s, int keep_slash, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/');
        if (o + (plain ? 1 : 3) >= cap)
            return SL_ETOOLONG;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

int sl__s3_req_init(sl_s3_req_t *q, sl_s3_t *s3, const char *method, const char *key,
                    const char *query)
{
    char path[3 * (SL_NAME_MAX + 256) + 1], *url;
    void *data = q->data; /* the owner's, kept from one request to the next */
    size_t n;

    memset(q, 0, offsetof(sl_s3_req_t, cb));
    q->data = data;
    q->s3 = s3;
    q->in_fd = q->out_fd = -1;
    q->is_read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    q->retry = strcmp(method, "POST") == 0 ? SL_S3_RETRY_UNSENT : SL_S3_RETRY_IDEMPOTENT;
    if (key != NULL && sl__s3_encode(key, 1, path, sizeof(path)) < 0)
        return SL_ETOOLONG;
    if ((q->easy = curl_easy_init()) == NULL)
        return UV_ENOMEM;
    n = strlen(s3->endpoint) + strlen(s3->bucket) + (key ? strlen(path) : 0) +
        (query ? strlen(query) : 0) + 4;
    url = sl_xmalloc(n);
    snprintf(url, n, "%s/%s%s%s%s%s", s3->endpoint, s3->bucket, key ? "/" : "", key ? path : "",
             query ? "?" : "", query ? query : "");
    curl_easy_setopt(q->easy, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(q->easy, CURLOPT_PRIVATE, q);
    curl_easy_setopt(q->easy, CURLOPT_AWS_SIGV4, s3->sigv4);
    curl_easy_setopt(q->easy, CURLOPT_USERPWD, s3->userpwd);
    curl_easy_setopt(q->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(q->easy, CURLOPT_VERBOSE, getenv("SLUICE_S3_TRACE") != NULL ? 1L : 0L);
    curl_easy_setopt(q->easy, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(q->easy, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled service: 60 s */
    curl_easy_setopt(q->easy, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(q->easy, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(q->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(q->easy, CURLOPT_HEADERDATA, q);
    curl_easy_setopt(q->easy, CURLOPT_UPLOAD_BUFFERSIZE, 256L << 10);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(q->easy, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(q->easy, CURLOPT_CUSTOMREQUEST, method);
    sl__s3_req_header(q, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    if (s3->token_hdr != NULL)
        sl__s3_req_header(q, s3->token_hdr);
    return 0;
}

void sl__s3_req_header(sl_s3_req_t *q, const char *line)
{
    if (!q->is_read && q->retry > SL_S3_RETRY_UNSENT &&
        (strncasecmp(line, "If-Match:", 9) == 0 || strncasecmp(line, "If-None-Match:", 14) == 0))
        q->retry = SL_S3_RETRY_UNSENT; /* a repeat might meet our own write: s3_retry.c */
    q->hdrs = curl_slist_append(q->hdrs, line);
}

static void body_common(sl_s3_req_t *q, uint64_t len)
{
    q->in_len = len;
    curl_easy_setopt(q->easy, CURLOPT_UPLOAD, 1L); /* PUT … */
    curl_easy_setopt(q->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(q->easy, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(q->easy, CURLOPT_READDATA, q);
    /* (no CURLOPT_SEEKFUNCTION: curl cannot send a body again by itself, CURLE_SEND_FAIL_REWIND;
     * s3_retry.c does, counted, from the body's first byte) */
    /* (an empty "Expect:" to save the 100-continue turn would be signed by curl 7.88 as a
     * header with a value, and refused) */
}

void sl__s3_req_body_fd(sl_s3_req_t *q, int fd, uint64_t off, uint64_t len)
{
    q->in_fd = fd;
    q->in_off = off;
    body_common(q, len);
}

void sl__s3_req_body_mem(sl_s3_req_t *q, const char *mem, size_t len)
{
    q->in_mem = mem;
    body_common(q, len);
}

int sl__s3_req_start(sl_s3_req_t *q, sl_s3_cb cb)
{
    sl_s3_t *s3 = q->s3;

    q->cb = cb;
    if (q->out_fd >= 0) /* a retry starts the answer again from here (s3_retry.c) */
        q->out_start = (int64_t)lseek(q->out_fd, 0, SEEK_CUR);
    /* curl sends a request again by itself when a kept-alive connection it reused dies before
     * any answer, which may follow a write the service did: not one that must not be repeated */
    if (q->retry <= SL_S3_RETRY_UNSENT)
        curl_easy_setopt(q->easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(q->easy, CURLOPT_HTTPHEADER, q->hdrs);
    if (curl_multi_add_handle(s3->multi, q->easy) != CURLM_OK)
        return UV_ENOMEM;
    q->active = 1;
    q->next = s3->reqs;
    q->prev = NULL;
    if (s3->reqs != NULL)
        s3->reqs->prev = q;
    s3->reqs = q;
    return 0;
}

int sl__s3_req_run(sl_s3_req_t *q)
{
    CURLcode cc;

    curl_easy_setopt(q->easy, CURLOPT_HTTPHEADER, q->hdrs);
    if (q->out_fd >= 0)
        q->out_start = (int64_t)lseek(q->out_fd, 0, SEEK_CUR);
    do {
        cc = curl_easy_perform(q->easy);
        finish(q, cc);
    } while (sl__s3_retry_blocking(q, cc));
    return q->err;
}

void sl__s3_req_free(sl_s3_req_t *q)
{
    sl__s3_req_done(q);
    free(q->body);
    free(q);
}

void sl__s3_req_done(sl_s3_req_t *q)
{
    sl_s3_t *s3 = q->s3;

    if (q->active) {
        if (!q->waiting) /* (a request waiting for its retry is out of the multi handle) */
            curl_multi_remove_handle(s3->multi, q->easy);
        q->waiting = 0;
        if (q->prev != NULL)
            q->prev->next = q->next;
        else
            s3->reqs = q->next;
        if (q->next != NULL)
            q->next->prev = q->prev;
        q->active = 0;
    }
    if (q->easy != NULL)
        curl_easy_cleanup(q->easy);
    q->easy = NULL;
    curl_slist_free_all(q->hdrs);
    q->hdrs = NULL;
}

int64_t sl__s3_iso_time(const char *s)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* --- XML answers ---------------------------------------------------------------------------- */

static size_t xml_unescape(const char *s, size_t n, char *out, size_t cap)
{
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t o = 0, i = 0, k;

    while (i < n && o + 1 < cap) {
        for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++)
            if (s[i] == '&' && strncmp(s + i, ents[k].ent, strlen(ents[k].ent)) == 0)
                break;
        if (k < sizeof(ents) / sizeof(ents[0])) {
            out[o++] = ents[k].c;
            i += strlen(ents[k].ent);
        } else {
            out[o++] = s[i++];
        }
    }
    out[o] = '\0';
    return o;
}

int sl__s3_xml_next(const char *xml, size_t len, size_t *pos, const char *tag, char *out,
                    size_t cap)
{
    char open[64], close_[64];
    const char *a, *b;
    int no = snprintf(open, sizeof(open), "<%s>", tag);

    snprintf(close_, sizeof(close_), "</%s>", tag);
    if (*pos >= len || (a = memmem(xml + *pos, len - *pos, open, (size_t)no)) == NULL)
        return 0;
    a += no;
    if ((b = memmem(a, (size_t)(xml + len - a), close_, strlen(close_))) == NULL)
        return 0;
    xml_unescape(a, (size_t)(b - a), out, cap);
    *pos = (size_t)(b - xml) + strlen(close_);
    return 1;
}
